/* jheap.c — sampled Java-heap allocations, their liveness, and our JVM thread (see jheap.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<jvmti.h>)
#include <jvmti.h>
#endif
#include "jheap.h"
#include "jvm_attach.h"
#include "threads.h"
#include "jheap_names.h"
#include "jheap_paths.h"
#include "jheap_sites.h"
#include "arena.h"
#include "log.h"
#include "state.h"

#ifdef _JAVA_JVMTI_H_

#define SAMPLE_TAG (1ll << 40)          /* object tags: SAMPLE_TAG | slot, CLASS_TAG | class index */
#define CLASS_TAG (2ll << 40)
#define TAG_KIND(t) ((t) >> 40)
#define TAG_INDEX(t) ((uint32_t)((t) & 0xffffffffu))
#define HELD_BY_SITES 3                 /* the largest growing sites get a "Held by" chain */

#define WANT_HOLDERS 1                  /* what a request after the figures asks for */
#define WANT_COUNT 2

static struct {
    int decided;
    JavaVM *vm;
    jvmtiEnv *env;
    atomic_int active, dead;
    atomic_uint request, done;
    atomic_int walk;                  /* what the request asks: 0 the figures, else WANT_* bits */
    atomic_int gc;                    /* the figures' request asks for a full GC first */
    uint64_t min_age_ms;
} vm;

/* ---- the table lock: a spinlock, never held across a call out of this module ------------------- */

static atomic_flag table_lock = ATOMIC_FLAG_INIT;

static void lock_tables(void)
{
    while (atomic_flag_test_and_set_explicit(&table_lock, memory_order_acquire))
        sched_yield();
}

static void unlock_tables(void) { atomic_flag_clear_explicit(&table_lock, memory_order_release); }

/* ---- classes ---------------------------------------------------------------------------------------- */

/* A class seen for the first time: its Java name, kept in the arena; the class gets a tag naming it. */
static int class_index(jvmtiEnv *env, jclass klass)
{
    jlong tag = 0;
    if ((*env)->GetTag(env, klass, &tag) != JVMTI_ERROR_NONE)
        return -1;
    if (TAG_KIND(tag) == 2 && TAG_INDEX(tag) < atomic_load_explicit(&jh.nclasses, memory_order_acquire))
        return (int)TAG_INDEX(tag);
    char *sig = NULL;
    if ((*env)->GetClassSignature(env, klass, &sig, NULL) != JVMTI_ERROR_NONE || !sig)
        return -1;
    char name[256];
    jheap_names_java_type(sig, name, sizeof name);
    (*env)->Deallocate(env, (unsigned char *)sig);
    size_t len = strlen(name) + 1;
    char *kept = arena_alloc(len);
    if (!kept)
        return -1;
    memcpy(kept, name, len);
    lock_tables();
    uint32_t i = atomic_load_explicit(&jh.nclasses, memory_order_relaxed);
    if (i < JHEAP_CLASSES_MAX) {
        jh.classes[i].name = kept;
        jh.classes[i].hash = jheap_names_stable_hash(0xcbf29ce484222325ull, name);
        atomic_store_explicit(&jh.nclasses, i + 1, memory_order_release);
    }
    unlock_tables();
    if (i >= JHEAP_CLASSES_MAX) {
        arena_free(kept, len);
        return -1;
    }
    (*env)->SetTag(env, klass, CLASS_TAG | i);
    return (int)i;
}

/* ---- JVMTI events (Java threads, the JVM's service thread, GC threads) --------------------------------- */

static void JNICALL on_sampled(jvmtiEnv *env, JNIEnv *jni, jthread thread, jobject object, jclass klass, jlong size)
{
    (void)jni, (void)thread;
    int saved = lw_guard;
    lw_guard = 1;                     /* what JVMTI allocates for us is not the program's */
    if (!atomic_load_explicit(&vm.active, memory_order_acquire))
        goto out;
    int ci = class_index(env, klass);
    jvmtiFrameInfo frames[JHEAP_MAX_FRAMES];
    jint n = 0;
    if (ci < 0 || (*env)->GetStackTrace(env, NULL, 0, JHEAP_MAX_FRAMES, frames, &n) != JVMTI_ERROR_NONE)
        goto out;
    uint64_t when = lw_now_ms();
    lock_tables();
    uint32_t slot = jheap_sites_sample_locked((uint32_t)ci, frames, (unsigned)n, (uint64_t)size, when);
    unlock_tables();
    if (slot)
        (*env)->SetTag(env, object, SAMPLE_TAG | slot);
out:
    lw_guard = saved;
}

