/* check_input — input that others control, against the shim's and the command's outputs: a program whose
 * directory and name hold terminal escapes, newlines and bytes that are not UTF-8 (every human-facing output
 * escapes them, the JSON keeps them exactly); reports with numbers the format does not allow, duplicate site
 * ids, names that break XML; suppression files with a NUL byte or that are a FIFO. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"
#include "util.h"

/* Names with ESC (an OSC title sequence and a colour), BEL, CR, a newline and bytes that are not UTF-8. */
#define EVIL_DIR "evil\x1b]0;pwned\x07\r\n\xff\xfe"
#define EVIL_DIR_ESCAPED "evil\\x1b]0;pwned\\x07\\x0d\\x0a\\xff\\xfe"
#define EVIL_PROG "prog\x1b[31m\x07\r\n\xff"
#define EVIL_PROG_ESCAPED "prog\\x1b[31m\\x07\\x0d\\x0a\\xff"
/* JSON holds only UTF-8: names in reports the tests write have control characters but no invalid bytes. */
#define EVIL_FN "fn\x1b]0;x\x07\n\xc2\x9b"
#define EVIL_FN_ESCAPED "fn\\x1b]0;x\\x07\\x0a\\xc2\\x9b"

/* No control byte (C0 other than, with layout, tab and newline; DEL; C1) and only well-formed UTF-8. */
static void assert_printable(const char *what, const char *s, bool layout)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i]; i++) {
        unsigned char c = p[i];
        if (layout && (c == '\n' || c == '\t'))
            continue;
        ck_assert_msg(c >= 0x20 && c != 0x7f, "%s: raw control byte 0x%02x at %zu", what, c, i);
        if (c < 0x80)
            continue;
        size_t k = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        ck_assert_msg(k != 0, "%s: byte 0x%02x at %zu is not UTF-8", what, c, i);
        for (size_t j = 1; j < k; j++)
            ck_assert_msg((p[i + j] & 0xc0) == 0x80, "%s: broken UTF-8 at %zu", what, i);
        ck_assert_msg(!(c == 0xc2 && p[i + 1] < 0xa0), "%s: raw C1 control at %zu", what, i);
        i += k - 1;
    }
}

