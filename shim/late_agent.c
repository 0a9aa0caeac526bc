/* late_agent.c — the shim as a JVMTI agent loaded into a running JVM through HotSpot's own attach mechanism
 * (what `jcmd PID JVMTI.agent_load` does; `leakwatch attach` speaks the protocol itself): no ptrace, no JVM
 * flag. HotSpot dlopens the library (whose constructor stays idle, see late.h) and calls Agent_OnAttach from
 * its attach listener thread, which holds no lock of ours or of the C library: it starts tracking exactly
 * as leakwatch_attach() does for a native process, or, with the option "detach", undoes it. The return value
 * is a late_result, which HotSpot hands back to the tool as "return code: N".
 * Agent_OnLoad answers `java -agentpath:libleakwatch.so`, which HotSpot calls during its start-up on the main
 * thread (no lock of ours held); without it that JVM would refuse to start. Alone (no preload) the agent tracks
 * as an attach does, from the JVM's start-up on, with its options as settings. */
#include <dlfcn.h>
#include <string.h>
#include "late.h"
#include "log.h"

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

/* Whether the process's malloc is ours, i.e. the shim was preloaded (or attached) and sees every allocation. */
static int interposing(void)
{
    Dl_info mine, theirs;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    return m && dladdr((void *)interposing, &mine) && dladdr(m, &theirs) && mine.dli_fbase == theirs.dli_fbase;
}

/* JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved): `-agentpath` on the command
 * line. The JVM's own start goes on in every case (0: JNI_OK). Preloaded as well, the preloaded shim does the
 * work and the agent says so in one line. Alone, the agent is the shim, as async-profiler's is: it starts
 * tracking with its options (`=out=/var/tmp/lw,interval=60s`, each a LEAKWATCH_* setting) over the environment's
 * (the shim's Java work needs no agent: it attaches its threads once the JVM is up). Silent when that works, as
 * a preloaded shim is; one line when it cannot. */
LW_EXPORT int Agent_OnLoad(void *vm, char *options, void *reserved)
{
    (void)vm;
    (void)reserved;
    if (interposing()) {
        lw_log("loaded by -agentpath as well as preloaded: the preloaded shim does the work, the agent adds nothing",
               NULL, NULL, NULL, NULL);
        return 0;
    }
    int bad_options = 0;
    int result = late_start_as_agent(options, &bad_options);
    if (bad_options)
        lw_log("-agentpath options too long or too many (at most 32 key=value pairs, 2 KiB); none is used: "
               "set them as LEAKWATCH_* variables in the environment instead", NULL, NULL, NULL, NULL);
    if (result == LATE_NO_HOOKS)
        lw_log("loaded by -agentpath without the preload, and no allocation call of the JVM's libraries could be "
               "redirected: no native sites (Java-heap sites go on); run the JVM under `leakwatch run` instead",
               NULL, NULL, NULL, NULL);
    return 0;
}
