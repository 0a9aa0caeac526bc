/* extras.c — the side map of own stacks and access rings (see extras.h). */
#include "extras.h"
#include "arena.h"

/* An access record as a ring keeps it: 24 bytes. Both sizes are those of a block in the map (below
 * BLOCK_SIZE_LIMIT in blocks.h), and the time fits 40 bits of ms (34 years). */
struct packed_record {
    uint64_t when_site_kind;             /* when_ms : 40 | site : 20 | kind : 4 */
    uint32_t old_size, new_size;
    uint32_t thread, unused;
};

struct access_ring {
    uint16_t count;
    uint16_t next;                       /* slot the next record goes to */
    uint16_t cap;                        /* grows 1, 2, 4, ... up to the configured records */
    struct packed_record recs[];
};

static struct packed_record pack_record(const struct access_record *r)
{
    return (struct packed_record){
        .when_site_kind = (r->when_ms & ((1ull << 40) - 1)) | (uint64_t)(r->site & 0xfffff) << 40 |
                          (uint64_t)(r->kind & 0xf) << 60,
        .old_size = (uint32_t)r->old_size, .new_size = (uint32_t)r->new_size, .thread = r->thread,
    };
}

static struct access_record unpack_record(const struct packed_record *p)
{
    return (struct access_record){
        .when_ms = p->when_site_kind & ((1ull << 40) - 1), .site = (uint32_t)(p->when_site_kind >> 40) & 0xfffff,
        .kind = (uint32_t)(p->when_site_kind >> 60), .old_size = p->old_size, .new_size = p->new_size,
        .thread = p->thread,
    };
}

struct extra_slot {
    uint64_t key_stack;                  /* address/8 : 44 | own stack : 20; 0: empty */
    struct access_ring *ring;
};

static inline uintptr_t extra_ptr(const struct extra_slot *e) { return (uintptr_t)(e->key_stack & ((1ull << 44) - 1)) << 3; }
static inline uint32_t extra_stack(const struct extra_slot *e) { return (uint32_t)(e->key_stack >> 44); }

static unsigned ring_capacity;

void extras_init(unsigned records_per_block)
{
    ring_capacity = records_per_block;
}

unsigned extras_ring_capacity(void)
{
    return ring_capacity;
}

static size_t ring_size(unsigned cap)
{
    return sizeof(struct access_ring) + cap * sizeof(struct packed_record);
}

/* The same hash as the block map's: address/8, multiplied and folded. */
static inline uint64_t addr_hash(uintptr_t ptr)
{
    uint64_t h = ((uint64_t)ptr >> 3) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* ---- the map: linear probing over a power-of-two table ---- */


static uint32_t find(const struct extra_map *s, uintptr_t ptr)
{
    if (!s->cap)
        return UINT32_MAX;
    uint32_t mask = s->cap - 1;
    for (uint32_t i = (uint32_t)addr_hash(ptr) & mask;; i = (i + 1) & mask) {
        if (s->slots[i].key_stack && extra_ptr(&s->slots[i]) == ptr)
            return i;
        if (s->slots[i].key_stack == 0)
            return UINT32_MAX;
    }
}

/* Takes the extra of ptr out of the map (backward-shift deletion); all zero if there is none. */
struct block_extra extras_take_locked(struct extra_map *s, uintptr_t ptr)
{
    uint32_t i = find(s, ptr);
    if (i == UINT32_MAX)
        return (struct block_extra){ NULL, 0 };
    struct block_extra extra = { s->slots[i].ring, extra_stack(&s->slots[i]) };
    uint32_t mask = s->cap - 1, hole = i;
    for (uint32_t j = (hole + 1) & mask; s->slots[j].key_stack; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)addr_hash(extra_ptr(&s->slots[j])) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole].key_stack = 0;
    s->count--;
    return extra;
}

static void extra_slot_put(struct extra_slot *slots, uint32_t cap, const struct extra_slot *e)
{
    uint32_t i = (uint32_t)addr_hash(extra_ptr(e)) & (cap - 1);
    while (slots[i].key_stack)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

/* Adds ptr -> extra; 0, or -1 without memory. */
int extras_put_locked(struct extra_map *s, uintptr_t ptr, const struct block_extra *extra)
{
    if ((s->count + 1) * 4 > s->cap * 3) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        struct extra_slot *bigger = arena_map(cap * sizeof *bigger);
        if (!bigger)
            return -1;
        for (uint32_t i = 0; i < s->cap; i++)
            if (s->slots[i].key_stack)
                extra_slot_put(bigger, cap, &s->slots[i]);
        arena_unmap(s->slots, s->cap * sizeof *s->slots);
        s->slots = bigger;
        s->cap = cap;
    }
    struct extra_slot e = { ((uint64_t)ptr >> 3) | (uint64_t)extra->stack << 44, extra->ring };
    extra_slot_put(s->slots, s->cap, &e);
    s->count++;
    return 0;
}

int extras_read_locked(const struct extra_map *m, uintptr_t ptr, uint32_t *stack, struct access_record *dst,
                       unsigned cap)
{
    uint32_t at = find(m, ptr);
    if (at == UINT32_MAX)
        return -1;
    *stack = extra_stack(&m->slots[at]);
    const struct access_ring *r = m->slots[at].ring;
    unsigned n = 0;
    for (unsigned k = 0; r && k < r->count && n < cap; k++)
        dst[n++] = unpack_record(&r->recs[(r->next + r->cap - 1 - k) % r->cap]);
    return (int)n;
}

/* ---- access rings ---- */

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
    ring->recs[ring->next] = pack_record(rec);
    ring->next = (uint16_t)((ring->next + 1) % ring->cap);
    if (ring->count < ring->cap)
        ring->count++;
    return ring;
}

void access_ring_release(struct access_ring *ring)
{
    arena_free(ring, ring_size(ring->cap));
}

