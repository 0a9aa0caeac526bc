/* blocks.c — the sharded address map of live blocks (see blocks.h).
 * Robin Hood linear probing with backward-shift deletion: no tombstones, so a table full of churn never
 * degrades, and probe lengths stay short up to 90% full. A shard grows by a quarter when it is 90% full,
 * so it is between 72% and 90% full (16 bytes per slot: 18-22 bytes per live block; growing by a
 * quarter rehashes each block about four times over its shard's growth instead of two). Capacities are not
 * powers of two; a slot's home is found by multiply-shift. Extras (own stacks, access rings) hang off a
 * small per-shard open-addressing map from address, for the few blocks that have them. */
#include <string.h>
#include "blocks.h"
#include "lock.h"
#include "arena.h"

struct access_ring {
    uint16_t count;
    uint16_t next;                       /* slot the next record goes to */
    uint16_t cap;                        /* grows 1, 2, 4, ... up to the configured records */
    struct access_record recs[];
};

struct extra_slot {
    uintptr_t ptr;                       /* 0: empty */
    struct access_ring *ring;
    uint32_t stack;
};

struct shard {
    _Alignas(64) lw_lock_t lock;
    uint32_t capacity;
    uint32_t count;
    struct block *slots;
    struct extra_slot *extra_slots;      /* power-of-two capacity, at most 3/4 full */
    uint32_t extra_cap, extra_count;
};

static struct shard shards[BLOCKS_SHARDS];
static unsigned ring_capacity;

#define INITIAL_CAPACITY 256u
#define ADDR_MASK ((1ull << 44) - 1)

/* A slot's key is the address/8 kept in its first word. */
static inline uint64_t key_of(uintptr_t ptr) { return (uint64_t)ptr >> 3; }
static inline uint64_t slot_key(const struct block *b) { return b->addr_site & ADDR_MASK; }

static inline uint64_t key_hash(uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

static inline uint64_t addr_hash(uintptr_t ptr) { return key_hash(key_of(ptr)); }

/* The shard is chosen by the 64 MiB region an address is in, not by its hash: glibc gives each thread
 * an arena of its own, made of 64 MiB-aligned heaps, so a thread that frees what it allocated works
 * in shards no other thread touches, and their locks and slots stay in its core's cache. */
static inline struct shard *shard_of(uintptr_t ptr)
{
    return &shards[((ptr >> 26) * 0x9e3779b97f4a7c15ull) >> 58];
}

/* The slot a key hashes to: the hash's middle 32 bits scaled to the capacity. */
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
    uint32_t home = home_of(s, key_hash(slot_key(&s->slots[i])));
    return i >= home ? i - home : i + s->capacity - home;
}

static inline int too_full(const struct shard *s)
{
    return (uint64_t)(s->count + 1) * 10 > (uint64_t)s->capacity * 9;
}

static size_t ring_size(unsigned cap)
{
    return sizeof(struct access_ring) + cap * sizeof(struct access_record);
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
    uint32_t i = home_of(s, key_hash(slot_key(&rec))), dist = 0, placed = UINT32_MAX;
    for (;; i = next_slot(s, i), dist++) {
        if (s->slots[i].addr_site == 0) {
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

/* The slot holding key, or UINT32_MAX. */
static uint32_t find_locked(const struct shard *s, uint64_t key, uint64_t h)
{
    uint32_t i = home_of(s, h);
    for (uint32_t dist = 0;; i = next_slot(s, i), dist++) {
        const struct block *b = &s->slots[i];
        if (slot_key(b) == key && b->addr_site)
            return i;
        if (b->addr_site == 0 || distance(s, i) < dist)
            return UINT32_MAX;
    }
}

/* Grows the shard by a quarter; on failure the shard stays as it is and keeps working, only fuller. */
__attribute__((noinline, cold)) static void grow_locked(struct shard *s)
{
    uint32_t old_cap = s->capacity;
    uint32_t new_cap = old_cap + old_cap / 4;
    struct block *old = s->slots;
    struct block *bigger = arena_map((size_t)new_cap * sizeof(struct block));
    if (!bigger)
        return;
    s->slots = bigger;
    s->capacity = new_cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].addr_site)
            put_locked(s, old[i]);
    arena_unmap(old, (size_t)old_cap * sizeof(struct block));
}

/* ---- the side map of extras: linear probing over a power-of-two table ----------------------------- */

static uint32_t extra_find_locked(const struct shard *s, uintptr_t ptr)
{
    if (!s->extra_cap)
        return UINT32_MAX;
    uint32_t mask = s->extra_cap - 1;
    for (uint32_t i = (uint32_t)addr_hash(ptr) & mask;; i = (i + 1) & mask) {
        if (s->extra_slots[i].ptr == ptr)
            return i;
        if (s->extra_slots[i].ptr == 0)
            return UINT32_MAX;
    }
}

/* Takes the extra of ptr out of the map (backward-shift deletion); all zero if there is none. */
static struct block_extra extra_take_locked(struct shard *s, uintptr_t ptr)
{
    uint32_t i = extra_find_locked(s, ptr);
    if (i == UINT32_MAX)
        return (struct block_extra){ NULL, 0 };
    struct block_extra extra = { s->extra_slots[i].ring, s->extra_slots[i].stack };
    uint32_t mask = s->extra_cap - 1, hole = i;
    for (uint32_t j = (hole + 1) & mask; s->extra_slots[j].ptr; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)addr_hash(s->extra_slots[j].ptr) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            s->extra_slots[hole] = s->extra_slots[j];
            hole = j;
        }
    }
    s->extra_slots[hole].ptr = 0;
    s->extra_count--;
    return extra;
}

