/* cmd_report.c — `leakwatch report FILE.json`: re-renders a report as text, collapsed stacks or JSON,
 * optionally with file:line resolved offline from the modules' debug info. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "html.h"
#include "lines.h"
#include "model.h"
#include "pprof.h"
#include "render.h"
#include "render_json.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch report FILE.json [--top N] [--min-age D] [--format text|json|folded|pprof|html] [--lines]\n"
    "  --top N          show the N largest leak records (text, html; default: the report's own top, 20)\n"
    "                   or the N largest sites (json) or groups (folded; default all)\n"
    "  --min-age D      leave out leak groups whose oldest block is younger than D (e.g. 30s)\n"
    "  --format F       text (default), folded (collapsed stacks, live bytes as weight), json, pprof\n"
    "                   (gzipped profile.proto for go tool pprof; redirect it to a file) or html (one\n"
    "                   self-contained page: flame graph of live bytes coloured by age, leak records)\n"
    "  --lines          add file:line from debug info (module path + offset, resolved offline)\n";

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"top", required_argument, NULL, 't'}, {"min-age", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'}, {"lines", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    render_opts ro = {.top = -1, .min_age_ms = -1};
    const char *format = "text";
    bool want_lines = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!lw_parse_count(optarg, &ro.top)) {
                lw_err("report: --top \"%s\" is not a count: give a whole number such as 20", optarg);
                return LW_EXIT_ERROR;
            }
            break;
        case 'a':
            if (!lw_parse_duration_ms(optarg, &ro.min_age_ms)) {
                lw_err("report: --min-age \"%s\" is not a duration: use e.g. 30s, 500ms, 2m", optarg);
                return LW_EXIT_ERROR;
            }
            break;
        case 'f':
            format = optarg;
            if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "folded") &&
                strcmp(format, "pprof") && strcmp(format, "html")) {
                lw_err("report: --format \"%s\" is unknown: use text, folded, json, pprof or html", optarg);
                return LW_EXIT_ERROR;
            }
            break;
        case 'l':
            want_lines = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        default:
            return lw_option_error("report", c, argv);
        }
    }
    if (argc - optind != 1) {
        lw_err("report: give exactly one report file (%d given): leakwatch report FILE.json", argc - optind);
        return LW_EXIT_ERROR;
    }
    bool binary = strcmp(format, "pprof") == 0;
    if (binary && (ro.top >= 0 || ro.min_age_ms >= 0)) {
        lw_err("report: --top and --min-age do not apply to --format pprof, which holds every site: leave them "
               "out (pprof's -nodecount and -tagfocus filter)");
        return LW_EXIT_ERROR;
    }
    if (binary && isatty(STDOUT_FILENO)) {
        lw_err("report: --format pprof writes a compressed binary profile: redirect it, e.g. > heap.pb.gz");
        return LW_EXIT_ERROR;
    }
    /* JSON is checked whole first, then streamed from the file again (its memory does not grow with the
     * file); the other formats render from the sites' structs. */
    char err[1024];
    bool json = strcmp(format, "json") == 0;
    int fd = model_open(argv[optind], err, sizeof err);
    lw_report *r = fd < 0 ? NULL : json ? model_check_fd(fd, argv[optind], err, sizeof err)
                                        : model_load_fd(fd, argv[optind], err, sizeof err);
    if (!r) {
        if (fd >= 0)
            close(fd);
        lw_err("%s", err);
        return LW_EXIT_ERROR;
    }
    if (want_lines)
        ro.lines = lines_open();
    if (json) {
        bool ok = lseek(fd, 0, SEEK_SET) == 0 && render_json(stdout, fd, r, &ro, err, sizeof err);
        close(fd);
        lines_close(ro.lines);
        model_free(r);
        if (!ok) {
            lw_err("report: %s", err);
            return LW_EXIT_ERROR;
        }
        return lw_finish_stdout(LW_EXIT_OK);
    }
    close(fd);
    if (binary) {
        bool ok = pprof_write(stdout, r, ro.lines, err, sizeof err);
        lines_close(ro.lines);
        model_free(r);
        if (!ok) {
            lw_err("report: %s", err);
            return LW_EXIT_ERROR;
        }
        return lw_finish_stdout(LW_EXIT_OK);
    }
    if (strcmp(format, "html") == 0)
        html_write(stdout, (const lw_report *const[]){r}, 1, NULL, &ro);
    else if (strcmp(format, "folded") == 0)
        render_folded(stdout, r, &ro);
    else
        render_text(stdout, r, &ro);
    lines_close(ro.lines);
    model_free(r);
    return lw_finish_stdout(LW_EXIT_OK);
}
