/* growth.c — the growth sampler (see growth.h): policy above the site table and the counts, run by the
 * reporter thread alone, so its per-site marks need no lock. Its memory comes from the arena. */
#include <string.h>
#include "growth.h"
#include "arena.h"
#include "counts.h"
#include "sites.h"

/* The sampler's marks of one site. */
struct growth {
    int64_t high_water;
    uint32_t high_at[3];             /* sample numbers of the last three new high-water marks, newest first */
};

/* A site "keeps growing" when its live bytes set a new high-water mark in three samples within
 * GROWING_WINDOW samples (10 minutes): a fast leak is caught in 1.5 s, a leak of one block a minute
 * in 3 minutes. It stops being watched after GROWING_WINDOW samples without a new high. A watched site
 * gets full stacks for up to CAPTURES_PER_PERIOD allocations a period, so a hot leaking site (or a
 * cache that is filling) costs a bounded number of unwinds, never accuracy. */
#define GROWING_WINDOW (600000 / SAMPLE_PERIOD_MS)

static atomic_int forget_requested;

void growth_forget(void)
{
    atomic_store_explicit(&forget_requested, 1, memory_order_release);
}

void growth_sample(void)
{
    static uint32_t sample;          /* reporter thread only; starts at 1 so 0 means "never" */
    sample++;
    atomic_store_explicit(&sites_capture_budget, CAPTURES_PER_PERIOD_ALL, memory_order_relaxed);
    uint32_t count = sites_count();
    static struct site_totals *totals;
    static struct growth *growth;
    static size_t totals_mapped, growth_mapped;
    size_t need = count * sizeof *totals;
    if (need > totals_mapped) {
        arena_unmap(totals, totals_mapped);
        totals_mapped = need * 2;
        if (!(totals = arena_map(totals_mapped))) {
            totals_mapped = 0;
            return;
        }
    }
    if (count * sizeof *growth > growth_mapped) {
        /* the marks of the sites seen so far carry over to the larger array */
        size_t bytes = count * sizeof *growth * 2;
        struct growth *bigger = arena_map(bytes);
        if (!bigger)
            return;
        memcpy(bigger, growth, growth_mapped);
        arena_unmap(growth, growth_mapped);
        growth = bigger;
        growth_mapped = bytes;
    }
    if (atomic_exchange_explicit(&forget_requested, 0, memory_order_acquire)) {
        memset(growth, 0, growth_mapped);
        for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++)
            atomic_store_explicit(&site_get(i)->capture_all, 0, memory_order_relaxed);
    }
    counts_read_all(totals, count);
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++) {
        struct site *s = site_get(i);
        const struct site_totals *t = &totals[i];
        int64_t live = (int64_t)(t->bytes_allocated - t->bytes_freed);
        struct growth *g = &growth[i];
        if (live > g->high_water && live > 0) {
            g->high_water = live;
            g->high_at[2] = g->high_at[1];
            g->high_at[1] = g->high_at[0];
            g->high_at[0] = sample;
            if (g->high_at[2] && sample - g->high_at[2] <= GROWING_WINDOW)
                atomic_store_explicit(&s->capture_all, 1, memory_order_relaxed);
        } else if (g->high_at[0] && sample - g->high_at[0] > GROWING_WINDOW) {
            atomic_store_explicit(&s->capture_all, 0, memory_order_relaxed);
        }
        if (atomic_load_explicit(&s->capture_all, memory_order_relaxed))
            atomic_store_explicit(&s->capture_budget, CAPTURES_PER_PERIOD, memory_order_relaxed);
    }
}

