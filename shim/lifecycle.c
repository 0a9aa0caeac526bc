/* lifecycle.c — the shim's process lifecycle: start-up (resolving the real functions from the next object
 * in the lookup chain, so a preloaded jemalloc or tcmalloc keeps working; reading the settings once;
 * starting tracking, the report signal and the reporter thread) and fork (every lock of the table in
 * lock.h taken before, released in the parent, reset in the child, which gets its own reporter).
 * Sits on top of every other module; the process-wide state it fills in lives in state.c. */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include "state.h"
#include "lifecycle.h"
#include "http.h"
#include "got.h"
#include "jheap.h"
#include "jvm_attach.h"
#include "jvm.h"
#include "lock.h"
#include "log.h"
#include "report_thread.h"
#include "signals.h"
#include "track.h"
#include "unwind.h"

extern char **environ;

/* Preloaded: the next definition after ours. Loaded late (with RTLD_LOCAL, outside the global scope): the
 * definition the program's own modules are bound to, which is what their GOT entries hold. */
static void *next_symbol(const char *name, const char *fallback)
{
    void *p = shim_state.late ? got_global_definition(name) : dlsym(RTLD_NEXT, name);
    if (!p && fallback)
        p = dlsym(RTLD_DEFAULT, fallback);
    return p;
}

struct extent_query { uintptr_t base, lo, hi; };

static int find_extent(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct extent_query *q = data;
    if (info->dlpi_addr != q->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        q->lo = info->dlpi_addr + ph->p_vaddr;
        q->hi = q->lo + ph->p_memsz;
        return 1;
    }
    return 0;
}

/* The code range of the module holding `function`, so its frames can be left out of stacks. */
static void code_range(void *function, uintptr_t *lo, uintptr_t *hi)
{
    Dl_info info;
    struct extent_query q = { 0, 0, 0 };
    if (dladdr(function, &info) && info.dli_fbase) {
        q.base = (uintptr_t)info.dli_fbase;
        dl_iterate_phdr(find_extent, &q);
    }
    *lo = q.lo;
    *hi = q.hi;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

static const char *(*late_settings)(const char *name);
static char *const *late_named;

static void resolve(void)
{
    shim_state.real.malloc = next_symbol("malloc", "__libc_malloc");
    shim_state.real.free = next_symbol("free", "__libc_free");
    shim_state.real.calloc = next_symbol("calloc", "__libc_calloc");
    shim_state.real.realloc = next_symbol("realloc", "__libc_realloc");
    shim_state.real.memalign = next_symbol("memalign", "__libc_memalign");
    shim_state.real.posix_memalign = next_symbol("posix_memalign", NULL);
    shim_state.real.aligned_alloc = next_symbol("aligned_alloc", NULL);
    shim_state.real.valloc = next_symbol("valloc", "__libc_valloc");
    shim_state.real.pvalloc = next_symbol("pvalloc", "__libc_pvalloc");
    shim_state.real.malloc_usable_size = next_symbol("malloc_usable_size", NULL);
    shim_state.real.mmap = next_symbol("mmap", NULL);
    shim_state.real.munmap = next_symbol("munmap", NULL);
    shim_state.real.mremap = next_symbol("mremap", NULL);
    shim_state.real.sigaction = next_symbol("sigaction", NULL);
    shim_state.real.signal = next_symbol("signal", NULL);
    shim_state.real.pthread_create = next_symbol("pthread_create", NULL);
}

int lw_init(void)
{
    int expected = LW_UNINIT;
    if (!atomic_compare_exchange_strong(&shim_state.status, &expected, LW_INITIALISING))
        return expected;
    int saved_guard = lw_guard;
    lw_guard = 1;
    resolve();
    if (late_settings)
        config_load(&shim_state.config, late_settings, late_named);
    else
        config_load(&shim_state.config, env_get, environ);
    shim_state.page_size = (size_t)sysconf(_SC_PAGESIZE);
    shim_state.pid = (pid_t)syscall(SYS_getpid);
    shim_state.start_ms = lw_now_ms();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    shim_state.start_realtime_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    code_range((void *)lw_init, &shim_state.self_lo[0], &shim_state.self_hi[0]);
    code_range((void *)unw_backtrace, &shim_state.self_lo[1], &shim_state.self_hi[1]);
    int status = LW_ON;
    if (!shim_state.real.malloc || !shim_state.real.free || !shim_state.real.calloc || !shim_state.real.realloc || !shim_state.real.mmap ||
        !shim_state.real.munmap || !shim_state.real.sigaction) {
        lw_log("cannot find the real allocation functions; not tracking", NULL, NULL, NULL, NULL);
        status = LW_OFF;
    } else if (track_init() < 0) {
        lw_log("cannot map memory for the tracking tables; not tracking", NULL, NULL, NULL, NULL);
        status = LW_OFF;
    }
    atomic_store_explicit(&shim_state.status, status, memory_order_release);
    lw_guard = saved_guard;
    return status;
}

int lw_init_late(const char *(*settings)(const char *name), char *const *named)
{
    shim_state.late = 1;
    late_settings = settings;
    late_named = named;
    return lw_init();
}

int lw_restart_late(const char *(*settings)(const char *name))
{
    int saved_guard = lw_guard;
    lw_guard = 1;
    static struct lw_config fresh;             /* static: a struct of this size does not belong on a stack we borrow */
    late_settings = settings;
    config_load(&fresh, settings, NULL);
    struct lw_config *c = &shim_state.config;
    memcpy(c->out, fresh.out, sizeof c->out);
    c->signal = fresh.signal;
    memcpy(c->signal_name, fresh.signal_name, sizeof c->signal_name);
    c->interval_ms = fresh.interval_ms;
    c->min_age_ms = fresh.min_age_ms;
    c->top = fresh.top;
    c->depth = fresh.depth;
    c->quiet = fresh.quiet;
    track_reset();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    shim_state.start_realtime_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    report_thread_restart();
    atomic_store_explicit(&shim_state.status, LW_ON, memory_order_release);
    if (shim_state.config.signal)
        signals_install();
    report_thread_republish_state();
    lw_guard = saved_guard;
    return LW_ON;
}

void lw_start(void)
{
    lw_init();
    if (!lw_is_on())
        return;
    int saved_guard = lw_guard;
    lw_guard = 1;
    if ((pid_t)syscall(SYS_gettid) == shim_state.pid)
        unwind_main_thread_started();
    if (shim_state.config.signal)
        signals_install();
    lw_install_fork_handlers();
    http_start();                   /* first: the state file names its address */
    report_thread_start(1);
    lw_guard = saved_guard;
}

/* ---- fork ---------------------------------------------------------------------------------------- */

/* No thread can be inside the shim's state when the child is made, so the child's copy is whole. */
static void fork_prepare(void)
{
    locks_take_all();
}

static void fork_parent(void)
{
    locks_release_all();
}

static void fork_child(void)
{
    locks_reset_all_in_child();
    shim_state.pid = (pid_t)syscall(SYS_getpid);
    track_after_fork();
    jvm_attach_atfork_child();
    jvm_atfork_child();
    jheap_atfork_child();
    int saved_guard = lw_guard;
    lw_guard = 1;
    report_thread_after_fork_in_child();
    /* a child that serves says where in a state file of its own: its port is not its parent's */
    if (http_atfork_child())
        report_thread_republish_state();
    lw_guard = saved_guard;
}

void lw_install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
