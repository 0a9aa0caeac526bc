/* growth.c — the growth sampler (see growth.h): policy above the site table and the counts, run by the
 * reporter thread alone, so its per-site marks need no lock. Its memory comes from the arena. */
#include <string.h>
#include "growth.h"
#include "arena.h"
#include "counts.h"
#include "jvm.h"
#include "sites.h"

/* A series of live-byte samples and its marks. */
struct series {
    int64_t high_water;
    uint32_t high_at[3];             /* sample numbers of the last three new high-water marks, newest first */
    uint32_t streak_at;              /* the sample that began the current run of highs (none > GROWING_WINDOW apart) */
    int64_t streak_from;             /* the high-water mark before that run: what it held when the run began */
};

/* The sampler's marks of one site: of its own live bytes (for full stacks: allocations happen at raw
 * sites), and of its logical site's, which in a JVM adds up every compiled version of one Java path
 * (jvm.h; for reports: one version of a path may grow for a second and stop while the path keeps
 * growing). A site that is no logical site's canonical one leaves the second unused. */
struct growth {
    struct series raw, logical;
};

/* Published for reports (growth_recent), read without a lock: a report may see a sample's marks half
 * updated, which moves one site's figure by one sample at most. */
static struct growth *growth;
static uint32_t growth_count, sample;

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

/* Adds a sample: 1 when the series keeps growing (a third new high within the window), -1 when it has
 * gone GROWING_WINDOW samples without one, else 0. */
static int series_note(struct series *g, int64_t live)
{
    if (live > g->high_water && live > 0) {
        if (!g->high_at[0] || sample - g->high_at[0] > GROWING_WINDOW) {
            g->streak_at = sample;
            g->streak_from = g->high_water;
        }
        g->high_water = live;
        g->high_at[2] = g->high_at[1];
        g->high_at[1] = g->high_at[0];
        g->high_at[0] = sample;
        return g->high_at[2] && sample - g->high_at[2] <= GROWING_WINDOW;
    }
    return g->high_at[0] && sample - g->high_at[0] > GROWING_WINDOW ? -1 : 0;
}

void growth_sample(void)
{
    sample++;                        /* starts at 1 so 0 means "never" */
    atomic_store_explicit(&sites_capture_budget, CAPTURES_PER_PERIOD_ALL, memory_order_relaxed);
    uint32_t count = sites_count();
    static struct site_totals *totals;
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
        struct growth *old = growth;
        __atomic_store_n(&growth, bigger, __ATOMIC_RELEASE);
        /* a report reading the old array meanwhile keeps reading mapped memory: it is let go a size later */
        static struct growth *retired;
        static size_t retired_mapped;
        arena_unmap(retired, retired_mapped);
        retired = old;
        retired_mapped = growth_mapped;
        growth_mapped = bytes;
    }
    __atomic_store_n(&growth_count, count, __ATOMIC_RELEASE);   /* after the array that holds it */
    if (atomic_exchange_explicit(&forget_requested, 0, memory_order_acquire)) {
        memset(growth, 0, growth_mapped);
        for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++)
            atomic_store_explicit(&site_get(i)->capture_all, 0, memory_order_relaxed);
    }
    counts_read_all(totals, count);
    static int64_t *logical_live;
    static size_t logical_mapped;
    if (count * sizeof *logical_live > logical_mapped) {
        arena_unmap(logical_live, logical_mapped);
        logical_mapped = count * sizeof *logical_live * 2;
        if (!(logical_live = arena_map(logical_mapped))) {
            logical_mapped = 0;
            return;
        }
    }
    memset(logical_live, 0, count * sizeof *logical_live);
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++) {
        uint32_t c = jvm_canonical_site_latest(i);
        logical_live[c < count ? c : i] += (int64_t)(totals[i].bytes_allocated - totals[i].bytes_freed);
    }
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++) {
        struct site *s = site_get(i);
        const struct site_totals *t = &totals[i];
        int state = series_note(&growth[i].raw, (int64_t)(t->bytes_allocated - t->bytes_freed));
        if (state > 0)
            atomic_store_explicit(&s->capture_all, 1, memory_order_relaxed);
        else if (state < 0)
            atomic_store_explicit(&s->capture_all, 0, memory_order_relaxed);
        if (atomic_load_explicit(&s->capture_all, memory_order_relaxed))
            atomic_store_explicit(&s->capture_budget, CAPTURES_PER_PERIOD, memory_order_relaxed);
        series_note(&growth[i].logical, logical_live[i]);
    }
}


int64_t growth_recent(uint32_t site, uint64_t *over_ms)
{
    uint32_t count = __atomic_load_n(&growth_count, __ATOMIC_ACQUIRE);
    struct growth *all = __atomic_load_n(&growth, __ATOMIC_ACQUIRE);
    *over_ms = 0;
    if (!all || site >= count || site <= SITE_OVERFLOW_MMAP)
        return 0;
    const struct series *g = &all[site].logical;
    if (!g->high_at[2] || sample - g->high_at[2] > GROWING_WINDOW || g->streak_at > g->high_at[2])
        return 0;                    /* not three highs in the window, all in the current run */
    *over_ms = (uint64_t)(sample - g->streak_at + 1) * SAMPLE_PERIOD_MS;
    return g->high_water - g->streak_from;
}
