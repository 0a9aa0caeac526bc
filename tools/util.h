/* util.h — helpers every leakwatch subcommand shares: the one error-line format, exit codes, parsing of
 * durations, sizes, counts and signal names, and human formatting of bytes and counts. Stateless. */
#ifndef LW_UTIL_H
#define LW_UTIL_H
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>

/* Milliseconds on CLOCK_MONOTONIC: the clock of every deadline. */
long long lw_now_ms(void);

/* "2026-11-22T03:40:00.123Z" -> milliseconds since the epoch; NAN when it does not look like that. */
double lw_parse_time_ms(const char *s);

/* Exit codes of every subcommand. */
enum { LW_EXIT_OK = 0, LW_EXIT_FINDING = 1, LW_EXIT_ERROR = 2 };

/* Prints one line "leakwatch: <message>" to stderr. Messages name the file/PID/option and what to do. */
void lw_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flushes stdout and reports a write error (full disk, closed pipe) as exit code 2; 0 when all went out. */
int lw_finish_stdout(int code);

/* "10s", "500ms", "2m", "1h", "1.5" (seconds) -> milliseconds. Returns false on anything else. The shim's
 * own parser (config_parse_duration), so the command and LEAKWATCH_* agree. */
bool lw_parse_duration_ms(const char *s, long long *ms);

/* A non-negative decimal integer (no sign, no suffix) that fits in a long. */
bool lw_parse_count(const char *s, long *out);

/* A byte amount: "65536", "64K", "64KiB", "1.5M", "2MiB", "1G" (binary multiples). */
bool lw_parse_bytes(const char *s, double *out);

/* "SIGUSR2", "USR2", "12", "SIGRTMIN+3", "RTMIN+3" -> signal number; "none" -> 0. False when unknown or
 * when the shim would refuse it (config_parse_signal: a signal whose default action matters). */
bool lw_parse_signal(const char *s, int *sig);

/* "2.9 MiB", "512 B", "-1.1 MiB", "1,000.0 KiB" as the shim prints them; with sign forces a leading "+"
 * for positive values. */
const char *lw_bytes(double b, bool sign, char *buf, size_t len);

/* An age as the shim prints it: seconds with one decimal, cut, never rounded up ("1,234.5 s"). */
const char *lw_age(long long ms, char *buf, size_t len);

/* 1523 -> "1,523". */
const char *lw_commas(long long v, char *buf, size_t len);

/* The last path component of p (p itself when it has no '/'). */
const char *lw_basename(const char *p);

/* Text from a report or the command line made safe for a terminal, the one escape form of every
 * human-facing output (docs/report-format.md, "Escaping"): a control byte (C0, DEL, and the two bytes of
 * a C1 control), a byte that is not part of well-formed UTF-8 and the non-characters U+FFFE/U+FFFF become
 * \xHH per byte, a backslash becomes \\; other UTF-8 stays as it is. LW_ESC_KEEP_LAYOUT keeps tab,
 * newline and backslash as they are (for copying a text report that is already escaped). */
enum { LW_ESC_KEEP_LAYOUT = 1 };

/* Escapes s into buf (always NUL-terminated); when it does not fit, it is cut between escaped characters,
 * never inside one. Returns buf. */
const char *lw_esc(const char *s, char *buf, size_t len);

/* Writes n bytes of s escaped to f (flags: LW_ESC_KEEP_LAYOUT or 0). */
void lw_fwrite_esc(FILE *f, const char *s, size_t n, int flags);

/* Cuts escaped text s (from lw_esc) to at most max bytes at a character boundary, never inside a UTF-8
 * sequence or an escape; returns true when it cut something. */
bool lw_esc_cut(char *s, size_t max);

/* Writes s escaped (lw_esc) and then with XML's entities, so every character is one XML 1.0 allows. */
void lw_xml_escape(FILE *f, const char *s);

/* Splits argv at the first "--": *cmd gets what follows it (NULL when there is none) and the return value is
 * the count of arguments before it. */
int lw_split_dashdash(int argc, char **argv, char ***cmd, int *ncmd);

/* Reports what getopt_long (optstring starting with ':') rejected as one line naming the option, for
 * subcommand cmd; returns LW_EXIT_ERROR. */
int lw_option_error(const char *cmd, int c, char **argv);

#endif
