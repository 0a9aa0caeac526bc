/* jvm_inline.h — which Java frames of a captured path the JIT inlined into their caller's compiled code.
 * AsyncGetCallTrace returns inlined methods as frames of their own but does not say which ones share a
 * physical frame. JVMTI's CompiledMethodLoad event gives, for every call site of a compiled method, the
 * chain of methods and bytecode indexes inlined there (JVMTI_CMLR_INLINE_INFO, innermost first): this
 * module keeps the chains longer than one, keyed by the call site's return address, in a fixed table in
 * the arena. A captured path's physical frames in JIT code are looked up there, and a chain counts only
 * where it equals, method for method and index for index, a run of the Java frames AsyncGetCallTrace
 * returned: a stale chain (code unloaded, its address reused) can then miss an inlined frame but never
 * mark one wrongly. Inserts run on JVM threads (the compiler threads, or the helper's GenerateEvents) and
 * lookups inside allocation calls: both lock-free (one compare-and-swap per slot), no memory from the
 * tracked heap. A full table keeps what it has and marks fewer frames. Not async-signal-safe. */
#ifndef LW_JVM_INLINE_H
#define LW_JVM_INLINE_H

#include <stdint.h>

/* JVMTI's CompiledMethodLoad callback: keeps the inline chains of the compiled method's call sites. */
void jvm_inline_on_compiled_method_load(void *jvmti_env, void *method, int code_size, const void *code_addr,
                                        int map_length, const void *map, const void *compile_info);

/* One Java frame as AsyncGetCallTrace returns it (its ASGCT_CallFrame layout). */
struct jvm_inline_frame {
    int32_t bci;
    void *method;                    /* a jmethodID */
};

/* Sets inlined[k] to 1 for the Java frames java[0..njava) (AsyncGetCallTrace's, innermost first) that the
 * physical frames jit[0..njit) (return addresses, innermost first) show inlined into their caller; leaves
 * the others as they are. */
void jvm_inline_mark(const uintptr_t *jit, unsigned njit, const struct jvm_inline_frame *java, unsigned njava,
                     uint8_t *inlined);

#endif
