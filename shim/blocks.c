/* blocks.c — the sharded address map of live blocks (see blocks.h).
 * Linear probing with backward-shift deletion (no tombstones, so a table full of churn never
 * degrades); a shard doubles when it is 3/4 full. Rings live in a per-shard uthash keyed by address. */
#include <string.h>
#include "blocks.h"
#include "lock.h"
#include "uthash_arena.h"

struct access_ring {
    UT_hash_handle hh;
    uintptr_t ptr;
    unsigned count;
    unsigned next;                       /* slot the next record goes to */
    struct access_record recs[];
};

struct shard {
    _Alignas(64) lw_lock_t lock;
    uint32_t mask;                       /* capacity - 1 */
    uint32_t count;
    struct block *slots;
    struct access_ring *rings;
};

static struct shard shards[BLOCKS_SHARDS];
static unsigned ring_capacity;

#define INITIAL_CAPACITY 256u

static inline uint64_t addr_hash(uintptr_t ptr)
{
    uint64_t h = (ptr >> 4) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

static inline struct shard *shard_of(uint64_t h)
{
    return &shards[h >> 58];
}

static size_t ring_size(void)
{
    return sizeof(struct access_ring) + ring_capacity * sizeof(struct access_record);
}

int blocks_init(unsigned records_per_block)
{
    ring_capacity = records_per_block;
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++) {
        shards[i].slots = arena_map(INITIAL_CAPACITY * sizeof(struct block));
        if (!shards[i].slots)
            return -1;
        shards[i].mask = INITIAL_CAPACITY - 1;
    }
    return 0;
}

static void put_locked(struct shard *s, const struct block *b)
{
    for (uint32_t i = (uint32_t)addr_hash(b->ptr) & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i].ptr == 0) {
            s->slots[i] = *b;
            return;
        }
    }
}

/* Doubles the shard; on failure the shard stays as it is and keeps working, only fuller. */
__attribute__((noinline, cold)) static void grow_locked(struct shard *s)
{
    uint32_t old_cap = s->mask + 1;
    struct block *old = s->slots;
    struct block *bigger = arena_map((size_t)old_cap * 2 * sizeof(struct block));
    if (!bigger)
        return;
    s->slots = bigger;
    s->mask = old_cap * 2 - 1;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].ptr)
            put_locked(s, &old[i]);
    arena_unmap(old, (size_t)old_cap * sizeof(struct block));
}

static struct access_ring *ring_find_locked(struct shard *s, uintptr_t ptr)
{
    struct access_ring *r;
    HASH_FIND(hh, s->rings, &ptr, sizeof ptr, r);
    return r;
}

int blocks_insert(const struct block *b, struct access_ring *ring, struct block *stale)
{
    uint64_t h = addr_hash(b->ptr);
    struct shard *s = shard_of(h);
    int replaced = 0;
    struct access_ring *dropped_ring = NULL;
    lw_lock(&s->lock);
    if (s->count + 1 > (s->mask + 1) / 4 * 3)
        grow_locked(s);
    struct block *slot = NULL;
    for (uint32_t i = (uint32_t)h & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i].ptr == b->ptr) {
            *stale = s->slots[i];
            replaced = 1;
            if (block_has_ring(stale)) {
                dropped_ring = ring_find_locked(s, b->ptr);
                if (dropped_ring)
                    HASH_DEL(s->rings, dropped_ring);
                stale->size_site &= ~(1ull << 63);
            }
            slot = &s->slots[i];
            break;
        }
        if (s->slots[i].ptr == 0) {
            if (s->count + 1 > s->mask)   /* growth failed and the table is full: keep no record */
                break;
            slot = &s->slots[i];
            s->count++;
            break;
        }
    }
    if (slot) {
        *slot = *b;
        if (ring) {
            ring->ptr = b->ptr;
            uthash_oom_seen = 0;
            HASH_ADD(hh, s->rings, ptr, sizeof ring->ptr, ring);
            if (!uthash_oom_seen) {
                slot->size_site |= 1ull << 63;
                ring = NULL;
            }
        }
    }
    lw_unlock(&s->lock);
    if (dropped_ring)
        access_ring_free(dropped_ring);
    if (ring)
        access_ring_free(ring);       /* no room for it: the records are dropped */
    return replaced;
}

