/* pprof_out.h — the live endpoint's /debug/pprof/heap: every site with allocations as one sample of
 * pprof's profile.proto with Go's heap sample types (alloc_objects, alloc_space, inuse_objects,
 * inuse_space), exact counts (period 1), its frames as locations named with the in-process symbol
 * tables, a site reached from Java at its Java logical site with Java frames (scrape.h); in a JVM also
 * one sample per Java-heap site in two more sample types whose names say they are estimates
 * (java_inuse_objects_estimated, java_inuse_space_estimated); a `kind` label on every sample and a
 * `class` label on Java-heap ones; gzipped as pprof expects. The gzip member is written here: "stored" (uncompressed) deflate
 * blocks and our own CRC-32, so nothing is allocated. Report lock held, guard set; not
 * async-signal-safe. */
#ifndef LW_PPROF_OUT_H
#define LW_PPROF_OUT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the gzipped profile to fd; 0 or -1 (no memory, or a failed write). want_gc: the JVM runs a full
 * GC first, if there is one; *gc_word then says what happened (scrape_gc_word), else it is NULL. */
int pprof_out_write(int fd, int want_gc, const char **gc_word);

/* CRC-32 (IEEE, as gzip uses) of data, continuing from crc (0 to start). */
uint32_t pprof_crc32(uint32_t crc, const void *data, size_t len);

#endif
