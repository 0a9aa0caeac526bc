/* unwind.h — return addresses of the current thread, with the shim's own frames left out.
 * unwind_site_key is the cheap per-allocation walk (libunwind's unw_backtrace: cached DWARF, no
 * system calls, ~17 ns a frame); unwind_full adds a frame-pointer walk past code that has no unwind
 * information (JIT-compiled Java with -XX:+PreserveFramePointer), never reading outside the thread's
 * stack. Both may call mmap or dl_iterate_phdr: call them with no shim lock held and the guard set. */
#ifndef LW_UNWIND_H
#define LW_UNWIND_H

#include <stdint.h>

unsigned unwind_site_key(uintptr_t *out, unsigned n);
unsigned unwind_full(uintptr_t *out, unsigned max);

/* The current thread's stack bounds, found once per thread; 0s when unknown. */
void unwind_thread_stack(uintptr_t *lo, uintptr_t *hi);

#endif