int blocks_remove(uintptr_t ptr, struct block *out, struct access_ring **ring_out)
{
    uint64_t h = addr_hash(ptr);
    struct shard *s = shard_of(h);
    struct access_ring *ring = NULL;
    lw_lock(&s->lock);
    uint32_t i = (uint32_t)h & s->mask;
    for (;; i = (i + 1) & s->mask) {
        if (s->slots[i].ptr == ptr)
            break;
        if (s->slots[i].ptr == 0) {
            lw_unlock(&s->lock);
            return 0;
        }
    }
    *out = s->slots[i];
    if (block_has_ring(out)) {
        ring = ring_find_locked(s, ptr);
        if (ring)
            HASH_DEL(s->rings, ring);
        out->size_site &= ~(1ull << 63);
    }
    /* backward-shift deletion: pull later members of the probe run into the hole */
    uint32_t hole = i;
    for (uint32_t j = (hole + 1) & s->mask; s->slots[j].ptr; j = (j + 1) & s->mask) {
        uint32_t home = (uint32_t)addr_hash(s->slots[j].ptr) & s->mask;
        if (((j - home) & s->mask) >= ((j - hole) & s->mask)) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole].ptr = 0;
    s->count--;
    lw_unlock(&s->lock);
    if (ring_out)
        *ring_out = ring;
    else if (ring)
        access_ring_free(ring);
    return 1;
}

struct access_ring *access_ring_add(struct access_ring *ring, const struct access_record *rec)
{
    if (ring_capacity == 0)
        return ring;
    if (!ring) {
        ring = arena_alloc(ring_size());
        if (!ring)
            return NULL;
    }
    ring->recs[ring->next] = *rec;
    ring->next = (ring->next + 1) % ring_capacity;
    if (ring->count < ring_capacity)
        ring->count++;
    return ring;
}

void access_ring_free(struct access_ring *ring)
{
    arena_free(ring, ring_size());
}

size_t blocks_copy_shard(unsigned shard, struct block *dst, size_t cap)
{
    struct shard *s = &shards[shard];
    size_t n = 0;
    lw_lock(&s->lock);
    size_t total = s->count;
    if (total <= cap) {
        for (uint32_t i = 0; i <= s->mask; i++)
            if (s->slots[i].ptr)
                dst[n++] = s->slots[i];
    }
    lw_unlock(&s->lock);
    return total;
}

unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap)
{
    struct shard *s = shard_of(addr_hash(ptr));
    unsigned n = 0;
    lw_lock(&s->lock);
    struct access_ring *r = ring_find_locked(s, ptr);
    if (r) {
        for (unsigned k = 0; k < r->count && n < cap; k++) {
            unsigned slot = (r->next + ring_capacity - 1 - k) % ring_capacity;
            dst[n++] = r->recs[slot];
        }
    }
    lw_unlock(&s->lock);
    return n;
}

uint64_t blocks_count(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++)
        n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
    return n;
}

uint64_t blocks_table_bytes(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++)
        n += ((uint64_t)__atomic_load_n(&shards[i].mask, __ATOMIC_RELAXED) + 1) * sizeof(struct block);
    return n;
}

void blocks_atfork_prepare(void)
{
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++)
        lw_lock(&shards[i].lock);
}

void blocks_atfork_parent(void)
{
    for (unsigned i = BLOCKS_SHARDS; i-- > 0;)
        lw_unlock(&shards[i].lock);
}

void blocks_atfork_child(void)
{
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++)
        lw_lock_reinit(&shards[i].lock);
}
