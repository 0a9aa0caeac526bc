/* launch.c — the preload environment for `run` and the live gate (see launch.h). */
#include "launch.h"
#include "util.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
