/* jheap.h — Java-heap sites: which objects the program keeps reachable in a JVM, by class and Java
 * allocation stack (see docs/java-heap.md). A thread of ours attaches to the JVM, takes a JVMTI
 * environment of its own and asks for JEP 331's sampled allocations (one every ~interval bytes a thread
 * allocates); each sample's object is tagged, and the tag comes back in an ObjectFree event when a GC
 * frees it. So the samples still tagged are the live ones as of the last completed GC, and each stands
 * for size/(1-exp(-size/interval)) bytes: the figures are estimates and say so. Before a report the
 * thread names new sites, may force a full GC (only when the report or scrape that asks for the figures
 * says so), and walks the heap for the chain that holds the largest growing sites (jheap_paths.h).
 * Locks: one spinlock of this module around its sample and site tables, never held across a call into
 * the JVM or the allocator. jheap_poll runs on the reporter thread; the rest on the thread that holds
 * the report lock (jheap_prepare_*, the writers), or on Java threads inside JVMTI callbacks. */
#ifndef LW_JHEAP_H
#define LW_JHEAP_H

#include <stdint.h>
#include "out.h"

/* Each reporter tick: notices a JVM and starts our thread once. Cheap once decided. */
void jheap_poll(void);

/* Before a report: lets our thread bring the figures up to date (waits up to wait_ms), after a full GC
 * when force_gc (this caller's wish only: nothing is left behind for the next caller). The writers below
 * then read what it published, as of that moment. */
void jheap_prepare_report(unsigned wait_ms, uint64_t min_age_ms, int force_gc);
/* Then, once the native figures are copied (the walk makes the JVM allocate native memory for its tags,
 * which must not show in the same report): the "Held by" chains of the largest growing sites when
 * held_by (else the report says its requester asked for none), and the exact count. */
void jheap_prepare_holders(unsigned wait_ms, int held_by);

/* The text records (after the native ones) and the JSON: sites (a comma first when not first) and the
 * report-level "java_heap" object. Each writes nothing when there is no Java heap to speak of. */
void jheap_write_text(struct out *o, unsigned top, unsigned previous_seq);
void jheap_write_json_sites(struct out *o, int first, unsigned previous_seq);
void jheap_write_json_meta(struct out *o);
/* After the report is written: its figures become "previous" for the next one. */
void jheap_report_done(void);

void jheap_atfork_child(void);

#endif
