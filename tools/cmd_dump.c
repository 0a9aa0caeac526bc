/* cmd_dump.c — `leakwatch dump PID`: asks a running process that carries the shim for a report now, waits
 * for it and prints its text. The signal and report directory come from the state file the shim publishes
 * per process, not from /proc/PID/environ (which nginx workers overwrite). */
#include <getopt.h>
#include <jansson.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"
#include "snap.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch dump PID [--timeout D] [--gc]\n"
    "  --timeout D   how long to wait for the report (default 5s)\n"
    "  --gc          in a JVM, run a full GC first: Java-heap figures then count only reachable objects\n";

/* True when the report in fd says it is of pid. */
static bool report_is_of(int fd, const char *path, int pid, char *err, size_t errlen)
{
    json_error_t je;
    int copy = dup(fd);
    FILE *f = copy >= 0 ? fdopen(copy, "r") : NULL;
    json_t *root = f ? json_loadf(f, JSON_REJECT_DUPLICATES, &je) : NULL;   /* json_loadfd reads bytewise */
    if (f)
        fclose(f);
    else if (copy >= 0)
        close(copy);
    json_t *p = root ? json_object_get(root, "pid") : NULL;
    bool ok = json_is_integer(p) && json_integer_value(p) == pid;
    if (!ok)
        snprintf(err, errlen, "refusing %s: it is not a leakwatch report of PID %d", path, pid);
    json_decref(root);
    return ok;
}

int cmd_dump(int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'}, {"gc", no_argument, NULL, 'g'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long timeout = 5000;
    bool gc = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 't') {
            if (!lw_parse_duration_ms(optarg, &timeout) || timeout == 0) {
                lw_err("dump: --timeout \"%s\" is not a duration: use e.g. 5s, 500ms, 1m", optarg);
                return LW_EXIT_ERROR;
            }
        } else if (c == 'g') {
            gc = true;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        } else {
            return lw_option_error("dump", c, argv);
        }
    }
    long pid;
    if (argc - optind != 1 || !lw_parse_count(argv[optind], &pid) || pid <= 0 || pid > 0x7fffffff) {
        lw_err("dump: give one process id: leakwatch dump PID [--timeout D]");
        return LW_EXIT_ERROR;
    }
    snap_state st;
    char err[PATH_MAX + 512];
    if (!snap_prepare((int)pid, &st, err, sizeof err)) {
        lw_err("dump: %s", err);
        return LW_EXIT_ERROR;
    }
    snap_refresh_jit_names((int)pid, "dump");
    char json[PATH_MAX], txt[PATH_MAX];
    long long deadline = lw_now_ms() + timeout;
    if (!snap_request_gc(&st, gc ? SNAP_GC : SNAP_NO_GC, err, sizeof err) || !snap_wait(&st, deadline, json, txt, sizeof json, err, sizeof err)) {
        lw_err("dump: %s", err);
        return LW_EXIT_ERROR;
    }
    /* Both files are opened through checked directories without following symlinks, and the JSON must
     * name this process: what is printed is the process's own report, not a file another user pointed at. */
    int json_fd = snap_open(&st, json, err, sizeof err);
    if (json_fd < 0 || !report_is_of(json_fd, json, st.ns.own_pid, err, sizeof err)) {
        if (json_fd >= 0)
            close(json_fd);
        lw_err("dump: PID %ld: %s", pid, err);
        return LW_EXIT_ERROR;
    }
    close(json_fd);
    int fd = snap_open(&st, txt, err, sizeof err);
    if (fd < 0) {
        lw_err("dump: PID %ld: %s", pid, err);
        return LW_EXIT_ERROR;
    }
    /* The shim escapes what it writes; a report from an older shim, or one someone else wrote into the
     * directory, still must not drive the terminal: control bytes other than tab and newline are escaped. */
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        lw_err("dump: PID %ld: cannot read %s", pid, txt);
        return LW_EXIT_ERROR;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0)
        lw_fwrite_esc(stdout, line, (size_t)n, LW_ESC_KEEP_LAYOUT);
    free(line);
    fclose(f);
    lw_err("report of PID %ld: %s (and %s)", pid, txt, lw_basename(json));
    return lw_finish_stdout(LW_EXIT_OK);
}