static void run_lw(struct tu_proc *p, char *const *args, double timeout)
{
    char *argv[40];
    int n = 0;
    argv[n++] = tu_strf("%s/leakwatch", tu_build_dir());
    for (; args[n - 1] && n < 39; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_run(p, argv, env.vars, timeout);
    tu_env_free(&env);
    free(argv[0]);
}

static int exit_code(const struct tu_proc *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_msg(in && out, "cannot copy %s", from);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert(fwrite(buf, 1, n, out) == n);
    fclose(in);
    ck_assert(fclose(out) == 0);
    ck_assert(chmod(to, 0755) == 0);
}

START_TEST(escape_form)
{
    char buf[256];
    ck_assert_str_eq(lw_esc("a\x1b]0;t\x07 b\\c\r\n\t\x7f", buf, sizeof buf), "a\\x1b]0;t\\x07 b\\\\c\\x0d\\x0a\\x09\\x7f");
    /* valid UTF-8 stays; C1 controls, invalid bytes, a lone continuation byte and U+FFFE are escaped */
    ck_assert_str_eq(lw_esc("é€😀\xc2\x9b\xc3\x28\x80\xef\xbf\xbe\xef\xbf\xbd", buf, sizeof buf),
                     "é€😀\\xc2\\x9b\\xc3(\\x80\\xef\\xbf\\xbe\xef\xbf\xbd");
    /* cut short between characters, never inside one */
    ck_assert_str_eq(lw_esc("ab\x1b", buf, 6), "ab");
    ck_assert_str_eq(lw_esc("aéé", buf, 5), "aé");
    char cut[64] = "abé\\x1bxyz";
    ck_assert(lw_esc_cut(cut, 5));
    ck_assert_str_eq(cut, "abé");
    strcpy(cut, "ab\\x1bxyz");
    ck_assert(lw_esc_cut(cut, 5));
    ck_assert_str_eq(cut, "ab");
}
END_TEST

/* The hostile program runs from the hostile directory under the shim; `leakwatch dump` asks it for a report. */
START_TEST(hostile_program_path_is_escaped)
{
    char *base = tu_tempdir();
    char *dir = tu_strf("%s/%s", base, EVIL_DIR), *out = tu_strf("%s/out", base);
    ck_assert(mkdir(dir, 0700) == 0);
    char *prog = tu_strf("%s/%s", dir, EVIL_PROG), *idle = tu_fixture("idle");
    copy_file(idle, prog);
    struct tu_env env;
    const char *settings[] = {"LEAKWATCH_MIN_AGE=0", NULL};
    tu_env_with(&env, out, 1, settings);
    struct tu_proc p;
    char *argv[] = {prog, NULL};
    tu_spawn(&p, argv, env.vars, NULL);
    ck_assert_msg(tu_read_until(&p, "ready", 20) == 0, "the fixture did not start: %s", p.err);

    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)p.pid);
    char *dump_args[] = {"dump", pid, "--timeout", "20s", NULL};
    struct tu_proc d;
    run_lw(&d, dump_args, 60);
    kill(p.pid, SIGKILL);
    tu_finish(&p, 20);
    ck_assert_msg(exit_code(&d) == 0, "dump: %s: %s", tu_status_str(&d), d.err);
    assert_printable("dump's output", d.out, true);
    assert_printable("dump's stderr", d.err, true);
    ck_assert_msg(strstr(d.out, EVIL_DIR_ESCAPED "/" EVIL_PROG_ESCAPED), "dump does not show the escaped path:\n%s",
                  d.out);
    ck_assert_msg(strchr(d.err, '\n') == d.err + strlen(d.err) - 1, "dump's stderr is not one line: %s", d.err);
    /* the shim's own stderr line */
    assert_printable("the shim's stderr line", p.err, true);
    ck_assert_msg(strstr(p.err, EVIL_PROG_ESCAPED), "the stderr line does not name the program escaped: %s", p.err);

    /* The JSON keeps the path: control characters exactly; JSON strings are UTF-8, so each byte that is not
     * (0xff, 0xfe) is the code point of its value (U+00FF, U+00FE), as docs/report-format.md says. */
    json_t *rep = tu_find_report(out, p.pid, "signal");
    ck_assert_msg(rep != NULL, "no report in %s", out);
    char *as_json = tu_strf("%s/evil\x1b]0;pwned\x07\r\n\xc3\xbf\xc3\xbe/prog\x1b[31m\x07\r\n\xc3\xbf", base);
    ck_assert_str_eq(json_string_value(json_object_get(rep, "program")), as_json);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(rep, "modules"), 0), "path")),
                     as_json);
    json_decref(rep);
    char *json = tu_strf("%s/%s.%d.1.json", out, EVIL_PROG, (int)p.pid);
    char *txt = tu_strf("%s/%s.%d.1.txt", out, EVIL_PROG, (int)p.pid);
    char *text = tu_slurp(txt);
    ck_assert_msg(text != NULL, "no %s", txt);
    assert_printable("the text report", text, true);
    ck_assert_msg(strstr(text, EVIL_DIR_ESCAPED "/" EVIL_PROG_ESCAPED "+0x"), "%s", text);
    free(text);

    /* every rendering of the command over that report */
    const char *formats[] = {"text", "folded", NULL};
    for (const char **f = formats; *f; f++) {
        char *args[] = {"report", json, "--format", (char *)*f, "--min-age", "0", NULL};
        run_lw(&d, args, 60);
        ck_assert_msg(exit_code(&d) == 0, "report --format %s: %s", *f, d.err);
        assert_printable(*f, d.out, true);
        tu_proc_free(&d);
    }
    char *ja[] = {"report", json, "--format", "json", NULL};
    run_lw(&d, ja, 60);
    json_t *j = json_loads(d.out, 0, NULL);
    ck_assert_msg(j != NULL, "report --format json is not JSON");
    ck_assert_str_eq(json_string_value(json_object_get(j, "program")), as_json);
    json_decref(j);
    tu_proc_free(&d);
    char *diff[] = {"diff", json, json, NULL};
    run_lw(&d, diff, 60);
    ck_assert_msg(exit_code(&d) == 0, "diff: %s", d.err);
    assert_printable("diff", d.out, true);
    ck_assert_msg(strstr(d.out, "prog\\x1b[31m\\x07\\x0d\\x0a\xc3\xbf["), "diff does not name the program escaped:\n%s",
                  d.out);
    tu_proc_free(&d);
    char *gate[] = {"gate", json, json, "--warmup", "0", NULL};
    run_lw(&d, gate, 60);
    assert_printable("gate", d.out, true);
    tu_proc_free(&d);
    /* error messages quote the path escaped, on one line */
    char *missing = tu_strf("%s/missing.json", dir);
    char *bad[] = {"report", missing, NULL};
    run_lw(&d, bad, 60);
    ck_assert_int_eq(exit_code(&d), 2);
    assert_printable("an error", d.err, true);
    ck_assert_msg(strstr(d.err, EVIL_DIR_ESCAPED "/missing.json") && strchr(d.err, '\n') == d.err + strlen(d.err) - 1,
                  "%s", d.err);
    tu_proc_free(&d);

    free(missing);
    free(as_json);
    free(json);
    free(txt);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(idle);
    free(prog);
    free(out);
    free(dir);
    tu_rmtree(base);
    free(base);
}
END_TEST

