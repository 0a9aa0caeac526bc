/* rsym.h — modules and dynamic symbols of another process, read from its memory (/proc/PID/maps and
 * /proc/PID/mem) rather than from files, so a library replaced on disk since, or one in another mount
 * namespace, is read as it is loaded. Reading another process's memory needs the right to trace it.
 * Stateless; not thread-safe only in that errno is used. */
#ifndef LW_RSYM_H
#define LW_RSYM_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uintptr_t base;            /* where the ELF header is mapped */
    char path[PATH_MAX];       /* as /proc/PID/maps names it */
} rsym_module;

/* Finds the first module whose file name (the last path component) starts with prefix, e.g. "libc.so.6",
 * "ld-musl-", "libleakwatch.so". 1 found, 0 not mapped, -1 when the maps cannot be read. */
int rsym_find_module(int pid, const char *prefix, rsym_module *m);

/* The address of the defined dynamic symbol `name` of module m. False when it has none or its memory
 * cannot be read. */
bool rsym_lookup(int pid, const rsym_module *m, const char *name, uintptr_t *addr);

/* Reads len bytes at addr of pid; false on a short read. */
bool rsym_read(int pid, uintptr_t addr, void *buf, size_t len);

#endif
