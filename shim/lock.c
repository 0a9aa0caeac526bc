/* lock.c — the contended path of the spinlock: spin briefly, then yield the CPU.
 * Kept out of line so the uncontended lock stays one atomic exchange. */
#include <sched.h>
#include "lock.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

__attribute__((noinline, cold)) void lw_lock_contended(lw_lock_t *lock)
{
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&lock->held, memory_order_relaxed) == 0 &&
            atomic_exchange_explicit(&lock->held, 1, memory_order_acquire) == 0)
            return;
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
}
