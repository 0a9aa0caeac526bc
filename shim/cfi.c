/* cfi.c — the .eh_frame stack walker (see cfi.h).
 * The rules themselves come from eh_frame.c; this file caches them and walks the stack. */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include "cfi.h"
#include "eh_frame.h"
#include "arena.h"

/* ---- the rule cache: open addressing, insert-only, published with atomics --------------------- */

/* It starts small (a few dozen return addresses cover most programs' allocation paths, and every page
 * of it that is touched is resident) and grows fourfold when a neighbourhood fills, up to CACHE_MAX.
 * A grown table is published with one atomic store; the old one is kept, as readers may be in it. */
#define CACHE_FIRST 4096u
#define CACHE_MAX (1u << 20)
#define CACHE_PROBES 8
#define LW_CFI_LIKELY(x) __builtin_expect(!!(x), 1)

struct cache_entry {
    atomic_uintptr_t ip;
    _Atomic uint64_t rule;
};

struct rule_cache {
    uint32_t mask;
    uint32_t shift;                               /* 64 - log2(size): the hash's top bits index it */
    struct cache_entry *entries;
};

static struct cache_entry first_entries[CACHE_FIRST];
static struct rule_cache first_cache = { CACHE_FIRST - 1, 52, first_entries };
static _Atomic(struct rule_cache *) cache = &first_cache;
static atomic_flag growing = ATOMIC_FLAG_INIT;

static inline uint32_t cache_slot(const struct rule_cache *c, uintptr_t ip)
{
    return (uint32_t)((ip * 0x9e3779b97f4a7c15ull) >> c->shift);
}

/* Copies what is there into a table four times the size and publishes it. Entries added to the old
 * table meanwhile are missed, and simply computed again. Needs no lock: one grower at a time. */
__attribute__((noinline, cold)) static void cache_grow(struct rule_cache *old)
{
    if (old->mask + 1 >= CACHE_MAX || atomic_flag_test_and_set_explicit(&growing, memory_order_acquire))
        return;
    if (atomic_load_explicit(&cache, memory_order_acquire) == old) {
        uint32_t size = (old->mask + 1) * 4;
        size_t bytes = sizeof(struct rule_cache) + size * sizeof(struct cache_entry);
        struct rule_cache *c = arena_map(bytes);
        if (c) {
            c->mask = size - 1;
            c->shift = old->shift - 2;
            c->entries = (struct cache_entry *)(c + 1);
            for (uint32_t i = 0; i <= old->mask; i++) {
                uintptr_t ip = atomic_load_explicit(&old->entries[i].ip, memory_order_acquire);
                uint64_t rule = atomic_load_explicit(&old->entries[i].rule, memory_order_acquire);
                if (!ip || !rule)
                    continue;
                for (uint32_t k = 0, j = cache_slot(c, ip); k < CACHE_PROBES; k++, j = (j + 1) & c->mask)
                    if (!atomic_load_explicit(&c->entries[j].ip, memory_order_relaxed)) {
                        atomic_store_explicit(&c->entries[j].rule, rule, memory_order_relaxed);
                        atomic_store_explicit(&c->entries[j].ip, ip, memory_order_relaxed);
                        break;
                    }
            }
            atomic_store_explicit(&cache, c, memory_order_release);
        }
    }
    atomic_flag_clear_explicit(&growing, memory_order_release);
}

__attribute__((noinline)) static uint64_t rule_of_slow(struct rule_cache *c, uintptr_t ip, uint32_t h)
{
    for (unsigned k = 0; k < CACHE_PROBES; k++) {
        struct cache_entry *e = &c->entries[(h + k) & c->mask];
        uintptr_t there = atomic_load_explicit(&e->ip, memory_order_acquire);
        if (there == ip) {
            uint64_t rule = atomic_load_explicit(&e->rule, memory_order_acquire);
            return rule ? rule : eh_frame_rule(ip);   /* another thread is filling it in */
        }
        if (there == 0) {
            uint64_t rule = eh_frame_rule(ip);
            uintptr_t expected = 0;
            if (atomic_compare_exchange_strong_explicit(&e->ip, &expected, ip, memory_order_acq_rel,
                                                        memory_order_acquire))
                atomic_store_explicit(&e->rule, rule, memory_order_release);
            return rule;
        }
    }
    cache_grow(c);                                /* neighbourhood full: correct now, faster next time */
    return eh_frame_rule(ip);
}

/* The common case, a hit in the first slot, inline. */
static inline uint64_t rule_of(uintptr_t ip)
{
    struct rule_cache *c = atomic_load_explicit(&cache, memory_order_acquire);
    uint32_t h = cache_slot(c, ip);
    struct cache_entry *e = &c->entries[h];
    if (LW_CFI_LIKELY(atomic_load_explicit(&e->ip, memory_order_acquire) == ip)) {
        uint64_t rule = atomic_load_explicit(&e->rule, memory_order_acquire);
        if (LW_CFI_LIKELY(rule != 0))
            return rule;
    }
    return rule_of_slow(c, ip, h);
}

