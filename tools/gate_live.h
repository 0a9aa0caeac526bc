/* gate_live.h — `leakwatch gate` on a live server: start it under the shim (or attach to it), wait until it
 * is ready, run the load command per round, snapshot every process of its tree that carries the shim, stop
 * (or detach) it; the rounds go into a gate_run for gate.h to judge. SIGINT, SIGTERM and SIGHUP stop the
 * server and remove the gate's own report directory, then end the gate by the same signal. Not
 * thread-safe (one gate per process); not async-signal-safe. */
#ifndef LW_GATE_LIVE_H
#define LW_GATE_LIVE_H
#include "gate.h"

typedef struct {
    long rounds;
    const char *load_cmd, *ready_cmd, *out, *signal;
    long ready_port, attach_pid;
    long long timeout_ms;
    char **server;
} live_cfg;

/* Both return an exit code: LW_EXIT_OK when every round was taken (g holds them), LW_EXIT_ERROR with the
 * reason said on stderr. */
int gate_live_start(const live_cfg *lc, gate_run *g);
int gate_live_attach(const live_cfg *lc, gate_run *g);

#endif
