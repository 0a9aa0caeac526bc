/* lock.c — the contended paths of the lock, the table of locks by rank, and the witness of the debug
 * build (see lock.h). The contended paths are out of line so the uncontended lock stays small. */
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdlib.h>
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

/* ---- the table --------------------------------------------------------------------------------- */

static struct lock_class {
    lw_lock_t *first;
    unsigned count;
    size_t stride;
} classes[LOCK_RANKS];

static inline lw_lock_t *class_lock(const struct lock_class *c, unsigned i)
{
    return (lw_lock_t *)((char *)c->first + (size_t)i * c->stride);
}

void lock_register(enum lock_rank rank, lw_lock_t *first, unsigned count, size_t stride)
{
    classes[rank] = (struct lock_class){ first, count, stride };
    for (unsigned i = 0; i < count; i++)
        lw_lock_set_rank(class_lock(&classes[rank], i), rank);
}

#ifdef LW_LOCK_WITNESS
static __thread unsigned held[LOCK_RANKS] __attribute__((tls_model("initial-exec")));
static __thread int fork_holds_all __attribute__((tls_model("initial-exec")));
__attribute__((noreturn, cold)) static void witness_fail(const char *what, enum lock_rank taking,
                                                         enum lock_rank holding);
#endif

/* The fork path takes many locks of one rank (every shard); it keeps the witness's counts itself. */
static void take_raw(lw_lock_t *lock)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&lock->state, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        lw_lock_contended(lock);
}

static void release_raw(lw_lock_t *lock)
{
    if (atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2)
        lw_unlock_wake(lock);
}

void locks_take_all(void)
{
#ifdef LW_LOCK_WITNESS
    for (unsigned r = 0; r < LOCK_RANKS; r++)
        if (held[r])
            witness_fail("fork while holding a lock", LOCK_RANK_SIGNAL, (enum lock_rank)r);
    fork_holds_all = 1;
#endif
    for (unsigned r = 1; r < LOCK_RANKS; r++) {
        const struct lock_class *c = &classes[r];
        for (unsigned i = 0; i < c->count; i++) {
            witness_acquire(class_lock(c, i));
            take_raw(class_lock(c, i));
        }
    }
}

void locks_release_all(void)
{
    for (unsigned r = LOCK_RANKS; r-- > 1;) {
        const struct lock_class *c = &classes[r];
        for (unsigned i = c->count; i-- > 0;) {
            witness_release(class_lock(c, i));
            release_raw(class_lock(c, i));
        }
    }
#ifdef LW_LOCK_WITNESS
    fork_holds_all = 0;
#endif
}

void locks_reset_all_in_child(void)
{
    for (unsigned r = 1; r < LOCK_RANKS; r++) {
        const struct lock_class *c = &classes[r];
        for (unsigned i = 0; i < c->count; i++)
            atomic_store_explicit(&class_lock(c, i)->state, 0, memory_order_relaxed);
    }
#ifdef LW_LOCK_WITNESS
    for (unsigned r = 0; r < LOCK_RANKS; r++)
        held[r] = 0;
    fork_holds_all = 0;
#endif
}

/* ---- the witness (debug build) ----------------------------------------------------------------- */

#ifdef LW_LOCK_WITNESS
static const char *const rank_names[] = {
    "unranked", "signal", "report", "got", "stacks", "sites", "regions", "count tables", "free queues",
    "block shard", "arena",
};
_Static_assert(sizeof rank_names / sizeof rank_names[0] == LOCK_RANKS, "a lock rank without a name");

static void say(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    ssize_t ignored = write(2, s, n);
    (void)ignored;
}

__attribute__((noreturn, cold)) static void witness_fail(const char *what, enum lock_rank taking,
                                                         enum lock_rank holding)
{
    say("leakwatch: lock witness: ");
    say(what);
    say(": taking the ");
    say(taking < LOCK_RANKS ? rank_names[taking] : "corrupt");
    say(" lock");
    if (holding != LOCK_RANK_NONE) {
        say(" while holding the ");
        say(holding < LOCK_RANKS ? rank_names[holding] : "corrupt");
        say(" lock");
    }
    say("\n");
    abort();
}

void witness_acquire(lw_lock_t *lock)
{
    enum lock_rank rank = lock->rank;
    if (rank == LOCK_RANK_NONE || rank >= LOCK_RANKS)
        witness_fail("a lock missing from the table", rank, LOCK_RANK_NONE);
    /* the fork path takes every lock of a rank in the table's order: allowed once, by it alone */
    if (!fork_holds_all) {
        for (unsigned r = rank; r < LOCK_RANKS; r++)
            if (held[r])
                witness_fail("lock order violated", rank, (enum lock_rank)r);
    }
    held[rank]++;
}

void witness_release(lw_lock_t *lock)
{
    enum lock_rank rank = lock->rank;
    if (rank == LOCK_RANK_NONE || rank >= LOCK_RANKS || held[rank] == 0)
        witness_fail("releasing a lock not held", rank, LOCK_RANK_NONE);
    held[rank]--;
}
#endif
