/* cmd_attach.c — `leakwatch attach [options] PID` and `leakwatch detach PID`: start tracking a native
 * process that is already running, and stop it again (attach.h does the work). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "attach.h"
#include "commands.h"
#include "launch.h"
#include "util.h"

static const char attach_usage[] =
    "usage: leakwatch attach [--out DIR] [--signal SIG] [--min-age D] [--interval D] [--top N] [--depth N]\n"
    "                        [--quiet] [--timeout D] PID\n"
    "  loads libleakwatch.so into the running process PID (glibc 2.34+, dynamically linked) and tracks its\n"
    "  allocations from now on; memory allocated before is not attributed. Options as for leakwatch run:\n";
static const char attach_timeout_help[] =
    "  --timeout D      how long to wait for a thread of PID to wait in a safe place (default 5s)\n";

static const char detach_usage[] =
    "usage: leakwatch detach [--timeout D] PID\n"
    "  puts back the allocation functions leakwatch attach redirected; the library stays loaded and inert\n";

static bool parse_pid(const char *cmd, int argc, char **argv, int *pid)
{
    long n;
    if (argc - optind != 1 || !lw_parse_count(argv[optind], &n) || n <= 0 || n > 0x7fffffff) {
        lw_err("%s: give one process id: leakwatch %s [options] PID", cmd, cmd);
        return false;
    }
    *pid = (int)n;
    return true;
}

int cmd_attach(int argc, char **argv)
{
    static const struct option opts[] = {
        LAUNCH_LONG_OPTIONS, {"timeout", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    launch_opts lo = {0};
    char outbuf[PATH_MAX + 256];
    long long timeout = 5000;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int taken = launch_parse_option("attach", c, optarg, &lo, outbuf, sizeof outbuf);
        if (taken < 0)
            return LW_EXIT_ERROR;
        if (taken)
            continue;
        if (c == 'T') {
            if (!lw_parse_duration_ms(optarg, &timeout) || timeout == 0) {
                lw_err("attach: --timeout \"%s\" is not a duration: use e.g. 5s, 500ms", optarg);
                return LW_EXIT_ERROR;
            }
        } else if (c == 'h') {
            fputs(attach_usage, stdout);
            fputs(launch_options_help, stdout);
            fputs(attach_timeout_help, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        } else {
            return lw_option_error("attach", c, argv);
        }
    }
    int pid;
    if (!parse_pid("attach", argc, argv, &pid))
        return LW_EXIT_ERROR;
    char shim[PATH_MAX], err[PATH_MAX * 2 + 512];
    double held_ms = 0;
    if (!launch_find_shim(shim, sizeof shim, err, sizeof err) ||
        !attach_process(pid, shim, &lo, timeout, &held_ms, err, sizeof err)) {
        lw_err("attach: %s", err);
        return LW_EXIT_ERROR;
    }
    fprintf(stderr, "leakwatch: attached to PID %d in %.1f ms: tracking from now on (memory allocated before is "
            "not attributed); reports: leakwatch dump %d, or its signal; stop: leakwatch detach %d\n",
            pid, held_ms, pid, pid);
    if (attach_other_root(pid))
        fprintf(stderr, "leakwatch: PID %d runs in another mount namespace (a container): its reports and state file "
                "are in its own /tmp (here /proc/%d/root/tmp/leakwatch-<uid>/ unless --out says otherwise); run "
                "leakwatch dump inside the container, or send the signal from here\n", pid, pid);
    return LW_EXIT_OK;
}

int cmd_detach(int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    long long timeout = 5000;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'T') {
            if (!lw_parse_duration_ms(optarg, &timeout) || timeout == 0) {
                lw_err("detach: --timeout \"%s\" is not a duration: use e.g. 5s, 500ms", optarg);
                return LW_EXIT_ERROR;
            }
        } else if (c == 'h') {
            fputs(detach_usage, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        } else {
            return lw_option_error("detach", c, argv);
        }
    }
    int pid;
    if (!parse_pid("detach", argc, argv, &pid))
        return LW_EXIT_ERROR;
    char err[PATH_MAX * 2 + 512];
    if (!detach_process(pid, timeout, err, sizeof err)) {
        lw_err("detach: %s", err);
        return LW_EXIT_ERROR;
    }
    fprintf(stderr, "leakwatch: detached from PID %d: its allocation functions are its own again; the library "
            "stays loaded and inert\n", pid);
    return LW_EXIT_OK;
}
