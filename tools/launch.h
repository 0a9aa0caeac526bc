/* launch.h — starting a program under the shim: find libleakwatch.so relative to this command (build/
 * next to build/leakwatch, or PREFIX/lib when installed as PREFIX/bin/leakwatch; no absolute paths baked
 * in) and set LD_PRELOAD, the LEAKWATCH_* settings and, for a JVM, JAVA_TOOL_OPTIONS. */
#ifndef LW_LAUNCH_H
#define LW_LAUNCH_H
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *out, *signal, *min_age, *interval, *top, *depth;   /* NULL: inherit */
    bool quiet;
} launch_opts;

/* Absolute path of libleakwatch.so. False with one error line in err when it is in neither place. */
bool launch_find_shim(char *buf, size_t len, char *err, size_t errlen);

/* Sets the environment of the current process for running cmd0 under the shim: appends the shim to
 * LD_PRELOAD (once), sets the given LEAKWATCH_* and, when cmd0 is `java`, appends
 * -XX:+PreserveFramePointer to JAVA_TOOL_OPTIONS so frame-pointer walks reach Java frames. */
void launch_setenv(const char *shim, const launch_opts *o, const char *cmd0);

#endif
