/* http.h — the live endpoint (LEAKWATCH_HTTP, off by default): a thread of its own, started through
 * the real pthread_create with every signal blocked and the guard set, serving GET /metrics,
 * /debug/pprof/heap and /report.json one connection at a time, each with a size cap and deadlines,
 * from close-on-exec sockets written with MSG_NOSIGNAL. Responses are built in a memfd, never in the
 * tracked heap; /debug/pprof/heap?gc=N (N > 0) has a JVM run a full GC first (bounded wait) and says
 * what happened in an X-Leakwatch-GC header. A forked child closes its parent's sockets and serves on its own. Not async-signal-safe;
 * takes the report lock (report_thread.h) while it builds a response. */
#ifndef LW_HTTP_H
#define LW_HTTP_H

#include "out.h"

/* From lw_start, guard set: starts serving if LEAKWATCH_HTTP is set. 0, or -1 (said why on stderr). */
int http_start(void);

/* In a forked child (fork handler, guard set): closes the parent's sockets and serves anew (the next
 * free port, or the socket path with %p for this pid). Returns 1 when the child serves. */
int http_atfork_child(void);

#endif
