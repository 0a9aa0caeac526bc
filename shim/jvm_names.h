/* jvm_names.h — the Java paths kept for sites and stacks, and what the JVM helper thread makes of them:
 * names (class, method, source file, line) read once per method through JVMTI and kept in the shim's
 * arena, a logical id per path, and Java frames written as Java developers read them. Paths are written
 * once by the thread that made the site/stack; names and ids only by the helper thread, published by a
 * release store of the id; readers (reports) take them after an acquire load. No locks. */
#ifndef LW_JVM_NAMES_H
#define LW_JVM_NAMES_H

#include <stdatomic.h>
#include <stdint.h>
#include "out.h"
#include "symbols.h"

#define JVM_MAX_NATIVE 16            /* native frames kept before the first Java frame */
#define JVM_KIND_STACK 0xff

struct jvm_method;                   /* names of one method, made by the helper thread */

/* One Java frame as data: what every output (the report's text and JSON, /metrics, pprof) renders from,
 * so that none has to read another's text. Strings in the shim's arena, control characters replaced,
 * kept while the process lives. Java-heap sites (jheap_names.h) hand their frames the same way. */
struct java_frame {
    const char *klass;               /* io.netty.buffer.PoolArena */
    const char *method;              /* allocate */
    const char *file;                /* PoolArena.java; NULL when the class names none */
    uint32_t line;                   /* 0: unknown (and for a native method) */
    int32_t bci;                     /* bytecode index; negative for a native method */
    uint8_t is_native, inlined;      /* inlined: the JIT inlined it into its caller */
};

struct jvm_frame {
    void *method;                    /* a jmethodID */
    int32_t bci;                     /* bytecode index; negative for a native method */
    uint8_t inlined;                 /* the JIT inlined it into its caller (jvm_inline.h); on a canonical
                                      * path the helper sets it for any version's, with atomic stores */
    const struct jvm_method *named;  /* set by the helper before the path's id is published */
};

struct jvm_path {
    _Atomic uint64_t logical;        /* 0 until named; never 0 after */
    uint32_t canon;                  /* the first site/stack with this id (set before logical) */
    uint32_t pass;                   /* the helper's naming pass that named it (set before logical) */
    atomic_uint merged;              /* on a canonical one: how many raw ones share its id */
    uint8_t kind;                    /* of a site (sites.h); JVM_KIND_STACK for a stack */
    uint8_t nnative;
    uint16_t njava;
    uintptr_t native[JVM_MAX_NATIVE];
    struct jvm_frame java[];
};

/* Helper thread only: a jvmtiEnv * and the helper's JNIEnv *. */
void jvm_names_init(void *jvmti_env, void *jni_env);
/* Names the path's methods and returns its logical id (never 0), or 0 when a method cannot be named
 * (the JVM has unloaded its class): the path is then left to its raw frames. */
uint64_t jvm_names_path_id(const struct module_set *mods, struct jvm_path *p);

/* A named path's frames through the report's emitter: text lines, or the JSON array `member`. */
struct emitter;
typedef void (*jvm_native_writer)(struct emitter *e, const void *ctx, uintptr_t ip);
void jvm_names_write(struct emitter *e, const char *member, const struct jvm_path *p, jvm_native_writer write_native,
                     const void *ctx);
/* The same frames as data, innermost first: visit(ctx, ip, NULL) for each native one, then
 * visit(ctx, 0, &frame) for each Java one. */
typedef void (*jvm_frame_visitor)(void *ctx, uintptr_t ip, const struct java_frame *java);
void jvm_names_visit(const struct jvm_path *p, jvm_frame_visitor visit, void *ctx);

#endif