/* ---- synthetic reports ---------------------------------------------------------------------------- */

static json_t *frame(unsigned long long off, int module, const char *fn)
{
    char ip[32], o[32];
    snprintf(ip, sizeof ip, "0x%llx", 0x400000ULL + off);
    snprintf(o, sizeof o, "0x%llx", off);
    json_t *f = json_pack("{s:s,s:i,s:s,s:s}", "ip", ip, "module", module, "function", fn, "function_offset", "0x10");
    if (module >= 0)
        json_object_set_new(f, "offset", json_string(o));
    return f;
}

/* A valid report of one process with the given sites (an array of site objects, stolen). */
static json_t *report(int seq, const char *module_path, json_t *sites)
{
    char when[64];
    snprintf(when, sizeof when, "2026-11-22T05:00:%02d.000Z", seq);
    return json_pack("{s:s,s:i,s:i,s:s,s:s,s:i,s:i,s:s,s:i,s:{s:i,s:i},s:{s:i,s:i},s:[{s:i,s:s,s:s}],s:o}",
                     "format", "leakwatch-report", "version", 1, "pid", 77, "program", module_path, "reason",
                     "signal", "seq", seq, "previous_seq", seq - 1, "time", when, "uptime_ms", seq * 1000, "config",
                     "min_age_ms", 0, "top", 20, "totals", "live_bytes", 0, "live_blocks", 0, "modules", "id", 0,
                     "path", module_path, "base", "0x400000", "sites", sites);
}

static json_t *site(const char *id, long long bytes, const char *fn, const char *caller)
{
    json_t *created = json_pack("[o,o,o]", frame(0x1000, 0, fn), frame(0x2000, -1, caller), frame(0x3000, 0, "main"));
    json_t *leak = json_pack("{s:I,s:I,s:i,s:s,s:o}", "blocks", 1LL, "bytes", bytes, "oldest_age_ms", 5000,
                             "stack", "own", "created_at", created);
    return json_pack("{s:s,s:s,s:I,s:I,s:[o,o],s:[o]}", "id", id, "kind", "heap", "live_bytes", bytes,
                     "live_blocks", 1LL, "frames", frame(0x1000, 0, fn), frame(0x2000, -1, caller), "leaks", leak);
}

static char *save(const char *dir, const char *name, json_t *root)
{
    char *path = tu_strf("%s/%s", dir, name);
    ck_assert_msg(root && json_dump_file(root, path, JSON_COMPACT) == 0, "cannot write %s", path);
    json_decref(root);
    return path;
}

static bool xml_well_formed(const char *path)
{
    char *cmd = tu_strf("xmllint --noout '%s' 2>&1", path);
    FILE *f = popen(cmd, "r");
    ck_assert_msg(f != NULL, "cannot run xmllint");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    int rc = pclose(f);
    ck_assert_msg(!(WIFEXITED(rc) && WEXITSTATUS(rc) == 127), "xmllint is not installed (scripts/deps.sh)");
    free(cmd);
    if (rc != 0)
        fprintf(stderr, "xmllint %s: %s\n", path, buf);
    return rc == 0;
}

/* Function names (one a JIT frame's) with escapes, a label whose 37th byte is inside a two-byte character,
 * and U+FFFE: the gate's text is escaped, its SVG and JUnit are XML, its JSON keeps the names exactly. */
