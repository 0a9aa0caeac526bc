/* jvm.c — finding the JVM, its helper thread, and Java paths for new sites and stacks (see jvm.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <linux/futex.h>
#include <link.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "jvm.h"
#include "jvm_attach.h"
#include "jvm_inline.h"
#include "threads.h"
#include "arena.h"
#include "cfi.h"
#include "log.h"
#include "sites.h"
#include "stacks.h"
#include "state.h"

#if __has_include(<jvmti.h>)
#include <jvmti.h>

/* HotSpot's AsyncGetCallTrace (exported by libjvm.so, declared nowhere): the frames of a thread as
 * jmethodIDs and bytecode indexes, inlined methods included. From a thread that is in the VM or in
 * native code it walks from the thread's last Java frame and never reads the ucontext; it refuses
 * during a GC. */
typedef struct jvm_inline_frame agct_frame;    /* jint bci; jmethodID method */
typedef struct { JNIEnv *env; jint num_frames; agct_frame *frames; } agct_trace;
typedef void (*agct_fn)(agct_trace *, jint, void *);

#define MAX_JAVA_FRAMES 128
#define NO_PATH ((struct jvm_path *)1)      /* tried: the site/stack has no Java path */
#define CHUNK 4096u

static struct {
    int decided;                            /* 1: no JVM here, or the helper is started */
    int helper_started;
    atomic_int given_up;                    /* no Java frames after all (said why on stderr) */
    JavaVM *vm;
    agct_fn agct;
    atomic_int active;                      /* paths are kept */
    atomic_int dead;                        /* VMDeath: no more calls into the JVM */
    atomic_uint request, done;              /* report requests and what the helper has answered */
    atomic_uint pass, passes_done;          /* the helper's naming passes: started, finished */
    uint32_t report_pass;                   /* what the current report reads: paths named up to this pass */
    uintptr_t interp_lo, interp_hi;
    _Atomic(struct jvm_path *) *site_paths[SITES_MAX / CHUNK];
    _Atomic(struct jvm_path *) *stack_paths[STACKS_MAX / CHUNK];
} jvm;

/* 0 unknown, 1 a Java thread, 2 not: asked once per thread. */
static __thread int8_t tls_java_thread __attribute__((tls_model("initial-exec")));

/* ---- keeping paths (allocation threads) ------------------------------------------------------------ */

