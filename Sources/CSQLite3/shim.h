#ifndef VIGIL_CSQLITE3_SHIM_H
#define VIGIL_CSQLITE3_SHIM_H
#include <sqlite3.h>
#endif
