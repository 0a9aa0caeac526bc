/* out.c — buffered, allocation-free formatting for reports and log lines (see out.h). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "out.h"

/* The kernel's sigset is 8 bytes on Linux; glibc's sigset_t is larger, which the raw calls accept. */
#define KERNEL_SIGSET_SIZE (_NSIG / 8)

ssize_t out_write_quiet(int fd, const void *buf, size_t len)
{
    /* A write to a pipe nobody reads raises SIGPIPE in the writing thread, whose default kills the host.
     * Blocked, it stays pending; unless one was pending before ours, it is taken back so the host never
     * sees a signal it did not cause. Raw system calls: async-signal-safe, and glibc's wrappers would
     * refuse nothing here. */
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &pipe_only, &old, KERNEL_SIGSET_SIZE);
    sigemptyset(&pending);
    syscall(SYS_rt_sigpending, &pending, KERNEL_SIGSET_SIZE);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && errno == EPIPE && !was_pending) {
        struct timespec now = { 0, 0 };
        syscall(SYS_rt_sigtimedwait, &pipe_only, NULL, &now, KERNEL_SIGSET_SIZE);
    }
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, KERNEL_SIGSET_SIZE);
    errno = saved;
    return n;
}

void out_init(struct out *o, int fd, char *buf, size_t cap)
{
    o->fd = fd;
    o->err = 0;
    o->buf = buf;
    o->len = 0;
    o->cap = cap;
    o->written = 0;
}

static void drain(struct out *o)
{
    size_t done = 0;
    while (done < o->len && o->err == 0) {
        ssize_t n = out_write_quiet(o->fd, o->buf + done, o->len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            o->err = n < 0 ? errno : EIO;
    }
    o->written += done;
    o->len = 0;
}

int out_flush(struct out *o)
{
    if (o->fd >= 0)
        drain(o);
    return o->err;
}

void out_mem_slow(struct out *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == o->cap) {
            if (o->fd < 0)
                return;            /* collecting only: truncate */
            drain(o);
            if (o->err)
                return;
        }
        size_t room = o->cap - o->len;
        size_t take = n < room ? n : room;
        memcpy(o->buf + o->len, s, take);
        o->len += take;
        s += take;
        n -= take;
    }
}

void out_str(struct out *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

void out_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_mem(o, tmp + i, sizeof tmp - (size_t)i);
}

void out_i64(struct out *o, int64_t v)
{
    if (v < 0) {
        out_char(o, '-');
        out_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        out_u64(o, (uint64_t)v);
    }
}

void out_u64_grouped(struct out *o, uint64_t v)
{
    char tmp[32];
    int i = sizeof tmp, digits = 0;
    do {
        if (digits && digits % 3 == 0)
            tmp[--i] = ',';
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v);
    out_mem(o, tmp + i, sizeof tmp - (size_t)i);
}

void out_hex_digits(struct out *o, uint64_t v, int digits)
{
    char tmp[16];
    for (int i = digits - 1; i >= 0; i--) {
        tmp[i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    }
    out_mem(o, tmp, (size_t)digits);
}

/* "0x" and the digits in one append: every frame of a report has two or three of these. */
static void hex_prefixed(struct out *o, uint64_t v, int digits)
{
    char tmp[18] = { '0', 'x' };
    for (int i = digits + 1; i >= 2; i--) {
        tmp[i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    }
    out_mem(o, tmp, (size_t)digits + 2);
}

void out_hex_padded(struct out *o, uint64_t v, int digits)
{
    hex_prefixed(o, v, digits);
}

void out_hex(struct out *o, uint64_t v)
{
    int digits = v ? (67 - __builtin_clzll(v)) / 4 : 1;     /* significant hex digits */
    hex_prefixed(o, v, digits);
}

void out_tenths(struct out *o, uint64_t tenths)
{
    out_u64_grouped(o, tenths / 10);
    out_char(o, '.');
    out_char(o, (char)('0' + tenths % 10));
}

void out_bytes_human(struct out *o, uint64_t bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    if (bytes < 1024) {
        out_u64_grouped(o, bytes);
        out_str(o, " B");
        return;
    }
    int unit = 0;
    uint64_t scale = 1024;
    while (unit < 4 && bytes / scale >= 1024) {
        scale *= 1024;
        unit++;
    }
    /* one decimal, rounded half up; integer arithmetic keeps this free of floating point */
    unsigned __int128 tenths = ((unsigned __int128)bytes * 10 + scale / 2) / scale;
    out_tenths(o, (uint64_t)tenths);
    out_char(o, ' ');
    out_str(o, units[unit]);
}

/* Length of the well-formed UTF-8 sequence at p, or 0 if there is none. Reads no further than a NUL. */
static int utf8_sequence(const unsigned char *p)
{
    int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
    if (p[0] >= 0xf5)
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 4 && p[0] == 0xf0 && p[1] < 0x90) ||
        (n == 4 && p[0] == 0xf4 && p[1] > 0x8f) || (n == 3 && p[0] == 0xed && p[1] > 0x9f))
        return 0;                   /* overlong, beyond U+10FFFF, or a surrogate */
    return n;
}

void out_text(struct out *o, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int n = c >= 0x80 ? utf8_sequence(p) : 1;
        /* C1 controls (0xc2 0x80..0x9f) act on terminals; U+FFFE/U+FFFF are not characters XML allows. */
        int plain = c >= 0x80 ? n && !(c == 0xc2 && p[1] < 0xa0) && !(c == 0xef && p[1] == 0xbf && p[2] >= 0xbe)
                              : c >= 0x20 && c != 0x7f && c != '\\';
        if (plain) {
            out_mem(o, (const char *)p, (size_t)n);
            p += n - 1;
        } else if (c == '\\') {
            out_str(o, "\\\\");
        } else {
            for (int i = 0; i < (n ? n : 1); i++) {
                out_str(o, "\\x");
                out_hex_digits(o, p[i], 2);
            }
            p += (n ? n : 1) - 1;
        }
    }
}

/* The ASCII bytes a JSON string holds as they are: not a control, DEL, a quote or a backslash. */
static const unsigned char json_plain[256] = {
    [' '] = 1, ['!'] = 1, ['#' ... '['] = 1, [']' ... '~'] = 1,
};

/* JSON strings must be UTF-8: paths and command lines need not be. A byte that is not part of a
 * well-formed sequence is written as the code point of the same value (Latin-1), so the text stays
 * readable and the JSON valid. */
void out_json_str(struct out *o, const char *s)
{
    out_char(o, '"');
    /* bytes that need no escape go out in runs, not one by one */
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;;) {
        while (json_plain[*p])
            p++;
        unsigned char c = *p;
        int n = c >= 0x80 ? utf8_sequence(p) : 0;
        if (n) {
            p += n;
            continue;
        }
        out_mem(o, (const char *)run, (size_t)(p - run));
        if (c == '\0')
            break;
        if (c == '"' || c == '\\') {
            out_char(o, '\\');
            out_char(o, (char)c);
        } else {              /* C0 controls, DEL, and a byte outside well-formed UTF-8 (Latin-1) */
            out_str(o, "\\u00");
            out_hex_digits(o, c, 2);
        }
        run = ++p;
    }
    out_char(o, '"');
}

void out_json_member(struct out *o, const char *member)
{
    out_json_str(o, member);
    out_char(o, ':');
}