/* Reads a word of the stack, or fails when it is outside [lo, hi). */
static inline int stack_word(uintptr_t addr, uintptr_t lo, uintptr_t hi, uintptr_t *out)
{
    if (addr - lo > hi - lo - sizeof(uintptr_t) || (addr & (sizeof(uintptr_t) - 1)))
        return 0;
    *out = *(const uintptr_t *)addr;
    return 1;
}

/* HotSpot 17 on x86_64 (frame_x86.hpp): an interpreted frame keeps its Method* at fp[-3] and its bytecode
 * pointer at fp[-8]; both are saved there before any call out of the frame. */
#define INTERP_METHOD_SLOT (-3)
#define INTERP_BCP_SLOT (-8)
static atomic_uintptr_t interp_lo, interp_hi;

void cfi_set_interpreter(uintptr_t lo, uintptr_t hi)
{
    atomic_store_explicit(&interp_hi, hi, memory_order_relaxed);
    atomic_store_explicit(&interp_lo, lo, memory_order_release);
}

/* The key of an interpreted frame whose frame pointer is fp, or its return address when the slots
 * cannot be read. */
__attribute__((noinline)) static uintptr_t interpreted_key(uintptr_t rip, uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
    uintptr_t method, bcp;
    if (!stack_word(fp + INTERP_METHOD_SLOT * (intptr_t)sizeof(uintptr_t), lo, hi, &method) ||
        !stack_word(fp + INTERP_BCP_SLOT * (intptr_t)sizeof(uintptr_t), lo, hi, &bcp))
        return rip;
    uint64_t h = (method ^ 0x243f6a8885a308d3ull) * 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 29) ^ bcp) * 0xbf58476d1ce4e5b9ull;
    return (uintptr_t)(CFI_INTERPRETED_TAG | (h >> 1));
}

__attribute__((noinline)) int cfi_backtrace(uintptr_t *out, unsigned n, uintptr_t stack_top, uintptr_t skip_lo,
                                            uintptr_t skip_hi)
{
    if (!stack_top)
        return -1;
    /* This function keeps a frame pointer (the shim is built with -fno-omit-frame-pointer): its saved
     * rbp and return address give the caller's registers at the call. Callers inside [skip_lo, skip_hi)
     * keep frame pointers too, so they are stepped over by following the chain, at no lookup cost. */
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo = frame, hi = stack_top;
    uintptr_t rip, rbp;
    if (!stack_word(frame, lo, hi, &rbp) || !stack_word(frame + sizeof(uintptr_t), lo, hi, &rip))
        return -1;
    uintptr_t rsp = frame + 2 * sizeof(uintptr_t);
    while (rip - skip_lo < skip_hi - skip_lo) {
        frame = rbp;
        if (frame < rsp || !stack_word(frame, lo, hi, &rbp) || !stack_word(frame + sizeof(uintptr_t), lo, hi, &rip))
            return -1;
        rsp = frame + 2 * sizeof(uintptr_t);
    }
    unsigned got = 0;
    uintptr_t ilo = atomic_load_explicit(&interp_lo, memory_order_acquire);
    uintptr_t ilen = ilo ? atomic_load_explicit(&interp_hi, memory_order_relaxed) - ilo : 0;
    while (got < n) {
        /* rbp is this frame's own frame pointer here (the interpreter keeps one) */
        out[got++] = LW_CFI_LIKELY(rip - ilo >= ilen) ? rip : interpreted_key(rip, rbp, lo, hi);
        if (got == n)
            break;
        uint64_t rule = rule_of(rip);
        if (rule & RULE_FOREIGN) {
            /* JIT code has no unwind tables; with -XX:+PreserveFramePointer its frames are chained by
             * rbp. The chain must move up the stack, or the walk ends here. */
            uintptr_t saved_rbp, ra;
            if (rbp < rsp || !stack_word(rbp, lo, hi, &saved_rbp) || !stack_word(rbp + sizeof(uintptr_t), lo, hi, &ra))
                break;
            rsp = rbp + 2 * sizeof(uintptr_t);
            rbp = saved_rbp;
            rip = ra;
            if (rip == 0)
                break;
            continue;
        }
        if (!(rule & RULE_USABLE))
            return -1;
        if (rule & RULE_OUTERMOST)
            break;
        uintptr_t cfa = ((rule & RULE_CFA_RBP) ? rbp : rsp) + (intptr_t)(int32_t)(uint32_t)rule;
        if (!stack_word(cfa + (intptr_t)(int8_t)(uint8_t)(rule >> 48), lo, hi, &rip))
            return -1;
        if ((rule & RULE_RBP_SAVED) && !stack_word(cfa + (intptr_t)(int16_t)(uint16_t)(rule >> 32), lo, hi, &rbp))
            return -1;
        if (rip == 0)
            break;                                /* the outermost frame (_start, clone) */
        if (cfa <= rsp)
            return -1;                            /* the stack must unwind upwards */
        rsp = cfa;
    }
    return (int)got;
}
