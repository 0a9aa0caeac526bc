/* unwind.c — stack walking for site keys and creation stacks (see unwind.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/resource.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include "unwind.h"
#include "arena.h"
#include "cfi.h"
#include "config.h"
#include "state.h"

/* The bounds of this thread's stack: a walk reads no higher than the top, and runs only while the
 * current frame is between them. 0 (unknown) leaves the thread to libunwind. Found without
 * pthread_getattr_np, which takes a thread lock and allocates: the program may be inside it. */
static __thread uintptr_t tls_stack_top __attribute__((tls_model("initial-exec")));
static __thread uintptr_t tls_stack_lo __attribute__((tls_model("initial-exec")));
static __thread uint8_t tls_stack_sought __attribute__((tls_model("initial-exec")));

static void set_main_thread_stack(void);

/* A thread that ran before a late attach (no pthread_create of it went through the shim): its bounds are
 * found once, at its first walk, the ways they are for threads seen starting: the main thread's from
 * __libc_stack_end, another's up to its descriptor (glibc keeps it at the top of the stack block; the
 * lower bound is the default stack size below it). Never from an alternate signal stack, whose memory is
 * not the thread's stack (tried again at the next walk). Without this the thread would be left to
 * libunwind, which cannot tell HotSpot's interpreted frames apart, and a JVM attached to would get no
 * Java names for its sites. */
static __attribute__((noinline, cold)) void find_stack_late(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_ONSTACK))
        return;
    tls_stack_sought = 1;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if ((pid_t)syscall(SYS_gettid) == shim_state.pid) {
        set_main_thread_stack();
    } else {
        uintptr_t top = (uintptr_t)pthread_self(), size = 8u << 20;
        struct rlimit limit;
        if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < size)
            size = limit.rlim_cur;
        if (top > here && top - here < size) {
            tls_stack_top = top;
            tls_stack_lo = top - size;
        }
    }
    if (tls_stack_top && !(here >= tls_stack_lo && here < tls_stack_top))
        tls_stack_top = tls_stack_lo = 0;
}

/* Walks only run on the thread's own stack: on an alternate signal stack (sigaltstack, often a few KiB)
 * there is neither room for a deep walk nor a known way back to the interrupted frames. A thread whose
 * stack is unknown (created by clone directly, or before a late attach until its first walk finds it) is
 * left to libunwind. */
static inline int on_thread_stack(void)
{
    if (LW_UNLIKELY(tls_stack_top == 0) && shim_state.late && !tls_stack_sought)
        find_stack_late();
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    return tls_stack_top == 0 || (here >= tls_stack_lo && here < tls_stack_top);
}

/* Frames at the top of every walk that are ours: unwind_*, track_*, the hook (both walkers start at
 * the return address into their caller). The common paths have exactly SHIM_FRAMES; deeper ones
 * (realloc) are handled by asking again. */
#define SHIM_FRAMES 3
#define MAX_SHIM_FRAMES 8

static inline int in_shim(uintptr_t ip)
{
    return (ip >= shim_state.self_lo[0] && ip < shim_state.self_hi[0]) || (ip >= shim_state.self_lo[1] && ip < shim_state.self_hi[1]);
}

static unsigned strip_shim(uintptr_t *buf, unsigned got, uintptr_t *out, unsigned max)
{
    unsigned skip = 0;
    while (skip < got && in_shim(buf[skip]))
        skip++;
    unsigned n = got - skip < max ? got - skip : max;
    memcpy(out, buf + skip, n * sizeof *out);
    return n;
}

/* The cached .eh_frame walk first (a few dozen instructions a frame, the shim's own frames skipped
 * through their frame pointers); libunwind when it gives up. Both walk only as far as needed. JIT
 * frames are part of a key, as they tell the Java callers apart (a site is then renamed when the JVM
 * recompiles the method: the gate's warm-up rounds are for that). */
unsigned unwind_site_key(uintptr_t *out, unsigned n)
{
    if (LW_UNLIKELY(!on_thread_stack()))
        return 0;
    int walked = cfi_backtrace(out, n, tls_stack_top, shim_state.self_lo[0], shim_state.self_hi[0]);
    if (walked >= 0)
        return (unsigned)walked;
    void *buf[CONFIG_MAX_SITE_DEPTH + MAX_SHIM_FRAMES];
    unsigned want = n + SHIM_FRAMES;
    int got = unw_backtrace(buf, (int)want);
    unsigned kept = strip_shim((uintptr_t *)buf, got > 0 ? (unsigned)got : 0, out, n);
    if (LW_UNLIKELY(kept < n && (unsigned)got == want)) {
        got = unw_backtrace(buf, (int)(n + MAX_SHIM_FRAMES));
        kept = strip_shim((uintptr_t *)buf, got > 0 ? (unsigned)got : 0, out, n);
    }
    return kept;
}

extern void *__libc_stack_end;

void unwind_main_thread_started(void)
{
    set_main_thread_stack();
}

static void set_main_thread_stack(void)
{
    struct rlimit limit;
    uintptr_t size = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (1u << 30))
        size = limit.rlim_cur;
    else if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur == RLIM_INFINITY)
        size = 1u << 30;
    tls_stack_top = (uintptr_t)__libc_stack_end;
    tls_stack_lo = tls_stack_top - size;
}

