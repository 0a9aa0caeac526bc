/* threads.c — the shim's own threads (see threads.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include "threads.h"
#include "state.h"

int threads_start(const char *name, void *(*fn)(void *), size_t stack_bytes)
{
    if (!shim_state.real.pthread_create)
        return ENOSYS;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);     /* the new thread inherits this mask */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, stack_bytes);
    pthread_t thread;
    int rc = shim_state.real.pthread_create(&thread, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(thread, name);
    return rc;
}