static void extra_slot_put(struct extra_slot *slots, uint32_t cap, const struct extra_slot *e)
{
    uint32_t i = (uint32_t)addr_hash(e->ptr) & (cap - 1);
    while (slots[i].ptr)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

/* Adds ptr -> extra; 0, or -1 without memory. */
static int extra_put_locked(struct shard *s, uintptr_t ptr, const struct block_extra *extra)
{
    if ((s->extra_count + 1) * 4 > s->extra_cap * 3) {
        uint32_t cap = s->extra_cap ? s->extra_cap * 2 : 64;
        struct extra_slot *bigger = arena_map(cap * sizeof *bigger);
        if (!bigger)
            return -1;
        for (uint32_t i = 0; i < s->extra_cap; i++)
            if (s->extra_slots[i].ptr)
                extra_slot_put(bigger, cap, &s->extra_slots[i]);
        arena_unmap(s->extra_slots, s->extra_cap * sizeof *s->extra_slots);
        s->extra_slots = bigger;
        s->extra_cap = cap;
    }
    extra_slot_put(s->extra_slots, s->extra_cap, &(struct extra_slot){ ptr, extra->ring, extra->stack });
    s->extra_count++;
    return 0;
}

/* One probe for both questions: is the address there already (a stale record), and where does it go.
 * Robin Hood order means that once a record nearer its home than we are is met, the address is not in
 * the table, and this is where it belongs. Returns the slot used; *replaced says whether it held it. */
static uint32_t insert_locked(struct shard *s, const struct block *b, uint64_t key, uint64_t h,
                              struct block *stale, int *replaced)
{
    uint32_t i = home_of(s, h);
    for (uint32_t dist = 0;; i = next_slot(s, i), dist++) {
        struct block *there = &s->slots[i];
        if (there->addr_site == 0) {
            *there = *b;
            s->count++;
            return i;
        }
        if (slot_key(there) == key) {
            *stale = *there;
            *replaced = 1;
            *there = *b;
            return i;
        }
        if (distance(s, i) < dist) {
            struct block displaced = *there;
            *there = *b;
            put_locked(s, displaced);
            s->count++;
            return i;
        }
    }
}

int blocks_insert(const struct block *b, const struct block_extra *extra, struct block *stale)
{
    uintptr_t ptr = block_ptr(b);
    uint64_t key = slot_key(b), h = key_hash(key);
    struct shard *s = shard_of(ptr);
    int replaced = 0;
    struct block_extra dropped = { NULL, 0 };
    struct access_ring *unkept = extra ? extra->ring : NULL;
    uint32_t slot = UINT32_MAX;
    lw_lock(&s->lock);
    if (too_full(s))
        grow_locked(s);
    if (s->count + 1 < s->capacity) {       /* else growth failed and the table is full: no record */
        slot = insert_locked(s, b, key, h, stale, &replaced);
        s->slots[slot].size_birth &= ~BLOCK_HAS_EXTRA;
        if (replaced && block_has_extra(stale)) {
            dropped = extra_take_locked(s, ptr);
            stale->size_birth &= ~BLOCK_HAS_EXTRA;
        }
        if (extra && (extra->ring || extra->stack) && extra_put_locked(s, ptr, extra) == 0) {
            s->slots[slot].size_birth |= BLOCK_HAS_EXTRA;
            unkept = NULL;
        }
    }
    lw_unlock(&s->lock);
    if (dropped.ring)
        access_ring_free(dropped.ring);
    if (unkept)
        access_ring_free(unkept);       /* no room for it: the records are dropped */
    return slot == UINT32_MAX ? -1 : replaced;
}

int blocks_remove(uintptr_t ptr, struct block *out, struct block_extra *extra_out)
{
    if (!block_fits(ptr, 0))
        return 0;
    uint64_t key = key_of(ptr), h = key_hash(key);
    struct shard *s = shard_of(ptr);
    struct block_extra extra = { NULL, 0 };
    lw_lock(&s->lock);
    uint32_t i = find_locked(s, key, h);
    if (i == UINT32_MAX) {
        lw_unlock(&s->lock);
        return 0;
    }
    *out = s->slots[i];
    if (block_has_extra(out)) {
        extra = extra_take_locked(s, ptr);
        out->size_birth &= ~BLOCK_HAS_EXTRA;
    }
    /* backward-shift deletion: pull the rest of the run one slot nearer home */
    for (uint32_t j = next_slot(s, i); s->slots[j].addr_site && distance(s, j) > 0; j = next_slot(s, j)) {
        s->slots[i] = s->slots[j];
        i = j;
    }
    s->slots[i].addr_site = 0;
    s->count--;
    lw_unlock(&s->lock);
    if (extra_out)
        *extra_out = extra;
    else if (extra.ring)
        access_ring_free(extra.ring);
    return 1;
}

/* ---- access rings -------------------------------------------------------------------------------- */

/* A copy of ring with room for cap records, oldest first; NULL without memory. */
static struct access_ring *ring_regrow(const struct access_ring *ring, unsigned cap)
{
    struct access_ring *bigger = arena_alloc(ring_size(cap));
    if (!bigger)
        return NULL;
    bigger->cap = (uint16_t)cap;
    if (ring) {
        for (unsigned k = 0; k < ring->count; k++)
            bigger->recs[k] = ring->recs[(ring->next + ring->cap - ring->count + k) % ring->cap];
        bigger->count = ring->count;
        bigger->next = (uint16_t)(ring->count % cap);
    }
    return bigger;
}

struct access_ring *access_ring_add(struct access_ring *ring, const struct access_record *rec)
{
    if (ring_capacity == 0)
        return ring;
    if (!ring || (ring->count == ring->cap && ring->cap < ring_capacity)) {
        unsigned cap = ring ? ring->cap * 2u : 1u;
        struct access_ring *bigger = ring_regrow(ring, cap < ring_capacity ? cap : ring_capacity);
        if (!bigger)
            return NULL;
        access_ring_free(ring);
        ring = bigger;
    }
    ring->recs[ring->next] = *rec;
    ring->next = (uint16_t)((ring->next + 1) % ring->cap);
    if (ring->count < ring->cap)
        ring->count++;
    return ring;
}

void access_ring_free(struct access_ring *ring)
{
    if (ring)
        arena_free(ring, ring_size(ring->cap));
}

/* ---- what reports read --------------------------------------------------------------------------- */

size_t blocks_copy_shard(unsigned shard, struct block_view *dst, size_t cap, uint64_t now)
{
    struct shard *s = &shards[shard];
    size_t n = 0;
    lw_lock(&s->lock);
    size_t total = s->count;
    if (total <= cap) {
        for (uint32_t i = 0; i < s->capacity; i++) {
            const struct block *b = &s->slots[i];
            if (!b->addr_site)
                continue;
            uintptr_t ptr = block_ptr(b);
            uint32_t stack = 0;
            if (block_has_extra(b)) {
                uint32_t at = extra_find_locked(s, ptr);
                if (at != UINT32_MAX)
                    stack = s->extra_slots[at].stack;
            }
            dst[n++] = (struct block_view){ .ptr = ptr, .size = block_size(b), .site = block_site(b),
                                            .birth = block_birth_at(block_birth_bits(b), now), .stack = stack };
        }
    }
    lw_unlock(&s->lock);
    return total;
}

unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap)
{
    struct shard *s = shard_of(ptr);
    unsigned n = 0;
    lw_lock(&s->lock);
    uint32_t at = extra_find_locked(s, ptr);
    const struct access_ring *r = at == UINT32_MAX ? NULL : s->extra_slots[at].ring;
    if (r) {
        for (unsigned k = 0; k < r->count && n < cap; k++)
            dst[n++] = r->recs[(r->next + r->cap - 1 - k) % r->cap];
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