static _Atomic(struct jvm_path *) *slot_of(_Atomic(struct jvm_path *) **chunks, uint32_t idx, int make)
{
    _Atomic(struct jvm_path *) *chunk = __atomic_load_n(&chunks[idx / CHUNK], __ATOMIC_ACQUIRE);
    if (!chunk && make) {
        _Atomic(struct jvm_path *) *fresh = arena_map(CHUNK * sizeof *fresh);
        if (!fresh)
            return NULL;
        _Atomic(struct jvm_path *) *expected = NULL;
        if (__atomic_compare_exchange_n(&chunks[idx / CHUNK], &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            chunk = fresh;
        else
            arena_unmap(fresh, CHUNK * sizeof *fresh), chunk = expected;
    }
    return chunk ? &chunk[idx % CHUNK] : NULL;
}

static int in_jit_code(uintptr_t ip)
{
    if (ip & CFI_INTERPRETED_TAG)
        return 1;
    struct dl_find_object found;
    return _dl_find_object((void *)(ip - 1), &found) != 0;
}

static int is_java_thread(void)
{
    if (LW_LIKELY(tls_java_thread))
        return tls_java_thread == 1;
    JNIEnv *env = NULL;
    tls_java_thread = (*jvm.vm)->GetEnv(jvm.vm, (void **)&env, JNI_VERSION_1_6) == JNI_OK && env ? 1 : 2;
    return tls_java_thread == 1;
}

/* The Java path of what the current thread is doing, for raw frames just walked (n of at most max):
 * native frames up to the first frame in JIT code or the interpreter, then Java frames. The path must
 * not depend on how the JIT compiled the code, so it keeps the first max - (native frames) Java frames,
 * as an interpreted walk of max frames would see them. It must also follow from the raw frames, so that
 * a site never mixes two Java paths: each frame in JIT code holds at least one Java frame, so a window
 * of max frames holds at least the Java frames kept, unless the stack is shallower (then the window
 * runs past the last Java frame into the thread's start, and holds them all). A window where native
 * code calls back into Java (a native section between two sections of JIT code) only determines the
 * Java frames of its first section: the path keeps at most as many as that section has frames. */
static struct jvm_path *capture(unsigned kind, const uintptr_t *frames, unsigned n, unsigned max)
{
    unsigned nnative = 0;
    while (nnative < n && !in_jit_code(frames[nnative]))
        nnative++;
    if (nnative == n || nnative > JVM_MAX_NATIVE)
        return NO_PATH;
    unsigned first_section = 0, sections = 0;
    for (unsigned i = nnative, prev_jit = 0; i < n; i++) {
        uintptr_t ip = frames[i];
        if (!(ip & CFI_INTERPRETED_TAG) && ip - jvm.interp_lo < jvm.interp_hi - jvm.interp_lo)
            return NO_PATH;           /* an interpreted frame the walk could not tell apart */
        int j = in_jit_code(ip);
        sections += j && !prev_jit;
        first_section += j && sections == 1;
        prev_jit = j;
    }
    unsigned keep = max - nnative;
    if (sections > 1 && keep > first_section)
        keep = first_section;
    if (keep == 0 || !is_java_thread())
        return NO_PATH;
    JNIEnv *env = NULL;
    if ((*jvm.vm)->GetEnv(jvm.vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        return NO_PATH;
    agct_frame buf[MAX_JAVA_FRAMES];
    agct_trace trace = { env, 0, buf };
    /* all zero: a thread found running Java code (no last Java frame) is refused, not guessed at */
    ucontext_t none;
    memset(&none, 0, sizeof none);
    jvm.agct(&trace, MAX_JAVA_FRAMES, &none);
    if (trace.num_frames <= 0)
        return NO_PATH;
    unsigned njava = (unsigned)trace.num_frames < keep ? (unsigned)trace.num_frames : keep;
    for (unsigned i = 0; i < njava; i++)
        if (!buf[i].method)
            return NO_PATH;           /* a method without a jmethodID: cannot be named */
    struct jvm_path *p = arena_alloc(sizeof *p + njava * sizeof p->java[0]);
    if (!p)
        return NO_PATH;
    p->kind = (uint8_t)kind;
    p->nnative = (uint8_t)nnative;
    p->njava = (uint16_t)njava;
    memcpy(p->native, frames, nnative * sizeof *frames);
    uint8_t inlined[MAX_JAVA_FRAMES] = { 0 };
    jvm_inline_mark(frames + nnative, n - nnative, buf, (unsigned)trace.num_frames, inlined);
    for (unsigned i = 0; i < njava; i++)
        p->java[i] = (struct jvm_frame){ .method = buf[i].method, .bci = buf[i].bci, .inlined = inlined[i] };
    return p;
}

static int note(_Atomic(struct jvm_path *) **chunks, uint32_t idx, unsigned kind, const uintptr_t *frames,
                 unsigned n, unsigned max)
{
    if (LW_LIKELY(!atomic_load_explicit(&jvm.active, memory_order_acquire)) || idx == 0 ||
        atomic_load_explicit(&jvm.dead, memory_order_relaxed))
        return 0;
    _Atomic(struct jvm_path *) *slot = slot_of(chunks, idx, 1);
    if (!slot || atomic_load_explicit(slot, memory_order_acquire))
        return 0;
    struct jvm_path *p = capture(kind, frames, n, max);
    struct jvm_path *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &expected, p, memory_order_acq_rel, memory_order_acquire))
        return p != NO_PATH;
    if (p != NO_PATH)
        arena_free(p, sizeof *p + p->njava * sizeof p->java[0]);
    return 0;
}

uint32_t jvm_sites_made_before;

int jvm_note_site(uint32_t idx, unsigned kind, const uintptr_t *frames, unsigned n)
{
    return idx > SITE_OVERFLOW_MMAP && note(jvm.site_paths, idx, kind, frames, n, shim_state.config.site_depth);
}

void jvm_note_stack(uint32_t id, const uintptr_t *frames, unsigned n)
{
    note(jvm.stack_paths, id, JVM_KIND_STACK, frames, n, shim_state.config.depth);
}

/* ---- naming (the helper thread) ---------------------------------------------------------------------- */

/* logical id -> canonical index, one map for sites and one for stacks; helper thread only. */
struct canon_map {
    uint64_t *ids;
    uint32_t *idx;
    uint32_t mask, count;
};
static struct canon_map site_canon, stack_canon;

static uint32_t canon_find_or_add(struct canon_map *m, uint64_t id, uint32_t idx)
{
    if (!m->ids || (m->count + 1) * 2 > m->mask) {
        uint32_t size = m->ids ? (m->mask + 1) * 2 : 4096;
        uint64_t *ids = arena_map(size * sizeof *ids);
        uint32_t *ix = arena_map(size * sizeof *ix);
        if (!ids || !ix) {
            arena_unmap(ids, size * sizeof *ids);
            arena_unmap(ix, size * sizeof *ix);
            return idx;
        }
        for (uint32_t i = 0; m->ids && i <= m->mask; i++) {
            if (!m->ids[i])
                continue;
            uint32_t j = (uint32_t)m->ids[i] & (size - 1);
            while (ids[j])
                j = (j + 1) & (size - 1);
            ids[j] = m->ids[i];
            ix[j] = m->idx[i];
        }
        if (m->ids) {
            arena_unmap(m->ids, (m->mask + 1) * sizeof *ids);
            arena_unmap(m->idx, (m->mask + 1) * sizeof *ix);
        }
        m->ids = ids;
        m->idx = ix;
        m->mask = size - 1;
    }
    uint32_t j = (uint32_t)id & m->mask;
    for (; m->ids[j]; j = (j + 1) & m->mask)
        if (m->ids[j] == id)
            return m->idx[j];
    m->ids[j] = id;
    m->idx[j] = idx;
    m->count++;
    return idx;
}

static struct jvm_path *path_at(_Atomic(struct jvm_path *) **chunks, uint32_t idx)
{
    _Atomic(struct jvm_path *) *slot = slot_of(chunks, idx, 0);
    struct jvm_path *p = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
    return p == NO_PATH ? NULL : p;
}

static void name_all(_Atomic(struct jvm_path *) **chunks, uint32_t count, struct canon_map *map,
                     const struct module_set *mods, uint32_t *named_upto)
{
    uint32_t i = *named_upto ? *named_upto : 1;
    for (; i < count; i++) {
        if (atomic_load_explicit(&jvm.dead, memory_order_relaxed))
            return;
        struct jvm_path *p = path_at(chunks, i);
        if (!p || atomic_load_explicit(&p->logical, memory_order_relaxed))
            continue;
        uint64_t id = jvm_names_path_id(mods, p);
        if (!id)
            continue;
        p->canon = canon_find_or_add(map, id, i);
        p->pass = atomic_load_explicit(&jvm.pass, memory_order_relaxed);
        struct jvm_path *c = path_at(chunks, p->canon);
        if (c) {
            atomic_fetch_add_explicit(&c->merged, 1, memory_order_relaxed);
            /* the record shows a frame inlined when any compiled version of its path inlined it */
            for (unsigned k = 0; c != p && k < p->njava && k < c->njava; k++)
                if (p->java[k].inlined)
                    __atomic_store_n(&c->java[k].inlined, 1, __ATOMIC_RELAXED);
        }
        atomic_store_explicit(&p->logical, id, memory_order_release);
    }
    /* paths are kept right after their site/stack is made: look again a little way back next time */
    *named_upto = count > 4096 ? count - 4096 : 1;
}

static void name_new_paths(void)
{
    static uint32_t sites_upto, stacks_upto;
    struct module_set mods = { 0 };
    if (symbols_snapshot(&mods) < 0)
        return;
    uint32_t pass = atomic_fetch_add_explicit(&jvm.pass, 1, memory_order_acq_rel) + 1;
    name_all(jvm.site_paths, sites_count(), &site_canon, &mods, &sites_upto);
    name_all(jvm.stack_paths, stacks_count() + 1, &stack_canon, &mods, &stacks_upto);
    symbols_release(&mods);
    atomic_store_explicit(&jvm.passes_done, pass, memory_order_release);
}

/* ---- JVMTI events ------------------------------------------------------------------------------------- */

static jvmtiEnv *jvmti;

/* Every method needs its jmethodID before AsyncGetCallTrace can name it (it makes none itself). */
static void make_method_ids(jclass klass)
{
    jint n = 0;
    jmethodID *ids = NULL;
    if ((*jvmti)->GetClassMethods(jvmti, klass, &n, &ids) == JVMTI_ERROR_NONE && ids)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)ids);
}

