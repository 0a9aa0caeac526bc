/* symbols.h — naming addresses at report time, inside the process: the loaded modules (from
 * dl_iterate_phdr), their ELF symbol tables (.symtab when the file or its build-id debug file has
 * one, else .dynsym), and JIT code from /tmp/perf-<pid>.map. Symbol tables are read once per module
 * and kept; the perf map is read anew for every report (it is a snapshot the JVM rewrites).
 * Calls into the dynamic loader: never call with a shim lock held. Reporter context only. */
#ifndef LW_SYMBOLS_H
#define LW_SYMBOLS_H

#include <stdint.h>

struct symtab;

struct module {
    char path[512];
    char build_id[41];              /* hex, "" if none */
    uintptr_t base;                 /* load bias: offset = ip - base */
    uintptr_t lo, hi;               /* extent of its loaded segments */
    int is_main;                    /* the executable: read through /proc/self/exe */
    struct symtab *syms;
};

struct module_set {
    struct module *items;
    unsigned count, cap;
    struct symtab *perf_map;        /* JIT symbols, or NULL */
};

struct resolved {
    int module;                     /* index in the set, -1 if none */
    uintptr_t offset;               /* ip - module base */
    const char *function;           /* NULL if unknown */
    uintptr_t function_offset;
};

int symbols_snapshot(struct module_set *set);     /* 0, or -1 without memory */
void symbols_release(struct module_set *set);
void symbols_resolve(const struct module_set *set, uintptr_t ip, struct resolved *out);

/* The module containing ip, or -1. */
int symbols_module_of(const struct module_set *set, uintptr_t ip);

#endif
