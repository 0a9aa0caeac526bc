/* lock.h — the shim's lock and the one table of every shim lock in rank order.
 * A lock is one word, allocates nothing and works in any state of the process. Uncontended it is one
 * atomic exchange to take and one to release; a waiter spins briefly and then sleeps on a futex, so a
 * holder that was preempted (common on a loaded 2-core box) costs the waiter nothing but a sleep.
 * Not for signal handlers.
 *
 * Lock order: a thread holding a lock takes only locks of a higher rank (enum lock_rank, below):
 *     signal -> report -> got -> stacks -> sites -> regions -> count tables -> free queues -> block shards
 *     (by address) -> arena
 * Every lock is registered in the table with its rank (LOCK_REGISTER, next to the lock it names). The
 * fork handlers walk that table: before fork they take every lock in rank order, the parent releases
 * them, the child re-initialises them (lifecycle.c). Built with -DLW_LOCK_WITNESS, every lock knows its
 * rank and each thread checks, on every acquisition, that it holds no lock of the same or a higher
 * rank; a violation, or a lock missing from the table, prints both locks and aborts (`make
 * check-witness`). The normal build pays nothing for the check. */
#ifndef LW_LOCK_H
#define LW_LOCK_H

#include <stdatomic.h>
#include <stddef.h>

enum lock_rank {
    LOCK_RANK_NONE = 0,           /* not in the table: the witness refuses it */
    LOCK_RANK_SIGNAL,             /* signals.c: the program's action for the report signal */
    LOCK_RANK_REPORT,             /* report_thread.c: one report at a time, uid changes */
    LOCK_RANK_GOT,                /* got.c: rewriting the modules' GOT entries (late start, detach) */
    LOCK_RANK_STACKS,             /* stacks.c: interning a new stack */
    LOCK_RANK_SITES,              /* sites.c: inserting a new site */
    LOCK_RANK_REGIONS,            /* regions.c: the sorted ranges */
    LOCK_RANK_COUNT_TABLES,       /* counts.c: making and listing per-thread count tables */
    LOCK_RANK_FREE_QUEUES,        /* free_queue.c: making and listing per-thread free queues */
    LOCK_RANK_BLOCK_SHARD,        /* blocks.c: one per shard; several are taken only in address order */
    LOCK_RANK_ARENA,              /* arena.c: the shim's own memory; taken under any other */
    LOCK_RANKS
};

typedef struct {
    atomic_int state;             /* 0 free, 1 held, 2 held with sleepers */
#ifdef LW_LOCK_WITNESS
    enum lock_rank rank;
#endif
} lw_lock_t;

#ifdef LW_LOCK_WITNESS
#define LW_LOCK_INIT(r) { 0, (r) }
void witness_acquire(lw_lock_t *lock);
void witness_release(lw_lock_t *lock);
#else
#define LW_LOCK_INIT(r) { 0 }
static inline void witness_acquire(lw_lock_t *lock) { (void)lock; }
static inline void witness_release(lw_lock_t *lock) { (void)lock; }
#endif

/* For locks in memory that is not statically initialised (the block shards). */
static inline void lw_lock_set_rank(lw_lock_t *lock, enum lock_rank rank)
{
#ifdef LW_LOCK_WITNESS
    lock->rank = rank;
#else
    (void)lock, (void)rank;
#endif
}

void lw_lock_contended(lw_lock_t *lock);
void lw_unlock_wake(lw_lock_t *lock);

static inline void lw_lock(lw_lock_t *lock)
{
    witness_acquire(lock);
    int expected = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&lock->state, &expected, 1,
                                                                 memory_order_acquire, memory_order_relaxed), 1))
        return;
    lw_lock_contended(lock);
}

static inline void lw_unlock(lw_lock_t *lock)
{
    witness_release(lock);
    if (__builtin_expect(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2, 0))
        lw_unlock_wake(lock);
}

/* ---- the table --------------------------------------------------------------------------------- */

/* Puts count locks (stride bytes apart, in the order they are taken) into the table at rank. One
 * registration per rank; made by a constructor, before any thread or fork can exist. */
void lock_register(enum lock_rank rank, lw_lock_t *first, unsigned count, size_t stride);

#define LOCK_REGISTER(rank, first, count, stride)                                       \
    static void __attribute__((constructor)) lock_register_##rank(void)                 \
    {                                                                                    \
        lock_register(rank, (first), (count), (stride));                                 \
    }

/* The fork handlers: take every registered lock in rank order; release them in reverse; in the child,
 * make every lock free again (the threads that held them are gone). */
void locks_take_all(void);
void locks_release_all(void);
void locks_reset_all_in_child(void);

#endif