static void JNICALL on_class_load(jvmtiEnv *env, JNIEnv *jni, jthread thread, jclass klass)
{
    (void)env, (void)jni, (void)thread, (void)klass;   /* AsyncGetCallTrace wants this event on */
}

static void JNICALL on_class_prepare(jvmtiEnv *env, JNIEnv *jni, jthread thread, jclass klass)
{
    (void)env, (void)jni, (void)thread;
    int saved = lw_guard;
    lw_guard = 1;
    make_method_ids(klass);
    lw_guard = saved;
}

static void JNICALL on_vm_death(jvmtiEnv *env, JNIEnv *jni)
{
    (void)env, (void)jni;
    atomic_store(&jvm.dead, 1);
    atomic_store(&jvm.active, 0);
}

static void JNICALL on_code(jvmtiEnv *env, const char *name, const void *address, jint length)
{
    (void)env;
    if (name && strcmp(name, "Interpreter") == 0 && !jvm.interp_hi) {
        jvm.interp_lo = (uintptr_t)address;
        jvm.interp_hi = (uintptr_t)address + (uintptr_t)length;
    }
}

static void JNICALL on_compiled_method_load(jvmtiEnv *env, jmethodID method, jint code_size, const void *code_addr,
                                            jint map_length, const jvmtiAddrLocationMap *map, const void *compile_info)
{
    jvm_inline_on_compiled_method_load(env, method, code_size, code_addr, map_length, map, compile_info);
}

