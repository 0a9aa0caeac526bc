/* groups.c — grouping a snapshot for a report (see groups.h). Sorting uses lw_sort (no malloc). */
#include <string.h>
#include "groups.h"
#include "arena.h"
#include "growth.h"
#include "jvm.h"
#include "rank.h"
#include "sites.h"
#include "sort.h"

/* A group as the next report remembers it: (site << 32 | stack) and its bytes, sorted by the first. */
struct previous_group { uint64_t site_stack, bytes; };

static struct {
    struct previous_group *groups;
    size_t count, mapped;
    unsigned seq;
} previous;

static inline uint64_t site_stack(uint32_t site, uint32_t stack) { return (uint64_t)site << 32 | stack; }

void groups_forget(void)
{
    previous.groups = NULL;          /* the mapping belongs to the parent's series; a child just forgets it */
    previous.count = previous.mapped = 0;
    previous.seq = 0;
}

static uint64_t previous_bytes(uint64_t id, int *found)
{
    size_t lo = 0, hi = previous.count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (previous.groups[mid].site_stack < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < previous.count && previous.groups[lo].site_stack == id;
    return *found ? previous.groups[lo].bytes : 0;
}

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    uint64_t kx = site_stack(x->site, x->stack), ky = site_stack(y->site, y->stack);
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return x->birth < y->birth ? -1 : x->birth > y->birth;
}

static int cmp_group_in_site(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Index sorts need the arrays they index; reports are serialised. */
static const struct grouping *sorting;
static const uint32_t *site_rank;

static int cmp_site_index(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const struct site_sum *x = &sorting->sums[i], *y = &sorting->sums[j];
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes > y->live_bytes ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* The report's order (rank.h): grown since the previous report first, then the largest; equal ones in
 * the order the JSON lists them (by site, then within it), so that a reader of the JSON can put the
 * records in the same order. */
static struct rank_entry group_rank(uint32_t i)
{
    const struct group *g = &sorting->groups[i];
    int64_t growth = sorting->previous_seq ? rank_growth(1, g->had_previous, g->bytes, g->delta)
                                           : sorting->sums[g->site].recent_growth;
    return (struct rank_entry){ .growth = growth,
                                .bytes = g->bytes, .tie_break = (uint64_t)site_rank[g->site] << 32 | i };
}

static int cmp_group_index(const void *a, const void *b)
{
    struct rank_entry x = group_rank(*(const uint32_t *)a), y = group_rank(*(const uint32_t *)b);
    return rank_compare(&x, &y);
}

/* Sums every live block per site and keeps the old-enough ones, each under the stack it is shown with. */
static size_t sum_and_filter(struct grouping *g, struct snapshot *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->nitems; i++) {
        struct item it = s->items[i];
        /* in a JVM the compiled versions of one Java path are one site and one stack (jvm.h) */
        it.site = jvm_canonical_site(it.site);
        it.stack = jvm_canonical_stack(it.stack);
        if (it.site >= s->nsites)
            continue;               /* a site born after the copy: next report */
        struct site_sum *sum = &g->sums[it.site];
        if (sum->live_blocks == 0 || it.birth < sum->oldest_birth)
            sum->oldest_birth = it.birth;
        sum->live_bytes += it.size;
        sum->live_blocks++;
        sum->untouched_bytes += it.untouched;
        if (site_get(it.site)->kind == KIND_HEAP) {
            g->heap_bytes += it.size;
            g->heap_blocks++;
        } else {
            g->map_bytes += it.size;
            g->map_regions++;
            g->map_untouched_bytes += it.untouched;
        }
        /* untouched address space holds no memory: it is never a leak candidate, and a mapping's record
         * counts only its touched bytes */
        if (snapshot_age(s, it.birth) < g->min_age_ms || (it.untouched && it.size <= it.untouched))
            continue;
        it.size -= it.untouched;
        it.unstacked = it.stack == 0;
        if (it.stack == 0)
            it.stack = jvm_canonical_stack(atomic_load_explicit(&site_get(it.site)->rep_stack, memory_order_relaxed));
        s->items[kept++] = it;      /* items are used for grouping only from here on */
    }
    return kept;
}

void groups_fold_totals(struct snapshot *s)
{
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < s->nsites; i++) {
        uint32_t c = jvm_canonical_site(i);
        if (c == i || c >= s->nsites)
            continue;
        s->totals[c].allocs += s->totals[i].allocs;
        s->totals[c].frees += s->totals[i].frees;
        s->totals[c].bytes_allocated += s->totals[i].bytes_allocated;
        s->totals[c].bytes_freed += s->totals[i].bytes_freed;
        s->totals[i] = (struct site_totals){ 0 };
    }
}

