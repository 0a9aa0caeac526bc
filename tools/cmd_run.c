/* cmd_run.c — `leakwatch run [options] -- CMD ARGS...`: runs CMD with the shim preloaded and the options
 * turned into LEAKWATCH_* variables. It execs CMD, so CMD's exit status is run's. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "config.h"
#include "launch.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch run [--out DIR] [--signal SIG] [--min-age D] [--interval D] [--top N] [--depth N]\n"
    "                     [--quiet] -- CMD ARGS...\n"
    "  --out DIR        report directory (LEAKWATCH_OUT; default /tmp/leakwatch-<uid>)\n"
    "  --signal SIG     report on this signal: SIGUSR2 (default), SIGUSR1, SIGRTMIN+3, a number, or none\n"
    "                   (not one whose default action matters: SIGTERM, SIGPIPE, SIGCHLD, SIGKILL, ...)\n"
    "  --min-age D      leak records count blocks older than D (LEAKWATCH_MIN_AGE; default 10s)\n"
    "  --interval D     also write a report every D, at least 100ms (LEAKWATCH_INTERVAL; default off)\n"
    "  --top N          leak records in the text report, 1-1000000 (LEAKWATCH_TOP; default 20)\n"
    "  --depth N        frames captured per stack, 1-256 (LEAKWATCH_DEPTH; default 64)\n"
    "  --quiet          no stderr line per report (LEAKWATCH_QUIET=1)\n";

/* Absolute form of a directory argument: the program may change its working directory. */
static const char *absolute(const char *dir, char *buf, size_t len)
{
    if (dir[0] == '/')
        return dir;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return dir;
    snprintf(buf, len, "%s/%s", cwd, dir);
    return buf;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"signal", required_argument, NULL, 's'},
        {"min-age", required_argument, NULL, 'a'}, {"interval", required_argument, NULL, 'i'},
        {"top", required_argument, NULL, 't'}, {"depth", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    launch_opts lo = {0};
    char outbuf[PATH_MAX + 256];
    int c, sig;
    long long ms;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            lo.out = absolute(optarg, outbuf, sizeof outbuf);
            break;
        case 's':
            if (!lw_parse_signal(optarg, &sig)) {
                lw_err("run: --signal \"%s\" is not a signal leakwatch can use: use e.g. SIGUSR2, SIGUSR1, "
                       "SIGRTMIN+3, 12 or none (signals whose default action matters, such as SIGTERM, SIGPIPE "
                       "or SIGKILL, are refused)", optarg);
                return LW_EXIT_ERROR;
            }
            lo.signal = optarg;
            break;
        case 'a':
        case 'i':
            if (!lw_parse_duration_ms(optarg, &ms)) {
                lw_err("run: --%s \"%s\" is not a duration: use e.g. 10s, 500ms, 2m",
                       c == 'a' ? "min-age" : "interval", optarg);
                return LW_EXIT_ERROR;
            }
            if (c == 'i' && ms > 0 && ms < CONFIG_MIN_INTERVAL_MS) {
                lw_err("run: --interval \"%s\" is shorter than %dms: use 0 (off) or at least %dms", optarg,
                       CONFIG_MIN_INTERVAL_MS, CONFIG_MIN_INTERVAL_MS);
                return LW_EXIT_ERROR;
            }
            *(c == 'a' ? &lo.min_age : &lo.interval) = optarg;
            break;
        case 't':
        case 'd': {
            unsigned max = c == 't' ? CONFIG_MAX_TOP : CONFIG_MAX_DEPTH, value;
            if (config_parse_uint(optarg, 1, max, &value) < 0) {
                lw_err("run: --%s \"%s\" is not a whole number from 1 to %u", c == 't' ? "top" : "depth", optarg,
                       max);
                return LW_EXIT_ERROR;
            }
            *(c == 't' ? &lo.top : &lo.depth) = optarg;
            break;
        }
        case 'q':
            lo.quiet = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        default:
            return lw_option_error("run", c, argv);
        }
    }
    if (optind >= argc) {
        lw_err("run: no command given: leakwatch run [options] -- CMD ARGS...");
        return LW_EXIT_ERROR;
    }
    char shim[PATH_MAX], err[PATH_MAX * 2 + 200];
    if (!launch_find_shim(shim, sizeof shim, err, sizeof err)) {
        lw_err("run: %s", err);
        return LW_EXIT_ERROR;
    }
    launch_setenv(shim, &lo, argv[optind]);
    fflush(NULL);
    execvp(argv[optind], argv + optind);
    lw_err("run: cannot run %s (%s): check the command name and PATH", argv[optind], strerror(errno));
    return LW_EXIT_ERROR;
}
