/* report.h — one leak report: a consistent-enough snapshot of blocks, regions and sites, grouped by
 * creation stack, written as text (Netty's ResourceLeakDetector shape) and as JSON (the contract in
 * docs/report-format.md). Holds each shard lock only while copying that shard. Reports must be
 * serialised by the caller; the guard must be set. Not async-signal-safe. */
#ifndef LW_REPORT_H
#define LW_REPORT_H

#include <stdint.h>

/* REASON_HTTP: served by the live endpoint; it leaves the "since report #N" history alone. */
enum report_reason { REASON_SIGNAL, REASON_EXIT, REASON_INTERVAL, REASON_API, REASON_HTTP };

const char *report_reason_name(enum report_reason reason);

struct report_summary {
    uint64_t live_bytes, live_blocks, leak_records;
};

/* Writes report number `seq` to the two descriptors; returns 0 or the errno of the first failed write. */
int report_write(enum report_reason reason, unsigned seq, uint64_t min_age_ms, int txt_fd, int json_fd,
                 struct report_summary *summary);

/* Forget the previous report's groups (a forked child starts its own series). */
void report_reset_history(void);

#endif
