/* hooks.c — the exported libc names, and nothing else. Each hook: pass through while the shim works
 * (guard) or before it is ready, else the real call, then one track_*() call; errno as the real call
 * left it. Removal from the tables happens before the real free/munmap/realloc, insertion after a
 * successful allocation. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include "boot.h"
#include "report_thread.h"
#include "signals.h"
#include "state.h"
#include "lifecycle.h"
#include "track.h"
#include "unwind.h"

#define LW_EXPORT __attribute__((visibility("default")))

/* Before tracking is on: initialise if nobody has; while initialising, serve from the boot buffer. */
__attribute__((noinline, cold)) static int not_ready(void)
{
    int status = atomic_load_explicit(&shim_state.status, memory_order_acquire);
    if (status == LW_UNINIT)
        status = lw_init();
    return status;
}

static void *boot_or_enomem(size_t size, size_t align)
{
    void *p = boot_alloc(size, align);
    if (!p)
        errno = ENOMEM;
    return p;
}

#define PASS_THROUGH() (LW_UNLIKELY(lw_guard) || LW_UNLIKELY(!lw_is_on()))

/* The shim at work inside a hook: from hook_enter to hook_leave the guard is set (allocations made by
 * the shim, libunwind or the loader pass straight through), and hook_leave gives the host back the
 * errno kept: the real call's (HOOK_REAL, right after it) or, with hook_enter_keeping_errno, the one
 * the hook was entered with (free, whose real call sets none). Every hook that does bookkeeping goes
 * through this pair and sets neither lw_guard nor errno itself. A hook enters only with the guard
 * clear (it passes straight through otherwise), so leaving clears it: nothing to save on the hot
 * path. Code inside the shim that sets the guard (start-up, the exit report) saves and restores it. */
struct hook {
    int *err;
    int errno_kept;
};

static inline struct hook hook_enter(void)
{
    struct hook h = { lw_errno(), 0 };
    lw_guard = 1;
    return h;
}

static inline struct hook hook_enter_keeping_errno(void)
{
    struct hook h = hook_enter();
    h.errno_kept = *h.err;
    return h;
}

/* The real call, its errno kept for the host. */
#define HOOK_REAL(h, call)                   \
    ({                                       \
        __typeof__(call) real_result_ = (call); \
        (h).errno_kept = *(h).err;           \
        real_result_;                        \
    })

static inline void hook_leave(const struct hook *h)
{
    *h->err = h->errno_kept;
    lw_guard = 0;
}

LW_EXPORT void *malloc(size_t size)
{
    if (PASS_THROUGH()) {
        if (!lw_guard && not_ready() == LW_ON)
            return malloc(size);
        return shim_state.real.malloc ? shim_state.real.malloc(size) : boot_or_enomem(size, 16);
    }
    struct hook h = hook_enter();
    void *p = HOOK_REAL(h, shim_state.real.malloc(size));
    if (LW_LIKELY(p != NULL))
        track_alloc(p, size);
    hook_leave(&h);
    return p;
}

LW_EXPORT void free(void *p)
{
    if (!p || LW_UNLIKELY(boot_owns(p)))
        return;
    if (PASS_THROUGH()) {
        int *err = lw_errno(), saved = *err;
        if (shim_state.real.free)
            shim_state.real.free(p);
        *err = saved;
        return;
    }
    struct hook h = hook_enter_keeping_errno();
    /* The allocator's free reads the chunk header just below p: start loading it now, so that its
     * miss overlaps ours in the block map instead of following it. A prefetch never faults. */
    __builtin_prefetch((const char *)p - 16, 1, 3);
    track_free(p);
    shim_state.real.free(p);
    hook_leave(&h);
}

LW_EXPORT void *calloc(size_t count, size_t size)
{
    size_t total;
    int overflow = __builtin_mul_overflow(count, size, &total);
    if (PASS_THROUGH()) {
        if (!lw_guard && not_ready() == LW_ON)
            return calloc(count, size);
        if (shim_state.real.calloc)
            return shim_state.real.calloc(count, size);
        if (overflow)
            return errno = ENOMEM, NULL;
        return boot_or_enomem(total, 16);   /* the boot buffer is static, hence zeroed */
    }
    struct hook h = hook_enter();
    void *p = HOOK_REAL(h, shim_state.real.calloc(count, size));
    if (p && !overflow)
        track_alloc(p, total);
    hook_leave(&h);
    return p;
}

