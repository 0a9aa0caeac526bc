/* jvm_names.c — names of Java methods and logical ids of Java paths (see jvm_names.h). */
#include <string.h>
#include "jvm_names.h"
#include "arena.h"
#include "emitter.h"

#if __has_include(<jvmti.h>)
#include <jvmti.h>

/* What a report prints of one method; strings in the arena, control characters replaced. */
struct jvm_method {
    void *id;
    const char *klass;               /* io.netty.buffer.PoolArena$DirectArena */
    const char *name, *signature;    /* newChunk, (IIII)Lio/netty/buffer/PoolChunk; */
    const char *file;                /* PoolArena.java, or NULL when the class has none */
    int is_native;
    jint nlines;                     /* 0: no line table */
    jvmtiLineNumberEntry *lines;
};

static jvmtiEnv *jvmti;
static JNIEnv *jni;                  /* the helper thread's own */

/* The helper thread's table of methods named so far, by jmethodID: open addressing, grown by doubling. */
static struct {
    struct jvm_method **slots;
    uint32_t mask, count;
} methods;

void jvm_names_init(void *jvmti_env, void *jni_env)
{
    jvmti = jvmti_env;
    jni = jni_env;
}

static const char *keep_string(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *copy = arena_alloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    return copy;
}

/* "Lio/netty/Foo;" -> "io.netty.Foo" (arrays and primitives as they are). */
static const char *class_name(const char *sig)
{
    if (!sig)
        return NULL;
    size_t n = strlen(sig);
    if (n >= 2 && sig[0] == 'L' && sig[n - 1] == ';') {
        char *c = arena_alloc(n - 1);
        if (!c)
            return NULL;
        for (size_t i = 1; i + 1 < n; i++)
            c[i - 1] = sig[i] == '/' ? '.' : (unsigned char)sig[i] < 0x20 ? '?' : sig[i];
        return c;
    }
    return keep_string(sig);
}

static void dealloc(void *p)
{
    if (p)
        (*jvmti)->Deallocate(jvmti, p);
}

static struct jvm_method *name_method(void *id)
{
    jmethodID m = id;
    char *name = NULL, *sig = NULL, *csig = NULL, *file = NULL;
    jclass klass = NULL;
    if ((*jvmti)->GetMethodName(jvmti, m, &name, &sig, NULL) != JVMTI_ERROR_NONE)
        return NULL;
    struct jvm_method *jm = NULL;
    if ((*jvmti)->GetMethodDeclaringClass(jvmti, m, &klass) != JVMTI_ERROR_NONE ||
        (*jvmti)->GetClassSignature(jvmti, klass, &csig, NULL) != JVMTI_ERROR_NONE)
        goto done;
    if (!(jm = arena_alloc(sizeof *jm)))
        goto done;
    jm->id = id;
    jm->klass = class_name(csig);
    jm->name = keep_string(name);
    jm->signature = keep_string(sig);
    if ((*jvmti)->GetSourceFileName(jvmti, klass, &file) == JVMTI_ERROR_NONE)
        jm->file = keep_string(file);
    jboolean native = 0;
    (*jvmti)->IsMethodNative(jvmti, m, &native);
    jm->is_native = native;
    jint n = 0;
    jvmtiLineNumberEntry *lines = NULL;
    if (!native && (*jvmti)->GetLineNumberTable(jvmti, m, &n, &lines) == JVMTI_ERROR_NONE && n > 0 &&
        (jm->lines = arena_alloc((size_t)n * sizeof *lines))) {
        memcpy(jm->lines, lines, (size_t)n * sizeof *lines);
        jm->nlines = n;
    }
    dealloc(lines);
    if (!jm->klass || !jm->name || !jm->signature) {
        arena_free(jm, sizeof *jm);      /* strings already kept stay: a few bytes, once */
        jm = NULL;
    }
done:
    dealloc(name);
    dealloc(sig);
    dealloc(csig);
    dealloc(file);
    /* the class reference is a local reference of this (attached, never returning to Java) thread:
     * dropped so that thousands of methods do not pile them up */
    if (klass)
        (*jni)->DeleteLocalRef(jni, klass);
    return jm;
}

