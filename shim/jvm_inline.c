/* jvm_inline.c — inline chains of compiled Java methods, by call-site return address (see jvm_inline.h). */
#include <stdatomic.h>
#include "jvm_inline.h"
#include "arena.h"
#include "state.h"

#if __has_include(<jvmti.h>) && __has_include(<jvmticmlr.h>)
#include <jvmti.h>
#include <jvmticmlr.h>

#define SLOTS (1u << 18)             /* call sites with an inlined chain: ~4 MiB of table, touched as used */
#define MAX_PROBE 64
#define MAX_DEPTH 64                 /* longer chains are not kept */

struct chain {
    uint32_t depth;
    struct jvm_inline_frame frames[]; /* innermost first, as AsyncGetCallTrace orders them */
};

struct slot {
    _Atomic uintptr_t pc;            /* 0: free; never changes once set */
    _Atomic(const struct chain *) chain;
};

static _Atomic(struct slot *) table;

static uint32_t slot_of_pc(uintptr_t pc)
{
    return (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 40) & (SLOTS - 1);
}

static struct slot *table_get(int make)
{
    struct slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t || !make)
        return t;
    struct slot *fresh = arena_map(SLOTS * sizeof *fresh);
    if (!fresh)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(&table, &t, fresh, memory_order_acq_rel, memory_order_acquire))
        return fresh;
    arena_unmap(fresh, SLOTS * sizeof *fresh);
    return t;
}

/* A newer chain for a pc replaces the older one (the code cache reuses addresses); the older one stays
 * allocated, since a reader may still hold it: a few bytes per recompiled call site. */
static void keep_chain(struct slot *t, const PCStackInfo *pi)
{
    uint32_t depth = (uint32_t)pi->numstackframes;
    if (depth < 2 || depth > MAX_DEPTH || !pi->pc || !pi->methods || !pi->bcis)
        return;
    uintptr_t pc = (uintptr_t)pi->pc;
    uint32_t i = slot_of_pc(pc);
    for (unsigned probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t seen = atomic_load_explicit(&t[i].pc, memory_order_acquire);
        if (seen == 0) {
            if (!atomic_compare_exchange_strong_explicit(&t[i].pc, &seen, pc, memory_order_acq_rel,
                                                         memory_order_acquire) && seen != pc)
                continue;
        } else if (seen != pc) {
            continue;
        }
        struct chain *c = arena_alloc(sizeof *c + depth * sizeof c->frames[0]);
        if (!c)
            return;
        c->depth = depth;
        for (uint32_t k = 0; k < depth; k++)
            c->frames[k] = (struct jvm_inline_frame){ .bci = pi->bcis[k], .method = pi->methods[k] };
        atomic_store_explicit(&t[i].chain, c, memory_order_release);
        return;
    }
}

void jvm_inline_on_compiled_method_load(void *jvmti_env, void *method, int code_size, const void *code_addr,
                                        int map_length, const void *map, const void *compile_info)
{
    (void)jvmti_env, (void)method, (void)code_size, (void)code_addr, (void)map_length, (void)map;
    int saved = lw_guard;
    lw_guard = 1;
    struct slot *t = NULL;
    for (const jvmtiCompiledMethodLoadRecordHeader *h = compile_info; h; h = h->next) {
        if (h->kind != JVMTI_CMLR_INLINE_INFO)
            continue;
        const jvmtiCompiledMethodLoadInlineRecord *r = (const void *)h;
        for (jint k = 0; k < r->numpcs && r->pcinfo; k++)
            if (r->pcinfo[k].numstackframes >= 2 && (t || (t = table_get(1))))
                keep_chain(t, &r->pcinfo[k]);
    }
    lw_guard = saved;
}

static const struct chain *chain_at(const struct slot *t, uintptr_t pc)
{
    uint32_t i = slot_of_pc(pc);
    for (unsigned probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t seen = atomic_load_explicit(&t[i].pc, memory_order_acquire);
        if (seen == pc)
            return atomic_load_explicit(&t[i].chain, memory_order_acquire);
        if (seen == 0)
            return NULL;
    }
    return NULL;
}

static int chain_matches(const struct chain *c, const struct jvm_inline_frame *java)
{
    for (uint32_t k = 0; k < c->depth; k++)
        if (java[k].method != c->frames[k].method || java[k].bci != c->frames[k].bci)
            return 0;
    return 1;
}

/* Physical frames and Java frames are both innermost first, so the chains found appear in the Java frames
 * in the same order: each is looked for after the previous match. A frame without a chain (interpreted,
 * a compiled frame with nothing inlined at that call, a stub, native code) consumes nothing. */
void jvm_inline_mark(const uintptr_t *jit, unsigned njit, const struct jvm_inline_frame *java, unsigned njava,
                     uint8_t *inlined)
{
    const struct slot *t = table_get(0);
    if (!t)
        return;
    unsigned from = 0;
    for (unsigned i = 0; i < njit && from < njava; i++) {
        const struct chain *c = chain_at(t, jit[i]);
        if (!c || c->depth > njava - from)
            continue;
        for (unsigned q = from; q + c->depth <= njava; q++) {
            if (!chain_matches(c, &java[q]))
                continue;
            for (unsigned k = q; k + 1 < q + c->depth; k++)
                inlined[k] = 1;      /* all but the outermost method, whose compiled code this frame runs */
            from = q + c->depth;
            break;
        }
    }
}

#else  /* built without the JDK's headers */

void jvm_inline_on_compiled_method_load(void *jvmti_env, void *method, int code_size, const void *code_addr,
                                        int map_length, const void *map, const void *compile_info)
{ (void)jvmti_env, (void)method, (void)code_size, (void)code_addr, (void)map_length, (void)map, (void)compile_info; }
void jvm_inline_mark(const uintptr_t *jit, unsigned njit, const struct jvm_inline_frame *java, unsigned njava,
                     uint8_t *inlined) { (void)jit, (void)njit, (void)java, (void)njava, (void)inlined; }

#endif