static void *realloc_from_boot(void *old, size_t size)
{
    if (size == 0)
        return NULL;                /* glibc frees and returns NULL; a boot block needs no freeing */
    void *p = malloc(size);
    if (p) {
        size_t old_size = boot_size(old);
        memcpy(p, old, old_size < size ? old_size : size);
    }
    return p;
}

LW_EXPORT void *realloc(void *old, size_t size)
{
    if (old && LW_UNLIKELY(boot_owns(old)))
        return realloc_from_boot(old, size);
    if (PASS_THROUGH()) {
        if (!lw_guard && not_ready() == LW_ON)
            return realloc(old, size);
        if (shim_state.real.realloc)
            return shim_state.real.realloc(old, size);
        return old ? (errno = ENOMEM, NULL) : boot_or_enomem(size, 16);
    }
    struct hook h = hook_enter();
    struct realloc_ticket ticket = { 0 };
    if (old)
        track_realloc_begin(old, &ticket);
    void *p = HOOK_REAL(h, shim_state.real.realloc(old, size));
    track_realloc_end(old, p, size, &ticket);
    hook_leave(&h);
    return p;
}

LW_EXPORT void *reallocarray(void *old, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        return errno = ENOMEM, NULL;
    return realloc(old, total);
}

/* The aligned family, one body: the real function it tests for is the one it calls. */
enum aligned_kind { MEMALIGN, ALIGNED_ALLOC, VALLOC, PVALLOC };

static inline __attribute__((always_inline)) void *call_aligned(enum aligned_kind kind, size_t align, size_t size)
{
    switch (kind) {
    case MEMALIGN: return shim_state.real.memalign(align, size);
    case ALIGNED_ALLOC: return shim_state.real.aligned_alloc(align, size);
    case VALLOC: return shim_state.real.valloc(size);
    case PVALLOC: return shim_state.real.pvalloc(size);
    }
    return NULL;
}

static inline int have_aligned(enum aligned_kind kind)
{
    switch (kind) {
    case MEMALIGN: return shim_state.real.memalign != NULL;
    case ALIGNED_ALLOC: return shim_state.real.aligned_alloc != NULL;
    case VALLOC: return shim_state.real.valloc != NULL;
    case PVALLOC: return shim_state.real.pvalloc != NULL;
    }
    return 0;
}

/* tracked: what the block really takes (pvalloc rounds up to whole pages). */
static inline __attribute__((always_inline)) void *aligned_hook(enum aligned_kind kind, size_t align, size_t size,
                                                                size_t tracked)
{
    if (PASS_THROUGH() && (lw_guard || not_ready() != LW_ON))
        return have_aligned(kind) ? call_aligned(kind, align, size) : boot_or_enomem(size, align);
    struct hook h = hook_enter();
    void *p = HOOK_REAL(h, call_aligned(kind, align, size));
    if (p)
        track_alloc(p, tracked);
    hook_leave(&h);
    return p;
}

LW_EXPORT void *memalign(size_t align, size_t size)
{
    return aligned_hook(MEMALIGN, align, size, size);
}

LW_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return aligned_hook(ALIGNED_ALLOC, align, size, size);
}

LW_EXPORT void *valloc(size_t size)
{
    return aligned_hook(VALLOC, 4096, size, size);
}

/* pvalloc really hands out whole pages (at least one): that is what is live. */
LW_EXPORT void *pvalloc(size_t size)
{
    size_t page = shim_state.page_size ? shim_state.page_size : 4096;
    size_t rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
    return aligned_hook(PVALLOC, 4096, size, rounded);
}

LW_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (PASS_THROUGH() && (lw_guard || not_ready() != LW_ON)) {
        if (shim_state.real.posix_memalign)
            return shim_state.real.posix_memalign(out, align, size);
        void *p = boot_alloc(size, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    /* errno: posix_memalign reports by its result and leaves errno alone; keep the host's */
    struct hook h = hook_enter_keeping_errno();
    int rc = shim_state.real.posix_memalign(out, align, size);
    if (rc == 0)
        track_alloc(*out, size);
    hook_leave(&h);
    return rc;
}

LW_EXPORT size_t malloc_usable_size(void *p)
{
    if (p && boot_owns(p))
        return boot_size(p);
    if (!shim_state.real.malloc_usable_size)
        not_ready();
    return shim_state.real.malloc_usable_size ? shim_state.real.malloc_usable_size(p) : 0;
}

LW_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    if (LW_UNLIKELY(!shim_state.real.mmap) && not_ready() == LW_INITIALISING)
        return errno = ENOMEM, MAP_FAILED;
    if (PASS_THROUGH())
        return shim_state.real.mmap(addr, len, prot, flags, fd, offset);
    struct hook h = hook_enter();
    void *p = HOOK_REAL(h, shim_state.real.mmap(addr, len, prot, flags, fd, offset));
    if (p != MAP_FAILED)
        track_mmap(p, len, flags);
    hook_leave(&h);
    return p;
}

