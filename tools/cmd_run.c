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
#include "launch.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch run [--out DIR] [--signal SIG] [--min-age D] [--interval D] [--top N] [--depth N]\n"
    "                     [--quiet] -- CMD ARGS...\n";

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        LAUNCH_LONG_OPTIONS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    launch_opts lo = {0};
    char outbuf[PATH_MAX + 256];
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        int taken = launch_parse_option("run", c, optarg, &lo, outbuf, sizeof outbuf);
        if (taken < 0)
            return LW_EXIT_ERROR;
        if (taken)
            continue;
        if (c == 'h') {
            fputs(usage_text, stdout);
            fputs(launch_options_help, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        }
        return lw_option_error("run", c, argv);
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
