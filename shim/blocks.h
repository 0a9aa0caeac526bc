/* blocks.h — the live heap blocks: a map from address to a 24-byte record (size, site, birth, own
 * stack), sharded 64 ways by address hash, each shard an open-addressing table under its own
 * spinlock, so threads freeing unrelated blocks rarely meet. Blocks that were realloc'ed also carry a
 * ring of recent access records. Never calls malloc; never called with another shim lock held.
 * Not async-signal-safe. */
#ifndef LW_BLOCKS_H
#define LW_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

#define BLOCKS_SHARDS 64
#define BLOCK_SIZE_BITS 40               /* larger blocks are kept by regions.h */
#define BLOCK_SIZE_LIMIT (1ull << BLOCK_SIZE_BITS)

struct block {
    uintptr_t ptr;                       /* 0: empty slot */
    uint64_t size_site;                  /* size:40 | site:23 | has_ring:1 */
    uint64_t birth_stack;                /* birth ms since start:40 | own stack id:24 */
};

static inline uint64_t block_size(const struct block *b) { return b->size_site & (BLOCK_SIZE_LIMIT - 1); }
static inline uint32_t block_site(const struct block *b) { return (uint32_t)(b->size_site >> 40) & 0x7fffff; }
static inline int block_has_ring(const struct block *b) { return (int)(b->size_site >> 63); }
static inline uint64_t block_birth(const struct block *b) { return b->birth_stack >> 24; }
static inline uint32_t block_stack(const struct block *b) { return (uint32_t)(b->birth_stack & 0xffffff); }

static inline void block_set(struct block *b, uintptr_t ptr, uint64_t size, uint32_t site,
                             uint64_t birth, uint32_t stack)
{
    b->ptr = ptr;
    b->size_site = size | ((uint64_t)site << 40);
    b->birth_stack = (birth << 24) | stack;
}

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

int blocks_init(unsigned records_per_block);

/* Adds b. If a record for the same address was still there (its free was not seen, e.g. made inside
 * a signal handler while the shim was busy), it is replaced and copied to *stale; returns 1 then.
 * Returns -1 when no memory could be had for the record (the block goes untracked), else 0. */
int blocks_insert(const struct block *b, struct access_ring *ring, struct block *stale);

/* Removes the record for ptr into *out; returns 0 if there is none. With ring_out the block's ring
 * (or NULL) is handed over to the caller, who passes it on to blocks_insert or frees it. */
int blocks_remove(uintptr_t ptr, struct block *out, struct access_ring **ring_out);

/* Appends a record to ring (making one when ring is NULL); returns the ring, or NULL without memory.
 * The oldest record is dropped when the ring is full. */
struct access_ring *access_ring_add(struct access_ring *ring, const struct access_record *rec);
void access_ring_free(struct access_ring *ring);

/* Copies shard i's records into dst (at most cap) under the shard lock; returns how many there were,
 * which may exceed cap (then call again with more room). */
size_t blocks_copy_shard(unsigned shard, struct block *dst, size_t cap);

/* Copies the access records of the block at ptr, newest first, into dst; returns how many. */
unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap);

uint64_t blocks_count(void);             /* racy sum of the shards' counts */

void blocks_atfork_prepare(void);
void blocks_atfork_parent(void);
void blocks_atfork_child(void);

#endif
