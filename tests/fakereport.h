/* fakereport — version-1 leakwatch reports written by tests of the tools (pprof, html, baseline), so each
 * test knows every figure it later expects the tools to show. Test-only; failures abort through Check. */
#ifndef TU_FAKEREPORT_H
#define TU_FAKEREPORT_H
#include <stddef.h>

/* One site with one leak record. frames are function names, allocating function first; a name starting with
 * "J:" is a JIT-compiled Java frame (outside any module, named as the JVM's perf map names it). */
struct fr_site {
    const char *id;
    const char *frames[6];        /* NULL-terminated when shorter */
    long long bytes, blocks;      /* live at the site */
    long long young_bytes, young_blocks; /* of those, younger than min_age: in no leak record */
    long long oldest_ms;
    long long allocs, bytes_allocated;
};

/* Writes dir/name for process 100, report seq, taken t seconds into a fixed day; returns the path. The main
 * module /usr/bin/svc has build id "5eed..." and libc.so.6 "11bc...". */
char *fr_write(const char *dir, const char *name, int seq, int t, const struct fr_site *s, size_t n);

#endif
