/* log.h — the shim's one way to talk to the user: lines on stderr prefixed "leakwatch: ",
 * written with write(2) from a stack buffer (no allocation), capped so a failing host cannot be
 * flooded. Thread-safe; not async-signal-safe only in that lines from two threads may interleave. */
#ifndef LW_LOG_H
#define LW_LOG_H

#include <stdint.h>

/* Writes "leakwatch: " + the parts + "\n". Parts are strings; use log_num() to format numbers. */
void lw_log(const char *a, const char *b, const char *c, const char *d, const char *e);

/* The same, never capped: for the one line each report (written or failed) produces, which a user
 * asked for and must see. */
void lw_log_always(const char *a, const char *b, const char *c, const char *d, const char *e);

/* Formats v in decimal into buf (at least 24 bytes) and returns buf, for lw_log arguments. */
const char *log_num(char *buf, uint64_t v);

/* Lines written so far; after LOG_MAX_LINES only one "further messages suppressed" line follows. */
#define LOG_MAX_LINES 100

#endif