static void JNICALL on_object_free(jvmtiEnv *env, jlong tag)
{
    (void)env;
    if (TAG_KIND(tag) != 1)
        return;
    lock_tables();
    jheap_sites_free_locked(TAG_INDEX(tag));
    unlock_tables();
}

static void JNICALL on_gc_finish(jvmtiEnv *env)
{
    (void)env;                        /* only a clock read: almost nothing may be called here */
    atomic_store_explicit(&jh.last_gc_ms, lw_now_ms(), memory_order_release);
    atomic_fetch_add_explicit(&jh.gcs, 1, memory_order_relaxed);
}

static void JNICALL on_vm_death(jvmtiEnv *env, JNIEnv *jni)
{
    (void)env, (void)jni;
    atomic_store(&vm.active, 0);
    atomic_store(&vm.dead, 1);
}

/* ---- our thread ------------------------------------------------------------------------------------------- */

static void give_up(const char *why)
{
    lw_log("no Java-heap sites (", why, "); native tracking goes on", NULL, NULL);
}

static int set_up(JNIEnv **jni)
{
    const char *why = NULL;
    jvmtiEnv *env = jvm_attach_thread("leakwatch-jheap", JVMTI_VERSION_11, jni, &why);
    if (!env) {
        if (why)
            give_up(why);
        return -1;
    }
    jvmtiCapabilities caps = { 0 };
    caps.can_generate_sampled_object_alloc_events = 1;
    caps.can_tag_objects = 1;
    caps.can_generate_object_free_events = 1;
    caps.can_generate_garbage_collection_events = 1;
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    if ((*env)->AddCapabilities(env, &caps) != JVMTI_ERROR_NONE) {
        (*env)->DisposeEnvironment(env);
        return give_up("JVMTI refused sampled allocations or object tags"), -1;
    }
    vm.env = env;
    jh.interval = shim_state.config.java_heap_sample;
    jh.walk_budget_ms = shim_state.config.java_held_by_ms;
    jh.count_budget_ms = shim_state.config.java_count_ms;
    if ((*env)->SetHeapSamplingInterval(env, (jint)jh.interval) != JVMTI_ERROR_NONE)
        return give_up("JVMTI refused the heap sampling interval"), -1;
    jvmtiEventCallbacks cb = { 0 };
    cb.SampledObjectAlloc = on_sampled;
    cb.ObjectFree = on_object_free;
    cb.GarbageCollectionFinish = on_gc_finish;
    cb.VMDeath = on_vm_death;
    if ((*env)->SetEventCallbacks(env, &cb, sizeof cb) != JVMTI_ERROR_NONE)
        return give_up("JVMTI refused event callbacks"), -1;
    if (jheap_sites_init() < 0)
        return give_up("no memory for its tables"), -1;
    atomic_store_explicit(&vm.active, 1, memory_order_release);
    jvmtiEvent events[] = { JVMTI_EVENT_OBJECT_FREE, JVMTI_EVENT_GARBAGE_COLLECTION_FINISH, JVMTI_EVENT_VM_DEATH,
                            JVMTI_EVENT_SAMPLED_OBJECT_ALLOC };
    for (unsigned i = 0; i < sizeof events / sizeof events[0]; i++)
        if ((*env)->SetEventNotificationMode(env, JVMTI_ENABLE, events[i], NULL) != JVMTI_ERROR_NONE) {
            atomic_store(&vm.active, 0);
            (*env)->SetEventNotificationMode(env, JVMTI_DISABLE, JVMTI_EVENT_SAMPLED_OBJECT_ALLOC, NULL);
            return give_up("JVMTI refused its events"), -1;
        }
    atomic_store_explicit(&jh.enabled, 1, memory_order_release);
    return 0;
}

/* A tag-map call on our environment: HotSpot posts the ObjectFree events of objects the last GC freed
 * before it answers, so the samples left afterwards are those alive as of that GC. */
static void flush_object_free(void)
{
    jlong none = CLASS_TAG | 0xffffffffll;
    jint count = 0;
    jlong *tags = NULL;
    if ((*vm.env)->GetObjectsWithTags(vm.env, 1, &none, &count, NULL, &tags) == JVMTI_ERROR_NONE && tags)
        (*vm.env)->Deallocate(vm.env, (unsigned char *)tags);
}

/* ObjectFree events can come late (HotSpot posts them from its service thread): asks the tag map which
 * sampled objects it still holds and frees the slots of the others, so "live" is what the last GC left. */
