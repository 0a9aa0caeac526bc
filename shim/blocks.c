/* blocks.c — the sharded address map of live blocks (see blocks.h).
 * Robin Hood linear probing with backward-shift deletion: no tombstones, so a table full of churn never
 * degrades, and probe lengths stay short up to 90% full. A shard grows by half when it is 90% full, so
 * it is always between 60% and 90% full (24 bytes per slot: 27-40 bytes per live block). Capacities
 * are not powers of two; a slot's home is found by multiply-shift. Rings hang off a small per-shard
 * open-addressing map from address to ring, for the few blocks that have been realloc'ed. */
#include <string.h>
#include "blocks.h"
#include "lock.h"
#include "arena.h"

struct access_ring {
    uint32_t count;
    uint32_t next;                       /* slot the next record goes to */
    struct access_record recs[];
};

struct ring_slot {
    uintptr_t ptr;                       /* 0: empty */
    struct access_ring *ring;
};

struct shard {
    _Alignas(64) lw_lock_t lock;
    uint32_t capacity;
    uint32_t count;
    struct block *slots;
    struct ring_slot *ring_slots;        /* power-of-two capacity, at most 3/4 full */
    uint32_t ring_cap, ring_count;
};

static struct shard shards[BLOCKS_SHARDS];
static unsigned ring_capacity;

#define INITIAL_CAPACITY 256u

static inline uint64_t addr_hash(uintptr_t ptr)
{
    uint64_t h = (ptr >> 4) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* The shard is chosen by the 64 MiB region an address is in, not by its hash: glibc gives each thread
 * an arena of its own, made of 64 MiB-aligned heaps, so a thread that frees what it allocated works
 * in shards no other thread touches, and their locks and slots stay in its core's cache. */
static inline struct shard *shard_of(uintptr_t ptr)
{
    return &shards[((ptr >> 26) * 0x9e3779b97f4a7c15ull) >> 58];
}

/* The slot an address hashes to: the hash's middle 32 bits scaled to the capacity. */
static inline uint32_t home_of(const struct shard *s, uint64_t h)
{
    return (uint32_t)((((h >> 24) & 0xffffffffu) * s->capacity) >> 32);
}

static inline uint32_t next_slot(const struct shard *s, uint32_t i)
{
    return i + 1 == s->capacity ? 0 : i + 1;
}

/* How far the record in slot i is from its home slot. */
static inline uint32_t distance(const struct shard *s, uint32_t i)
{
    uint32_t home = home_of(s, addr_hash(s->slots[i].ptr));
    return i >= home ? i - home : i + s->capacity - home;
}

static inline int too_full(const struct shard *s)
{
    return (uint64_t)(s->count + 1) * 10 > (uint64_t)s->capacity * 9;
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
        shards[i].capacity = INITIAL_CAPACITY;
    }
    return 0;
}

/* Robin Hood insertion of a record whose address is not in the table; returns its slot. A record
 * that is closer to home than the one being placed gives way and moves on. */
static uint32_t put_locked(struct shard *s, struct block rec)
{
    uint32_t i = home_of(s, addr_hash(rec.ptr)), dist = 0, placed = UINT32_MAX;
    for (;; i = next_slot(s, i), dist++) {
        if (s->slots[i].ptr == 0) {
            s->slots[i] = rec;
            return placed == UINT32_MAX ? i : placed;
        }
        uint32_t theirs = distance(s, i);
        if (theirs < dist) {
            struct block displaced = s->slots[i];
            s->slots[i] = rec;
            if (placed == UINT32_MAX)
                placed = i;
            rec = displaced;
            dist = theirs;
        }
    }
}

/* The slot holding ptr, or UINT32_MAX. */
static uint32_t find_locked(const struct shard *s, uintptr_t ptr, uint64_t h)
{
    uint32_t i = home_of(s, h);
    for (uint32_t dist = 0;; i = next_slot(s, i), dist++) {
        if (s->slots[i].ptr == ptr)
            return i;
        if (s->slots[i].ptr == 0 || distance(s, i) < dist)
            return UINT32_MAX;
    }
}

/* Grows the shard by half; on failure the shard stays as it is and keeps working, only fuller. */
__attribute__((noinline, cold)) static void grow_locked(struct shard *s)
{
    uint32_t old_cap = s->capacity;
    uint32_t new_cap = old_cap + old_cap / 2;
    struct block *old = s->slots;
    struct block *bigger = arena_map((size_t)new_cap * sizeof(struct block));
    if (!bigger)
        return;
    s->slots = bigger;
    s->capacity = new_cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].ptr)
            put_locked(s, old[i]);
    arena_unmap(old, (size_t)old_cap * sizeof(struct block));
}

static uint32_t ring_find_locked(const struct shard *s, uintptr_t ptr)
{
    if (!s->ring_cap)
        return UINT32_MAX;
    for (uint32_t i = (uint32_t)addr_hash(ptr) & (s->ring_cap - 1);; i = (i + 1) & (s->ring_cap - 1)) {
        if (s->ring_slots[i].ptr == ptr)
            return i;
        if (s->ring_slots[i].ptr == 0)
            return UINT32_MAX;
    }
}

