/* unwind.h — return addresses of the current thread, with the shim's own frames left out.
 * unwind_site_key is the cheap per-allocation walk (cfi.h: each return address's frame rule read once
 * from the .eh_frame tables and cached lock-free; libunwind's unw_backtrace only where a rule is
 * unusable); unwind_full adds a frame-pointer walk past code that has no unwind
 * information (JIT-compiled Java with -XX:+PreserveFramePointer), never reading outside the thread's
 * stack. Both may call mmap or dl_iterate_phdr: call them with no shim lock held and the guard set. */
#ifndef LW_UNWIND_H
#define LW_UNWIND_H

#include <pthread.h>
#include <stdint.h>

unsigned unwind_site_key(uintptr_t *out, unsigned n);
unsigned unwind_full(uintptr_t *out, unsigned max);

/* Frame-pointer walks need the top of the thread's stack: the main thread's is known at start-up,
 * other threads record it in a trampoline put around their start routine by the pthread_create hook. */
void unwind_main_thread_started(void);
int unwind_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg,
                          int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *));

#endif
