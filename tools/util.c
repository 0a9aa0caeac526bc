/* util.c — shared parsing and formatting for the leakwatch command (see util.h). */
#include "util.h"
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Messages quote paths, names and arguments others chose: the whole line is escaped, so it stays one line
 * and cannot drive the terminal. */
void lw_err(const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("leakwatch: ", stderr);
    lw_fwrite_esc(stderr, msg, strlen(msg), 0);
    fputc('\n', stderr);
}

int lw_finish_stdout(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        lw_err("writing to standard output failed (%s): check the disk or the pipe it goes to",
               strerror(errno ? errno : EIO));
        return LW_EXIT_ERROR;
    }
    return code;
}

bool lw_parse_duration_ms(const char *s, long long *ms)
{
    uint64_t v;
    if (!s || config_parse_duration(s, &v) < 0)
        return false;
    *ms = (long long)v;
    return true;
}

bool lw_parse_count(const char *s, long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool lw_parse_bytes(const char *s, double *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return false;
    static const struct { const char *suffix; double mult; } units[] = {
        {"", 1}, {"B", 1}, {"K", 1024}, {"KiB", 1024}, {"KB", 1024}, {"k", 1024},
        {"M", 1048576}, {"MiB", 1048576}, {"MB", 1048576},
        {"G", 1073741824.0}, {"GiB", 1073741824.0}, {"GB", 1073741824.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0) {
            *out = v * units[i].mult;
            return true;
        }
    return false;
}

bool lw_parse_signal(const char *s, int *sig)
{
    char name[24];
    return s && config_parse_signal(s, sig, name, sizeof name) == 0;
}

/* The shim's out_bytes_human, digit for digit: whole bytes, one decimal rounded half up in integer
 * arithmetic, the whole part grouped (1,000.0 KiB), so a report reads the same from either. */
const char *lw_bytes(double b, bool sign, char *buf, size_t len)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    const char *pfx = b < 0 ? "-" : (sign && b > 0 ? "+" : "");
    double rounded = floor(fabs(b) + 0.5);
    unsigned long long a = rounded >= 1.8e19 ? 18000000000000000000ull : (unsigned long long)rounded;
    char grouped[32];
    if (a < 1024) {
        snprintf(buf, len, "%s%s B", pfx, lw_commas((long long)a, grouped, sizeof grouped));
        return buf;
    }
    int unit = 0;
    unsigned long long scale = 1024;
    while (unit < 4 && a / scale >= 1024) {
        scale *= 1024;
        unit++;
    }
    unsigned long long tenths = (unsigned long long)(((unsigned __int128)a * 10 + scale / 2) / scale);
    snprintf(buf, len, "%s%s.%llu %s", pfx, lw_commas((long long)(tenths / 10), grouped, sizeof grouped),
             tenths % 10, units[unit]);
    return buf;
}

const char *lw_age(long long ms, char *buf, size_t len)
{
    char grouped[32];
    unsigned long long tenths = ms > 0 ? (unsigned long long)ms / 100 : 0;
    snprintf(buf, len, "%s.%llu s", lw_commas((long long)(tenths / 10), grouped, sizeof grouped), tenths % 10);
    return buf;
}

const char *lw_commas(long long v, char *buf, size_t len)
{
    char digits[32];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = snprintf(digits, sizeof digits, "%llu", u);
    char out[48];
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, len, "%s", out);
    return buf;
}

const char *lw_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int lw_split_dashdash(int argc, char **argv, char ***cmd, int *ncmd)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            *cmd = argv + i + 1;
            *ncmd = argc - i - 1;
            return i;
        }
    *cmd = NULL;
    *ncmd = 0;
    return argc;
}

int lw_option_error(const char *cmd, int c, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        lw_err("%s: option %s needs a value: see leakwatch %s --help", cmd, opt, cmd);
    else if (optopt && optopt != '?')
        lw_err("%s: unknown option -%c: see leakwatch %s --help", cmd, optopt, cmd);
    else
        lw_err("%s: unknown option %s: see leakwatch %s --help", cmd, opt, cmd);
    return LW_EXIT_ERROR;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0 when there is none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;                   /* overlong, a surrogate, or beyond U+10FFFF */
    return k;
}

/* The escaped form of the character at p (n bytes left) into out (at most 17 bytes with the NUL); returns
 * how many input bytes it took. */
static size_t esc_next(const unsigned char *p, size_t n, int flags, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = p[0];
    size_t k = 1;
    bool plain;
    if (c == '\\')
        plain = flags & LW_ESC_KEEP_LAYOUT;
    else if (c == '\t' || c == '\n')
        plain = flags & LW_ESC_KEEP_LAYOUT;
    else if (c < 0x20 || c == 0x7f)
        plain = false;
    else if (c < 0x80)
        plain = true;
    else {
        k = utf8_len(p, n);
        /* C1 controls (U+0080..U+009F: 0xc2 0x80..0x9f) act on terminals; U+FFFE/U+FFFF are not XML. */
        plain = k && !(k == 2 && c == 0xc2 && p[1] < 0xa0) && !(k == 3 && c == 0xef && p[1] == 0xbf && p[2] >= 0xbe);
        if (!k)
            k = 1;
    }
    size_t o = 0;
    if (plain) {
        memcpy(out, p, k);
        o = k;
    } else if (c == '\\') {
        out[o++] = '\\';
        out[o++] = '\\';
    } else {
        for (size_t i = 0; i < k; i++) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
        }
    }
    out[o] = '\0';
    return k;
}

const char *lw_esc(const char *s, char *buf, size_t len)
{
    size_t o = 0, n = s ? strlen(s) : 0;
    const unsigned char *p = (const unsigned char *)s;
    while (n > 0) {
        char t[17];
        size_t k = esc_next(p, n, 0, t), tl = strlen(t);
        if (o + tl >= len)
            break;
        memcpy(buf + o, t, tl);
        o += tl;
        p += k;
        n -= k;
    }
    if (len)
        buf[o < len ? o : len - 1] = '\0';
    return buf;
}

void lw_fwrite_esc(FILE *f, const char *s, size_t n, int flags)
{
    const unsigned char *p = (const unsigned char *)s;
    while (n > 0) {
        char t[17];
        size_t k = esc_next(p, n, flags, t);
        fputs(t, f);
        p += k;
        n -= k;
    }
}

bool lw_esc_cut(char *s, size_t max)
{
    size_t n = strlen(s), o = 0;
    if (n <= max)
        return false;
    while (o < n) {
        size_t k = s[o] == '\\' ? (s[o + 1] == 'x' ? 4 : 2) : utf8_len((const unsigned char *)s + o, n - o);
        if (k == 0)
            k = 1;
        if (o + k > max)
            break;
        o += k;
    }
    s[o] = '\0';
    return true;
}

void lw_xml_escape(FILE *f, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const unsigned char *p = (const unsigned char *)s;
    while (n > 0) {
        char t[17];
        size_t k = esc_next(p, n, 0, t);
        for (const char *q = t; *q; q++)
            switch (*q) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&apos;", f); break;
            default: fputc(*q, f);
            }
        p += k;
        n -= k;
    }
}

double lw_parse_time_ms(const char *s)
{
    if (!s)
        return NAN;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return NAN;
    double frac = 0;
    if (*rest == '.') {
        char *end;
        frac = strtod(rest, &end);
        rest = end;
    }
    if (*rest != 'Z' && *rest != '\0')
        return NAN;
    return (double)timegm(&tm) * 1000.0 + frac * 1000.0;
}

long long lw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
