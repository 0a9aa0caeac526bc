/* hotspot.h — HotSpot's attach mechanism, as `jcmd PID JVMTI.agent_load` uses it: the .attach_pid<pid> file
 * and SIGQUIT wake the JVM's attach listener, which then serves /tmp/.java_pid<pid> (a UNIX socket, in the
 * JVM's own /tmp and PID namespace); a "load" request makes it dlopen an agent library and call its
 * Agent_OnAttach. No ptrace and no JVM flag. Not thread-safe. */
#ifndef LW_HOTSPOT_H
#define LW_HOTSPOT_H
#include <stdbool.h>
#include <stddef.h>

/* True when pid runs HotSpot (libjvm.so is mapped). */
bool hotspot_is_jvm(int pid);

/* Loads the agent library at absolute path `agent` into JVM pid with `options` and puts the value its
 * Agent_OnAttach returned in *agent_rc. False with one line in err: the JVM does not handle SIGQUIT (-Xrs),
 * its attach listener did not start before deadline_ms (-XX:+DisableAttachMechanism), refused us, or failed. */
bool hotspot_load_agent(int pid, const char *agent, const char *options, long long deadline_ms, int *agent_rc,
                        char *err, size_t errlen);

#endif
