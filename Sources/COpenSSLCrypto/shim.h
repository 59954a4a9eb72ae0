#ifndef VIGIL_COPENSSLCRYPTO_SHIM_H
#define VIGIL_COPENSSLCRYPTO_SHIM_H
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but they are the
   same SHA-NI/AVX2 code without a heap-allocated context, which the audit log's hashing
   (millions of small hashes) needs; suppressing the deprecation keeps our build warning-free. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

/// OSSL_PARAM_construct_utf8_string takes a non-const char *; this wrapper keeps the cast in C.
static inline OSSL_PARAM vigil_ossl_param_digest(const char *name) {
    return OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)name, 0);
}
static inline OSSL_PARAM vigil_ossl_param_end(void) {
    return OSSL_PARAM_construct_end();
}
#endif