#define CHECK_MAX 65536
static void check_liveness(void)
{
    static jlong want[CHECK_MAX];
    static struct jheap_sample listed[CHECK_MAX];
    static uint8_t seen[JHEAP_SAMPLES_MAX];
    jint n = 0;
    lock_tables();
    for (uint32_t slot = 1; slot < jh.next_unused && n < CHECK_MAX; slot++)
        if (jh.samples[slot].site) {
            listed[n] = jh.samples[slot];
            want[n++] = SAMPLE_TAG | slot;
        }
    unlock_tables();
    if (!n || n >= CHECK_MAX)
        return;
    jint count = 0;
    jlong *found = NULL;
    if ((*vm.env)->GetObjectsWithTags(vm.env, n, want, &count, NULL, &found) != JVMTI_ERROR_NONE || !found)
        return;
    memset(seen, 0, sizeof seen);
    for (jint k = 0; k < count; k++)
        if (TAG_KIND(found[k]) == 1 && TAG_INDEX(found[k]) < JHEAP_SAMPLES_MAX)
            seen[TAG_INDEX(found[k])] = 1;
    (*vm.env)->Deallocate(vm.env, (unsigned char *)found);
    lock_tables();
    for (jint k = 0; k < n; k++) {   /* not a slot taken again since (its new object may not be tagged yet) */
        const struct jheap_sample *now = &jh.samples[TAG_INDEX(want[k])];
        if (!seen[TAG_INDEX(want[k])] && now->site == listed[k].site && now->birth_ms == listed[k].birth_ms &&
            now->size == listed[k].size)
            jheap_sites_free_locked(TAG_INDEX(want[k]));
    }
    unlock_tables();
}

/* The chains for the sites chosen by jheap_sites_collect (one live sample object each). */
static void find_holders(JNIEnv *jni)
{
    /* two candidates a site (its oldest and its youngest old sample): one may have died since the figures */
    jlong tags[2 * HELD_BY_SITES];
    struct jheap_site *sites[HELD_BY_SITES];
    unsigned n = jheap_sites_pick_growing(sites, HELD_BY_SITES);
    for (unsigned i = 0; i < n; i++) {
        tags[2 * i] = SAMPLE_TAG | sites[i]->view.sample_slot;
        tags[2 * i + 1] = SAMPLE_TAG | sites[i]->view.young_slot;
    }
    if (!n)
        return;
    jint count = 0;
    jobject *objs = NULL;
    jlong *found = NULL;
    if ((*jni)->PushLocalFrame(jni, 16) != 0)
        return;
    if ((*vm.env)->GetObjectsWithTags(vm.env, (jint)(2 * n), tags, &count, &objs, &found) != JVMTI_ERROR_NONE) {
        (*jni)->PopLocalFrame(jni, NULL);
        return;
    }
    jobject targets[HELD_BY_SITES];
    struct jheap_site *of[HELD_BY_SITES];
    unsigned nt = 0;
    for (unsigned i = 0; i < n; i++) {
        jint at = -1;                 /* the oldest sample when it lives: near a queue's head, found first */
        for (jint k = 0; k < count; k++)
            if (found[k] == tags[2 * i] || (found[k] == tags[2 * i + 1] && at < 0))
                at = k;
        if (at >= 0) {
            targets[nt] = objs[at];
            of[nt++] = sites[i];
        }
    }
    (*vm.env)->Deallocate(vm.env, (unsigned char *)objs);
    (*vm.env)->Deallocate(vm.env, (unsigned char *)found);
    const char *chains[HELD_BY_SITES] = { 0 };
    const char *why = NULL;
    if (!nt) {
        jh.walk_why = "the sampled objects of the growing sites died before the walk";
        (*jni)->PopLocalFrame(jni, NULL);
        return;
    }
    uint64_t started = lw_now_ms();
    jheap_paths_find(vm.vm, jni, targets, nt, jh.walk_budget_ms, chains, &why);
    jh.walk_ms = lw_now_ms() - started;
    jh.walk_why = why;
    for (unsigned i = 0; i < nt; i++)
        of[i]->view.held_by = chains[i];
    (*jni)->PopLocalFrame(jni, NULL);
}

/* ---- the exact count: every object of a sampled class in the heap, by class -------------------------------- */

