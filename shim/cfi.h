/* cfi.h — a fast walk of the current thread's stack using the .eh_frame unwind tables directly.
 * libunwind's unw_backtrace spends ~500 instructions setting up a cursor before it walks a frame; the
 * site key of every allocation needs only a handful of frames, so the shim walks them itself: the rule
 * for each return address (where the caller's frame and return address are) is read once from the
 * object's .eh_frame_hdr/.eh_frame, cached in a lock-free table, and then costs a lookup and two loads
 * per frame. Only the common rules are handled (CFA = rsp/rbp + offset, return address and rbp saved at
 * CFA offsets) plus frame-pointer chains through JIT code; anything else — signal frames, DWARF
 * expressions — makes the walk give up and the caller falls back to libunwind. Every read is bounds-checked against the thread's stack.
 * Lock-free; calls _dl_find_object (lock-free in glibc); never uses the heap (a grown cache is mapped
 * with arena.h). Not async-signal-safe only in that a walk interrupted by itself may miss the cache. */
#ifndef LW_CFI_H
#define LW_CFI_H

#include <stdint.h>

/* Return addresses of the callers, newest first: out[0] is the return address into the first caller
 * whose code is outside [skip_lo, skip_hi) (code there must keep frame pointers: the shim's own).
 * Reads nothing outside [current frame, stack_top). A frame in no loaded object (JIT-compiled code)
 * is stepped over by its frame pointer, as libunwind does; the walk ends where that chain does not
 * lead up the stack. Returns how many were found (the walk ends early at the outermost frame), or -1
 * when a frame of a loaded object has no usable rule. */
int cfi_backtrace(uintptr_t *out, unsigned n, uintptr_t stack_top, uintptr_t skip_lo, uintptr_t skip_hi);

/* HotSpot's template interpreter, once known (jvm.h): every interpreted frame returns into this code,
 * so its return address says nothing about which method runs there. A walk replaces such a frame by
 * CFI_INTERPRETED_TAG | a hash of the frame's Method* and bytecode pointer, so that two interpreted
 * call paths never share a site. [0, 0) until set. */
#define CFI_INTERPRETED_TAG (1ull << 63)
void cfi_set_interpreter(uintptr_t lo, uintptr_t hi);

#endif
