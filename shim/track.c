/* track.c — what happens on each allocation event (see track.h).
 * Cost of the common malloc: a walk of site_depth frames (cfi.h), one lock-free site lookup, two
 * plain stores to this thread's counts (counts.h), one shard lock; free: a queue slot, and eight frees
 * later one shard lock and two plain stores (blocks_free_later). */
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "track.h"
#include "blocks.h"
#include "growth.h"
#include "regions.h"
#include "counts.h"
#include "sites.h"
#include "stacks.h"
#include "state.h"
#include "unwind.h"
#include "jvm.h"

static atomic_uint_fast64_t untracked_frees;
static __thread int32_t tls_sample_countdown __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_random __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_tid __attribute__((tls_model("initial-exec")));

int track_init(void)
{
    if (sites_init(shim_state.config.site_depth) < 0 || counts_init() < 0 || blocks_init(shim_state.config.records) < 0 ||
        regions_init() < 0)
        return -1;
    return 0;
}

void track_after_fork(void)
{
    tls_tid = 0;
}

uint64_t track_untracked_frees(void)
{
    return atomic_load_explicit(&untracked_frees, memory_order_relaxed);
}

static uint32_t thread_id(void)
{
    if (!tls_tid)
        tls_tid = (uint32_t)syscall(SYS_gettid);
    return tls_tid;
}

/* A random gap of 1..2*sample-1 allocations between samples (mean: sample; sample 1: every one), so
 * periodic allocation patterns do not always put the same allocation on the sample. */
__attribute__((noinline, cold)) static int sample_reload(void)
{
    if (shim_state.config.sample == 0)
        return tls_sample_countdown = INT32_MAX, 0;
    if (!tls_random)
        tls_random = thread_id() * 2654435761u | 1;
    tls_random ^= tls_random << 13;
    tls_random ^= tls_random >> 17;
    tls_random ^= tls_random << 5;
    tls_sample_countdown = (int32_t)(1 + tls_random % (2 * shim_state.config.sample - 1));
    return 1;
}

static inline int sample_now(void)
{
    if (LW_LIKELY(--tls_sample_countdown > 0))
        return 0;
    return sample_reload();
}

__attribute__((noinline, cold)) static uint32_t capture_stack(void)
{
    uintptr_t frames[shim_state.config.depth];
    unsigned n = unwind_full(frames, shim_state.config.depth);
    uint32_t id = stacks_intern(frames, n);
    jvm_note_stack(id, frames, n);
    return id;
}

/* Finds the caller's site; a new one gets a full stack, which the first block keeps too. Inlined so
 * that every walk starts under the same number of shim frames. */
static inline __attribute__((always_inline)) uint32_t site_of_caller(unsigned kind, uint32_t *own_stack)
{
    uintptr_t key[CONFIG_MAX_SITE_DEPTH];
    unsigned n = unwind_site_key(key, shim_state.config.site_depth);
    uint64_t h = sites_hash(kind, key, n);
    uint32_t site = sites_find(h, kind, key, n);
    if (LW_UNLIKELY(site == 0)) {
        *own_stack = capture_stack();
        site = sites_insert(h, kind, key, n, *own_stack);
        jvm_note_site(site, kind, key, n);
        return site;
    }
    struct site *s = site_get(site);
    if (LW_UNLIKELY(site < __atomic_load_n(&jvm_sites_made_before, __ATOMIC_RELAXED)) &&
        jvm_note_site(site, kind, key, n)) {
        *own_stack = capture_stack();        /* made before Java frames could be read: see jvm.h */
        atomic_store_explicit(&s->rep_stack, *own_stack, memory_order_relaxed);
        return site;
    }
    if (LW_UNLIKELY(atomic_load_explicit(&s->capture_all, memory_order_relaxed)) &&
        atomic_load_explicit(&s->capture_budget, memory_order_relaxed) > 0 &&
        atomic_load_explicit(&sites_capture_budget, memory_order_relaxed) > 0 &&
        atomic_fetch_sub_explicit(&s->capture_budget, 1, memory_order_relaxed) > 0 &&
        atomic_fetch_sub_explicit(&sites_capture_budget, 1, memory_order_relaxed) > 0)
        *own_stack = capture_stack();
    else if (sample_now())
        *own_stack = capture_stack();
    return site;
}