START_TEST(hostile_names_in_gate_outputs)
{
    char *dir = tu_tempdir();
    const char *wide = "ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    char *files[4];
    for (int r = 1; r <= 3; r++) {
        json_t *sites = json_pack("[o,o]", site("00000000000000a1", r * 1048576LL, EVIL_FN, "jit\x1b[2J\xef\xbf\xbe"),
                                  site("00000000000000a2", r * 1048576LL, wide, "x\xef\xbf\xbfy"));
        char name[32];
        snprintf(name, sizeof name, "r%d.json", r);
        files[r - 1] = save(dir, name, report(r, "/opt/evil\x1b]0;pwned\x07\r\n/svc", sites));
    }
    files[3] = NULL;
    char *svg = tu_strf("%s/g.svg", dir), *junit = tu_strf("%s/g.xml", dir), *js = tu_strf("%s/g.json", dir);
    char *args[] = {"gate", files[0], files[1], files[2], "--svg", svg, "--junit", junit, "--json", js, NULL};
    struct tu_proc p;
    run_lw(&p, args, 60);
    ck_assert_msg(exit_code(&p) == 1, "gate: %s: %s\n%s", tu_status_str(&p), p.err, p.out);
    assert_printable("gate's text", p.out, true);
    ck_assert_msg(strstr(p.out, EVIL_FN_ESCAPED "+0x10") && strstr(p.out, "svc"), "%s", p.out);
    ck_assert_msg(xml_well_formed(svg), "the SVG is not XML");
    ck_assert_msg(xml_well_formed(junit), "the JUnit file is not XML");
    char *s = tu_slurp(svg);
    assert_printable("the SVG", s, true);
    free(s);
    json_t *j = json_load_file(js, 0, NULL);
    ck_assert_msg(j != NULL, "gate --json is not JSON");
    bool found = false;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(j, "sites"), i, o) {
        const char *first = json_string_value(json_array_get(json_object_get(o, "created_at"), 0));
        found |= first && strcmp(first, EVIL_FN "+0x10") == 0;
    }
    ck_assert_msg(found, "gate --json does not keep the exact function name");
    json_decref(j);
    tu_proc_free(&p);

    char *fold[] = {"report", files[2], "--format", "folded", NULL};
    run_lw(&p, fold, 60);
    assert_printable("folded", p.out, true);
    /* ';' separates frames, so the one in the name became ',' */
    ck_assert_msg(strstr(p.out, "main;jit\\x1b[2J\\xef\\xbf\\xbe;fn\\x1b]0,x\\x07\\x0a\\xc2\\x9b 3145728\n"), "%s", p.out);
    tu_proc_free(&p);
    char *diff[] = {"diff", files[0], files[2], NULL};
    run_lw(&p, diff, 60);
    assert_printable("diff", p.out, true);
    ck_assert_msg(strstr(p.out, EVIL_FN_ESCAPED " < jit\\x1b[2J"), "%s", p.out);
    tu_proc_free(&p);
    char *txt[] = {"report", files[2], NULL};
    run_lw(&p, txt, 60);
    assert_printable("report", p.out, true);
    ck_assert_msg(strstr(p.out, "jit\\x1b[2J\\xef\\xbf\\xbe+0x10 (JIT)"), "%s", p.out);
    tu_proc_free(&p);

    for (char **f = files; *f; f++)
        free(*f);
    free(svg);
    free(junit);
    free(js);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The report's text with one field set to a raw JSON value; the reader must say no, naming the field. */