static uint32_t method_slot(void *id, uint32_t mask)
{
    return (uint32_t)(((uintptr_t)id * 0x9e3779b97f4a7c15ull) >> 40) & mask;
}

static const struct jvm_method *method_of(void *id)
{
    if (methods.slots) {
        for (uint32_t i = method_slot(id, methods.mask);; i = (i + 1) & methods.mask) {
            if (!methods.slots[i])
                break;
            if (methods.slots[i]->id == id)
                return methods.slots[i];
        }
    }
    struct jvm_method *jm = name_method(id);
    if (!jm)
        return NULL;
    if (!methods.slots || (methods.count + 1) * 2 > methods.mask) {
        uint32_t size = methods.slots ? (methods.mask + 1) * 2 : 4096;
        struct jvm_method **bigger = arena_map(size * sizeof *bigger);
        if (!bigger)
            return jm;                   /* named, just not remembered */
        for (uint32_t i = 0; methods.slots && i <= methods.mask; i++)
            if (methods.slots[i])
                for (uint32_t j = method_slot(methods.slots[i]->id, size - 1);; j = (j + 1) & (size - 1))
                    if (!bigger[j]) {
                        bigger[j] = methods.slots[i];
                        break;
                    }
        arena_unmap(methods.slots, methods.slots ? (methods.mask + 1) * sizeof *bigger : 0);
        methods.slots = bigger;
        methods.mask = size - 1;
    }
    for (uint32_t i = method_slot(id, methods.mask);; i = (i + 1) & methods.mask)
        if (!methods.slots[i]) {
            methods.slots[i] = jm;
            methods.count++;
            break;
        }
    return jm;
}

#define FNV_START 0xcbf29ce484222325ull
static uint64_t mix_bytes(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;            /* a separator: "ab"+"c" differs from "a"+"bc" */
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        h = (h ^ (unsigned char)(v >> (8 * k))) * 0x100000001b3ull;
    return h;
}

/* A pool's chunk allocation (Netty's PoolArena.newChunk, 16 MiB at a time): a site ends there, whichever request
 * happened to need the chunk, so that a pool that keeps growing is one site that keeps growing. */
static int is_pool_chunk(const struct jvm_method *jm)
{
    return strcmp(jm->name, "newChunk") == 0 && strncmp(jm->klass, "io.netty.buffer.PoolArena", 25) == 0;
}

uint64_t jvm_names_path_id(const struct module_set *mods, struct jvm_path *p)
{
    uint64_t h = mix_u64(FNV_START, p->kind);
    for (unsigned i = 0; i < p->nnative; i++) {
        int m = symbols_module_of(mods, p->native[i] - 1);
        uint64_t value = p->native[i];
        if (m >= 0) {
            const struct module *mod = &mods->items[m];
            h = mix_bytes(h, mod->build_id[0] ? mod->build_id : mod->path);
            value -= mod->base;
        }
        h = mix_u64(h, value);
    }
    h = mix_bytes(h, "java");
    for (unsigned i = 0; i < p->njava; i++) {
        const struct jvm_method *jm = method_of(p->java[i].method);
        if (!jm)
            return 0;
        p->java[i].named = jm;
        h = mix_bytes(h, jm->klass);
        h = mix_bytes(h, jm->name);
        h = mix_bytes(h, jm->signature);
        h = mix_u64(h, (uint64_t)(int64_t)p->java[i].bci);
        if (p->kind != JVM_KIND_STACK && is_pool_chunk(jm))
            p->njava = (uint16_t)(i + 1);  /* readers see it only once the id is published */
    }
    return h ? h : 1;
}

/* The line of a bytecode index: the entry with the highest start at or before it; 0 when unknown. */
static jint line_of(const struct jvm_method *jm, int32_t bci)
{
    jint line = 0;
    jlocation best = -1;
    for (jint i = 0; i < jm->nlines; i++)
        if (jm->lines[i].start_location <= bci && jm->lines[i].start_location > best) {
            best = jm->lines[i].start_location;
            line = jm->lines[i].line_number;
        }
    return line;
}

