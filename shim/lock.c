/* lock.c — the contended paths of the lock (see lock.h): a short spin, then futex sleep.
 * Kept out of line so the uncontended lock stays inline and small. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "lock.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

__attribute__((noinline, cold)) void lw_lock_contended(lw_lock_t *lock)
{
    for (int spins = 0; spins < 100; spins++) {
        cpu_relax();
        int expected = 0;
        if (atomic_load_explicit(&lock->state, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&lock->state, &expected, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* mark "sleepers" and sleep until the holder's unlock wakes us; errno is the host's */
    int saved = errno;
    while (atomic_exchange_explicit(&lock->state, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &lock->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

__attribute__((noinline, cold)) void lw_unlock_wake(lw_lock_t *lock)
{
    int saved = errno;
    syscall(SYS_futex, &lock->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}