/* ---- the helper thread ---------------------------------------------------------------------------------- */

static void give_up(const char *why)
{
    atomic_store_explicit(&jvm.given_up, 1, memory_order_release);
    lw_log("no Java frames in reports (", why, "); sites keep their native frames", NULL, NULL);
}

static int set_up(JNIEnv **jni)
{
    const char *why = NULL;
    if (!(jvmti = jvm_attach_thread("leakwatch", JVMTI_VERSION_1_2, jni, &why))) {
        if (why)
            give_up(why);
        return -1;
    }
    jvmtiCapabilities caps = { 0 };
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    if ((*jvmti)->AddCapabilities(jvmti, &caps) != JVMTI_ERROR_NONE)
        return give_up("JVMTI refused line numbers and source files"), -1;
    /* which frames the JIT inlined; without it every frame is reported not inlined */
    jvmtiCapabilities compiled = { 0 };
    compiled.can_generate_compiled_method_load_events = 1;
    int inline_info = (*jvmti)->AddCapabilities(jvmti, &compiled) == JVMTI_ERROR_NONE;
    jvmtiEventCallbacks cb = { 0 };
    cb.ClassLoad = on_class_load;
    cb.ClassPrepare = on_class_prepare;
    cb.VMDeath = on_vm_death;
    cb.DynamicCodeGenerated = on_code;
    if (inline_info)
        cb.CompiledMethodLoad = on_compiled_method_load;
    if ((*jvmti)->SetEventCallbacks(jvmti, &cb, sizeof cb) != JVMTI_ERROR_NONE)
        return give_up("JVMTI refused event callbacks"), -1;
    jvmtiEvent events[] = { JVMTI_EVENT_CLASS_LOAD, JVMTI_EVENT_CLASS_PREPARE, JVMTI_EVENT_VM_DEATH,
                            JVMTI_EVENT_DYNAMIC_CODE_GENERATED };
    for (unsigned i = 0; i < sizeof events / sizeof events[0]; i++)
        if ((*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, events[i], NULL) != JVMTI_ERROR_NONE)
            return give_up("JVMTI refused its events"), -1;
    inline_info = inline_info && (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE,
                                        JVMTI_EVENT_COMPILED_METHOD_LOAD, NULL) == JVMTI_ERROR_NONE;
    (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_DYNAMIC_CODE_GENERATED);
    if (!jvm.interp_hi)
        return give_up("the JVM did not say where its interpreter is"), -1;
    jint nclasses = 0;
    jclass *classes = NULL;
    if ((*jvmti)->GetLoadedClasses(jvmti, &nclasses, &classes) != JVMTI_ERROR_NONE)
        return give_up("JVMTI did not list the loaded classes"), -1;
    for (jint i = 0; i < nclasses; i++) {
        make_method_ids(classes[i]);
        (**jni)->DeleteLocalRef(*jni, classes[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
    jvm_names_init(jvmti, *jni);
    cfi_set_interpreter(jvm.interp_lo, jvm.interp_hi);
    __atomic_store_n(&jvm_sites_made_before, sites_count(), __ATOMIC_RELAXED);
    atomic_store_explicit(&jvm.active, 1, memory_order_release);
    if (inline_info)              /* the methods compiled before the helper came */
        (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD);
    return 0;
}

static void *helper_main(void *arg)
{
    (void)arg;
    lw_guard = 1;                     /* what the JVM allocates on this thread is not the program's */
    JNIEnv *jni = NULL;
    if (set_up(&jni) < 0)
        return NULL;
    /* tools look for this name: a JVM that names its own Java frames needs no perf map */
    pthread_setname_np(pthread_self(), "leakwatch-jvm");
    for (;;) {
        unsigned seen = atomic_load_explicit(&jvm.request, memory_order_acquire);
        if (seen == atomic_load_explicit(&jvm.done, memory_order_acquire)) {
            struct timespec tick = { 0, 500 * 1000000L };
            syscall(SYS_futex, &jvm.request, FUTEX_WAIT_PRIVATE, seen, &tick, NULL, 0);
            seen = atomic_load_explicit(&jvm.request, memory_order_acquire);
        }
        if (atomic_load_explicit(&jvm.dead, memory_order_acquire))
            return NULL;              /* stays attached: detaching a dying VM's thread is not safe */
        name_new_paths();
        atomic_store_explicit(&jvm.done, seen, memory_order_release);
    }
}

static void decide(JavaVM *vm);

void jvm_poll(void)
{
    if (LW_LIKELY(jvm.decided))
        return;
    JavaVM *vm = jvm_attach_vm();
    if (!vm)
        return;                       /* not (yet) a JVM past its start-up */
    decide(vm);
}

void jvm_start_now(unsigned wait_ms)
{
    if (jvm.decided)
        return;
    JavaVM *vm = jvm_attach_now();
    if (!vm)
        return;
    decide(vm);
    for (unsigned waited = 0; waited < wait_ms && jvm.helper_started; waited += 2) {
        if (atomic_load_explicit(&jvm.active, memory_order_acquire) ||
            atomic_load_explicit(&jvm.given_up, memory_order_acquire))
            break;
        struct timespec ms2 = { 0, 2000000L };
        nanosleep(&ms2, NULL);
    }
}

/* The VM is up: take AsyncGetCallTrace and start the helper that sets up JVMTI. */
static void decide(JavaVM *vm)
{
    jvm.decided = 1;
    jvm.vm = vm;
    jvm.agct = (agct_fn)dlsym(RTLD_DEFAULT, "AsyncGetCallTrace");
    if (!jvm.agct) {
        give_up("this JVM has no AsyncGetCallTrace");
        return;
    }
    if (!shim_state.config.java_frames)
        return;
    if (threads_start("leakwatch-jvm", helper_main, 1 << 20) != 0)
        give_up("cannot start a thread");
    else
        jvm.helper_started = 1;
}

/* A report reads only paths named by passes that had finished when it began (the helper may be
 * naming more meanwhile): every mapping then holds for the whole report. */
void jvm_prepare_report(unsigned wait_ms)
{
    jvm.report_pass = atomic_load_explicit(&jvm.passes_done, memory_order_acquire);
    if (!atomic_load_explicit(&jvm.active, memory_order_acquire))
        return;
    unsigned want = atomic_fetch_add_explicit(&jvm.request, 1, memory_order_acq_rel) + 1;
    syscall(SYS_futex, &jvm.request, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    for (unsigned waited = 0; waited < wait_ms; waited += 2) {
        if ((int)(atomic_load_explicit(&jvm.done, memory_order_acquire) - want) >= 0 ||
            atomic_load_explicit(&jvm.dead, memory_order_acquire))
            break;
        struct timespec ms2 = { 0, 2000000L };
        nanosleep(&ms2, NULL);
    }
    jvm.report_pass = atomic_load_explicit(&jvm.passes_done, memory_order_acquire);
}

void jvm_atfork_child(void)
{
    /* the child has no JVM threads and no helper: it keeps what was named, and names nothing new */
    atomic_store(&jvm.active, 0);
    jvm.decided = 1;
}

/* ---- what reports read ----------------------------------------------------------------------------------- */

static const struct jvm_path *named(_Atomic(struct jvm_path *) **chunks, uint32_t idx)
{
    const struct jvm_path *p = path_at(chunks, idx);
    return p && atomic_load_explicit(&((struct jvm_path *)p)->logical, memory_order_acquire) &&
                   p->pass <= jvm.report_pass ? p : NULL;
}

uint32_t jvm_canonical_site(uint32_t idx)
{
    const struct jvm_path *p = named(jvm.site_paths, idx);
    return p ? p->canon : idx;
}

uint32_t jvm_canonical_stack(uint32_t id)
{
    const struct jvm_path *p = id ? named(jvm.stack_paths, id) : NULL;
    return p ? p->canon : id;
}

uint32_t jvm_canonical_site_latest(uint32_t idx)
{
    const struct jvm_path *p = path_at(jvm.site_paths, idx);
    return p && atomic_load_explicit(&((struct jvm_path *)p)->logical, memory_order_acquire) ? p->canon : idx;
}

uint64_t jvm_site_id(uint32_t idx)
{
    const struct jvm_path *p = named(jvm.site_paths, idx);
    return p ? atomic_load_explicit(&((struct jvm_path *)p)->logical, memory_order_relaxed) : 0;
}

uint32_t jvm_merged_sites(uint32_t idx)
{
    const struct jvm_path *p = named(jvm.site_paths, idx);
    uint32_t n = p ? atomic_load_explicit(&((struct jvm_path *)p)->merged, memory_order_relaxed) : 0;
    return n ? n : 1;
}

int jvm_write_site_frames(struct emitter *e, const char *member, uint32_t idx, jvm_native_writer write_native,
                          const void *ctx)
{
    const struct jvm_path *p = named(jvm.site_paths, idx);
    if (!p)
        return 0;
    jvm_names_write(e, member, p, write_native, ctx);
    return 1;
}

int jvm_visit_site_frames(uint32_t idx, jvm_frame_visitor visit, void *ctx)
{
    const struct jvm_path *p = named(jvm.site_paths, idx);
    if (!p)
        return 0;
    jvm_names_visit(p, visit, ctx);
    return 1;
}

int jvm_write_stack_frames(struct emitter *e, const char *member, uint32_t id, jvm_native_writer write_native,
                           const void *ctx)
{
    const struct jvm_path *p = id ? named(jvm.stack_paths, id) : NULL;
    if (!p)
        return 0;
    jvm_names_write(e, member, p, write_native, ctx);
    return 1;
}

#else  /* built without the JDK's headers */

void jvm_poll(void) {}
void jvm_start_now(unsigned wait_ms) { (void)wait_ms; }
uint32_t jvm_sites_made_before;
int jvm_note_site(uint32_t idx, unsigned kind, const uintptr_t *frames, unsigned n)
{ (void)idx, (void)kind, (void)frames, (void)n; return 0; }
void jvm_note_stack(uint32_t id, const uintptr_t *frames, unsigned n) { (void)id, (void)frames, (void)n; }
void jvm_prepare_report(unsigned wait_ms) { (void)wait_ms; }
uint32_t jvm_canonical_site(uint32_t idx) { return idx; }
uint32_t jvm_canonical_stack(uint32_t id) { return id; }
uint32_t jvm_canonical_site_latest(uint32_t idx) { return idx; }
uint64_t jvm_site_id(uint32_t idx) { (void)idx; return 0; }
uint32_t jvm_merged_sites(uint32_t idx) { (void)idx; return 1; }
int jvm_write_site_frames(struct emitter *e, const char *member, uint32_t idx, jvm_native_writer w, const void *ctx)
{ (void)e, (void)member, (void)idx, (void)w, (void)ctx; return 0; }
int jvm_write_stack_frames(struct emitter *e, const char *member, uint32_t id, jvm_native_writer w, const void *ctx)
{ (void)e, (void)member, (void)id, (void)w, (void)ctx; return 0; }
int jvm_visit_site_frames(uint32_t idx, jvm_frame_visitor visit, void *ctx)
{ (void)idx, (void)visit, (void)ctx; return 0; }
void jvm_atfork_child(void) {}

#endif
