/* extras.h — what a few blocks keep besides their 16-byte record: an own creation stack and a ring of
 * recent access records (reallocs in place), in a small side map per shard (struct extra_map) from
 * address to both. The map is linear probing over a power-of-two table, at most 3/4 full. Its
 * functions run under the owning shard's lock (blocks.c); rings are the caller's until put in a map.
 * Memory comes from the arena. Not async-signal-safe. */
#ifndef LW_EXTRAS_H
#define LW_EXTRAS_H

#include <stddef.h>
#include <stdint.h>

enum access_kind { ACCESS_REALLOC = 1 };

struct access_record {
    uint64_t when_ms;                    /* ms since start */
    uint64_t old_size, new_size;
    uint32_t thread;
    uint32_t site;                       /* the caller's site: its frames say where the access was */
    uint32_t kind;
};

/* The records of one block, newest last, at most config.records. */
struct access_ring;

/* What a block may have besides its record. */
struct block_extra {
    struct access_ring *ring;            /* NULL: none */
    uint32_t stack;                      /* own creation stack (stacks.h id), 0: none */
};

struct extra_slot;

/* One shard's side map. */
struct extra_map {
    struct extra_slot *slots;
    uint32_t cap, count;
};

/* The most records a ring keeps (config.records); set once at start-up. */
void extras_init(unsigned records_per_block);
unsigned extras_ring_capacity(void);

/* Takes the extra of ptr out of the map; all zero if there is none. */
struct block_extra extras_take_locked(struct extra_map *m, uintptr_t ptr);
/* Empties the map, giving its rings back. */
void extras_clear_locked(struct extra_map *m);
/* Adds ptr -> extra (the ring becomes the map's); 0, or -1 without memory. */
int extras_put_locked(struct extra_map *m, uintptr_t ptr, const struct block_extra *extra);
/* ptr's own stack into *stack and its records, newest first, into dst (at most cap); returns how many
 * records, or -1 when ptr has no extra. */
int extras_read_locked(const struct extra_map *m, uintptr_t ptr, uint32_t *stack, struct access_record *dst,
                       unsigned cap);

/* Appends a record to ring (making one when ring is NULL); returns the ring, which may have moved, or
 * NULL without memory (ring is then unchanged). The oldest record is dropped when the ring is full. */
struct access_ring *access_ring_add(struct access_ring *ring, const struct access_record *rec);
void access_ring_release(struct access_ring *ring);

/* Inline: most callers hold no ring, and the common insert should not pay a call for that. */
static inline void access_ring_free(struct access_ring *ring)
{
    if (ring)
        access_ring_release(ring);
}

#endif
