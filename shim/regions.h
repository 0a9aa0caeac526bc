/* regions.h — tracked address ranges: anonymous mappings (and file mappings with LEAKWATCH_MMAP=all),
 * plus the rare heap block too large for a block record. A sorted array under one spinlock: mmap and
 * munmap are system calls already, so one lock there costs nothing measurable. Removing a range that
 * covers part of a region keeps the rest, so partial munmap and mremap stay exact. */
#ifndef LW_REGIONS_H
#define LW_REGIONS_H

#include <stddef.h>
#include <stdint.h>

struct region {
    uintptr_t start;
    uint64_t len;
    uint64_t birth;                 /* ms since start */
    uint32_t site;
    uint32_t stack;
    int heap;                       /* a heap block (too large for a block record), not a mapping */
};

int regions_init(void);
int regions_add(const struct region *r);       /* 0, or -1 without memory (the region goes untracked) */

/* Removes [start, start+len) from every region it overlaps. For each region touched, calls
 * removed(region as it was, bytes removed, whole region gone?, ctx) under the lock; the callback must
 * only count. Returns the number of regions touched. */
typedef void (*region_removed_fn)(const struct region *r, uint64_t bytes, int whole, void *ctx);
unsigned regions_remove(uintptr_t start, uint64_t len, region_removed_fn removed, void *ctx);

/* Removes the heap block region that starts at start, if there is one, calling removed as above. */
unsigned regions_remove_heap_block(uintptr_t start, region_removed_fn removed, void *ctx);

void regions_clear(void);                        /* forgets every region */
size_t regions_copy(struct region *dst, size_t cap);  /* returns the count, which may exceed cap */


#endif