struct count_pass {
    uint64_t *objects, *bytes;
    uint32_t nclasses;
    uint64_t seen;
    struct timespec deadline;
    int timed_out;
};

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* The JVM calls this for each object whose class we tagged, at a safepoint: no JVMTI or JNI calls here. */
static jint JNICALL on_counted(jlong class_tag, jlong size, jlong *tag_ptr, jint length, void *user_data)
{
    (void)tag_ptr, (void)length;
    struct count_pass *c = user_data;
    if ((++c->seen & 4095) == 0 && past(&c->deadline)) {
        c->timed_out = 1;
        return JVMTI_VISIT_ABORT;
    }
    if (TAG_KIND(class_tag) == 2 && TAG_INDEX(class_tag) < c->nclasses) {
        c->objects[TAG_INDEX(class_tag)]++;
        c->bytes[TAG_INDEX(class_tag)] += (uint64_t)size;
    }
    return 0;
}

/* IterateThroughHeap over the objects of tagged classes (the classes of sampled objects): one linear pass of
 * the heap in a VM operation, bounded by the count's budget. Unreachable objects not yet collected count too:
 * after a forced GC there are none. */
static void count_classes(void)
{
    static struct count_pass c;
    size_t table = JHEAP_CLASSES_MAX * sizeof(uint64_t);
    jh.counted = 0;
    jh.count_ms = 0;
    if (!jh.class_objects && (!(jh.class_objects = arena_map(table)) || !(jh.class_bytes = arena_map(table)))) {
        jh.count_why = "no memory for the count";
        return;
    }
    c.nclasses = atomic_load_explicit(&jh.nclasses, memory_order_acquire);
    c.objects = jh.class_objects;
    c.bytes = jh.class_bytes;
    memset(c.objects, 0, c.nclasses * sizeof(uint64_t));
    memset(c.bytes, 0, c.nclasses * sizeof(uint64_t));
    c.seen = 0;
    c.timed_out = 0;
    clock_gettime(CLOCK_MONOTONIC, &c.deadline);
    c.deadline.tv_sec += jh.count_budget_ms / 1000;
    c.deadline.tv_nsec += (long)(jh.count_budget_ms % 1000) * 1000000L;
    if (c.deadline.tv_nsec >= 1000000000L)
        c.deadline.tv_sec++, c.deadline.tv_nsec -= 1000000000L;
    jvmtiHeapCallbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.heap_iteration_callback = on_counted;
    uint64_t started = lw_now_ms();
    jvmtiError err = (*vm.env)->IterateThroughHeap(vm.env, JVMTI_HEAP_FILTER_CLASS_UNTAGGED, NULL, &cb, &c);
    jh.count_ms = lw_now_ms() - started;
    if (err != JVMTI_ERROR_NONE)
        jh.count_why = "JVMTI refused to iterate over the heap";
    else if (c.timed_out)
        jh.count_why = "the heap is too large to count within the report's time bound";
    else
        jh.count_why = NULL, jh.counted = 1;
}

static void answer(JNIEnv *jni)
{
    int want = atomic_load_explicit(&vm.walk, memory_order_acquire);
    if (want) {
        if (want & WANT_HOLDERS)
            find_holders(jni);
        if (want & WANT_COUNT)
            count_classes();
        return;
    }
    jh.forced_gc = 0;
    if (atomic_load_explicit(&vm.gc, memory_order_acquire)) {
        /* the GC's epilogue runs on this thread and frees what the GC replaced in HotSpot's interpreter
         * oop-map caches, entries GC threads allocated (the program's counts hold them): those frees must be
         * counted, which our guard would skip (every forced GC would leave them as a growing native site) */
        int saved = lw_guard;
        lw_guard = 0;
        jvmtiError forced = (*vm.env)->ForceGarbageCollection(vm.env);
        lw_guard = saved;
        if (forced == JVMTI_ERROR_NONE) {
            jh.forced_gc = 1;
            jh.forced_gc_ms = lw_now_ms();
        }
    }
    flush_object_free();
    check_liveness();
    lock_tables();
    jheap_sites_collect_locked(vm.min_age_ms);
    unlock_tables();
    jheap_sites_name(vm.env, jni);
    jh.walk_why = NULL;
    jh.walk_ms = 0;
    jh.counted = 0;
    jh.count_ms = 0;
    jh.count_why = jh.count_budget_ms ? "not counted for this kind of report" : "LEAKWATCH_JAVA_COUNT_MS=0";
}