static uint64_t age_base(void)
{
    return lw_now_ms() - shim_state.start_ms;
}

/* Accounts for what blocks_insert reported: a stale record replaced, or a record dropped for want of
 * memory (counted as freed, so totals stay exact for what is still kept). */
static void inserted(int rc, const struct block *stale)
{
    if (LW_LIKELY(rc == 0))
        return;
    site_count_free(block_site(stale), block_size(stale));
    if (rc < 0)
        lw_disable("no memory for the block table (the kernel refused mmap)");
}

static const struct pending_done queued_done;

/* A block too large (or at an address too odd) for a block record is kept as a heap region. */
__attribute__((noinline, cold)) static void track_outsized(void *p, size_t size, uint32_t site, uint32_t stack,
                                                           uint64_t birth)
{
    /* a queued free of an earlier region at this address goes first: regions are found by address */
    blocks_settle_all(&queued_done);
    struct region r = { .start = (uintptr_t)p, .len = size, .birth = birth, .site = site, .stack = stack,
                        .heap = 1 };
    if (regions_add(&r) == 0)
        site_count_alloc(site, size);
}

void track_alloc(void *p, size_t size)
{
    blocks_prefetch((uintptr_t)p);       /* loads while the stack is walked */
    uint32_t stack = 0;
    uint32_t site = site_of_caller(KIND_HEAP, &stack);
    if (LW_UNLIKELY(!block_fits((uintptr_t)p, size))) {
        track_outsized(p, size, site, stack, age_base());
        return;
    }
    struct block b, stale;
    block_set(&b, (uintptr_t)p, size, site, age_base());
    site_count_alloc(site, size);
    if (LW_LIKELY(!stack)) {
        inserted(blocks_insert(&b, NULL, &stale), &stale);
        return;
    }
    struct block_extra extra = { .ring = NULL, .stack = stack };
    inserted(blocks_insert(&b, &extra, &stale), &stale);
}

static void outsized_removed(const struct region *r, uint64_t bytes, int whole, void *ctx)
{
    (void)whole;
    *(int *)ctx = 1;
    site_count_free(r->site, bytes);
}

/* A free we have no block record for: a huge block, or memory from before the shim (or from inside
 * it) — counted, never subtracted from anything. */
__attribute__((noinline, cold)) static void free_unknown(void *p)
{
    int found = 0;
    regions_remove_heap_block((uintptr_t)p, outsized_removed, &found);
    if (!found)
        atomic_fetch_add_explicit(&untracked_frees, 1, memory_order_relaxed);
}

static void queued_freed(const struct block *b)
{
    site_count_free(block_site(b), block_size(b));
}

static void queued_unknown(uintptr_t ptr)
{
    free_unknown((void *)ptr);
}

static const struct pending_done queued_done = { queued_freed, queued_unknown };

void track_settle_frees(void)
{
    blocks_settle_all(&queued_done);
}

void track_reset(void)
{
    track_settle_frees();
    blocks_clear();
    regions_clear();
    counts_clear();
    growth_forget();
    atomic_store_explicit(&untracked_frees, 0, memory_order_relaxed);
}

void track_free(void *p)
{
    if (LW_LIKELY(blocks_free_later((uintptr_t)p, &queued_done)))
        return;
    struct block b;
    if (blocks_remove((uintptr_t)p, &b, NULL))
        site_count_free(block_site(&b), block_size(&b));
    else
        free_unknown(p);
}

void track_realloc_begin(void *old, struct realloc_ticket *t)
{
    t->extra = (struct block_extra){ NULL, 0 };
    t->tracked = blocks_remove((uintptr_t)old, &t->old, &t->extra);
}

