/* jheap_paths.c — "Held by" chains through a heap walk (see jheap_paths.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "arena.h"
#include "out.h"
#include "state.h"

#if __has_include(<jvmti.h>)
#include <jvmti.h>
#include "jheap_paths.h"
#include "jheap_names.h"
#include "jheap_sites.h"

#define MAX_RECORDS (1u << 22)
#define MAX_TARGETS 8
#define CHAIN_CAP 1024                  /* bytes of one chain's text */
#define LEAF_ARRAY 1                    /* a primitive array: holds no references */
#define LEAF_VALUES 2                   /* its fields hold only values and primitive arrays (java.lang.String) */

struct rec {
    uint32_t from;                      /* the record of the referrer; 0: reached from a root */
    uint32_t klass;                     /* the record of the object's class (classes are records 1..nclasses) */
    int32_t index;                      /* field or array index of the reference */
    uint8_t kind;                       /* jvmtiHeapReferenceKind of the first reference seen */
    uint8_t reached, target;
};

struct walk {
    struct rec *recs;
    uint8_t *leaf;                      /* by class record: LEAF_ARRAY, LEAF_VALUES or 0 */
    uint32_t n, nclasses, ntargets, found;
    uint64_t edges;
    jlong own_thread_tag;
    struct timespec deadline;
    int timed_out, full;
};

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* The JVM calls this for every reference it follows, at a safepoint: no JVMTI or JNI calls here. */
static jint JNICALL on_reference(jvmtiHeapReferenceKind kind, const jvmtiHeapReferenceInfo *info, jlong class_tag,
                                 jlong referrer_class_tag, jlong size, jlong *tag_ptr, jlong *referrer_tag_ptr,
                                 jint length, void *user_data)
{
    (void)referrer_class_tag, (void)size, (void)length;
    struct walk *w = user_data;
    /* our own thread's local references (the targets, the classes) are not what holds anything */
    if (info && kind == JVMTI_HEAP_REFERENCE_JNI_LOCAL && info->jni_local.thread_tag == w->own_thread_tag)
        return 0;
    if (info && kind == JVMTI_HEAP_REFERENCE_STACK_LOCAL && info->stack_local.thread_tag == w->own_thread_tag)
        return 0;
    if ((++w->edges & 4095) == 0 && past(&w->deadline)) {
        w->timed_out = 1;
        return JVMTI_VISIT_ABORT;
    }
    /* no chain to a target passes through a primitive array, nor through an object whose fields hold only values
     * and arrays of other types than the targets': unless it is a target it gets no tag (every tag is an entry in
     * the JVM's tag map, the walk's main cost; the JVM itself marks what it visited) */
    if (*tag_ptr == 0 && class_tag > 0 && (uint64_t)class_tag <= w->nclasses && w->leaf[class_tag])
        return w->leaf[class_tag] == LEAF_ARRAY ? 0 : JVMTI_VISIT_OBJECTS;
    struct rec *r;
    if (*tag_ptr == 0) {
        if (w->n + 1 >= MAX_RECORDS) {
            w->full = 1;
            return JVMTI_VISIT_ABORT;
        }
        *tag_ptr = ++w->n;
        r = &w->recs[w->n];
    } else {
        if ((uint64_t)*tag_ptr > w->n)
            return JVMTI_VISIT_OBJECTS;
        r = &w->recs[*tag_ptr];
        if (r->reached)
            return JVMTI_VISIT_OBJECTS;
    }
    r->reached = 1;
    r->kind = (uint8_t)kind;
    r->klass = class_tag > 0 && (uint64_t)class_tag <= w->nclasses ? (uint32_t)class_tag : 0;
    r->from = referrer_tag_ptr && *referrer_tag_ptr > 0 && (uint64_t)*referrer_tag_ptr <= w->n
                  ? (uint32_t)*referrer_tag_ptr : 0;
    r->index = -1;
    if (info && (kind == JVMTI_HEAP_REFERENCE_FIELD || kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD))
        r->index = info->field.index;
    else if (info && kind == JVMTI_HEAP_REFERENCE_ARRAY_ELEMENT)
        r->index = info->array.index;
    if (r->target && ++w->found == w->ntargets)
        return JVMTI_VISIT_ABORT;     /* every chain is known: the JVM can go on */
    return JVMTI_VISIT_OBJECTS;
}

/* ---- naming what the chain passes through (after the walk, the JVM running again) ---------------- */

