/* log.c — capped, allocation-free stderr lines (see log.h). */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>
#include "log.h"
#include "out.h"

static atomic_uint lines_written;

static void write_line(unsigned n, const char *a, const char *b, const char *c, const char *d, const char *e);

void lw_log(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    unsigned n = atomic_fetch_add_explicit(&lines_written, 1, memory_order_relaxed);
    if (n > LOG_MAX_LINES)
        return;
    write_line(n, a, b, c, d, e);
}

void lw_log_always(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    write_line(0, a, b, c, d, e);
}

static void write_line(unsigned n, const char *a, const char *b, const char *c, const char *d, const char *e)
{
    char buf[1024];
    struct out o;
    out_init(&o, -1, buf, sizeof buf - 1);
    out_str(&o, "leakwatch: ");
    if (n == LOG_MAX_LINES) {
        out_str(&o, "further messages suppressed");
    } else {
        const char *parts[] = { a, b, c, d, e };
        for (unsigned i = 0; i < 5; i++)
            if (parts[i])
                out_text(&o, parts[i]);     /* paths and names others chose must not drive the terminal */
    }
    buf[o.len++] = '\n';
    int saved = errno;
    out_write_quiet(2, buf, o.len);
    errno = saved;
}

const char *log_num(char *buf, uint64_t v)
{
    struct out o;
    out_init(&o, -1, buf, 23);
    out_u64(&o, v);
    buf[o.len] = '\0';
    return buf;
}
