/* blocks.c — the sharded address map of live blocks (see blocks.h).
 * Each shard is a bucketed cuckoo table: buckets of four 16-byte slots, one cache line each, and every
 * address may live in one of two buckets, going to the one with more room. Both are prefetched
 * together; a byte per bucket counts the records of that first bucket that live in their second, and
 * while it is zero the second is not read. When both are full, records are moved to their other
 * bucket along a short random walk. Unlike linear probing, nothing clusters: lookups, inserts and
 * removals read one or two lines at any fill, so a shard grows by a quarter when 90% full (to 72%), and
 * one that falls below 30% full is rebuilt 60% full: between 30% and 90% full, 72% after it grows.
 * Bucket counts are not powers of two; buckets are found by multiply-shift. Extras (own stacks, access
 * rings) hang off a small per-shard side map (extras.c), for the few blocks that have them. */
#include <pthread.h>
#include <string.h>
#include "blocks.h"
#include "lock.h"
#include "arena.h"
#include "free_queue.h"

#define BUCKET_SLOTS 4

struct bucket {
    struct block slot[BUCKET_SLOTS];
};

struct shard {
    _Alignas(64) lw_lock_t lock;
    uint32_t nbuckets;
    uint32_t count;
    struct bucket *buckets;
    uint8_t *in_second;                  /* per bucket: its records living in their second bucket (255: at least) */
    uint32_t walk;                       /* varies which slot a cuckoo walk displaces */
    struct extra_map extras;             /* own stacks and access rings of the few blocks with them */
};

static struct shard shards[BLOCKS_SHARDS] = {
    [0 ... BLOCKS_SHARDS - 1] = { .lock = LW_LOCK_INIT(LOCK_RANK_BLOCK_SHARD) },
};
LOCK_REGISTER(LOCK_RANK_BLOCK_SHARD, &shards[0].lock, BLOCKS_SHARDS, sizeof shards[0])

#define INITIAL_BUCKETS 48u              /* one page */
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

/* The shard is chosen by where an address is, not by its hash: glibc gives each thread an arena of its
 * own, made of 64 MiB-aligned heaps, so the 64 MiB region picks a group of shards, and a thread that
 * frees what it allocated works in shards other threads rarely touch (their locks and buckets stay in
 * its core's cache). Within a region, each slice has its own shard of the group, so no shard holds
 * more than a slice's blocks and growing one stalls its users briefly. Slices are not smaller: as a
 * program's live blocks move about its heap, a shard keeps the room of its busiest moment, and the
 * more slices, the more such peaks are kept at once. */
#define REGION_BITS 26
#define SLICE_BITS 25                    /* 32 MiB: 2 slices a region */
#define SLICES (1u << (REGION_BITS - SLICE_BITS))
#define GROUP_BITS 7                     /* log2(BLOCKS_SHARDS / SLICES) */

static inline struct shard *shard_of(uintptr_t ptr)
{
    uint64_t group = ((ptr >> REGION_BITS) * 0x9e3779b97f4a7c15ull) >> (64 - GROUP_BITS);
    return &shards[group * SLICES + ((ptr >> SLICE_BITS) & (SLICES - 1))];
}

_Static_assert((SLICES << GROUP_BITS) == BLOCKS_SHARDS, "every shard belongs to one group slot");

/* A key's two buckets: two independent 32-bit parts of its hashes scaled to the bucket count; the
 * second is never the first. */
static inline uint32_t first_bucket(const struct shard *s, uint64_t h)
{
    return (uint32_t)((((h >> 24) & 0xffffffffu) * s->nbuckets) >> 32);
}

static inline uint32_t second_bucket(const struct shard *s, uint64_t key, uint32_t first)
{
    uint64_t g = (key ^ 0x5bd1e9955bd1e995ull) * 0xc2b2ae3d27d4eb4full;
    uint32_t b = (uint32_t)((((g >> 29) & 0xffffffffu) * s->nbuckets) >> 32);
    return b != first ? b : (first + 1 == s->nbuckets ? 0 : first + 1);
}

