/* track.h — the core API the interposed functions call: one call per event, made with the guard set,
 * after the real allocation succeeded and before the real free/munmap/moving realloc. Cheap per-site
 * counting for every event; a full stack only for a new site, a sample, and every allocation at a
 * site whose live bytes keep growing. Never allocates from the heap. The common event takes one shard
 * lock (blocks.h); a new site takes the site table's insert lock and interning a new stack the stacks
 * lock (ranks in lock.h). */
#ifndef LW_TRACK_H
#define LW_TRACK_H

#include <stddef.h>
#include <stdint.h>
#include "blocks.h"

int track_init(void);                  /* 0, or -1: tracking cannot start */

void track_alloc(void *p, size_t size);
void track_free(void *p);

/* realloc in two steps: take the old record out before the real call (the address may be reused by
 * another thread as soon as realloc returns), then put the result in. */
struct realloc_ticket {
    int tracked;
    struct block old;
    struct block_extra extra;
};
void track_realloc_begin(void *old, struct realloc_ticket *t);
void track_realloc_end(void *old, void *result, size_t size, struct realloc_ticket *t);

void track_mmap(void *p, size_t len, int flags);
void track_munmap(void *p, size_t len);
void track_mremap(void *old, size_t old_len, void *result, size_t new_len);

uint64_t track_untracked_frees(void);

/* Takes out the records of every free still queued (blocks_free_later), in every thread: before a
 * report, so that it counts exactly what the program has freed. */
void track_settle_frees(void);
/* Forgets every block, region and count, and the untracked frees: tracking starts afresh (a detached
 * shim attached again). Only while tracking is off. */
void track_reset(void);
void track_after_fork(void);          /* the forking thread has a new id in the child */

#endif
