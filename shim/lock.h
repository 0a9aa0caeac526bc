/* lock.h — the shim's spinlock: a word, no allocation, usable in any state of the process.
 * Critical sections in the shim are a few hundred instructions; contention falls back to sched_yield.
 * A forked child re-initialises every lock instead of unlocking (see reporter.c). Not for signal handlers. */
#ifndef LW_LOCK_H
#define LW_LOCK_H

#include <stdatomic.h>

typedef struct { atomic_int held; } lw_lock_t;

#define LW_LOCK_INIT { 0 }

void lw_lock_contended(lw_lock_t *lock);

static inline void lw_lock(lw_lock_t *lock)
{
    if (__builtin_expect(atomic_exchange_explicit(&lock->held, 1, memory_order_acquire) == 0, 1))
        return;
    lw_lock_contended(lock);
}

static inline void lw_unlock(lw_lock_t *lock)
{
    atomic_store_explicit(&lock->held, 0, memory_order_release);
}

static inline void lw_lock_reinit(lw_lock_t *lock)
{
    atomic_store_explicit(&lock->held, 0, memory_order_relaxed);
}

#endif