static inline int too_full(const struct shard *s)
{
    return (uint64_t)(s->count + 1) * 10 > (uint64_t)s->nbuckets * BUCKET_SLOTS * 9;
}

/* Buckets and their counts in one mapping. */
static size_t table_bytes(uint32_t nbuckets)
{
    return (size_t)nbuckets * (sizeof(struct bucket) + 1);
}

/* Large tables come with their pages (they are all written soon, and a first write after a read costs
 * a TLB flush); small ones are left to fault in, as most shards stay small. */
static struct bucket *table_new(uint32_t nbuckets)
{
    size_t bytes = table_bytes(nbuckets);
    return bytes >= (64u << 10) ? arena_map_populated(bytes) : arena_map(bytes);
}

static void table_use(struct shard *s, struct bucket *b, uint32_t nbuckets)
{
    s->buckets = b;
    s->in_second = (uint8_t *)(b + nbuckets);
    s->nbuckets = nbuckets;
}

static void settle(_Atomic uintptr_t *slot, const void *done);

int blocks_init(unsigned records_per_block)
{
    extras_init(records_per_block);
    free_queue_init(settle);
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++) {
        struct bucket *b = table_new(INITIAL_BUCKETS);
        if (!b)
            return -1;
        table_use(&shards[i], b, INITIAL_BUCKETS);
    }
    return 0;
}

/* Counts a record of first bucket `first` coming into (+1) or leaving (-1) bucket `at`. */
static inline void count_second(struct shard *s, uint32_t first, uint32_t at, int delta)
{
    if (at != first && s->in_second[first] != 255)    /* a saturated count stays: lookups only read more */
        s->in_second[first] = (uint8_t)(s->in_second[first] + delta);
}

static inline struct block *free_slot(struct bucket *bk)
{
    for (unsigned k = 0; k < BUCKET_SLOTS; k++)
        if (bk->slot[k].addr_site == 0)
            return &bk->slot[k];
    return NULL;
}


static inline unsigned free_slots(const struct bucket *bk)
{
    unsigned n = 0;
    for (unsigned k = 0; k < BUCKET_SLOTS; k++)
        n += bk->slot[k].addr_site == 0;
    return n;
}

#define MAX_WALK 256

/* Places a record whose address is not in the table: in whichever of its two buckets has more room
 * (the first on a tie), so that both rarely fill (two choices keep buckets even); when both are full,
 * by displacing records to their other bucket. Returns 0; -1 when the walk found no room, with the
 * record left without a place (which may be another one than rec) in *homeless. */
static int place_locked(struct shard *s, struct block rec, struct block *homeless)
{
    uint64_t key = slot_key(&rec);
    uint32_t first = first_bucket(s, key_hash(key));
    uint32_t second = second_bucket(s, key, first);
    unsigned room1 = free_slots(&s->buckets[first]), room2 = free_slots(&s->buckets[second]);
    uint32_t at = room1 >= room2 ? first : second;
    struct block *slot;
    for (unsigned step = 0; step < MAX_WALK; step++) {
        if ((slot = free_slot(&s->buckets[at]))) {
            *slot = rec;
            count_second(s, first, at, +1);
            return 0;
        }
        /* full: rec takes a slot here, and the record it displaces goes to its other bucket */
        struct block *victim = &s->buckets[at].slot[s->walk++ % BUCKET_SLOTS];
        struct block out = *victim;
        *victim = rec;
        count_second(s, first, at, +1);
        uint64_t out_key = slot_key(&out);
        uint32_t out_first = first_bucket(s, key_hash(out_key));
        count_second(s, out_first, at, -1);
        rec = out;
        first = out_first;
        at = at == out_first ? second_bucket(s, out_key, out_first) : out_first;
    }
    *homeless = rec;
    return -1;
}

