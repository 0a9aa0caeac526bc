/* sites.h — allocation sites: the first few return addresses above an allocation function, and what
 * the growth sampler (growth.h) marks on them (their counts are in counts.h). Lookup is lock-free (the
 * table only grows; a reader on an old table just misses and takes the locked insert path); insertion
 * takes the insert lock (rank "sites" in lock.h). Not async-signal-safe. */
#ifndef LW_SITES_H
#define LW_SITES_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include "config.h"
#include "state.h"

enum site_kind { KIND_HEAP = 0, KIND_MMAP = 1 };

#define SITES_MAX (1u << 20)           /* indexes fit the 20 bits a block record keeps */
#define SITES_PER_CHUNK 64u
#define SITE_OVERFLOW_HEAP 1u          /* used when no new site can be made (limit or no memory) */
#define SITE_OVERFLOW_MMAP 2u

/* A site is this header and its frames, rounded up to a cache line: 64 bytes with the default 4 frames. */
struct site {
    uint64_t hash;
    uint32_t idx;
    uint8_t kind;
    uint8_t nframes;
    atomic_uchar capture_all;        /* set by the growth sampler: unwind allocations here... */
    atomic_int capture_budget;       /* ...up to this many per sample period (refilled by the sampler) */
    atomic_uint rep_stack;           /* first full stack seen here (stacks.h id), 0 if none */
    uintptr_t frames[];              /* config.site_depth of them */
};

/* How sites are laid out; fixed by sites_init. */
extern struct site_layout {
    uint32_t stride;                 /* bytes from one site to the next */
    uint32_t max_frames;
} sites_layout LW_HIDDEN;

struct site_table {
    uint32_t mask;
    atomic_uint slots[];             /* site index, 0 = empty */
};

extern _Atomic(struct site_table *) sites_table LW_HIDDEN;
extern struct site *sites_chunks[SITES_MAX / SITES_PER_CHUNK] LW_HIDDEN;

int sites_init(unsigned site_depth);  /* 0, or -1 when no memory */
uint32_t sites_count(void);           /* highest index in use + 1 */

static inline struct site *site_get(uint32_t idx)
{
    return (struct site *)((char *)sites_chunks[idx / SITES_PER_CHUNK] + (idx % SITES_PER_CHUNK) * sites_layout.stride);
}

static inline uint64_t sites_hash(unsigned kind, const uintptr_t *frames, unsigned n)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ kind;
    for (unsigned i = 0; i < n; i++) {
        h ^= frames[i];
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

/* A few words compared inline: cheaper than a call to memcmp on every allocation. */
static inline int same_frames(const uintptr_t *a, const uintptr_t *b, unsigned n)
{
    uintptr_t diff = 0;
    for (unsigned i = 0; i < n; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

/* The site with exactly these frames, or 0. Lock-free. */
static inline uint32_t sites_find(uint64_t hash, unsigned kind, const uintptr_t *frames, unsigned n)
{
    struct site_table *t = atomic_load_explicit(&sites_table, memory_order_acquire);
    for (uint32_t i = (uint32_t)hash & t->mask;; i = (i + 1) & t->mask) {
        uint32_t idx = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (idx == 0)
            return 0;
        struct site *s = site_get(idx);
        if (s->hash == hash && s->kind == kind && s->nframes == n && same_frames(s->frames, frames, n))
            return idx;
    }
}

/* Finds or makes the site; `rep_stack` becomes its representative stack if it is new.
 * Returns the overflow site of the kind when no site can be made. */
uint32_t sites_insert(uint64_t hash, unsigned kind, const uintptr_t *frames, unsigned n, uint32_t rep_stack);

/* Budgets of full stacks for sites the growth sampler (growth.h) marks as growing, refilled by it
 * every sample period and spent by the hot path. */
#define CAPTURES_PER_PERIOD 64     /* full stacks per growing site per period: enough to show its paths */
#define CAPTURES_PER_PERIOD_ALL 1024  /* and for all growing sites together: ~2,000 unwinds a second */

extern atomic_int sites_capture_budget LW_HIDDEN;   /* what is left of the period's overall budget */


#endif
