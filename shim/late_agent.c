/* late_agent.c — the shim as a JVMTI agent loaded into a running JVM through HotSpot's own attach mechanism
 * (what `jcmd PID JVMTI.agent_load` does; `leakwatch attach` speaks the protocol itself): no ptrace, no JVM
 * flag. HotSpot dlopens the library (whose constructor stays idle, see late.h) and calls Agent_OnAttach from
 * its attach listener thread, which holds no lock of ours or of the C library: it starts tracking exactly
 * as leakwatch_attach() does for a native process, or, with the option "detach", undoes it. The return value
 * is a late_result, which HotSpot hands back to the tool as "return code: N". */
#include <string.h>
#include "late.h"

#define LW_EXPORT __attribute__((visibility("default")))

/* JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved): jint is int on x86-64,
 * and neither the VM nor reserved is needed, so jni.h is not. */
LW_EXPORT int Agent_OnAttach(void *vm, char *options, void *reserved)
{
    (void)vm;
    (void)reserved;
    if (options && strcmp(options, "detach") == 0)
        return leakwatch_detach();
    return leakwatch_attach();
}