/* The slot holding key, or NULL. */
static inline struct block *find_locked(struct shard *s, uint64_t key, uint64_t h)
{
    uint32_t first = first_bucket(s, h);
    struct bucket *bk = &s->buckets[first];
    for (unsigned k = 0; k < BUCKET_SLOTS; k++)
        if (slot_key(&bk->slot[k]) == key)
            return &bk->slot[k];
    if (s->in_second[first] == 0)
        return NULL;
    bk = &s->buckets[second_bucket(s, key, first)];
    for (unsigned k = 0; k < BUCKET_SLOTS; k++)
        if (slot_key(&bk->slot[k]) == key)
            return &bk->slot[k];
    return NULL;
}

static void erase_locked(struct shard *s, struct block *slot, uint64_t h)
{
    uint32_t at = (uint32_t)((size_t)(slot - &s->buckets[0].slot[0]) / BUCKET_SLOTS);
    count_second(s, first_bucket(s, h), at, -1);
    slot->addr_site = 0;
}

/* Rebuilds the shard with n buckets, `also` (if not NULL) placed too. Returns 0; -1 when no memory
 * could be had or a walk found no room: the shard stays as it was. */
static int rebuild_locked(struct shard *s, uint32_t n, const struct block *also)
{
    struct shard old = *s;
    struct bucket *b = table_new(n);
    if (!b)
        return -1;
    table_use(s, b, n);
    int ok = 1;
    struct block homeless;
    for (uint32_t i = 0; ok && i < old.nbuckets; i++)
        for (unsigned k = 0; ok && k < BUCKET_SLOTS; k++)
            if (old.buckets[i].slot[k].addr_site)
                ok = place_locked(s, old.buckets[i].slot[k], &homeless) == 0;
    if (ok && also)
        ok = place_locked(s, *also, &homeless) == 0;
    if (ok) {
        arena_unmap(old.buckets, table_bytes(old.nbuckets));
        return 0;
    }
    arena_unmap(b, table_bytes(n));
    table_use(s, old.buckets, old.nbuckets);
    return -1;
}

/* Grows the shard by a quarter (more if a walk fails there), with `also` (if not NULL) placed too.
 * Returns 0; -1 when no memory could be had: the shard stays as it was. */
__attribute__((noinline, cold)) static int grow_locked(struct shard *s, const struct block *also)
{
    uint32_t n = s->nbuckets;
    for (int attempt = 0; attempt < 4; attempt++) {
        n += n / 4;
        if (rebuild_locked(s, n, also) == 0)
            return 0;
    }
    return -1;
}

/* A shard below 30% full (its blocks moved elsewhere in the heap, or were freed) is rebuilt 60% full,
 * so that it does not keep the room of its busiest moment. Failing that, it stays as it is. */
static inline void shrink_if_sparse(struct shard *s)
{
    if (__builtin_expect(s->nbuckets > INITIAL_BUCKETS &&
                         (uint64_t)s->count * 10 < (uint64_t)s->nbuckets * BUCKET_SLOTS * 3, 0)) {
        uint32_t n = (uint32_t)((uint64_t)s->count * 10 / (BUCKET_SLOTS * 6)) + 1;
        rebuild_locked(s, n > INITIAL_BUCKETS ? n : INITIAL_BUCKETS, NULL);
    }
}

