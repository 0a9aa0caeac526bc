/* counts.h — how many allocations and bytes each site has made and freed. Every thread that allocates
 * has a table of its own, written only by that thread with plain stores: counting takes no atomic
 * instruction and shares no cache line between threads. Readers (reports, the growth sampler) sum
 * over all tables. A table outlives its thread and is handed to the next new thread, so no count is
 * ever lost and the number of tables stays that of the threads alive at once. Not async-signal-safe. */
#ifndef LW_COUNTS_H
#define LW_COUNTS_H

#include <stdatomic.h>
#include <stdint.h>
#include "state.h"

struct site_count {
    atomic_uint_fast64_t allocs, frees, bytes_allocated, bytes_freed;
};

#define COUNTS_PER_CHUNK 64u           /* 2 KiB */
#define CHUNKS_PER_DIR 64u
#define COUNTS_PER_DIR (COUNTS_PER_CHUNK * CHUNKS_PER_DIR)

struct count_table {
    struct count_table *next;          /* every table ever made */
    struct count_table *next_free;
    struct site_count **dirs[];        /* SITES_MAX / COUNTS_PER_DIR of them */
};

extern __thread struct count_table *counts_tls LW_HIDDEN;

int counts_init(void);                 /* 0, or -1 when no memory */

/* This thread's counts of a site, made on first use. */
struct site_count *counts_make(uint32_t site);

static inline struct site_count *counts_of(uint32_t site)
{
    struct count_table *t = counts_tls;
    if (LW_LIKELY(t != NULL)) {
        struct site_count **dir = t->dirs[site / COUNTS_PER_DIR];
        if (LW_LIKELY(dir != NULL)) {
            struct site_count *chunk = dir[site / COUNTS_PER_CHUNK % CHUNKS_PER_DIR];
            if (LW_LIKELY(chunk != NULL))
                return &chunk[site % COUNTS_PER_CHUNK];
        }
    }
    return counts_make(site);
}

/* Only this thread writes its counts: a relaxed load and store, which readers see whole. */
static inline void count_add(atomic_uint_fast64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

static inline void site_count_alloc(uint32_t site, uint64_t size)
{
    struct site_count *c = counts_of(site);
    count_add(&c->allocs, 1);
    count_add(&c->bytes_allocated, size);
}

static inline void site_count_free(uint32_t site, uint64_t size)
{
    struct site_count *c = counts_of(site);
    count_add(&c->frees, 1);
    count_add(&c->bytes_freed, size);
}

/* Only bytes move (a realloc keeps its block; a partial munmap keeps its region). */
static inline void site_count_bytes(uint32_t site, uint64_t added, uint64_t removed)
{
    struct site_count *c = counts_of(site);
    count_add(&c->bytes_allocated, added);
    count_add(&c->bytes_freed, removed);
}

struct site_totals { uint64_t allocs, frees, bytes_allocated, bytes_freed; };

void site_read_totals(uint32_t site, struct site_totals *t);   /* summed over every thread */
void counts_read_all(struct site_totals *out, uint32_t nsites); /* the same for sites [0, nsites) */

unsigned counts_tables(void);

/* Sets every count of every table to zero (a detached shim attached again starts afresh). Only while
 * tracking is off: the owning threads then do not write them. */
void counts_clear(void);          /* tables made so far */


#endif
