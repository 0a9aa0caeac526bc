/* regions.c — the sorted array of tracked ranges (see regions.h). */
#include <string.h>
#include "regions.h"
#include "arena.h"
#include "lock.h"

static struct {
    lw_lock_t lock;
    struct region *items;
    size_t count, cap;
} regions = { .lock = LW_LOCK_INIT(LOCK_RANK_REGIONS) };
LOCK_REGISTER(LOCK_RANK_REGIONS, &regions.lock, 1, 0)

int regions_init(void)
{
    regions.cap = 256;
    regions.items = arena_map(regions.cap * sizeof(struct region));
    return regions.items ? 0 : -1;
}

/* First index whose region ends after addr. */
static size_t lower_bound_locked(uintptr_t addr)
{
    size_t lo = 0, hi = regions.count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (regions.items[mid].start + regions.items[mid].len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve_locked(size_t need)
{
    if (need <= regions.cap)
        return 0;
    size_t cap = regions.cap * 2;
    struct region *bigger = arena_map(cap * sizeof(struct region));
    if (!bigger)
        return -1;
    memcpy(bigger, regions.items, regions.count * sizeof(struct region));
    arena_unmap(regions.items, regions.cap * sizeof(struct region));
    regions.items = bigger;
    regions.cap = cap;
    return 0;
}

static int insert_at_locked(size_t i, const struct region *r)
{
    if (reserve_locked(regions.count + 1) < 0)
        return -1;
    memmove(&regions.items[i + 1], &regions.items[i], (regions.count - i) * sizeof(struct region));
    regions.items[i] = *r;
    regions.count++;
    return 0;
}

void regions_clear(void)
{
    lw_lock(&regions.lock);
    regions.count = 0;
    lw_unlock(&regions.lock);
}

int regions_add(const struct region *r)
{
    lw_lock(&regions.lock);
    int rc = insert_at_locked(lower_bound_locked(r->start), r);
    lw_unlock(&regions.lock);
    return rc;
}

unsigned regions_remove(uintptr_t start, uint64_t len, region_removed_fn removed, void *ctx)
{
    uintptr_t end = start + len;
    unsigned touched = 0;
    lw_lock(&regions.lock);
    size_t i = lower_bound_locked(start);
    while (i < regions.count && regions.items[i].start < end) {
        struct region r = regions.items[i];
        uintptr_t r_end = r.start + r.len;
        uintptr_t cut_lo = r.start > start ? r.start : start;
        uintptr_t cut_hi = r_end < end ? r_end : end;
        int whole = cut_lo == r.start && cut_hi == r_end;
        touched++;
        if (removed)
            removed(&r, cut_hi - cut_lo, whole, ctx);
        if (whole) {
            memmove(&regions.items[i], &regions.items[i + 1], (regions.count - i - 1) * sizeof(struct region));
            regions.count--;
            continue;
        }
        if (cut_lo > r.start && cut_hi < r_end) {
            /* a hole in the middle: keep both ends (if there is no room for the tail, it goes untracked) */
            regions.items[i].len = cut_lo - r.start;
            struct region tail = r;
            tail.start = cut_hi;
            tail.len = r_end - cut_hi;
            insert_at_locked(i + 1, &tail);
            i += 2;
        } else if (cut_lo > r.start) {
            regions.items[i].len = cut_lo - r.start;
            i++;
        } else {
            regions.items[i].start = cut_hi;
            regions.items[i].len = r_end - cut_hi;
            i++;
        }
    }
    lw_unlock(&regions.lock);
    return touched;
}

unsigned regions_remove_heap_block(uintptr_t start, region_removed_fn removed, void *ctx)
{
    unsigned touched = 0;
    lw_lock(&regions.lock);
    size_t i = lower_bound_locked(start);
    if (i < regions.count && regions.items[i].start == start && regions.items[i].heap) {
        if (removed)
            removed(&regions.items[i], regions.items[i].len, 1, ctx);
        memmove(&regions.items[i], &regions.items[i + 1], (regions.count - i - 1) * sizeof(struct region));
        regions.count--;
        touched = 1;
    }
    lw_unlock(&regions.lock);
    return touched;
}

size_t regions_copy(struct region *dst, size_t cap)
{
    lw_lock(&regions.lock);
    size_t n = regions.count;
    if (n <= cap)
        memcpy(dst, regions.items, n * sizeof(struct region));
    lw_unlock(&regions.lock);
    return n;
}

