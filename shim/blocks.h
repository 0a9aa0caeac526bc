/* blocks.h — the live heap blocks: a map from address to a 16-byte record (size, site, birth), sharded
 * 256 ways by where an address is (blocks.c), each shard a bucketed cuckoo table under its own
 * lock, so threads freeing what they allocated rarely meet. The few blocks with more to keep (an own
 * creation stack, a ring of recent access records) have it in a small side map of their shard.
 * Blocks that do not fit a record (see block_fits) are kept by regions.h. Never calls malloc; never
 * called with another shim lock held. Not async-signal-safe. */
#ifndef LW_BLOCKS_H
#define LW_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "extras.h"

#define BLOCKS_SHARDS 256
#define BLOCK_ADDR_BITS 47               /* user-space addresses without 5-level paging */
#define BLOCK_SIZE_BITS 27               /* larger blocks (glibc mmaps them anyway) go to regions.h */
#define BLOCK_SIZE_LIMIT (1ull << BLOCK_SIZE_BITS)
#define BLOCK_BIRTH_BITS 36              /* ms since start, modulo 2^36: ages are exact up to 397 days */
#define BLOCK_BIRTH_MASK ((1ull << BLOCK_BIRTH_BITS) - 1)

/* One slot of the map. Addresses are multiples of 8 below 2^47, so address/8 takes 44 bits and the
 * site index (below SITES_MAX = 2^20) the other 20 of the first word. */
struct block {
    uint64_t addr_site;                  /* address/8 : 44 | site : 20; 0: an empty slot */
    uint64_t size_birth;                 /* size : 27 | birth : 36 | has_extra : 1 */
};

#define BLOCK_HAS_EXTRA (1ull << 63)

static inline int block_fits(uintptr_t ptr, uint64_t size)
{
    return size < BLOCK_SIZE_LIMIT && (ptr & 7) == 0 && ptr - 1 < (1ull << BLOCK_ADDR_BITS) - 1;
}

static inline uintptr_t block_ptr(const struct block *b) { return (uintptr_t)(b->addr_site & ((1ull << 44) - 1)) << 3; }
static inline uint32_t block_site(const struct block *b) { return (uint32_t)(b->addr_site >> 44); }
static inline uint64_t block_size(const struct block *b) { return b->size_birth & (BLOCK_SIZE_LIMIT - 1); }
static inline uint64_t block_birth_bits(const struct block *b) { return (b->size_birth >> BLOCK_SIZE_BITS) & BLOCK_BIRTH_MASK; }
static inline int block_has_extra(const struct block *b) { return (int)(b->size_birth >> 63); }

/* birth: ms since start (only its low BLOCK_BIRTH_BITS are kept). ptr and size must pass block_fits. */
static inline void block_set(struct block *b, uintptr_t ptr, uint64_t size, uint32_t site, uint64_t birth)
{
    b->addr_site = (uint64_t)(ptr >> 3) | ((uint64_t)site << 44);
    b->size_birth = size | ((birth & BLOCK_BIRTH_MASK) << BLOCK_SIZE_BITS);
}

/* The birth, in ms since start, of a block whose kept bits are `bits`, seen at `now` (ms since start).
 * A block born after `now` (inserted while a report was being taken) counts as born at `now`. */
static inline uint64_t block_birth_at(uint64_t bits, uint64_t now)
{
    uint64_t back = (now - bits) & BLOCK_BIRTH_MASK;
    if (back > BLOCK_BIRTH_MASK / 2)
        return now;
    return now - back;
}

/* A block as a report sees it. */
struct block_view {
    uintptr_t ptr;
    uint64_t size;
    uint64_t birth;                      /* ms since start */
    uint32_t site;
    uint32_t stack;
    uint32_t first_record, nrecords;     /* its access records in shard_copy.records, newest first */
};

/* Where blocks_copy_shard puts one shard's blocks and their access records. */
struct shard_copy {
    struct block_view *blocks;
    size_t blocks_cap, nblocks;
    struct access_record *records;
    size_t records_cap, nrecords;
};

int blocks_init(unsigned records_per_block);

/* Adds b with its extra (NULL: none), whose ring the map takes over. If a record for the same address
 * was still there (its free was not seen, e.g. made inside a signal handler while the shim was busy),
 * it is replaced and copied to *stale; returns 1 then. Returns -1 when no memory could be had for the
 * table: a record (b itself, or one that had to make room for it) was dropped and is in *stale. Else 0. */
int blocks_insert(const struct block *b, const struct block_extra *extra, struct block *stale);

/* A hint that ptr is about to be inserted: starts loading the memory that will take. */
void blocks_prefetch(uintptr_t ptr);

/* Removes the record for ptr into *out; returns 0 if there is none. With extra_out the block's extra
 * is handed over to the caller, who passes its ring on to blocks_insert or frees it. */
int blocks_remove(uintptr_t ptr, struct block *out, struct block_extra *extra_out);

/* What a removal found, for a caller that is not waiting for it. */
struct pending_done {
    void (*freed)(const struct block *b);    /* the record removed */
    void (*unknown)(uintptr_t ptr);          /* no record: freed memory the map never had */
};

/* Queues ptr, just freed, for its record to be removed a few frees later on this thread (blocks.c),
 * and removes the record queued longest ago, passing it to done. Returns 0 when ptr was not queued
 * (an address no record can have, or no memory for a queue): the caller removes it now. */
int blocks_free_later(uintptr_t ptr, const struct pending_done *done);

/* Removes the records of every queued free, in every thread's queue (before a report). */
void blocks_settle_all(const struct pending_done *done);


/* Copies shard i's blocks and the access records of each, in one hold of the shard lock, births as seen
 * at `now` (ms since start): the records shown with a block are that block's, whatever happens to its
 * address afterwards. Returns 0; or -1 when the room was too small, with nblocks and nrecords set to
 * the room needed (then call again with more). */
int blocks_copy_shard(unsigned shard, struct shard_copy *c, uint64_t now);

/* Copies the access records of the block at ptr, newest first, into dst; returns how many (tests). */
unsigned blocks_copy_records(uintptr_t ptr, struct access_record *dst, unsigned cap);

/* Forgets every block (a detached shim attached again starts afresh): each shard under its lock. */
void blocks_clear(void);

uint64_t blocks_count(void);             /* racy sum of the shards' counts */


#endif
