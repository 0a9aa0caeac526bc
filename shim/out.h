/* out.h — a buffered writer over a file descriptor that never allocates: the shim's only way to
 * produce text (reports, JSON, log lines). Formatting is done here because stdio may allocate and
 * take locks. The caller owns the buffer; an error is sticky and reported by out_flush().
 * Not thread-safe; async-signal-safe as long as the caller's fd is. */
#ifndef LW_OUT_H
#define LW_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct out {
    int fd;          /* -1: collect in the buffer only, never flush */
    int err;         /* first errno of a failed write, 0 if none */
    char *buf;
    size_t len, cap;
    uint64_t written;
};

/* write(2) that never raises SIGPIPE in the caller's process (the shim's output goes to the host's
 * stderr, which may be a closed pipe). Same result and errno as write. Async-signal-safe. */
ssize_t out_write_quiet(int fd, const void *buf, size_t len);

void out_init(struct out *o, int fd, char *buf, size_t cap);
int out_flush(struct out *o);   /* returns 0 or the sticky errno */

/* The bytes that do not fit: drains the buffer to the fd (or truncates when there is none). */
void out_mem_slow(struct out *o, const char *s, size_t n);

/* A report is millions of small pieces: appending what fits is inline, one branch and a copy. */
static inline void out_mem(struct out *o, const char *s, size_t n)
{
    if (__builtin_expect(n <= o->cap - o->len, 1)) {
        memcpy(o->buf + o->len, s, n);
        o->len += n;
    } else {
        out_mem_slow(o, s, n);
    }
}

static inline void out_char(struct out *o, char c)
{
    if (__builtin_expect(o->len < o->cap, 1))
        o->buf[o->len++] = c;
    else
        out_mem_slow(o, &c, 1);
}

void out_str(struct out *o, const char *s);
void out_u64(struct out *o, uint64_t v);
void out_i64(struct out *o, int64_t v);
void out_u64_grouped(struct out *o, uint64_t v);          /* 1,523 */
void out_hex(struct out *o, uint64_t v);                  /* 0x1c3e0 */
void out_hex_padded(struct out *o, uint64_t v, int digits); /* 0x000055d0c1a1c3e0 */
void out_hex_digits(struct out *o, uint64_t v, int digits); /* 16 digits, no 0x */
void out_bytes_human(struct out *o, uint64_t bytes);      /* 512 B, 2.9 KiB, 1.1 MiB */
void out_tenths(struct out *o, uint64_t tenths);          /* 41.2 */
void out_json_str(struct out *o, const char *s);          /* quoted, escaped */
/* Text others chose (paths, names) for a terminal: control bytes (C0, DEL, C1), bytes outside well-formed
 * UTF-8 and U+FFFE/U+FFFF become \xHH per byte, a backslash \\ (docs/report-format.md, "Escaping"). */
void out_text(struct out *o, const char *s);
void out_json_member(struct out *o, const char *member);        /* "member": */

#endif
