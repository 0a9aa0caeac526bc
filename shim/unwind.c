/* unwind.c — stack walking for site keys and creation stacks (see unwind.h). */
#include <pthread.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include "unwind.h"
#include "config.h"
#include "state.h"

/* Frames of the shim itself at the top of every walk: hook, track, unwind (a few more if not inlined). */
#define MAX_SHIM_FRAMES 6

static inline int in_shim(uintptr_t ip)
{
    return (ip >= lw.self_lo[0] && ip < lw.self_hi[0]) || (ip >= lw.self_lo[1] && ip < lw.self_hi[1]);
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

unsigned unwind_site_key(uintptr_t *out, unsigned n)
{
    void *buf[CONFIG_MAX_SITE_DEPTH + MAX_SHIM_FRAMES];
    int got = unw_backtrace(buf, (int)(n + MAX_SHIM_FRAMES));
    return strip_shim((uintptr_t *)buf, got > 0 ? (unsigned)got : 0, out, n);
}

static __thread uintptr_t tls_stack_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t tls_stack_hi __attribute__((tls_model("initial-exec")));

void unwind_thread_stack(uintptr_t *lo, uintptr_t *hi)
{
    if (!tls_stack_hi) {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        /* glibc may allocate here (reads /proc/self/maps for the main thread): the guard is set. */
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                tls_stack_lo = (uintptr_t)addr;
                tls_stack_hi = (uintptr_t)addr + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
    *lo = tls_stack_lo;
    *hi = tls_stack_hi;
}

/* Follows saved frame pointers from this function's frame. Valid only through code that keeps them;
 * every pointer is checked against the stack bounds before it is read. */
static unsigned frame_pointer_walk(uintptr_t *out, unsigned max)
{
    uintptr_t lo, hi;
    unwind_thread_stack(&lo, &hi);
    if (!hi)
        return 0;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
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

unsigned unwind_full(uintptr_t *out, unsigned max)
{
    uintptr_t buf[CONFIG_MAX_DEPTH + MAX_SHIM_FRAMES];
    int got = unw_backtrace((void **)buf, (int)(max + MAX_SHIM_FRAMES));
    unsigned n = strip_shim(buf, got > 0 ? (unsigned)got : 0, out, max);
    if (n == 0 || n >= max)
        return n;
    /* libunwind stopped early: where the frame-pointer chain passes the last frame it found, the chain
     * goes on through code without unwind information (JIT frames); splice that remainder on. */
    uintptr_t fps[CONFIG_MAX_DEPTH + MAX_SHIM_FRAMES];
    unsigned nfp = frame_pointer_walk(fps, max + MAX_SHIM_FRAMES);
    for (unsigned i = 0; i < nfp; i++) {
        if (fps[i] != out[n - 1])
            continue;
        for (unsigned j = i + 1; j < nfp && n < max; j++)
            out[n++] = fps[j];
        break;
    }
    return n;
}
