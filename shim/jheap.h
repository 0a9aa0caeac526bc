/* jheap.h — Java-heap sites: which objects the program keeps reachable in a JVM, by class and Java
 * allocation stack (see docs/java-heap.md). A thread of ours attaches to the JVM, takes a JVMTI
 * environment of its own and asks for JEP 331's sampled allocations (one every ~interval bytes a thread
 * allocates); each sample's object is tagged, and the tag comes back in an ObjectFree event when a GC
 * frees it. So the samples still tagged are the live ones as of the last completed GC, and each stands
 * for size/(1-exp(-size/interval)) bytes: the figures are estimates and say so. Before a report the
 * thread names new sites, may force a full GC (only when a tool asked for it, jheap_request_gc), and
 * walks the heap for the chain that holds the largest growing sites (jheap_paths.h).
 * Locks: one spinlock of this module around its sample and site tables, never held across a call into
 * the JVM or the allocator. jheap_request_gc is async-signal-safe; the rest runs on the reporter thread
 * (jheap_poll, jheap_prepare_report, the writers) or on Java threads inside JVMTI callbacks. */
#ifndef LW_JHEAP_H
#define LW_JHEAP_H

#include <stdint.h>
#include "out.h"

/* Each reporter tick: notices a JVM and starts our thread once. Cheap once decided. */
void jheap_poll(void);

/* The next report forces a full GC first (a report request that came with sigqueue's LW_GC_VALUE), and
 * walks the heap for "Held by" unless walk is 0 (LW_GC_NO_WALK_VALUE). */
void jheap_request_gc(int walk);
#define LW_GC_VALUE 0x4c574743          /* "LWGC": the sival_int of a report signal asking for a full GC */
#define LW_GC_NO_WALK_VALUE 0x4c57474e  /* "LWGN": a full GC, and no "Held by" walk (gate's early rounds) */

/* Before a report: lets our thread bring the figures up to date (waits up to wait_ms). The writers
 * below then read what it published, as of that moment. */
void jheap_prepare_report(unsigned wait_ms, uint64_t min_age_ms);
/* Then, once the native figures are copied (the walk makes the JVM allocate native memory for its tags,
 * which must not show in the same report): the "Held by" chains of the largest growing sites. */
void jheap_prepare_holders(unsigned wait_ms);

/* The text records (after the native ones) and the JSON: sites (a comma first when not first) and the
 * report-level "java_heap" object. Each writes nothing when there is no Java heap to speak of. */
void jheap_write_text(struct out *o, unsigned top, unsigned previous_seq);
void jheap_write_json_sites(struct out *o, int first, unsigned previous_seq);
void jheap_write_json_meta(struct out *o);
/* After the report is written: its figures become "previous" for the next one. */
void jheap_report_done(void);

void jheap_atfork_child(void);

#endif