void track_realloc_end(void *old, void *result, size_t size, struct realloc_ticket *t)
{
    if (!t->tracked) {
        if (result && size)
            track_alloc(result, size);
        if (old && (result || size == 0))
            free_unknown(old);
        return;
    }
    uint32_t site = block_site(&t->old);
    if (!result) {
        if (size == 0) {                 /* realloc(p, 0) freed p */
            site_count_free(site, block_size(&t->old));
            access_ring_free(t->extra.ring);
            return;
        }
        struct block stale;              /* failed: the old block is still live, as it was */
        inserted(blocks_insert(&t->old, &t->extra, &stale), &stale);
        return;
    }
    uint64_t old_size = block_size(&t->old);
    uint64_t birth = block_birth_at(block_birth_bits(&t->old), age_base());
    if (!block_fits((uintptr_t)result, size)) {
        site_count_free(site, old_size);
        access_ring_free(t->extra.ring);
        track_outsized(result, size, block_site(&t->old), t->extra.stack, birth);
        return;
    }
    struct block_extra extra = t->extra;
    if (shim_state.config.records) {
        uint32_t unused_stack = 0;
        struct access_record rec = {
            .when_ms = age_base(), .old_size = old_size, .new_size = size,
            .thread = thread_id(), .site = site_of_caller(KIND_HEAP, &unused_stack), .kind = ACCESS_REALLOC,
        };
        struct access_ring *grown = access_ring_add(extra.ring, &rec);
        if (grown)
            extra.ring = grown;
    }
    struct block b;
    block_set(&b, (uintptr_t)result, size, block_site(&t->old), birth);
    site_count_bytes(site, size, old_size);
    struct block stale;
    inserted(blocks_insert(&b, &extra, &stale), &stale);
}

static void mapping_removed(const struct region *r, uint64_t bytes, int whole, void *ctx)
{
    (void)ctx;
    uint32_t s = r->site;
    if (whole)
        site_count_free(s, bytes);
    else
        site_count_bytes(s, 0, bytes);
}

void track_mmap(void *p, size_t len, int flags)
{
    if (!(flags & MAP_ANONYMOUS) && !shim_state.config.mmap_all)
        return;
    /* MAP_FIXED may replace mappings we track */
    regions_remove((uintptr_t)p, len, mapping_removed, NULL);
    uint32_t stack = 0;
    uint32_t site = site_of_caller(KIND_MMAP, &stack);
    struct region r = { .start = (uintptr_t)p, .len = len, .birth = age_base(), .site = site, .stack = stack };
    if (regions_add(&r) == 0)
        site_count_alloc(site, len);
}

void track_munmap(void *p, size_t len)
{
    regions_remove((uintptr_t)p, len, mapping_removed, NULL);
}

struct mremap_found {
    int found;
    int first_whole;
    struct region first;
};

/* Only bytes are counted here; a region that disappears counts as freed unless it is the one that
 * lives on at the new address. */
static void mremap_removed(const struct region *r, uint64_t bytes, int whole, void *ctx)
{
    struct mremap_found *f = ctx;
    uint32_t s = r->site;
    site_count_bytes(s, 0, bytes);
    if (!f->found) {
        f->found = 1;
        f->first = *r;
        f->first_whole = whole;
    } else if (whole) {
        site_count_free(s, 0);
    }
}

void track_mremap(void *old, size_t old_len, void *result, size_t new_len)
{
    struct mremap_found f = { 0 };
    regions_remove((uintptr_t)old, old_len, mremap_removed, &f);
    if (!f.found)
        return;
    struct region r = { .start = (uintptr_t)result, .len = new_len, .birth = f.first.birth,
                        .site = f.first.site, .stack = f.first.stack };
    uint32_t s = r.site;
    if (regions_add(&r) < 0) {
        if (f.first_whole)
            site_count_free(s, 0);
        return;
    }
    site_count_bytes(s, new_len, 0);
    if (!f.first_whole)
        site_count_alloc(s, 0);          /* the old region also lives on: one more region */
}
