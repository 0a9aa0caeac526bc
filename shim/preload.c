/* preload.c — what happens when the shim is loaded into a process and when the process exits.
 * Kept out of the core so the unit tests, which link the core, do not start a tracker in themselves. */
#include "late.h"
#include "report_thread.h"
#include "state.h"
#include "lifecycle.h"

__attribute__((constructor)) static void leakwatch_load(void)
{
    if (late_requested())
        return;                 /* leakwatch attach loaded us: it calls leakwatch_attach() next */
    if (late_loaded_locally())
        return;                 /* dlopened, e.g. by a JVM for -agentpath: Agent_OnLoad starts us with its options */
    lw_start();
}

__attribute__((destructor)) static void leakwatch_unload(void)
{
    report_thread_arrange_exit_report();
}