int blocks_insert(const struct block *b, const struct block_extra *extra, struct block *stale)
{
    uintptr_t ptr = block_ptr(b);
    uint64_t key = slot_key(b), h = key_hash(key);
    struct shard *s = shard_of(ptr);
    struct block rec = *b;
    rec.size_birth &= ~BLOCK_HAS_EXTRA;
    int rc = 0;
    struct block_extra dropped = { NULL, 0 };
    struct access_ring *unkept = extra ? extra->ring : NULL;
    lw_lock(&s->lock);
    struct block *there = find_locked(s, key, h);
    if (__builtin_expect(there && block_has_extra(there), 0))
        dropped = extras_take_locked(&s->extras, ptr);
    if (extra && (extra->ring || extra->stack) && extras_put_locked(&s->extras, ptr, extra) == 0) {
        rec.size_birth |= BLOCK_HAS_EXTRA;
        unkept = NULL;
    }
    if (__builtin_expect(there != NULL, 0)) {
        /* freed and queued (free_queue_clear), or its free was not seen: the old record goes */
        free_queue_clear(ptr);
        *stale = *there;
        stale->size_birth &= ~BLOCK_HAS_EXTRA;
        *there = rec;
        rc = 1;
    } else {
        struct block homeless;
        if (too_full(s) && grow_locked(s, NULL) < 0 && s->count + 1 >= s->nbuckets * BUCKET_SLOTS) {
            homeless = rec;              /* no memory and no room */
            rc = -1;
        } else if (place_locked(s, rec, &homeless) == 0 || grow_locked(s, &homeless) == 0) {
            s->count++;
        } else {
            rc = -1;                     /* no memory: one record (this or another) found no place */
        }
        if (rc < 0) {
            *stale = homeless;
            if (block_has_extra(&homeless)) {
                struct block_extra lost = extras_take_locked(&s->extras, block_ptr(&homeless));
                access_ring_free(lost.ring);
            }
            stale->size_birth &= ~BLOCK_HAS_EXTRA;
        }
    }
    lw_unlock(&s->lock);
    access_ring_free(dropped.ring);
    access_ring_free(unkept);            /* no room for it: the records are dropped */
    return rc;
}

/* Starts loading both buckets ptr's record may be in (or go to), without the lock: a table swapped
 * meanwhile only makes the hint useless, and a prefetch never faults. Both: the second is read
 * whenever the first is full, which is common near 90% full, and the two misses then overlap. */
static inline void prefetch_buckets(struct shard *s, uint64_t key, uint64_t h)
{
    struct shard view;
    view.buckets = __atomic_load_n(&s->buckets, __ATOMIC_RELAXED);
    view.nbuckets = __atomic_load_n(&s->nbuckets, __ATOMIC_RELAXED);
    uint32_t first = first_bucket(&view, h);
    __builtin_prefetch(&view.buckets[first], 1, 3);
    __builtin_prefetch(&view.buckets[second_bucket(&view, key, first)], 1, 3);
}

void blocks_prefetch(uintptr_t ptr)
{
    uint64_t key = key_of(ptr);
    prefetch_buckets(shard_of(ptr), key, key_hash(key));
}

int blocks_remove(uintptr_t ptr, struct block *out, struct block_extra *extra_out)
{
    if (!block_fits(ptr, 0))
        return 0;
    uint64_t key = key_of(ptr), h = key_hash(key);
    struct shard *s = shard_of(ptr);
    struct block_extra extra = { NULL, 0 };
    prefetch_buckets(s, key, h);         /* the misses overlap the lock's atomic */
    lw_lock(&s->lock);
    struct block *slot = find_locked(s, key, h);
    if (!slot) {
        lw_unlock(&s->lock);
        return 0;
    }
    *out = *slot;
    if (block_has_extra(out)) {
        extra = extras_take_locked(&s->extras, ptr);
        out->size_birth &= ~BLOCK_HAS_EXTRA;
    }
    erase_locked(s, slot, h);
    s->count--;
    shrink_if_sparse(s);
    lw_unlock(&s->lock);
    if (extra_out)
        *extra_out = extra;
    else
        access_ring_free(extra.ring);
    return 1;
}

/* ---- frees whose records are removed a few frees later ------------------------------------------ */

/* A free only queues its address (free_queue.c) and prefetches its buckets; its record is taken out
 * FREE_QUEUE_SLOTS frees later on the same thread, when those lines have arrived, so the lookup's miss
 * no longer stalls the free. The allocator's free itself is not delayed. An address queued whose record
 * is still in the map may be handed out again meanwhile: whoever inserts it then finds the old record,
 * finds the address in a queue, clears it there and reports the old record as freed (blocks_insert's
 * *stale). Every queue slot is settled or cleared under the lock of its address's shard, so each record
 * is taken out once. Reports settle every queue first. */

/* Removes the record of the address in *slot, if it is still queued there; what was removed goes to
 * done (found: the record; else only the address, for the caller's untracked count). */
