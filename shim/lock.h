/* lock.h — the shim's lock: one word, no allocation, usable in any state of the process.
 * Uncontended it is one atomic exchange to take and one to release; a waiter spins briefly and then
 * sleeps on a futex, so a holder that was preempted (common on a loaded 2-core box) costs the waiter
 * nothing but a sleep. A forked child re-initialises every lock instead of unlocking (reporter.c).
 * Not for signal handlers. */
#ifndef LW_LOCK_H
#define LW_LOCK_H

#include <stdatomic.h>

typedef struct { atomic_int state; } lw_lock_t;   /* 0 free, 1 held, 2 held with sleepers */

#define LW_LOCK_INIT { 0 }

void lw_lock_contended(lw_lock_t *lock);
void lw_unlock_wake(lw_lock_t *lock);

static inline void lw_lock(lw_lock_t *lock)
{
    int expected = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&lock->state, &expected, 1,
                                                                 memory_order_acquire, memory_order_relaxed), 1))
        return;
    lw_lock_contended(lock);
}

static inline void lw_unlock(lw_lock_t *lock)
{
    if (__builtin_expect(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2, 0))
        lw_unlock_wake(lock);
}

static inline void lw_lock_reinit(lw_lock_t *lock)
{
    atomic_store_explicit(&lock->state, 0, memory_order_relaxed);
}

#endif