/* The i-th Java frame of a named path, as data. */
static void frame_of(const struct jvm_path *p, unsigned i, struct java_frame *f)
{
    const struct jvm_method *jm = p->java[i].named;
    int32_t bci = p->java[i].bci;
    *f = (struct java_frame){ .klass = jm->klass, .method = jm->name, .file = jm->file, .bci = bci,
                              .is_native = (uint8_t)(jm->is_native != 0),
                              .inlined = __atomic_load_n(&p->java[i].inlined, __ATOMIC_RELAXED) };
    jint line = !jm->is_native && bci >= 0 ? line_of(jm, bci) : 0;
    f->line = line > 0 ? (uint32_t)line : 0;
}

/* text: "\tio.netty.buffer.PoolArena.allocate(PoolArena.java:147)\n", as a Java stack trace prints it, with
 * " (inlined)" after a method the JIT inlined into its caller;
 * JSON: {"ip":"0x0","module":-1,"java":{...}}: a Java frame has no one address (an inlined method shares its
 * caller's), and no "function", so that readers of older reports skip it rather than misname it. */
static void emit_java_frame(struct emitter *e, const struct java_frame *f)
{
    emit_object_begin(e, NULL);
    emit_json_hex(e, "ip", 0);
    emit_json_i64(e, "module", -1);
    emit_object_begin(e, "java");
    emit_text(e, "\t");
    emit_str(e, "class", f->klass);
    emit_text(e, ".");
    emit_str(e, "method", f->method);
    emit_text(e, "(");
    if (f->is_native) {
        emit_text(e, "Native Method");
    } else {
        emit_text_name(e, f->file ? f->file : "unknown source");
        if (f->line > 0) {
            emit_text(e, ":");
            emit_text_u64(e, f->line);
        } else {
            emit_text(e, ", line unknown");
        }
    }
    emit_text(e, f->inlined ? ") (inlined)\n" : ")\n");
    if (f->file)
        emit_json_str(e, "file", f->file);
    if (f->line > 0)
        emit_json_u64(e, "line", f->line);
    emit_json_i64(e, "bci", f->bci);
    if (f->is_native)
        emit_json_bool(e, "native", 1);
    emit_json_bool(e, "inlined", f->inlined);
    emit_object_end(e);
    emit_object_end(e);
}

void jvm_names_write(struct emitter *e, const char *member, const struct jvm_path *p, jvm_native_writer write_native,
                     const void *ctx)
{
    emit_array_begin(e, member);
    for (unsigned i = 0; i < p->nnative; i++)
        write_native(e, ctx, p->native[i]);
    for (unsigned i = 0; i < p->njava; i++) {
        struct java_frame f;
        frame_of(p, i, &f);
        emit_java_frame(e, &f);
    }
    emit_array_end(e);
}

void jvm_names_visit(const struct jvm_path *p, jvm_frame_visitor visit, void *ctx)
{
    for (unsigned i = 0; i < p->nnative; i++)
        visit(ctx, p->native[i], NULL);
    for (unsigned i = 0; i < p->njava; i++) {
        struct java_frame f;
        frame_of(p, i, &f);
        visit(ctx, 0, &f);
    }
}

#else  /* built without the JDK's headers: no Java paths are ever kept */

void jvm_names_init(void *jvmti_env, void *jni_env) { (void)jvmti_env; (void)jni_env; }
uint64_t jvm_names_path_id(const struct module_set *mods, struct jvm_path *p) { (void)mods; (void)p; return 0; }
void jvm_names_write(struct emitter *e, const char *member, const struct jvm_path *p, jvm_native_writer write_native,
                     const void *ctx) { (void)e; (void)member; (void)p; (void)write_native; (void)ctx; }
void jvm_names_visit(const struct jvm_path *p, jvm_frame_visitor visit, void *ctx) { (void)p, (void)visit, (void)ctx; }

#endif