struct thread_start {
    void *(*start)(void *);
    void *arg;
    uintptr_t stack_lo;             /* the program's own stack (pthread_attr_setstack), 0: glibc maps one */
    size_t stack_size;
};

/* What the new thread's stack will be, read from its attributes by the creating thread. Neither call
 * allocates: the new thread must run nothing of ours that could (see thread_trampoline). */
static void planned_stack(const pthread_attr_t *attr, struct thread_start *ts)
{
    void *addr = NULL;
    size_t size = 0;
    if (attr) {
        /* glibc reports the top of an unset stack as 0: the bottom then wraps to -size */
        if (pthread_attr_getstack(attr, &addr, &size) == 0 && (uintptr_t)addr + size != 0)
            ts->stack_lo = (uintptr_t)addr;
        else
            pthread_attr_getstacksize(attr, &size);
    } else {
        pthread_attr_t defaults;
        if (pthread_attr_init(&defaults) == 0) {
            pthread_attr_getstacksize(&defaults, &size);   /* the process default */
            pthread_attr_destroy(&defaults);
        }
    }
    ts->stack_size = size;
}

/* Runs first in every thread the program creates, and sets the bounds of its walks without
 * pthread_getattr_np, which allocates (an affinity mask): any allocation of ours here would create
 * the thread's malloc arena and leave chunks in its cache before the program's first call, and the
 * program's heap would be laid out differently than without the shim (we measured 0.8 MiB more
 * resident heap on the churn bench). glibc keeps a thread's descriptor at the top of its stack block,
 * so every frame of the thread lies below pthread_self() and the memory up to it is the stack's. */
static void *thread_trampoline(void *p)
{
    struct thread_start ts = *(struct thread_start *)p;
    int saved_guard = lw_guard;
    lw_guard = 1;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), top = (uintptr_t)pthread_self();
    if (top > here && ts.stack_lo && ts.stack_lo < here) {
        tls_stack_top = top;
        tls_stack_lo = ts.stack_lo;
    } else if (top > here && ts.stack_size > 4096 && top - ts.stack_size + 4096 < here) {
        tls_stack_top = top;
        tls_stack_lo = top - ts.stack_size + 4096;   /* the lowest page may be the guard */
    } else {
        tls_stack_top = here;                        /* unknown layout: walks stop at this frame */
        tls_stack_lo = here - 64 * 1024;
    }
    arena_free(p, sizeof ts);
    lw_guard = saved_guard;
    return ts.start(ts.arg);
}

int unwind_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg,
                          int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
{
    struct thread_start *ts = arena_alloc(sizeof *ts);
    if (!ts)
        return real_create(thread, attr, start, arg);
    ts->start = start;
    ts->arg = arg;
    planned_stack(attr, ts);
    int rc = real_create(thread, attr, thread_trampoline, ts);
    if (rc != 0)
        arena_free(ts, sizeof *ts);
    return rc;
}

/* Follows saved frame pointers from this function's frame. Valid only through code that keeps them;
 * every pointer is checked against the stack bounds before it is read. */
static unsigned frame_pointer_walk(uintptr_t *out, unsigned max)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo = fp, hi = tls_stack_top;
    if (!hi)
        return 0;
    unsigned n = 0;
    while (n < max) {
        if (fp < lo || fp + 2 * sizeof(uintptr_t) > hi || (fp & (sizeof(uintptr_t) - 1)))
            break;
        uintptr_t next = ((uintptr_t *)fp)[0];
        uintptr_t ret = ((uintptr_t *)fp)[1];
        if (ret < 4096)
            break;
        out[n++] = ret;
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

/* The shim's own frames can also sit below the program's (our pthread_create hook and the thread
 * trampoline): a creation stack shows none of them. */
static unsigned drop_shim_frames(uintptr_t *frames, unsigned n)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < n; i++)
        if (!in_shim(frames[i]))
            frames[kept++] = frames[i];
    return kept;
}

unsigned unwind_full(uintptr_t *out, unsigned max)
{
    if (!on_thread_stack())
        return 0;
    int walked = cfi_backtrace(out, max, tls_stack_top, shim_state.self_lo[0], shim_state.self_hi[0]);
    if (walked >= 0)
        return drop_shim_frames(out, (unsigned)walked);
    uintptr_t buf[max + MAX_SHIM_FRAMES];          /* sized by LEAKWATCH_DEPTH: stacks can be small */
    int got = unw_backtrace((void **)buf, (int)(max + MAX_SHIM_FRAMES));
    unsigned n = strip_shim(buf, got > 0 ? (unsigned)got : 0, out, max);
    if (n == 0 || n >= max)
        return drop_shim_frames(out, n);
    /* libunwind stopped at code that belongs to no loaded object (JIT-compiled code): where the
     * frame-pointer chain passes that frame, it goes on through such code; splice the remainder on.
     * _dl_find_object is lock-free, unlike dladdr. */
    struct dl_find_object found;
    if (_dl_find_object((void *)(out[n - 1] - 1), &found) == 0)
        return drop_shim_frames(out, n);
    uintptr_t fps[max + MAX_SHIM_FRAMES];
    unsigned nfp = frame_pointer_walk(fps, max + MAX_SHIM_FRAMES);
    for (unsigned i = 0; i < nfp; i++) {
        if (fps[i] != out[n - 1])
            continue;
        for (unsigned j = i + 1; j < nfp && n < max; j++)
            out[n++] = fps[j];
        break;
    }
    return drop_shim_frames(out, n);
}
