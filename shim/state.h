/* state.h — the shim's process-wide state in one struct: settings, the real libc functions, the
 * on/off switch and the clock. Written during initialisation (and in a forked child), read everywhere.
 * Defined in state.c, a leaf of the module graph.
 * The per-thread recursion guard lives here too: set while the shim works, so allocations made by
 * the shim itself, libunwind or the loader pass straight through. */
#ifndef LW_STATE_H
#define LW_STATE_H

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "config.h"

#define LW_HIDDEN __attribute__((visibility("hidden")))
#define LW_LIKELY(x) __builtin_expect(!!(x), 1)
#define LW_UNLIKELY(x) __builtin_expect(!!(x), 0)

struct lw_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    sighandler_t (*signal)(int, sighandler_t);
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
};

enum lw_status {
    LW_UNINIT = 0,     /* nothing resolved: allocations go to the boot allocator */
    LW_INITIALISING,   /* one thread is resolving the real functions */
    LW_ON,             /* tracking */
    LW_OFF,            /* passed through: tracking failed or was never possible */
};

struct lw_state {
    atomic_int status;
    struct lw_config config;
    struct lw_real real;
    uint64_t start_ms;          /* CLOCK_MONOTONIC at start-up */
    uint64_t start_realtime_ms;
    uintptr_t self_lo[2], self_hi[2];  /* the shim's and libunwind's code: left out of stacks */
    pid_t pid;                  /* refreshed in a forked child */
    int late;                   /* loaded into a running process by leakwatch attach (late.h) */
    size_t page_size;
};

extern struct lw_state shim_state LW_HIDDEN;
extern __thread int lw_guard LW_HIDDEN;
extern __thread int *lw_errno_at LW_HIDDEN;

/* This thread's errno, its address looked up once: every hook keeps errno as the real call left it,
 * and __errno_location is a call through the PLT. */
static inline int *lw_errno(void)
{
    int *e = lw_errno_at;
    if (__builtin_expect(e == NULL, 0))
        e = lw_errno_at = __errno_location();
    return e;
}

/* Milliseconds on CLOCK_MONOTONIC_COARSE: a vDSO read, no system call, a few ms of resolution. */
static inline uint64_t lw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline int lw_is_on(void)
{
    return atomic_load_explicit(&shim_state.status, memory_order_acquire) == LW_ON;
}

/* Turns tracking off for good, saying why once. Safe to call from any thread. */
void lw_disable(const char *why);

/* "/proc/thread-self/<entry>" into buf (cap bytes), or "/proc/self/<entry>" on kernels before 3.17.
 * /proc/self reads through the thread group leader: after main has called pthread_exit its exe and
 * cmdline give nothing, while every other thread still runs the program. Async-signal-safe. */
const char *lw_proc_path(const char *entry, char *buf, unsigned cap);

/* Field `field` (numbered from 1 as in proc(5)) of a /proc/.../stat file into text; 0, or -1. The command
 * name (field 2) may hold spaces and ')': fields are counted after its last ')'. Async-signal-safe. */
int lw_stat_field(const char *path, int field, char *text, unsigned cap);

#endif