/* Takes the ring of ptr out of the map (linear probing, backward-shift deletion); NULL if none. */
static struct access_ring *ring_take_locked(struct shard *s, uintptr_t ptr)
{
    uint32_t i = ring_find_locked(s, ptr);
    if (i == UINT32_MAX)
        return NULL;
    struct access_ring *ring = s->ring_slots[i].ring;
    uint32_t mask = s->ring_cap - 1, hole = i;
    for (uint32_t j = (hole + 1) & mask; s->ring_slots[j].ptr; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)addr_hash(s->ring_slots[j].ptr) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            s->ring_slots[hole] = s->ring_slots[j];
            hole = j;
        }
    }
    s->ring_slots[hole].ptr = 0;
    s->ring_count--;
    return ring;
}

static void ring_slot_put(struct ring_slot *slots, uint32_t cap, uintptr_t ptr, struct access_ring *ring)
{
    uint32_t i = (uint32_t)addr_hash(ptr) & (cap - 1);
    while (slots[i].ptr)
        i = (i + 1) & (cap - 1);
    slots[i] = (struct ring_slot){ ptr, ring };
}

/* Adds ptr -> ring; 0, or -1 without memory. */
static int ring_put_locked(struct shard *s, uintptr_t ptr, struct access_ring *ring)
{
    if ((s->ring_count + 1) * 4 > s->ring_cap * 3) {
        uint32_t cap = s->ring_cap ? s->ring_cap * 2 : 64;
        struct ring_slot *bigger = arena_map(cap * sizeof *bigger);
        if (!bigger)
            return -1;
        for (uint32_t i = 0; i < s->ring_cap; i++)
            if (s->ring_slots[i].ptr)
                ring_slot_put(bigger, cap, s->ring_slots[i].ptr, s->ring_slots[i].ring);
        arena_unmap(s->ring_slots, s->ring_cap * sizeof *s->ring_slots);
        s->ring_slots = bigger;
        s->ring_cap = cap;
    }
    ring_slot_put(s->ring_slots, s->ring_cap, ptr, ring);
    s->ring_count++;
    return 0;
}

/* One probe for both questions: is ptr there already (a stale record), and where does it go. Robin
 * Hood order means that once a record nearer its home than we are is met, ptr is not in the table,
 * and this is where it belongs. Returns the slot used; *replaced says whether it held ptr. */
static uint32_t insert_locked(struct shard *s, const struct block *b, uint64_t h, struct block *stale, int *replaced)
{
    uint32_t i = home_of(s, h);
    for (uint32_t dist = 0;; i = next_slot(s, i), dist++) {
        uintptr_t there = s->slots[i].ptr;
        if (there == b->ptr) {
            *stale = s->slots[i];
            *replaced = 1;
            s->slots[i] = *b;
            return i;
        }
        if (there == 0) {
            s->slots[i] = *b;
            s->count++;
            return i;
        }
        if (distance(s, i) < dist) {
            struct block displaced = s->slots[i];
            s->slots[i] = *b;
            put_locked(s, displaced);
            s->count++;
            return i;
        }
    }
}

int blocks_insert(const struct block *b, struct access_ring *ring, struct block *stale)
{
    uint64_t h = addr_hash(b->ptr);
    struct shard *s = shard_of(b->ptr);
    int replaced = 0;
    struct access_ring *dropped_ring = NULL;
    uint32_t slot = UINT32_MAX;
    lw_lock(&s->lock);
    if (too_full(s))
        grow_locked(s);
    if (s->count + 1 < s->capacity) {       /* else growth failed and the table is full: no record */
        slot = insert_locked(s, b, h, stale, &replaced);
        if (replaced && block_has_ring(stale)) {
            dropped_ring = ring_take_locked(s, b->ptr);
            stale->size_site &= ~(1ull << 63);
        }
    }
    if (slot != UINT32_MAX && ring && ring_put_locked(s, b->ptr, ring) == 0) {
        s->slots[slot].size_site |= 1ull << 63;
        ring = NULL;
    }
    lw_unlock(&s->lock);
    if (dropped_ring)
        access_ring_free(dropped_ring);
    if (ring)
        access_ring_free(ring);       /* no room for it: the records are dropped */
    return slot == UINT32_MAX ? -1 : replaced;
}

int blocks_remove(uintptr_t ptr, struct block *out, struct access_ring **ring_out)
{
    uint64_t h = addr_hash(ptr);
    struct shard *s = shard_of(ptr);
    struct access_ring *ring = NULL;
    lw_lock(&s->lock);
    uint32_t i = find_locked(s, ptr, h);
    if (i == UINT32_MAX) {
        lw_unlock(&s->lock);
        return 0;
    }
    *out = s->slots[i];
    if (block_has_ring(out)) {
        ring = ring_take_locked(s, ptr);
        out->size_site &= ~(1ull << 63);
    }
    /* backward-shift deletion: pull the rest of the run one slot nearer home */
    for (uint32_t j = next_slot(s, i); s->slots[j].ptr && distance(s, j) > 0; j = next_slot(s, j)) {
        s->slots[i] = s->slots[j];
        i = j;
    }
    s->slots[i].ptr = 0;
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
        for (uint32_t i = 0; i < s->capacity; i++)
            if (s->slots[i].ptr)
                dst[n++] = s->slots[i];
    }
    lw_unlock(&s->lock);
    return total;
}

unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap)
{
    struct shard *s = shard_of(ptr);
    unsigned n = 0;
    lw_lock(&s->lock);
    uint32_t at = ring_find_locked(s, ptr);
    struct access_ring *r = at == UINT32_MAX ? NULL : s->ring_slots[at].ring;
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