static void class_name(jvmtiEnv *env, jclass klass, char *dst, size_t cap)
{
    char *sig = NULL;
    if (klass && (*env)->GetClassSignature(env, klass, &sig, NULL) == JVMTI_ERROR_NONE && sig) {
        jheap_names_java_type(sig, dst, cap);
        (*env)->Deallocate(env, (unsigned char *)sig);
    } else {
        snprintf(dst, cap, "?");
    }
}

/* All fields a class has through its superinterfaces and superclasses, counted as JVMTI's field indexes
 * count them (those of the superinterfaces, then of the superclass, then its own). */
static jint fields_before(jvmtiEnv *env, JNIEnv *jni, jclass klass, int own_too, unsigned depth)
{
    if (!klass || depth > 32)
        return 0;
    jint total = 0, n = 0;
    jclass *ifaces = NULL;
    if ((*env)->GetImplementedInterfaces(env, klass, &n, &ifaces) == JVMTI_ERROR_NONE && ifaces) {
        for (jint i = 0; i < n; i++)
            total += fields_before(env, jni, ifaces[i], 1, depth + 1);
        (*env)->Deallocate(env, (unsigned char *)ifaces);
    }
    jclass super = (*jni)->GetSuperclass(jni, klass);
    total += fields_before(env, jni, super, 1, depth + 1);
    if (own_too) {
        jfieldID *fields = NULL;
        if ((*env)->GetClassFields(env, klass, &n, &fields) == JVMTI_ERROR_NONE && fields) {
            total += n;
            (*env)->Deallocate(env, (unsigned char *)fields);
        }
    }
    return total;
}