static void expect_rejected(const char *dir, const char *json_text, const char *what)
{
    char *path = tu_strf("%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f && fputs(json_text, f) >= 0 && fclose(f) == 0);
    const char *cmds[][2] = {{"report", NULL}, {"diff", "x"}};
    for (size_t c = 0; c < 2; c++) {
        char *args[] = {(char *)cmds[c][0], path, path, NULL};
        if (!cmds[c][1])
            args[2] = NULL;
        struct tu_proc p;
        run_lw(&p, args, 60);
        ck_assert_msg(exit_code(&p) == 2, "%s accepted a report with %s (exit %s):\n%s", cmds[c][0], what,
                      tu_status_str(&p), p.out);
        ck_assert_msg(strstr(p.err, what), "%s: the error does not name %s: %s", cmds[c][0], what, p.err);
        tu_proc_free(&p);
    }
    free(path);
}

static char *report_text(const char *version, const char *live_bytes, const char *blocks, const char *module,
                         const char *id2)
{
    return tu_strf("{\"format\":\"leakwatch-report\",\"version\":%s,\"pid\":5,\"program\":\"/p\",\"seq\":1,"
                   "\"modules\":[{\"id\":0,\"path\":\"/p\",\"base\":\"0x1000\"}],\"sites\":["
                   "{\"id\":\"00000000000000f1\",\"kind\":\"heap\",\"live_bytes\":%s,\"live_blocks\":1,"
                   "\"frames\":[{\"ip\":\"0x1010\",\"module\":%s,\"offset\":\"0x10\"}],"
                   "\"leaks\":[{\"blocks\":%s,\"bytes\":10,\"created_at\":[]}]},"
                   "{\"id\":\"%s\",\"kind\":\"heap\",\"live_bytes\":1,\"live_blocks\":1,\"frames\":[]}]}",
                   version, live_bytes, module, blocks, id2);
}

START_TEST(numbers_outside_the_contract_are_rejected)
{
    char *dir = tu_tempdir();
    struct { const char *version, *bytes, *blocks, *module, *id2, *what; } cases[] = {
        {"1", "-9223372036854775808", "1", "0", "00000000000000f2", "sites[0].live_bytes is -9223372036854775808"},
        {"1", "-1", "1", "0", "00000000000000f2", "sites[0].live_bytes is -1"},
        {"1", "10", "-3", "0", "00000000000000f2", "sites[0].leaks[0].blocks is -3"},
        {"0", "10", "1", "0", "00000000000000f2", "version is 0"},
        {"-1", "10", "1", "0", "00000000000000f2", "version is -1"},
        {"1", "10", "1", "4294967296", "00000000000000f2", "sites[0].frames[0].module 4294967296"},
        {"1", "10", "1", "-2", "00000000000000f2", "sites[0].frames[0].module -2"},
        {"1", "10", "1", "0", "00000000000000f1", "the same id 00000000000000f1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = report_text(cases[i].version, cases[i].bytes, cases[i].blocks, cases[i].module, cases[i].id2);
        expect_rejected(dir, t, cases[i].what);
        free(t);
    }
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The largest count the format allows goes through exactly; a round whose files sum past it is an error. */
START_TEST(largest_counts_stay_exact)
{
    char *dir = tu_tempdir();
    char *f[3];
    for (int r = 1; r <= 3; r++) {
        json_t *sites = json_pack("[o]", site("00000000000000b1", r < 3 ? 1LL << 40 : 9223372036854775807LL, "f", "g"));
        char name[32];
        snprintf(name, sizeof name, "m%d.json", r);
        f[r - 1] = save(dir, name, report(r, "/usr/bin/svc", sites));
    }
    char *js = tu_strf("%s/g.json", dir);
    char *args[] = {"gate", f[0], f[1], f[2], "--json", js, NULL};
    struct tu_proc p;
    run_lw(&p, args, 60);
    ck_assert_msg(exit_code(&p) == 1, "gate: %s: %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    json_t *j = json_load_file(js, 0, NULL);
    ck_assert(j != NULL);
    json_t *lb = json_object_get(json_array_get(json_object_get(j, "sites"), 0), "live_bytes");
    ck_assert_msg(json_integer_value(json_array_get(lb, 2)) == 9223372036854775807LL, "gate --json wrote %lld",
                  (long long)json_integer_value(json_array_get(lb, 2)));
    json_decref(j);

    char *round[] = {"gate", f[0], f[1], tu_strf("%s+%s", f[2], f[2]), NULL};
    run_lw(&p, round, 60);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "site 00000000000000b1") && strstr(p.err, "2^63-1"),
                  "gate summed past 2^63-1: %s: %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    free(round[3]);

    /* 2^63-1 - 2^40 bytes is 8,192.0 PiB as the text format rounds it, and back */
    char *diff[] = {"diff", f[0], f[2], NULL};
    run_lw(&p, diff, 60);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "+8,192.0 PiB"), "diff: %s\n%s", p.err, p.out);
    tu_proc_free(&p);
    char *back[] = {"diff", f[2], f[0], NULL};
    run_lw(&p, back, 60);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "-8,192.0 PiB"), "diff: %s\n%s", p.err, p.out);
    tu_proc_free(&p);
    for (int r = 0; r < 3; r++)
        free(f[r]);
    free(js);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_suppression_files)
{
    char *dir = tu_tempdir();
    char *f[4];
    for (int r = 1; r <= 3; r++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.json", r);
        f[r - 1] = save(dir, name, report(r, "/usr/bin/svc", json_pack("[o]", site("00000000000000c1", r * 1048576LL,
                                                                                     "grows", "serve"))));
    }
    char *supp = tu_strf("%s/nul.supp", dir);
    FILE *s = fopen(supp, "w");
    ck_assert(s && fwrite("leak:a\n\nleak:b\x00\nleak:grows\n", 1, 25, s) == 25 && fclose(s) == 0);
    char *a1[] = {"gate", f[0], f[1], f[2], "--suppress", supp, NULL};
    struct tu_proc p;
    run_lw(&p, a1, 60);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "nul.supp:3:") && strstr(p.err, "NUL"),
                  "a NUL byte in a suppression file: %s: %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);

    char *fifo = tu_strf("%s/fifo.supp", dir);
    ck_assert(mkfifo(fifo, 0600) == 0);
    char *a2[] = {"gate", f[0], f[1], f[2], "--suppress", fifo, NULL};
    run_lw(&p, a2, 10);
    ck_assert_msg(!p.timed_out, "gate hangs on a FIFO as --suppress");
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "FIFO"), "%s: %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    for (int r = 0; r < 3; r++)
        free(f[r]);
    free(supp);
    free(fifo);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* report --format json --top N keeps only N site objects while reading: the output must be the first N
 * sites of the whole report, member for member, and --min-age must still drop young leak groups. */