int groups_build(struct grouping *g, struct snapshot *s, uint64_t min_age_ms)
{
    memset(g, 0, sizeof *g);
    g->min_age_ms = min_age_ms;
    g->previous_seq = previous.seq;
    g->sums_mapped = (size_t)s->nsites * sizeof *g->sums;
    g->site_order_mapped = (size_t)s->nsites * 2 * sizeof *g->site_order;
    if (!(g->sums = arena_map(g->sums_mapped)) || !(g->site_order = arena_map(g->site_order_mapped)))
        return -1;
    size_t nold = sum_and_filter(g, s);
    /* a first report has no previous one to rank growth against: the sampler's current runs of growth
     * stand in for it, so that a leak leads rather than what the process reserved when it started */
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; !g->previous_seq && i < s->nsites; i++) {
        uint64_t over_ms = 0;
        int64_t grew = jvm_canonical_site(i) == i ? growth_recent(i, &over_ms) : 0;
        if (grew > 0) {
            g->sums[i].recent_growth = grew;
            g->sums[i].recent_growth_ms = over_ms;
        }
    }
    lw_sort_inline(s->items, nold, sizeof *s->items, cmp_item);     /* the largest sort of a report */
    g->groups_mapped = (nold + 1) * sizeof *g->groups;
    g->order_mapped = (nold + 1) * sizeof *g->order;
    if (!(g->groups = arena_map(g->groups_mapped)) || !(g->order = arena_map(g->order_mapped)))
        return -1;
    for (size_t i = 0; i < nold; i++) {
        const struct item *it = &s->items[i];
        struct group *last = g->ngroups ? &g->groups[g->ngroups - 1] : NULL;
        if (!last || last->site != it->site || last->stack != it->stack) {
            last = &g->groups[g->ngroups++];
            *last = (struct group){ .site = it->site, .stack = it->stack, .oldest_birth = it->birth,
                                    .oldest_ptr = it->ptr };
        }
        last->blocks++;
        last->bytes += it->size;
        last->unstacked += it->unstacked;
    }
    for (size_t i = 0; i < g->ngroups; i++) {
        struct group *gr = &g->groups[i];
        gr->delta = (int64_t)gr->bytes - (int64_t)previous_bytes(site_stack(gr->site, gr->stack), &gr->had_previous);
    }
    lw_sort_inline(g->groups, g->ngroups, sizeof *g->groups, cmp_group_in_site);
    for (size_t i = 0; i < g->ngroups; i++) {
        struct site_sum *sum = &g->sums[g->groups[i].site];
        if (sum->ngroups++ == 0)
            sum->first_group = (uint32_t)i;
    }
    sorting = g;
    for (uint32_t i = 1; i < s->nsites; i++)
        if (g->sums[i].live_blocks)
            g->site_order[g->nlive_sites++] = i;
    lw_sort(g->site_order, g->nlive_sites, sizeof *g->site_order, cmp_site_index);
    uint32_t *rank = g->site_order + s->nsites;     /* the second half of the mapping */
    for (uint32_t i = 0; i < g->nlive_sites; i++)
        rank[g->site_order[i]] = i;
    site_rank = rank;
    for (size_t i = 0; i < g->ngroups; i++)
        g->order[i] = (uint32_t)i;
    lw_sort_inline(g->order, g->ngroups, sizeof *g->order, cmp_group_index);
    return 0;
}

void groups_release(struct grouping *g)
{
    arena_unmap(g->sums, g->sums_mapped);
    arena_unmap(g->site_order, g->site_order_mapped);
    arena_unmap(g->groups, g->groups_mapped);
    arena_unmap(g->order, g->order_mapped);
    memset(g, 0, sizeof *g);
}

void groups_remember(const struct grouping *g, unsigned seq)
{
    arena_unmap(previous.groups, previous.mapped);
    previous.count = 0;
    previous.mapped = (g->ngroups + 1) * sizeof *previous.groups;
    previous.groups = arena_map(previous.mapped);
    if (!previous.groups) {
        previous.mapped = 0;
        return;
    }
    for (size_t i = 0; i < g->ngroups; i++)
        previous.groups[previous.count++] =
            (struct previous_group){ site_stack(g->groups[i].site, g->groups[i].stack), g->groups[i].bytes };
    /* groups are sorted by site, then size: sort by (site, stack) for previous_bytes() */
    for (size_t i = 1; i < previous.count; i++) {
        struct previous_group p = previous.groups[i];
        size_t j = i;
        while (j > 0 && previous.groups[j - 1].site_stack > p.site_stack) {
            previous.groups[j] = previous.groups[j - 1];
            j--;
        }
        previous.groups[j] = p;
    }
    previous.seq = seq;
}
