/* groups.h — a snapshot's blocks grouped for a report: by site, then by creation stack (a block without
 * a stack of its own joins its site's representative stack), sizes compared with the previous report's
 * groups, and the orders the report shows them in. Works on the snapshot alone; takes no lock. */
#ifndef LW_GROUPS_H
#define LW_GROUPS_H

#include <stddef.h>
#include <stdint.h>
#include "snapshot.h"

struct group {
    uint32_t site, stack;           /* stack: the one shown, 0 when the site kept none */
    uint64_t blocks, bytes;
    uint64_t unstacked;             /* blocks shown under the representative stack */
    uint64_t oldest_birth;
    uintptr_t oldest_ptr;           /* whose access records the report shows */
    int64_t delta;                  /* bytes since the previous report */
    int had_previous;
};

struct site_sum {
    uint64_t live_bytes, live_blocks;
    uint64_t untouched_bytes;       /* reserved or never touched: part of live_bytes, never a leak */
    uint64_t oldest_birth;
    uint32_t first_group, ngroups;  /* its groups: groups[first_group ..], largest first */
};

struct grouping {
    struct site_sum *sums;          /* per site, every live block */
    size_t sums_mapped;
    struct group *groups;           /* blocks at least min_age_ms old, by site */
    size_t ngroups, groups_mapped;
    uint32_t *order;                /* group indexes in report order (rank.h); ties in site order */
    size_t order_mapped;
    uint32_t *site_order;           /* sites with live blocks, largest first */
    uint32_t nlive_sites;
    size_t site_order_mapped;
    uint64_t heap_bytes, heap_blocks, map_bytes, map_regions;
    uint64_t map_untouched_bytes;   /* of map_bytes: reserved or never touched */
    uint64_t min_age_ms;
    unsigned previous_seq;          /* the report the deltas are against, 0: none */
};

/* Adds the totals of each site merged into its canonical one (jvm.h) to that one, so every sum stays
 * exact; after jvm_prepare_report, before groups_build. */
void groups_fold_totals(struct snapshot *s);

/* Groups the snapshot's items (reordering them); 0, or -1 without memory (release it anyway). */
int groups_build(struct grouping *g, struct snapshot *s, uint64_t min_age_ms);
void groups_release(struct grouping *g);

/* Keeps this report's group sizes for the next report's "since report #seq". */
void groups_remember(const struct grouping *g, unsigned seq);
/* Forgets them (a forked child starts its own series). */
void groups_forget(void);

#endif