START_TEST(json_top_is_the_first_sites)
{
    char *dir = tu_tempdir();
    json_t *sites = json_array();
    for (int i = 0; i < 5; i++) {
        char id[17], fn[16];
        snprintf(id, sizeof id, "00000000000000%02x", 0x10 + i);
        snprintf(fn, sizeof fn, "f%d", i);
        json_array_append_new(sites, site(id, (5 - i) * 1000LL, fn, "g"));
    }
    char *path = save(dir, "five.json", report(1, "/usr/bin/svc", sites));
    json_t *whole = json_load_file(path, 0, NULL);
    struct tu_proc p;
    char *a1[] = {"report", path, "--format", "json", "--top", "2", NULL};
    run_lw(&p, a1, 60);
    json_t *top = json_loads(p.out, 0, NULL);
    ck_assert_msg(exit_code(&p) == 0 && top, "report --format json --top 2: %s", p.err);
    ck_assert_int_eq(json_array_size(json_object_get(top, "sites")), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_msg(json_equal(json_array_get(json_object_get(top, "sites"), i),
                                 json_array_get(json_object_get(whole, "sites"), i)), "site %zu differs", i);
    ck_assert(json_equal(json_object_get(top, "modules"), json_object_get(whole, "modules")));
    json_decref(top);
    tu_proc_free(&p);
    char *a2[] = {"report", path, "--format", "json", "--top", "1", "--min-age", "6s", NULL};
    run_lw(&p, a2, 60);
    top = json_loads(p.out, 0, NULL);
    ck_assert_msg(exit_code(&p) == 0 && top, "report --min-age: %s", p.err);
    json_t *s0 = json_array_get(json_object_get(top, "sites"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(s0, "id")), "0000000000000010");
    ck_assert_int_eq(json_array_size(json_object_get(s0, "leaks")), 0);
    json_decref(top);
    tu_proc_free(&p);
    json_decref(whole);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A report whose modules (nmodules entries, none when -1) come after its sites. `report` keeps the sites and
 * checks their frames' module indexes once modules is read; `report --format json` checks each site as it
 * streams by and lets it go. Both must refuse the same reports with the same line, naming the same frame
 * (what), or both accept it (what NULL). */
static char *write_late_modules(const char *dir, const char *sites, int nmodules)
{
    char *path = tu_strf("%s/late.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fprintf(f, "{\"format\":\"leakwatch-report\",\"version\":2,\"pid\":5,\"program\":\"/p\",\"seq\":1,\"sites\":%s",
            sites);
    if (nmodules >= 0) {
        fputs(",\"modules\":[", f);
        for (int i = 0; i < nmodules; i++)
            fprintf(f, "%s{\"id\":%d,\"path\":\"/lib/m%d.so\",\"base\":\"0x%x000\"}", i ? "," : "", i, i, i + 1);
        fputs("]", f);
    }
    ck_assert(fputs("}\n", f) >= 0 && fclose(f) == 0);
    return path;
}

static void expect_late_modules(const char *dir, const char *sites, int nmodules, const char *what)
{
    char *path = write_late_modules(dir, sites, nmodules);
    char *whole[] = {"report", path, NULL}, *streamed[] = {"report", path, "--format", "json", NULL};
    struct tu_proc a, b;
    run_lw(&a, whole, 60);
    run_lw(&b, streamed, 60);
    if (!what) {
        ck_assert_msg(exit_code(&a) == 0, "report refused a sound report (%d modules): %s", nmodules, a.err);
        ck_assert_msg(exit_code(&b) == 0, "report --format json refused a sound report (%d modules): %s", nmodules,
                      b.err);
        json_t *j = json_loads(b.out, 0, NULL);
        ck_assert_msg(j && json_array_size(json_object_get(j, "modules")) == (size_t)nmodules, "%s", b.out);
        json_decref(j);
    } else {
        ck_assert_msg(exit_code(&a) == 2 && strstr(a.err, what), "report (%d modules): %s: %s; expected %s",
                      nmodules, tu_status_str(&a), a.err, what);
        ck_assert_msg(exit_code(&b) == 2, "report --format json accepted what report refuses (%s)", what);
        ck_assert_msg(strcmp(a.err, b.err) == 0, "report and report --format json disagree:\n%s%s", a.err, b.err);
        ck_assert_msg(!strchr(b.err, '\n') || strchr(b.err, '\n') == b.err + strlen(b.err) - 1, "%s", b.err);
    }
    tu_proc_free(&a);
    tu_proc_free(&b);
    free(path);
}

#define LATE_SITE(id, members) "{\"id\":\"00000000000000" id "\",\"live_bytes\":1,\"live_blocks\":1," members "}"
#define LATE_FRAME(m) "{\"ip\":\"0x10\",\"module\":" #m "}"
#define LATE_LEAK(members) "{\"blocks\":1,\"bytes\":1," members "}"
#define LATE_BAD(m, n) ".module " #m " is not -1 or an index into modules (" #n " entries))"

START_TEST(late_modules_refused_alike)
{
    char *dir = tu_tempdir();
    /* (a) a site's frames; the second site's leak holds a larger bad index, but frames are checked first */
    expect_late_modules(dir, "[" LATE_SITE("a1", "\"frames\":[" LATE_FRAME(1) "," LATE_FRAME(-1) "]") ","
                        LATE_SITE("a2", "\"frames\":[" LATE_FRAME(0) "," LATE_FRAME(2) "],\"leaks\":["
                                  LATE_LEAK("\"created_at\":[" LATE_FRAME(5) "]") "]") "]",
                        2, "(sites[1].frames[1]" LATE_BAD(2, 2));
    /* (b) frames are sound; the second leak's created_at is not */
    expect_late_modules(dir, "[" LATE_SITE("b1", "\"frames\":[" LATE_FRAME(1) "],\"leaks\":["
                                  LATE_LEAK("\"created_at\":[" LATE_FRAME(0) "]") ","
                                  LATE_LEAK("\"created_at\":[" LATE_FRAME(1) "," LATE_FRAME(4) "]") "]") "]",
                        2, "(sites[0].leaks[1].created_at[1]" LATE_BAD(4, 2));
    /* (c) an access record's frames */
    expect_late_modules(dir, "[" LATE_SITE("c1", "\"frames\":[" LATE_FRAME(0) "],\"leaks\":["
                                  LATE_LEAK("\"created_at\":[" LATE_FRAME(1) "],\"recent_access\":["
                                            "{\"kind\":\"free\",\"frames\":[" LATE_FRAME(1) "]},"
                                            "{\"kind\":\"realloc\",\"frames\":[" LATE_FRAME(0) "," LATE_FRAME(3)
                                            "]}]") "]") "]",
                        2, "(sites[0].leaks[0].recent_access[1].frames[1]" LATE_BAD(3, 2));
    /* (d) within one site the document holds leaks (created_at index 7) before frames (index 2 third): the
     * frames are checked first, so frames[2] is named, not the larger index read before it */
    expect_late_modules(dir, "[" LATE_SITE("d1", "\"leaks\":[" LATE_LEAK("\"created_at\":[" LATE_FRAME(7) "]") "],"
                                  "\"frames\":[" LATE_FRAME(0) "," LATE_FRAME(1) "," LATE_FRAME(2) "]") "]",
                        2, "(sites[0].frames[2]" LATE_BAD(2, 2));
    /* ... and in one leak, recent_access (index 9) before created_at (index 5): created_at is checked first */
    expect_late_modules(dir, "[" LATE_SITE("d2", "\"frames\":[" LATE_FRAME(0) "],\"leaks\":["
                                  LATE_LEAK("\"recent_access\":[{\"frames\":[" LATE_FRAME(9) "]}],"
                                            "\"created_at\":[" LATE_FRAME(1) "," LATE_FRAME(5) "]") "]") "]",
                        2, "(sites[0].leaks[0].created_at[1]" LATE_BAD(5, 2));
    /* One document, modules of different sizes: each names the first frame, in that order, past the end. */
    const char *sites = "[" LATE_SITE("e1", "\"leaks\":[" LATE_LEAK("\"created_at\":[" LATE_FRAME(0) ","
                                                                 LATE_FRAME(6) "]") "],"
                                      "\"frames\":[" LATE_FRAME(0) "," LATE_FRAME(3) "]") ","
                        LATE_SITE("e2", "\"frames\":[],\"leaks\":[" LATE_LEAK("\"recent_access\":[{\"frames\":["
                                                                           LATE_FRAME(1) "," LATE_FRAME(8) "]}],"
                                                                           "\"created_at\":[]") "]") "]";
    expect_late_modules(dir, sites, -1, "(sites[0].frames[0]" LATE_BAD(0, 0));
    expect_late_modules(dir, sites, 1, "(sites[0].frames[1]" LATE_BAD(3, 1));
    expect_late_modules(dir, sites, 3, "(sites[0].frames[1]" LATE_BAD(3, 3));
    expect_late_modules(dir, sites, 4, "(sites[0].leaks[0].created_at[1]" LATE_BAD(6, 4));
    expect_late_modules(dir, sites, 7, "(sites[1].leaks[0].recent_access[0].frames[1]" LATE_BAD(8, 7));
    expect_late_modules(dir, sites, 8, "(sites[1].leaks[0].recent_access[0].frames[1]" LATE_BAD(8, 8));
    /* every index in range: both accept it */
    expect_late_modules(dir, sites, 9, NULL);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A stack of 5000 rising module indexes before modules: the streamed check keeps a bounded list of frames,
 * yet still names the frame when modules is short, and never accepts what the whole read refuses. */
START_TEST(late_modules_many_rising_indexes)
{
    char *dir = tu_tempdir();
    size_t cap = 64 * 5000 + 256, o = 0;
    char *sites = malloc(cap);
    ck_assert(sites);
    o += (size_t)snprintf(sites + o, cap - o, "[{\"id\":\"00000000000000f1\",\"live_bytes\":1,\"live_blocks\":1,"
                          "\"frames\":[");
    for (int i = 0; i < 5000; i++)
        o += (size_t)snprintf(sites + o, cap - o, "%s{\"ip\":\"0x10\",\"module\":%d}", i ? "," : "", i);
    snprintf(sites + o, cap - o, "]}]");
    expect_late_modules(dir, sites, 1000, "(sites[0].frames[1000].module 1000 is not -1 or an index into modules "
                        "(1000 entries))");
    expect_late_modules(dir, sites, 5000, NULL);
    /* past the list's bound the frame may go unnamed, but the report is refused all the same */
    char *path = write_late_modules(dir, sites, 4500);
    char *whole[] = {"report", path, NULL}, *streamed[] = {"report", path, "--format", "json", NULL};
    struct tu_proc a, b;
    run_lw(&a, whole, 60);
    run_lw(&b, streamed, 60);
    ck_assert_msg(exit_code(&a) == 2 && strstr(a.err, "(sites[0].frames[4500].module 4500 is not -1 or an index "
                                                      "into modules (4500 entries))"), "report: %s", a.err);
    ck_assert_msg(exit_code(&b) == 2 && strstr(b.err, "(sites hold a frame with module 4999, not -1 or an index "
                                                      "into modules (4500 entries); too many rising module indexes "
                                                      "came before modules to name the first: put modules before "
                                                      "sites)"), "report --format json: %s", b.err);
    tu_proc_free(&a);
    tu_proc_free(&b);
    free(path);
    free(sites);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("input");
    TCase *t = tcase_create("escapes");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, escape_form);
    tcase_add_test(t, hostile_program_path_is_escaped);
    tcase_add_test(t, hostile_names_in_gate_outputs);
    suite_add_tcase(s, t);
    TCase *n = tcase_create("numbers");
    tcase_set_timeout(n, 120);
    tcase_add_test(n, numbers_outside_the_contract_are_rejected);
    tcase_add_test(n, largest_counts_stay_exact);
    tcase_add_test(n, bad_suppression_files);
    tcase_add_test(n, json_top_is_the_first_sites);
    tcase_add_test(n, late_modules_refused_alike);
    tcase_add_test(n, late_modules_many_rising_indexes);
    suite_add_tcase(s, n);
    return s;
}

LW_SUITE(input_suite)