LW_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
    __attribute__((alias("mmap")));

LW_EXPORT int munmap(void *addr, size_t len)
{
    if (LW_UNLIKELY(!shim_state.real.munmap) && not_ready() == LW_INITIALISING)
        return errno = ENOMEM, -1;
    /* the kernel refuses these with EINVAL: nothing is unmapped, so nothing is untracked */
    if (PASS_THROUGH() || len == 0 || ((uintptr_t)addr & (shim_state.page_size - 1)))
        return shim_state.real.munmap(addr, len);
    struct hook h = hook_enter();
    track_munmap(addr, len);
    int rc = HOOK_REAL(h, shim_state.real.munmap(addr, len));
    hook_leave(&h);
    return rc;
}

LW_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (LW_UNLIKELY(!shim_state.real.mremap) && not_ready() == LW_INITIALISING)
        return errno = ENOMEM, MAP_FAILED;
    if (PASS_THROUGH())
        return shim_state.real.mremap(old, old_len, new_len, flags, new_addr);
    struct hook h = hook_enter();
    /* Tracked after the call: another thread that maps the vacated range within that window would have its
     * new region taken for the moved one. Removing first would need the old regions put back on failure. */
    void *p = HOOK_REAL(h, shim_state.real.mremap(old, old_len, new_len, flags, new_addr));
    if (p != MAP_FAILED)
        track_mremap(old, old_len, p, new_len);
    hook_leave(&h);
    return p;
}

LW_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (LW_UNLIKELY(!shim_state.real.sigaction))
        not_ready();
    int rc = lw_is_on() ? signals_sigaction(sig, act, old) : -2;
    return rc != -2 ? rc : shim_state.real.sigaction(sig, act, old);
}

LW_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    if (LW_UNLIKELY(!shim_state.real.signal))
        not_ready();
    int handled = 0;
    sighandler_t previous = lw_is_on() ? signals_signal(sig, handler, &handled) : SIG_ERR;
    return handled ? previous : shim_state.real.signal(sig, handler);
}

LW_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return signal(sig, handler);
}

/* The setuid family: the state file follows the effective uid (see report_thread.h). */
#define UID_HOOK(name, params, args)                                               \
    LW_EXPORT int name params                                                      \
    {                                                                              \
        static int (*real) params;                                                 \
        if (!real)                                                                 \
            real = (int (*) params)dlsym(RTLD_NEXT, #name);                        \
        if (!real)                                                                 \
            return errno = ENOSYS, -1;                                             \
        if (!lw_is_on() || lw_guard)                                               \
            return real args;                                                      \
        struct hook h = hook_enter();                                              \
        report_thread_uid_changing();                                                   \
        int rc = HOOK_REAL(h, real args);                                          \
        report_thread_uid_changed();                                                    \
        hook_leave(&h);                                                            \
        return rc;                                                                 \
    }

UID_HOOK(setuid, (uid_t uid), (uid))
UID_HOOK(seteuid, (uid_t uid), (uid))
UID_HOOK(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
UID_HOOK(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))

/* Wraps the start routine so the thread records the top of its stack for frame-pointer walks. */
LW_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    if (LW_UNLIKELY(!shim_state.real.pthread_create))
        not_ready();
    if (!lw_is_on() || lw_guard)
        return shim_state.real.pthread_create(thread, attr, start, arg);
    return unwind_pthread_create(thread, attr, start, arg, shim_state.real.pthread_create);
}

LW_EXPORT int leakwatch_dump(void)
{
    if (lw_guard)
        return -1;                  /* called from inside the shim's own work (a signal handler): not now */
    struct hook h = hook_enter();
    int rc = HOOK_REAL(h, report_thread_write_now(REASON_API));
    hook_leave(&h);
    return rc;
}