static void *thread_main(void *arg)
{
    (void)arg;
    lw_guard = 1;
    JNIEnv *jni = NULL;
    if (set_up(&jni) < 0) {
        atomic_store(&vm.dead, 1);
        return NULL;
    }
    pthread_setname_np(pthread_self(), "leakwatch-jheap");
    for (;;) {
        unsigned seen = atomic_load_explicit(&vm.request, memory_order_acquire);
        if (seen == atomic_load_explicit(&vm.done, memory_order_acquire)) {
            struct timespec tick = { 1, 0 };
            syscall(SYS_futex, &vm.request, FUTEX_WAIT_PRIVATE, seen, &tick, NULL, 0);
            seen = atomic_load_explicit(&vm.request, memory_order_acquire);
        }
        if (atomic_load_explicit(&vm.dead, memory_order_acquire))
            return NULL;              /* stays attached: detaching a dying VM's thread is not safe */
        if (seen != atomic_load_explicit(&vm.done, memory_order_acquire))
            answer(jni);
        atomic_store_explicit(&vm.done, seen, memory_order_release);
    }
}

void jheap_poll(void)
{
    if (LW_LIKELY(vm.decided))
        return;
    JavaVM *found = jvm_attach_vm();
    if (!found)
        return;                       /* not (yet) a JVM past its start-up */
    vm.decided = 1;
    vm.vm = found;
    if (!shim_state.config.java_heap)
        return;
    if (threads_start("leakwatch-jheap", thread_main, 1 << 20) != 0)
        give_up("cannot start a thread");
}

/* One request at a time (the report lock): what it asks is stored before the request is counted. */
static int ask(int walk, int gc, unsigned wait_ms)
{
    atomic_store_explicit(&vm.walk, walk, memory_order_release);
    atomic_store_explicit(&vm.gc, gc, memory_order_release);
    unsigned want = atomic_fetch_add_explicit(&vm.request, 1, memory_order_acq_rel) + 1;
    syscall(SYS_futex, &vm.request, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    for (unsigned waited = 0; waited < wait_ms; waited += 2) {
        if ((int)(atomic_load_explicit(&vm.done, memory_order_acquire) - want) >= 0)
            return 0;
        if (atomic_load_explicit(&vm.dead, memory_order_acquire))
            return -1;
        struct timespec ms2 = { 0, 2000000L };
        nanosleep(&ms2, NULL);
    }
    return -1;
}

void jheap_prepare_report(unsigned wait_ms, uint64_t min_age_ms, int force_gc)
{
    atomic_store_explicit(&jh.ready, 0, memory_order_release);
    if (!atomic_load_explicit(&jh.enabled, memory_order_acquire) || atomic_load(&vm.dead))
        return;
    vm.min_age_ms = min_age_ms;
    if (ask(0, force_gc, wait_ms) == 0)
        atomic_store_explicit(&jh.ready, 1, memory_order_release);
    else if (!atomic_load(&vm.dead))
        lw_log("the JVM did not answer for the Java-heap sites in time; this report has none", NULL, NULL, NULL, NULL);
}

void jheap_prepare_holders(unsigned wait_ms, int held_by)
{
    int want = 0;
    if (!jh.walk_budget_ms)
        jh.walk_why = "LEAKWATCH_JAVA_HELD_BY_MS=0";
    else if (!held_by)
        jh.walk_why = "this report's requester asked for none";
    else
        want |= WANT_HOLDERS;
    if (jh.count_budget_ms && wait_ms > 1000)
        want |= WANT_COUNT;           /* not at exit: its report must not wait for a count */
    if (!want)
        return;
    unsigned needed = ((want & WANT_HOLDERS) ? jh.walk_budget_ms : 0) + ((want & WANT_COUNT) ? jh.count_budget_ms : 0);
    if (wait_ms > 1000 && wait_ms < needed + 5000)
        wait_ms = needed + 5000;      /* the bounds of the walk and the count, naming */
    if (atomic_load_explicit(&jh.ready, memory_order_acquire) && ask(want, 0, wait_ms) < 0) {
        atomic_store_explicit(&jh.ready, 0, memory_order_release);
        if (!atomic_load(&vm.dead))
            lw_log("the JVM did not finish the \"Held by\" walk and the count in time; this report has no Java-heap "
                   "sites", NULL, NULL, NULL, NULL);
    }
}

void jheap_atfork_child(void)
{
    /* the child has no JVM: it reports no Java heap */
    atomic_store(&vm.active, 0);
    atomic_store(&jh.enabled, 0);
    vm.decided = 1;
}

#else  /* built without the JDK's headers */

void jheap_poll(void) {}
void jheap_prepare_report(unsigned wait_ms, uint64_t min_age_ms, int force_gc)
{
    (void)wait_ms, (void)min_age_ms, (void)force_gc;
}
void jheap_prepare_holders(unsigned wait_ms, int held_by) { (void)wait_ms, (void)held_by; }
void jheap_atfork_child(void) {}

#endif
