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

void lw_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("leakwatch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
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

const char *lw_bytes(double b, bool sign, char *buf, size_t len)
{
    const char *pfx = b < 0 ? "-" : (sign && b > 0 ? "+" : "");
    double a = fabs(b);
    char grouped[32];
    if (a < 1024)
        snprintf(buf, len, "%s%s B", pfx, lw_commas((long long)a, grouped, sizeof grouped));
    else if (a < 1048576)
        snprintf(buf, len, "%s%.1f KiB", pfx, a / 1024);
    else if (a < 1073741824.0)
        snprintf(buf, len, "%s%.1f MiB", pfx, a / 1048576);
    else
        snprintf(buf, len, "%s%.1f GiB", pfx, a / 1073741824.0);
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

void lw_xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc(c < 0x20 && c != '\n' && c != '\t' && c != '\r' ? '?' : c, f);
        }
    }
}

long long lw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
