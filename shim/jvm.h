/* jvm.h — Java call paths for sites and stacks in a HotSpot JVM (see docs/java.md).
 * When the process runs a JVM, a helper thread attaches to it as a daemon, takes JVMTI and keeps it for
 * names; from then on a new site or stack made on a Java thread gets its Java call path once, when it is
 * created (HotSpot's AsyncGetCallTrace, walking from the thread's last Java frame), and the helper turns
 * that path into a logical id (a hash of class, method, signature and bytecode index of each Java frame)
 * and a canonical site/stack: the first one with that id. Reports merge every site/stack into its
 * canonical one, so the compiled versions of one Java path are one record with one id.
 * jvm_note_* run inside allocation calls with the guard set and no shim lock held; they take no lock
 * and never call the JVM unless the current thread is a Java thread. The rest runs on the reporter
 * thread or the helper. Not async-signal-safe. */
#ifndef LW_JVM_H
#define LW_JVM_H

#include <stdint.h>
#include "jvm_names.h"
#include "state.h"

/* Each reporter tick: notices a JVM and starts the helper. Cheap once decided. */
void jvm_poll(void);

/* For a shim attached to a running JVM (long past its start-up), before its allocations reach the hooks:
 * takes the JVM at once, without the ticks jvm_poll waits for a starting one, and waits up to wait_ms for the
 * helper to be ready, so the sites made right after the attach get their Java paths too (a site's path is
 * taken when the site is made). Nothing when the process runs no JVM. Call before the reporter thread runs. */
void jvm_start_now(unsigned wait_ms);

/* A new site (kind: sites.h) or a stack seen for the first time: keep its Java path, if it has one.
 * jvm_note_site returns 1 when this call gave the site its Java path. */
int jvm_note_site(uint32_t idx, unsigned kind, const uintptr_t *frames, unsigned n);
void jvm_note_stack(uint32_t id, const uintptr_t *frames, unsigned n);

/* Sites below this index were made before Java frames could be read (0: none, or no JVM). Their Java path
 * is taken at their first allocation after that, through jvm_note_site, and that allocation's stack, named,
 * becomes the site's representative stack: the allocations a gateway makes in its first second must not
 * stay a site apart from the same path's later ones, nor show a stack of unnamed JIT frames. A raw key with
 * an interpreted frame the walk could not tell apart gets no path (see capture in jvm.c). */
extern uint32_t jvm_sites_made_before LW_HIDDEN;

/* Before a report: lets the helper name what is new (waits up to wait_ms); then the mappings below hold
 * for the whole report. */
void jvm_prepare_report(unsigned wait_ms);

/* The canonical site/stack (itself when it has no Java path or is not named yet). */
uint32_t jvm_canonical_site(uint32_t idx);
uint32_t jvm_canonical_stack(uint32_t id);

/* The same as named by now, whatever the current report reads: for the growth sampler, between reports. */
uint32_t jvm_canonical_site_latest(uint32_t idx);

/* The logical id of a site with a named Java path, 0 otherwise. */
uint64_t jvm_site_id(uint32_t idx);
/* How many raw sites were merged into this canonical one (1 when none). */
uint32_t jvm_merged_sites(uint32_t idx);

/* Emits the frames of the site's/stack's Java path as the frame array `member` (native frames through
 * write_native); returns 0 when it has none, and the caller emits its raw frames. */
int jvm_write_site_frames(struct emitter *e, const char *member, uint32_t idx, jvm_native_writer write_native,
                          const void *ctx);
int jvm_write_stack_frames(struct emitter *e, const char *member, uint32_t id, jvm_native_writer write_native,
                           const void *ctx);
/* The same frames of a site as data (jvm_names_visit), for outputs that build their own (scrape.h);
 * 0 when it has no named path. */
int jvm_visit_site_frames(uint32_t idx, jvm_frame_visitor visit, void *ctx);

void jvm_atfork_child(void);

#endif