static void settle(_Atomic uintptr_t *slot, const void *done_arg)
{
    const struct pending_done *done = done_arg;
    uintptr_t ptr = atomic_load_explicit(slot, memory_order_acquire);
    if (!ptr)
        return;
    struct shard *s = shard_of(ptr);
    struct block b;
    struct block_extra extra = { NULL, 0 };
    int found = 0;
    lw_lock(&s->lock);
    if (atomic_load_explicit(slot, memory_order_relaxed) != ptr) {
        lw_unlock(&s->lock);                 /* cleared or refilled meanwhile: not ours to settle */
        return;
    }
    atomic_store_explicit(slot, 0, memory_order_relaxed);
    uint64_t key = key_of(ptr), h = key_hash(key);
    struct block *at = find_locked(s, key, h);
    if (at) {
        b = *at;
        if (block_has_extra(&b)) {
            extra = extras_take_locked(&s->extras, ptr);
            b.size_birth &= ~BLOCK_HAS_EXTRA;
        }
        erase_locked(s, at, h);
        s->count--;
        shrink_if_sparse(s);
        found = 1;
    }
    lw_unlock(&s->lock);
    access_ring_free(extra.ring);
    if (found)
        done->freed(&b);
    else
        done->unknown(ptr);
}

int blocks_free_later(uintptr_t ptr, const struct pending_done *done)
{
    if (!block_fits(ptr, 0))
        return 0;                        /* the caller removes it now */
    struct free_queue *q = free_queue_mine(done);
    if (__builtin_expect(!q, 0))
        return 0;
    uint64_t key = key_of(ptr);
    prefetch_buckets(shard_of(ptr), key, key_hash(key));
    unsigned i = q->head;
    q->head = (i + 1) % FREE_QUEUE_SLOTS;
    settle(&q->slot[i], done);
    atomic_store_explicit(&q->slot[i], ptr, memory_order_release);
    return 1;
}

void blocks_settle_all(const struct pending_done *done)
{
    free_queue_each_slot(settle, done);
}

/* ---- what reports read --------------------------------------------------------------------------- */

int blocks_copy_shard(unsigned shard, struct shard_copy *c, uint64_t now)
{
    struct shard *s = &shards[shard];
    size_t n = 0, nrec = 0;
    unsigned ring_cap = extras_ring_capacity();
    lw_lock(&s->lock);
    size_t total = s->count, records_room = (size_t)s->extras.count * ring_cap;
    int fits = total <= c->blocks_cap && records_room <= c->records_cap;
    if (fits) {
        for (size_t i = 0; i < (size_t)s->nbuckets * BUCKET_SLOTS; i++) {
            const struct block *b = &s->buckets[i / BUCKET_SLOTS].slot[i % BUCKET_SLOTS];
            if (!b->addr_site)
                continue;
            uintptr_t ptr = block_ptr(b);
            struct block_view *v = &c->blocks[n++];
            *v = (struct block_view){ .ptr = ptr, .size = block_size(b), .site = block_site(b),
                                      .birth = block_birth_at(block_birth_bits(b), now), .first_record = nrec };
            if (!block_has_extra(b))
                continue;
            int got = extras_read_locked(&s->extras, ptr, &v->stack, c->records + nrec, ring_cap);
            if (got > 0) {
                v->nrecords = (uint32_t)got;
                nrec += (size_t)got;
            }
        }
    }
    lw_unlock(&s->lock);
    c->nblocks = total;
    c->nrecords = fits ? nrec : records_room;
    return fits ? 0 : -1;
}

unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap)
{
    struct shard *s = shard_of(ptr);
    uint32_t stack;
    lw_lock(&s->lock);
    int n = extras_read_locked(&s->extras, ptr, &stack, dst, cap);
    lw_unlock(&s->lock);
    return n > 0 ? (unsigned)n : 0;
}

void blocks_clear(void)
{
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++) {
        struct shard *s = &shards[i];
        lw_lock(&s->lock);
        memset(s->buckets, 0, table_bytes(s->nbuckets));
        s->count = 0;
        extras_clear_locked(&s->extras);
        lw_unlock(&s->lock);
    }
}

uint64_t blocks_count(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < BLOCKS_SHARDS; i++)
        n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
    return n;
}
