/* residency.h — how much of a tracked mapping holds no memory: address space the program reserved
 * (PROT_NONE) or mapped but never touched. Asked of the kernel at report time, page by page, so the
 * mmap hooks pay nothing: mincore() says which pages are in memory; when swap is in use (swapped-out
 * pages are not in memory but were touched) /proc/self/pagemap's present and swapped bits are read
 * instead. A page counts as touched while it has memory behind it in this process (in RAM, or in swap).
 * Report-time only, one caller at a time (reports are serialised); takes no shim lock; not
 * async-signal-safe. */
#ifndef LW_RESIDENCY_H
#define LW_RESIDENCY_H

#include <stdint.h>

struct residency {
    unsigned char *buf;         /* mincore vector or pagemap entries, from the arena */
    uint64_t buf_bytes;
    uint64_t page;
    int pagemap_fd;             /* >= 0: swap is in use and pagemap is readable */
    int swap_unseen;            /* swap in use but pagemap unreadable: swapped-out pages look untouched */
};

/* Prepares a measurement; returns 0, or -1 without memory (then every byte counts as touched). */
int residency_begin(struct residency *r);

/* The same, reading pagemap when use_pagemap is set (and it can be opened), else mincore: for tests. */
int residency_begin_with(struct residency *r, int use_pagemap);

/* The bytes of [start, start+len) that lie in untouched pages. A range mincore cannot answer for
 * (unmapped since it was copied) counts as touched; pagemap reads unmapped pages as untouched. */
uint64_t residency_untouched(struct residency *r, uintptr_t start, uint64_t len);

void residency_end(struct residency *r);

#endif
