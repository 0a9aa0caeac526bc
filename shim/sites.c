/* sites.c — the site table (see sites.h).
 * The table is open addressing over site indexes; when it passes half full a table twice the size is
 * built and published, and the old one is kept (readers may still be probing it). */
#include "sites.h"
#include "arena.h"
#include "lock.h"

_Atomic(struct site_table *) sites_table;
struct site *sites_chunks[SITES_MAX / SITES_PER_CHUNK];
struct site_layout sites_layout;

static size_t chunk_bytes(void)
{
    return SITES_PER_CHUNK * (size_t)sites_layout.stride;
}

static lw_lock_t insert_lock = LW_LOCK_INIT(LOCK_RANK_SITES);
LOCK_REGISTER(LOCK_RANK_SITES, &insert_lock, 1, 0)
atomic_int sites_capture_budget;
static atomic_uint next_index = 1;    /* index 0 means "no site" */

static struct site_table *table_new(uint32_t capacity)
{
    struct site_table *t = arena_map(sizeof *t + capacity * sizeof(atomic_uint));
    if (t)
        t->mask = capacity - 1;
    return t;
}

static void table_put(struct site_table *t, struct site *s)
{
    for (uint32_t i = (uint32_t)s->hash & t->mask;; i = (i + 1) & t->mask) {
        if (atomic_load_explicit(&t->slots[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&t->slots[i], s->idx, memory_order_release);
            return;
        }
    }
}

/* Makes the site record for the next index; insert_lock held. */
static struct site *new_site_locked(uint64_t hash, unsigned kind, const uintptr_t *frames, unsigned n)
{
    uint32_t idx = atomic_load_explicit(&next_index, memory_order_relaxed);
    if (idx >= SITES_MAX)
        return NULL;
    struct site **chunk = &sites_chunks[idx / SITES_PER_CHUNK];
    if (!*chunk) {
        *chunk = arena_map(chunk_bytes());
        if (!*chunk)
            return NULL;
    }
    struct site *s = site_get(idx);
    s->hash = hash;
    s->idx = idx;
    s->kind = (uint8_t)kind;
    if (n > sites_layout.max_frames)
        n = sites_layout.max_frames;
    s->nframes = (uint8_t)n;
    memcpy(s->frames, frames, n * sizeof *frames);
    atomic_store_explicit(&next_index, idx + 1, memory_order_release);
    return s;
}

int sites_init(unsigned site_depth)
{
    sites_layout.max_frames = site_depth;
    sites_layout.stride = (uint32_t)((sizeof(struct site) + site_depth * sizeof(uintptr_t) + 63) & ~(size_t)63);
    struct site_table *t = table_new(1024);
    if (!t)
        return -1;
    atomic_store_explicit(&sites_table, t, memory_order_release);
    lw_lock(&insert_lock);
    struct site *heap = new_site_locked(0, KIND_HEAP, NULL, 0);
    struct site *map = new_site_locked(0, KIND_MMAP, NULL, 0);
    lw_unlock(&insert_lock);
    return heap && map && heap->idx == SITE_OVERFLOW_HEAP && map->idx == SITE_OVERFLOW_MMAP ? 0 : -1;
}

uint32_t sites_count(void)
{
    return atomic_load_explicit(&next_index, memory_order_acquire);
}

__attribute__((noinline, cold))
uint32_t sites_insert(uint64_t hash, unsigned kind, const uintptr_t *frames, unsigned n, uint32_t rep_stack)
{
    uint32_t overflow = kind == KIND_HEAP ? SITE_OVERFLOW_HEAP : SITE_OVERFLOW_MMAP;
    lw_lock(&insert_lock);
    uint32_t idx = sites_find(hash, kind, frames, n);
    if (idx) {
        lw_unlock(&insert_lock);
        return idx;
    }
    struct site_table *t = atomic_load_explicit(&sites_table, memory_order_relaxed);
    uint32_t count = atomic_load_explicit(&next_index, memory_order_relaxed);
    if ((uint64_t)count * 2 > t->mask) {
        struct site_table *bigger = table_new((t->mask + 1) * 2);
        if (!bigger) {
            lw_unlock(&insert_lock);
            return overflow;
        }
        for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < count; i++)
            table_put(bigger, site_get(i));
        atomic_store_explicit(&sites_table, bigger, memory_order_release);
        t = bigger;
    }
    struct site *s = new_site_locked(hash, kind, frames, n);
    if (!s) {
        lw_unlock(&insert_lock);
        return overflow;
    }
    atomic_store_explicit(&s->rep_stack, rep_stack, memory_order_relaxed);
    table_put(t, s);
    lw_unlock(&insert_lock);
    return s->idx;
}
