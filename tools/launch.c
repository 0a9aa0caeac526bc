/* launch.c — the preload environment for `run` and the live gate (see launch.h). */
#include "launch.h"
#include "config.h"
#include "util.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char launch_options_help[] =
    "  --out DIR        report directory (LEAKWATCH_OUT; default /tmp/leakwatch-<uid>)\n"
    "  --signal SIG     report on this signal: SIGUSR2 (default), SIGUSR1, SIGRTMIN+3, a number, or none\n"
    "                   (not one whose default action matters: SIGTERM, SIGPIPE, SIGCHLD, SIGKILL, ...)\n"
    "  --min-age D      leak records count blocks older than D (LEAKWATCH_MIN_AGE; default 10s)\n"
    "  --interval D     also write a report every D, at least 100ms (LEAKWATCH_INTERVAL; default off)\n"
    "  --top N          leak records in the text report, 1-1000000 (LEAKWATCH_TOP; default 20)\n"
    "  --depth N        frames captured per stack, 1-256 (LEAKWATCH_DEPTH; default 64)\n"
    "  --quiet          no stderr line per report (LEAKWATCH_QUIET=1)\n";

int launch_parse_option(const char *cmd, int c, const char *arg, launch_opts *o, char *out_buf, size_t out_len)
{
    int sig;
    long long ms;
    unsigned value;
    switch (c) {
    case 'o':
        if (arg[0] == '/') {
            o->out = arg;
        } else {
            char cwd[PATH_MAX];
            errno = 0;
            if (!getcwd(cwd, sizeof cwd) || (size_t)snprintf(out_buf, out_len, "%s/%s", cwd, arg) >= out_len) {
                lw_err("%s: --out \"%s\" cannot be made absolute (%s): give an absolute path", cmd, arg,
                       errno ? strerror(errno) : "too long");
                return -1;
            }
            o->out = out_buf;
        }
        return 1;
    case 's':
        if (!lw_parse_signal(arg, &sig)) {
            lw_err("%s: --signal \"%s\" is not a signal leakwatch can use: use e.g. SIGUSR2, SIGUSR1, SIGRTMIN+3, "
                   "12 or none (signals whose default action matters, such as SIGTERM, SIGPIPE or SIGKILL, are "
                   "refused)", cmd, arg);
            return -1;
        }
        o->signal = arg;
        return 1;
    case 'a':
    case 'i':
        if (!lw_parse_duration_ms(arg, &ms)) {
            lw_err("%s: --%s \"%s\" is not a duration: use e.g. 10s, 500ms, 2m", cmd,
                   c == 'a' ? "min-age" : "interval", arg);
            return -1;
        }
        if (c == 'i' && ms > 0 && ms < CONFIG_MIN_INTERVAL_MS) {
            lw_err("%s: --interval \"%s\" is shorter than %dms: use 0 (off) or at least %dms", cmd, arg,
                   CONFIG_MIN_INTERVAL_MS, CONFIG_MIN_INTERVAL_MS);
            return -1;
        }
        *(c == 'a' ? &o->min_age : &o->interval) = arg;
        return 1;
    case 't':
    case 'd': {
        unsigned max = c == 't' ? CONFIG_MAX_TOP : CONFIG_MAX_DEPTH;
        if (config_parse_uint(arg, 1, max, &value) < 0) {
            lw_err("%s: --%s \"%s\" is not a whole number from 1 to %u", cmd, c == 't' ? "top" : "depth", arg, max);
            return -1;
        }
        *(c == 't' ? &o->top : &o->depth) = arg;
        return 1;
    }
    case 'q':
        o->quiet = true;
        return 1;
    default:
        return 0;
    }
}

bool launch_find_shim(char *buf, size_t len, char *err, size_t errlen)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot read /proc/self/exe (%s): is /proc mounted?", strerror(errno));
        return false;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    char cand[2][PATH_MAX + 32];
    snprintf(cand[0], sizeof cand[0], "%s/libleakwatch.so", self);
    snprintf(cand[1], sizeof cand[1], "%s/../lib/libleakwatch.so", self);
    for (int i = 0; i < 2; i++)
        if (access(cand[i], R_OK) == 0) {
            char *real = realpath(cand[i], NULL);
            snprintf(buf, len, "%s", real ? real : cand[i]);
            free(real);
            return true;
        }
    snprintf(err, errlen, "libleakwatch.so is neither in %s/ nor in %s/../lib/: build it (make) or install "
             "leakwatch (make install)", self, self);
    return false;
}

static void append_env(const char *name, const char *value, const char *sep)
{
    const char *old = getenv(name);
    if (!old || !*old) {
        setenv(name, value, 1);
        return;
    }
    size_t n = strlen(old) + strlen(sep) + strlen(value) + 1;
    char *v = malloc(n);
    snprintf(v, n, "%s%s%s", old, sep, value);
    setenv(name, v, 1);
    free(v);
}

void launch_setenv(const char *shim, const launch_opts *o, const char *cmd0)
{
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !strstr(pre, shim))
        append_env("LD_PRELOAD", shim, ":");
    const struct { const char *name, *value; } vars[] = {
        {"LEAKWATCH_OUT", o->out}, {"LEAKWATCH_SIGNAL", o->signal}, {"LEAKWATCH_MIN_AGE", o->min_age},
        {"LEAKWATCH_INTERVAL", o->interval}, {"LEAKWATCH_TOP", o->top}, {"LEAKWATCH_DEPTH", o->depth},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (vars[i].value)
            setenv(vars[i].name, vars[i].value, 1);
    if (o->quiet)
        setenv("LEAKWATCH_QUIET", "1", 1);
    if (cmd0 && strcmp(lw_basename(cmd0), "java") == 0) {
        const char *jto = getenv("JAVA_TOOL_OPTIONS");
        if (!jto || !strstr(jto, "PreserveFramePointer"))
            append_env("JAVA_TOOL_OPTIONS", "-XX:+PreserveFramePointer", " ");
        /* Every direct buffer comes through os::malloc <- Unsafe_AllocateMemory0 <- a dozen JDK and Netty
         * frames (allocateMemory, allocateDirectNoCleaner, the buffer's constructors, newDirectBuffer,
         * directBuffer): the Java caller that tells leaks apart is the 17th frame or so. */
        setenv("LEAKWATCH_SITE_DEPTH", "20", 0);
    }
}
