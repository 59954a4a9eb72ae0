#ifndef VIGIL_CSQLITE3_SHIM_H
#define VIGIL_CSQLITE3_SHIM_H
#include <sqlite3.h>

/// Process-wide SQLite settings, made before the first connection opens (sqlite3_config is
/// variadic, which Swift cannot call). Memory statistics off: with them on, every
/// sqlite3_malloc and sqlite3_free takes a process-wide mutex, which the writer and every
/// reader thread contend for. Returns SQLITE_MISUSE when SQLite was already initialised
/// (another library in the process opened a database first): the default then stays.
static inline int vigil_sqlite3_configure_process(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
