/* cmd_gate.c — `leakwatch gate`: the CI gate's options, then the rounds (report files given as rounds, or
 * taken live by gate_live.h), judged (gate.h) and written out (text, JSON, JUnit, SVG, HTML). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "annotate.h"
#include "attach.h"
#include "baseline.h"
#include "child.h"
#include "commands.h"
#include "gate.h"
#include "gate_live.h"
#include "html.h"
#include "junit.h"
#include "launch.h"
#include "proc.h"
#include "snap.h"
#include "svg.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch gate SNAP1.json SNAP2.json ... [--load N1,N2,...] [options]\n"
    "       leakwatch gate --rounds N --load 'LOAD CMD' [--ready-port P | --ready-cmd CMD] [--timeout D]\n"
    "                      [options] -- SERVER CMD...\n"
    "       leakwatch gate --attach PID --rounds N --load 'LOAD CMD' [options]\n"
    "  A.json+B.json      one round made of several processes' reports (summed per site)\n"
    "  --load N1,N2,...   cumulative load at each snapshot (files; default: equal rounds)\n"
    "  --load 'CMD'       shell command run to completion in each round (live; gets LEAKWATCH_ROUND)\n"
    "  --rounds N         rounds of load and snapshots (live; default 5)\n"
    "  --warmup K         first K rounds are not judged (default 1)\n"
    "  --min-slope B      growth per round (or per load unit) a site must exceed (default 0)\n"
    "  --min-growth B     growth over the judged rounds a site must exceed (default 64K)\n"
    "  --min-growth-mmap B  the same for anonymous-mapping sites (default 1M)\n"
    "  --suppress FILE    leak:PATTERN lines hiding sites whose stack names PATTERN\n"
    "  --junit FILE       JUnit XML, one test case per site\n"
    "  --json FILE        the verdict as JSON\n"
    "  --svg FILE         chart of live bytes per round for the top sites\n"
    "  --html FILE        one self-contained page: the failing sites' rounds as charts, a flame graph and\n"
    "                     the leak records of the last round\n"
    "  --baseline FILE    a --json verdict of the main branch: fail only on sites that are new and growing\n"
    "                     or grow more than twice as fast as there (and by more than --min-growth)\n"
    "  --annotations github  also print an ::error workflow command per failing site\n"
    "  --ready-port P     live: ready when 127.0.0.1:P accepts a connection\n"
    "  --ready-cmd CMD    live: ready when this shell command exits 0\n"
    "  --timeout D        live: bound for readiness, each load round and each snapshot (default 60s)\n"
    "  --out DIR          live: report directory, %u = uid (default: $LEAKWATCH_OUT, else\n"
    "                     /tmp/leakwatch-gate.XXXXXX/%u)\n"
    "  --signal SIG       live: report signal for the server (default SIGUSR2)\n"
    "  --attach PID       live, on a server that is already running: attach to PID and its descendants\n"
    "                     (leakwatch attach), gate them, detach them again; nothing is started or stopped\n";

static bool parse_bytes_opt(const char *name, const char *v, double *out)
{
    if (lw_parse_bytes(v, out))
        return true;
    lw_err("gate: --%s \"%s\" is not a byte amount: use e.g. 65536, 64K, 1.5M", name, v);
    return false;
}

int cmd_gate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"load", required_argument, NULL, 'L'}, {"warmup", required_argument, NULL, 'w'},
        {"min-slope", required_argument, NULL, 's'}, {"min-growth", required_argument, NULL, 'g'},
        {"min-growth-mmap", required_argument, NULL, 'm'},
        {"suppress", required_argument, NULL, 'S'}, {"junit", required_argument, NULL, 'j'},
        {"json", required_argument, NULL, 'J'}, {"svg", required_argument, NULL, 'v'},
        {"rounds", required_argument, NULL, 'r'}, {"ready-port", required_argument, NULL, 'p'},
        {"ready-cmd", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'}, {"signal", required_argument, NULL, 'G'},
        {"baseline", required_argument, NULL, 'B'}, {"annotations", required_argument, NULL, 'A'},
        {"html", required_argument, NULL, 'H'}, {"attach", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    gate_run g;
    struct baseline base = {0};
    const char *baseline = NULL, *html = NULL;
    bool github = false;
    gate_init(&g);
    live_cfg lc = {.rounds = -1, .timeout_ms = 60000};
    const char *load = NULL, *suppress = NULL, *junit = NULL, *json = NULL, *svg = NULL;
    char err[PATH_MAX * 2 + 512];
    int ncmd, c, sig;
    long n;
    int nargs = lw_split_dashdash(argc, argv, &lc.server, &ncmd);
    int code = LW_EXIT_ERROR;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(nargs, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'L': load = optarg; break;
        case 'S': suppress = optarg; break;
        case 'j': junit = optarg; break;
        case 'J': json = optarg; break;
        case 'v': svg = optarg; break;
        case 'c': lc.ready_cmd = optarg; break;
        case 'o': lc.out = optarg; break;
        case 'B': baseline = optarg; break;
        case 'H': html = optarg; break;
        case 'A':
            if (strcmp(optarg, "github") != 0) {
                lw_err("gate: --annotations \"%s\" is unknown: the one format is github", optarg);
                goto out;
            }
            github = true;
            break;
        case 'w':
            if (!lw_parse_count(optarg, &n)) {
                lw_err("gate: --warmup \"%s\" is not a count: give the number of rounds to skip, e.g. 1", optarg);
                goto out;
            }
            g.warmup = (size_t)n;
            break;
        case 'r':
            if (!lw_parse_count(optarg, &lc.rounds) || lc.rounds < 1 || lc.rounds > 1000) {
                lw_err("gate: --rounds \"%s\" is not a round count between 1 and 1000", optarg);
                goto out;
            }
            break;
        case 'P':
            if (!lw_parse_count(optarg, &lc.attach_pid) || lc.attach_pid <= 0 || lc.attach_pid > 0x7fffffff) {
                lw_err("gate: --attach \"%s\" is not a process id", optarg);
                goto out;
            }
            break;
        case 'p':
            if (!lw_parse_count(optarg, &lc.ready_port) || lc.ready_port < 1 || lc.ready_port > 65535) {
                lw_err("gate: --ready-port \"%s\" is not a TCP port (1-65535)", optarg);
                goto out;
            }
            break;
        case 't':
            if (!lw_parse_duration_ms(optarg, &lc.timeout_ms) || lc.timeout_ms == 0) {
                lw_err("gate: --timeout \"%s\" is not a duration: use e.g. 60s, 2m", optarg);
                goto out;
            }
            break;
        case 'G':
            if (!lw_parse_signal(optarg, &sig) || sig == 0) {
                lw_err("gate: --signal \"%s\" is not a signal leakwatch can use: use e.g. SIGUSR2, SIGUSR1, "
                       "SIGRTMIN+3 (signals whose default action matters, such as SIGTERM, SIGPIPE or SIGKILL, "
                       "are refused)", optarg);
                goto out;
            }
            lc.signal = optarg;
            break;
        case 's':
            if (!parse_bytes_opt("min-slope", optarg, &g.limits.min_slope))
                goto out;
            break;
        case 'g':
            if (!parse_bytes_opt("min-growth", optarg, &g.limits.min_growth))
                goto out;
            break;
        case 'm':
            if (!parse_bytes_opt("min-growth-mmap", optarg, &g.min_growth_mmap))
                goto out;
            break;
        case 'h':
            fputs(usage_text, stdout);
            code = lw_finish_stdout(LW_EXIT_OK);
            goto out;
        default:
            code = lw_option_error("gate", c, argv);
            goto out;
        }
    }
    bool live = lc.server != NULL || lc.attach_pid > 0;
    if (suppress && !suppress_load(suppress, &g.sup, err, sizeof err)) {
        lw_err("gate: %s", err);
        goto out;
    }
    if (baseline) {
        if (!baseline_load(baseline, &base, err, sizeof err)) {
            lw_err("gate: %s", err);
            goto out;
        }
        g.baseline = &base;
    }
    if (live) {
        if (lc.attach_pid > 0 && lc.server) {
            lw_err("gate: --attach PID gates a server that runs already: give no server command after --");
            goto out;
        }
        if (!lc.attach_pid && ncmd == 0) {
            lw_err("gate: nothing after --: give the server command, e.g. -- ./server --port 8080");
            goto out;
        }
        if (optind < nargs) {
            lw_err("gate: report files (%s) and a server command cannot be combined: use one or the other",
                   argv[optind]);
            goto out;
        }
        if (!load) {
            lw_err("gate: --load 'CMD' is required with a server: the shell command that puts load on it");
            goto out;
        }
        if (lc.ready_port > 0 && lc.ready_cmd) {
            lw_err("gate: give --ready-port or --ready-cmd, not both");
            goto out;
        }
        lc.load_cmd = load;
        if (lc.rounds < 0)
            lc.rounds = 5;
        if ((size_t)lc.rounds < g.warmup + 2) {
            lw_err("gate: --rounds %ld with --warmup %zu leaves fewer than 2 rounds to judge: use --rounds %zu or "
                   "more", lc.rounds, g.warmup, g.warmup + 2);
            goto out;
        }
        code = lc.attach_pid > 0 ? gate_live_attach(&lc, &g) : gate_live_start(&lc, &g);
        if (code != LW_EXIT_OK)
            goto out;
        code = LW_EXIT_ERROR;
    } else {
        if (lc.rounds >= 0 || lc.ready_port || lc.ready_cmd || lc.out || lc.signal) {
            lw_err("gate: --rounds, --ready-port, --ready-cmd, --out and --signal need a server command after --");
            goto out;
        }
        if (optind >= nargs) {
            lw_err("gate: no snapshots given: leakwatch gate SNAP1.json SNAP2.json ... (or see --help for a server)");
            goto out;
        }
        if (!gate_add_rounds(&g, argv + optind, (size_t)(nargs - optind), err, sizeof err)) {
            lw_err("gate: %s", err);
            goto out;
        }
        if (load && !gate_set_load(&g, load, err, sizeof err)) {
            lw_err("gate: %s", err);
            goto out;
        }
    }
    if (!gate_evaluate(&g, err, sizeof err)) {
        lw_err("gate: %s", err);
        goto out;
    }
    if (json) {
        json_t *j = gate_to_json(&g);
        int rc = json_dump_file(j, json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (rc != 0) {
            lw_err("gate: --json %s: cannot write (%s): check the directory exists and is writable", json,
                   strerror(errno));
            goto out;
        }
    }
    if ((junit && !junit_write(junit, &g, err, sizeof err)) || (svg && !svg_write(svg, &g, err, sizeof err)) ||
        (html && !html_write_gate(html, &g, err, sizeof err))) {
        lw_err("gate: %s", err);
        goto out;
    }
    gate_print(stdout, &g);
    if (github)
        annotate_github(stdout, &g);
    code = lw_finish_stdout(g.nfailed ? LW_EXIT_FINDING : LW_EXIT_OK);
out:
    gate_free(&g);
    baseline_free(&base);
    return code;
}
