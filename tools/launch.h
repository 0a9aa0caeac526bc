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

/* The options `run` and `attach` share, as getopt_long entries (short codes o s a i t d q), their help
 * lines, and their parser: one meaning and one message per option for both commands. */
#define LAUNCH_LONG_OPTIONS                                                                                      \
    {"out", required_argument, NULL, 'o'}, {"signal", required_argument, NULL, 's'},                            \
    {"min-age", required_argument, NULL, 'a'}, {"interval", required_argument, NULL, 'i'},                      \
    {"top", required_argument, NULL, 't'}, {"depth", required_argument, NULL, 'd'},                             \
    {"quiet", no_argument, NULL, 'q'}
extern const char launch_options_help[];

/* Applies option c (a code of LAUNCH_LONG_OPTIONS) with its argument to o: 1 taken, 0 not one of them, -1 a
 * bad value (one line said on stderr, naming cmd). A relative --out is made absolute into out_buf, since the
 * program resolves it from its own working directory. */
int launch_parse_option(const char *cmd, int c, const char *arg, launch_opts *o, char *out_buf, size_t out_len);

/* Absolute path of libleakwatch.so. False with one error line in err when it is in neither place. */
bool launch_find_shim(char *buf, size_t len, char *err, size_t errlen);

/* Sets the environment of the current process for running cmd0 under the shim: appends the shim to
 * LD_PRELOAD (once), sets the given LEAKWATCH_* and, when cmd0 is `java`, appends
 * -XX:+PreserveFramePointer to JAVA_TOOL_OPTIONS so frame-pointer walks reach Java frames. */
void launch_setenv(const char *shim, const launch_opts *o, const char *cmd0);

#endif
