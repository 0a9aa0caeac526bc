/* eh_frame.h — the frame rule of a return address, read from its object's .eh_frame: where the caller's
 * frame (the CFA), its return address and its rbp are. Pure reading of mapped, read-only sections, every
 * read bounds-checked; no locks, no heap; calls _dl_find_object (lock-free in glibc). Used by cfi.c,
 * which caches the rules. Layouts follow the System V x86-64 ABI and the LSB's description of .eh_frame
 * and .eh_frame_hdr. */
#ifndef LW_EH_FRAME_H
#define LW_EH_FRAME_H

#include <stdint.h>

/* A frame rule, packed so the cache can publish it with one atomic store. */
#define RULE_KNOWN (1ull << 63)       /* computed (usable or not) */
#define RULE_USABLE (1ull << 62)
#define RULE_CFA_RBP (1ull << 61)     /* CFA = rbp + off, else rsp + off */
#define RULE_RBP_SAVED (1ull << 60)   /* caller's rbp at CFA + rbp_off, else unchanged */
#define RULE_OUTERMOST (1ull << 59)   /* no caller: the return address is undefined (_start, clone) */
#define RULE_FOREIGN (1ull << 58)     /* in no loaded object: JIT-compiled code */
/* bits 0-31: CFA offset; 32-47: rbp's offset from the CFA; 48-55: the return address's offset */

/* The packed rule of the frame that returns to ip (RULE_KNOWN always set; RULE_USABLE when the walk
 * can use it; RULE_FOREIGN when ip is in no loaded object). */
uint64_t eh_frame_rule(uintptr_t ip);

#endif
