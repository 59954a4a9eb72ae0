#ifndef VIGIL_CSODIUM_SHIM_H
#define VIGIL_CSODIUM_SHIM_H
#include <sodium.h>
#endif