static void field_name(jvmtiEnv *env, JNIEnv *jni, jclass klass, jint index, char *dst, size_t cap)
{
    snprintf(dst, cap, "?");
    jint n = 0;
    jfieldID *fields = NULL;
    jint at = index - fields_before(env, jni, klass, 0, 0);
    if ((*env)->GetClassFields(env, klass, &n, &fields) != JVMTI_ERROR_NONE || !fields)
        return;
    char *name = NULL;
    if (at >= 0 && at < n && (*env)->GetFieldName(env, klass, fields[at], &name, NULL, NULL) == JVMTI_ERROR_NONE &&
        name) {
        size_t k = 0;
        for (const char *p = name; *p && k + 1 < cap; p++)
            dst[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
        dst[k] = '\0';
        (*env)->Deallocate(env, (unsigned char *)name);
    }
    (*env)->Deallocate(env, (unsigned char *)fields);
}

/* LEAF_VALUES when every instance field of klass and its superclasses is a value or an array of values whose
 * element type is not in `targets` (the element types of the primitive-array targets): no reference from such an
 * object can lead to a target. */
static int leaf_kind(jvmtiEnv *env, JNIEnv *jni, jclass klass, const char *sig, const char *targets)
{
    if (sig[0] == '[')
        return sig[1] && sig[1] != '[' && sig[1] != 'L' ? LEAF_ARRAY : 0;
    if (strcmp(sig, "Ljava/lang/Class;") == 0)
        return 0;                       /* a class object holds its statics */
    int leaf = LEAF_VALUES;
    jclass k = (*jni)->NewLocalRef(jni, klass);
    for (unsigned depth = 0; k && leaf && depth < 64; depth++) {
        jint n = 0;
        jfieldID *fields = NULL;
        if ((*env)->GetClassFields(env, k, &n, &fields) != JVMTI_ERROR_NONE || !fields)
            leaf = 0, n = 0;
        for (jint i = 0; i < n && leaf; i++) {
            jint mods = 0;
            char *fsig = NULL;
            if ((*env)->GetFieldModifiers(env, k, fields[i], &mods) != JVMTI_ERROR_NONE) {
                leaf = 0;
            } else if (!(mods & 0x0008)) {  /* ACC_STATIC: not part of an instance */
                if ((*env)->GetFieldName(env, k, fields[i], NULL, &fsig, NULL) != JVMTI_ERROR_NONE || !fsig)
                    leaf = 0;
                else if (fsig[0] == 'L' || (fsig[0] == '[' && (fsig[1] == '[' || fsig[1] == 'L')) ||
                         (fsig[0] == '[' && strchr(targets, fsig[1])))
                    leaf = 0;
                if (fsig)
                    (*env)->Deallocate(env, (unsigned char *)fsig);
            }
        }
        if (fields)
            (*env)->Deallocate(env, (unsigned char *)fields);
        jclass super = (*jni)->GetSuperclass(jni, k);
        (*jni)->DeleteLocalRef(jni, k);
        k = super;
    }
    if (k)
        (*jni)->DeleteLocalRef(jni, k);
    return leaf;
}

static const char *root_name(uint8_t kind)
{
    switch (kind) {
    case JVMTI_HEAP_REFERENCE_JNI_GLOBAL: return "JNI global reference";
    case JVMTI_HEAP_REFERENCE_SYSTEM_CLASS: return "system class";
    case JVMTI_HEAP_REFERENCE_MONITOR: return "monitor";
    case JVMTI_HEAP_REFERENCE_STACK_LOCAL: return "local variable of a thread";
    case JVMTI_HEAP_REFERENCE_JNI_LOCAL: return "JNI local reference";
    case JVMTI_HEAP_REFERENCE_THREAD: return "thread";
    default: return "VM root";
    }
}

static const char *chain_text(jvmtiEnv *env, JNIEnv *jni, struct walk *w, jclass *classes, uint32_t target)
{
    /* a queue's chain runs through every node before the sample: as long as the records, at most */
    size_t max_steps = (size_t)w->n + 1, path_bytes = max_steps * sizeof(uint32_t);
    uint32_t *path = arena_map(path_bytes);
    if (!path)
        return NULL;
    unsigned n = 0;
    for (uint32_t r = target; r && n < max_steps; r = w->recs[r].from) {
        path[n++] = r;
        if (w->recs[r].kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD || !w->recs[r].reached)
            break;
    }
    char *text = arena_alloc(CHAIN_CAP);
    if (!text) {
        arena_unmap(path, path_bytes);
        return NULL;
    }
    struct out o;
    out_init(&o, -1, text, CHAIN_CAP - 1);
    char name[256], prev[256] = "", field[128];
    unsigned run = 0;
    for (unsigned i = n; i-- > 0;) {
        const struct rec *r = &w->recs[path[i]];
        if (i == n - 1) {
            if (r->kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD && r->from && r->from <= w->nclasses) {
                jclass holder = classes[r->from - 1];
                class_name(env, holder, name, sizeof name);
                field_name(env, jni, holder, r->index, field, sizeof field);
                out_str(&o, "static ");
                out_str(&o, name);
                out_char(&o, '.');
                out_str(&o, field);
            } else if (n == max_steps) {
                out_str(&o, "...");
            } else {
                out_str(&o, root_name(r->kind));
            }
        }
        if (path[i] <= w->nclasses) {
            class_name(env, classes[path[i] - 1], name, sizeof name);
            memmove(name + 6, name, strnlen(name, sizeof name - 7) + 1);
            memcpy(name, "class ", 6);
        } else {
            class_name(env, r->klass ? classes[r->klass - 1] : NULL, name, sizeof name);
        }
        if (strcmp(name, prev) == 0 && i > 0) {
            run++;                    /* a linked list: one element per node; fold the run */
            continue;
        }
        if (run) {
            out_str(&o, " (x");
            out_u64_grouped(&o, run + 1);
            out_char(&o, ')');
            run = 0;
        }
        out_str(&o, " -> ");
        out_str(&o, name);
        snprintf(prev, sizeof prev, "%s", name);
    }
    if (run) {
        out_str(&o, " (x");
        out_u64_grouped(&o, run + 1);
        out_char(&o, ')');
    }
    text[o.len] = '\0';
    arena_unmap(path, path_bytes);
    return text;
}

void jheap_paths_find(JavaVM *vm, JNIEnv *jni, jobject *targets, unsigned n, unsigned budget_ms,
                      const char **chains, const char **why)
{
    *why = NULL;
    if (n > MAX_TARGETS)
        n = MAX_TARGETS;
    jvmtiEnv *env = NULL;
    if ((*vm)->GetEnv(vm, (void **)&env, JVMTI_VERSION_11) != JNI_OK || !env) {
        *why = "the JVM gave no JVMTI environment for the heap walk";
        return;
    }
    jvmtiCapabilities caps = { 0 };
    caps.can_tag_objects = 1;
    struct walk w = { 0 };
    size_t leaf_bytes = 0;
    jvmtiHeapCallbacks cb;
    jint nclasses = 0;
    jclass *classes = NULL;
    if ((*env)->AddCapabilities(env, &caps) != JVMTI_ERROR_NONE ||
        (*env)->GetLoadedClasses(env, &nclasses, &classes) != JVMTI_ERROR_NONE) {
        *why = "JVMTI refused object tags for the heap walk";
        goto done;
    }
    leaf_bytes = (size_t)nclasses + 1;
    if (!(w.recs = arena_map(MAX_RECORDS * sizeof *w.recs)) || !(w.leaf = arena_map(leaf_bytes))) {
        *why = "no memory for the heap walk";
        goto done;
    }
    /* the element types of primitive-array targets: an object holding such arrays may be on a chain */
    char target_arrays[MAX_TARGETS + 1] = "";
    for (unsigned i = 0, k = 0; i < n; i++) {
        char *sig = NULL;
        jclass klass = (*jni)->GetObjectClass(jni, targets[i]);
        if (klass && (*env)->GetClassSignature(env, klass, &sig, NULL) == JVMTI_ERROR_NONE && sig) {
            if (sig[0] == '[' && sig[1] && sig[1] != '[' && sig[1] != 'L' && !strchr(target_arrays, sig[1]))
                target_arrays[k++] = sig[1], target_arrays[k] = '\0';
            (*env)->Deallocate(env, (unsigned char *)sig);
        }
        if (klass)
            (*jni)->DeleteLocalRef(jni, klass);
    }
    /* classes first, as records 1..nclasses: every object's class tag then names its class */
    for (jint i = 0; i < nclasses; i++) {
        (*env)->SetTag(env, classes[i], (jlong)i + 1);
        char *sig = NULL;
        if ((*env)->GetClassSignature(env, classes[i], &sig, NULL) == JVMTI_ERROR_NONE && sig) {
            w.leaf[i + 1] = (uint8_t)leaf_kind(env, jni, classes[i], sig, target_arrays);
            (*env)->Deallocate(env, (unsigned char *)sig);
        }
    }
    w.n = w.nclasses = (uint32_t)nclasses;
    for (unsigned i = 0; i < n; i++) {
        jlong t = 0;
        (*env)->GetTag(env, targets[i], &t);
        if (t == 0) {
            (*env)->SetTag(env, targets[i], ++w.n);
            w.recs[w.n].target = 1;
            w.ntargets++;
        }
    }
    jthread self = NULL;
    if ((*env)->GetCurrentThread(env, &self) == JVMTI_ERROR_NONE && self) {
        w.own_thread_tag = ++w.n;     /* a record never reached: it only names our thread */
        (*env)->SetTag(env, self, w.own_thread_tag);
    }
    clock_gettime(CLOCK_MONOTONIC, &w.deadline);
    w.deadline.tv_sec += budget_ms / 1000;
    w.deadline.tv_nsec += (long)(budget_ms % 1000) * 1000000L;
    if (w.deadline.tv_nsec >= 1000000000L)
        w.deadline.tv_sec++, w.deadline.tv_nsec -= 1000000000L;
    memset(&cb, 0, sizeof cb);
    cb.heap_reference_callback = on_reference;
    if ((*env)->FollowReferences(env, 0, NULL, NULL, &cb, &w) != JVMTI_ERROR_NONE) {
        *why = "JVMTI refused to walk the heap";
        goto done;
    }
    if (w.found < w.ntargets)
        *why = w.timed_out ? "the heap is too large to walk within the report's time bound"
             : w.full      ? "the heap has more objects than the walk can record (4 Mi)"
                           : "the walk did not reach the sampled object";
    for (unsigned i = 0; i < n; i++) {
        jlong t = 0;
        (*env)->GetTag(env, targets[i], &t);
        chains[i] = t > 0 && (uint64_t)t <= w.n && w.recs[t].reached ? chain_text(env, jni, &w, classes, (uint32_t)t)
                                                                       : NULL;
    }
done:
    if (classes) {
        for (jint i = 0; i < nclasses; i++)
            (*jni)->DeleteLocalRef(jni, classes[i]);
        (*env)->Deallocate(env, (unsigned char *)classes);
    }
    if (w.recs)
        arena_unmap(w.recs, MAX_RECORDS * sizeof *w.recs);
    if (w.leaf)
        arena_unmap(w.leaf, leaf_bytes);
    /* HotSpot (JvmtiEnvBase::env_dispose) empties the environment's tag map right here, on this thread and
     * with the JVM running, so the walk's tags cost no second pause over the heap. The VM thread allocated
     * their entries during the walk, so the program's counts hold them: their frees must be counted too,
     * which our thread's guard would skip (every walk would leave them as a growing native site). */
    int saved = lw_guard;
    lw_guard = 0;
    (*env)->DisposeEnvironment(env);
    lw_guard = saved;
}

#endif
