/* Exactness oracle: the at-exit report's totals.live_bytes/live_blocks must equal valgrind's "in use at
 * exit" (valgrind --run-libc-freeres=no --run-cxx-freeres=no) to the byte, on the fixtures and on real Debian programs.
 *
 * The comparison is only fair when both runs give the program the same environment: Debian's valgrind
 * wrapper adds variables and valgrind prepends its own LD_PRELOAD, and programs such as perl copy their
 * environment onto the heap. So each test first asks valgrind what its client really sees (/usr/bin/env
 * run under it), then gives the shim run exactly that list, in the same order, with LD_PRELOAD replaced by
 * a path to the shim padded to the same length, and checks the result by running env under the shim.
 *
 * valgrind also runs libstdc++'s __gnu_cxx::__freeres at exit unless told not to, which frees the 72,704-byte
 * emergency exception pool of any process that loads libstdc++ (xmllint does, through ICU): like
 * --run-libc-freeres=no, --run-cxx-freeres=no keeps valgrind counting what the program itself left live. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

#define VALGRIND "/usr/bin/valgrind"
#define RUN_LIMIT_S 120.0

struct target {
    const char *label;
    int fixture;              /* argv[0] names a fixture */
    const char *argv[6];
};

/* Threads the threads_alive fixture leaves running at exit (see its entry below). */
#define THREADS_ALIVE_AT_EXIT 3

static const struct target targets[] = {
    { "leak_direct", 1, { "leak_direct" } },
    { "leak_wrapper", 1, { "leak_wrapper" } },
    { "leak_realloc", 1, { "leak_realloc" } },
    { "alloc_semantics", 1, { "alloc_semantics" } },
    { "leak_threads", 1, { "leak_threads" } },
    { "churn_threads", 1, { "churn_threads" } },
    { "leak_aligned", 1, { "leak_aligned" } },
    { "leak_mmap", 1, { "leak_mmap" } },
    { "api_dump", 1, { "api_dump" } },
    { "leak_fork", 1, { "leak_fork" } },
    { "exit_order", 1, { "exit_order" } },
    /* Threads alive at exit keep glibc's per-thread TLS vector (DTV) live; it has 16 more bytes for every
     * loaded object with a TLS segment. valgrind's preloads have none, the shim brings two (itself and
     * libunwind.so.8); measured: valgrind with a do-nothing preload that has a __thread variable and links
     * libunwind.so.8 counts the same 1,680 bytes as the shim instead of 1,584. The shim counts right; its
     * presence makes each live thread's DTV 32 bytes larger, and this target checks exactly that. */
    { "threads_alive", 1, { "threads_alive" } },
    { "python3", 0, { "/usr/bin/python3", "-c",
                      "import json, collections\n"
                      "cache = {i: json.dumps({'n': i, 's': 'x' * i}) for i in range(300)}\n"
                      "words = collections.Counter('the quick brown fox jumps over the lazy dog'.split())\n"
                      "print(len(cache), words.most_common(1))\n" } },
    { "python3-ctypes", 0, { "/usr/bin/python3", "-c",
                             "import ctypes\n"
                             "libc = ctypes.CDLL(None)\n"
                             "libc.malloc.restype = ctypes.c_void_p\n"
                             "kept = [libc.malloc(1000 + i) for i in range(10)]\n"
                             "print(len(kept))\n" } },
    { "perl-posix", 0, { "/usr/bin/perl", "-MPOSIX", "-e",
                         "my @t = map { POSIX::floor($_ / 3) } 1 .. 100; print \"@t[0..4]\\n\";" } },
    { "perl", 0, { "/usr/bin/perl", "-e",
                   "my @keep; push @keep, 'x' x $_ for 1 .. 500;"
                   "my %h = map { $_ => [$_] } 1 .. 200; print scalar(@keep), ' ', scalar(keys %h), \"\\n\";" } },
    { "sqlite3", 0, { "/usr/bin/sqlite3", ":memory:",
                      "create table t(a integer primary key, b text);"
                      "insert into t(b) values ('one'), ('two'), ('three');"
                      "create index ib on t(b);"
                      "select count(*), group_concat(b) from t;" } },
    { "sort", 0, { "/usr/bin/sort", "-r", "input.txt" } },
    { "awk", 0, { "/usr/bin/mawk", "{ n[$1]++ } END { for (k in n) c++; print c, NR }", "input.txt" } },
    { "grep", 0, { "/usr/bin/grep", "-c", "word1", "input.txt" } },
    { "sed", 0, { "/usr/bin/sed", "s/word/w/", "input.txt" } },
    { "xmllint", 0, { "/usr/bin/xmllint", "--format", "doc.xml" } },   /* C++ runtime via ICU */
    /* GnuTLS frees ~107 kB in a library destructor that runs after the shim's own destructor: the report
     * must come after it (measured: a destructor that registers its report with atexit() gets it run at
     * once by __cxa_finalize of its own DSO; __cxa_atexit(fn, NULL, NULL) runs it after _dl_fini). */
    { "wget", 0, { "/usr/bin/wget", "--version" } },
    { "xz", 0, { "/usr/bin/xz", "-T1", "-c", "input.txt" } },   /* ~97 MB live at exit */
};

static char *tmp;

static void setup(void)
{
    tmp = tu_tempdir();
    char *input = tu_strf("%s/input.txt", tmp);
    FILE *f = fopen(input, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++)
        fprintf(f, "word%d line %d of the input\n", (i * 37) % 50, i);
    fclose(f);
    free(input);
    char *doc = tu_strf("%s/doc.xml", tmp);
    f = fopen(doc, "w");
    ck_assert_ptr_nonnull(f);
    fputs("<?xml version=\"1.0\"?>\n<root><a x=\"1\">text</a><b/><c>more &amp; more</c></root>\n", f);
    fclose(f);
    free(doc);
}

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

/* The environment both runs start from. GLIBC_TUNABLES: glibc keeps a joined thread's TLS vector live in
 * its stack cache, and the vector's size depends on how many loaded objects have TLS (the shim and
 * libunwind have, valgrind's preloads have not); without the cache that memory is freed at join. */
static void base_env(struct tu_env *env, const char *out)
{
    tu_env_base(env, out);
    tu_env_set(env, "LEAKWATCH_QUIET", "1");
    tu_env_set(env, "GLIBC_TUNABLES", "glibc.pthread.stack_cache_size=0");
    /* Both interpreters randomise their string hashing per run, and with it what their hashes allocate
     * (perl varies by a few hundred bytes from run to run under valgrind alone). */
    tu_env_set(env, "PYTHONHASHSEED", "0");
    tu_env_set(env, "PERL_HASH_SEED", "0");
}

static void argv_of(const struct target *t, char **argv, size_t max)
{
    size_t n = 0;
    argv[n++] = t->fixture ? tu_fixture(t->argv[0]) : strdup(t->argv[0]);
    ck_assert_msg(access(argv[0], X_OK) == 0, "%s is not installed", argv[0]);
    for (size_t i = 1; i < 6 && t->argv[i] && n + 1 < max; i++)
        argv[n++] = strdup(t->argv[i]);
    argv[n] = NULL;
}

/* The client's environment under valgrind, as "NAME=value" strings separated by NULs (env -0). */
static struct tu_proc probe_valgrind_env(char *const base[])
{
    struct tu_proc p;
    char *argv[] = { VALGRIND, "-q", "--run-libc-freeres=no", "/usr/bin/env", "-0", NULL };
    tu_spawn(&p, argv, base, tmp);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(!p.timed_out && WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
                  "valgrind /usr/bin/env: %s\n%s", tu_status_str(&p), p.err);
    return p;
}

static void env_from_nul_list(struct tu_env *env, const char *list, size_t len)
{
    tu_env_init(env);
    for (size_t at = 0; at < len; at += strlen(list + at) + 1) {
        char *name = strdup(list + at);
        char *eq = strchr(name, '=');
        ck_assert_msg(eq != NULL, "odd environment entry %s", name);
        *eq = '\0';
        tu_env_set(env, name, eq + 1);
        free(name);
    }
}

/* A path to the shim exactly len bytes long: leading slashes pad it (the kernel folds them); a symlink in
 * the test directory shortens it when the build path is longer than valgrind's preload list. */
static char *padded_shim_path(size_t len)
{
    char *shim = tu_shim_path();
    if (strlen(shim) > len) {
        char *link = tu_strf("%s/l.so", tmp);
        ck_assert_msg(symlink(shim, link) == 0, "symlink %s: %s", link, strerror(errno));
        free(shim);
        shim = link;
    }
    ck_assert_msg(strlen(shim) <= len, "cannot fit the shim's path into %zu bytes", len);
    size_t pad = len - strlen(shim);
    char *path = malloc(len + 1);
    ck_assert_ptr_nonnull(path);
    memset(path, '/', pad);
    strcpy(path + pad, shim);
    free(shim);
    return path;
}

/* "in use at exit: 1,234 bytes in 5 blocks" from valgrind's log of pid. */
static void valgrind_in_use(pid_t pid, long long *bytes, long long *blocks)
{
    char *path = tu_strf("%s/vg.%d", tmp, (int)pid);
    char *log = tu_slurp(path);
    ck_assert_msg(log != NULL, "no valgrind log %s", path);
    const char *at = strstr(log, "in use at exit: ");
    ck_assert_msg(at != NULL, "valgrind log %s has no \"in use at exit\":\n%s", path, log);
    char digits[2][32];
    ck_assert_msg(sscanf(at, "in use at exit: %31[0-9,] bytes in %31[0-9,] blocks", digits[0], digits[1]) == 2,
                  "cannot read %.60s", at);
    long long v[2] = { 0, 0 };
    for (int i = 0; i < 2; i++)
        for (const char *c = digits[i]; *c; c++)
            if (*c != ',')
                v[i] = v[i] * 10 + (*c - '0');
    *bytes = v[0];
    *blocks = v[1];
    free(log);
    free(path);
}

static void shim_live(const char *out, pid_t pid, long long *bytes, long long *blocks)
{
    json_t *r = tu_find_report(out, pid, "exit");
    ck_assert_msg(r != NULL, "no exit report for pid %d in %s", (int)pid, out);
    json_t *t = json_object_get(r, "totals");
    *bytes = tu_int(t, "live_bytes");
    *blocks = tu_int(t, "live_blocks");
    json_decref(r);
}

static pid_t child_pid(const char *stdout_text)
{
    int pid = 0;
    const char *at = strstr(stdout_text, "child ");
    ck_assert_msg(at && sscanf(at, "child %d", &pid) == 1, "no child pid in: %s", stdout_text);
    return pid;
}

/* Objects with a TLS segment that the shim adds to the process: libleakwatch.so and libunwind.so.8. */
#define SHIM_TLS_MODULES 2
#define DTV_ENTRY_BYTES 16

static void compare(const char *label, const char *out, pid_t vg_pid, pid_t shim_pid, int threads_alive)
{
    long long vb, vn, sb, sn;
    valgrind_in_use(vg_pid, &vb, &vn);
    shim_live(out, shim_pid, &sb, &sn);
    long long dtv_growth = (long long)threads_alive * SHIM_TLS_MODULES * DTV_ENTRY_BYTES;
    fprintf(stderr, "exactness %-16s valgrind %lld bytes in %lld blocks, shim %lld bytes in %lld blocks%s\n", label,
            vb, vn, sb, sn, dtv_growth ? " (DTVs of live threads grow with the shim's TLS)" : "");
    ck_assert_msg(vb + dtv_growth == sb && vn == sn, "%s: valgrind says %lld bytes in %lld blocks in use at exit, "
                  "the shim %lld bytes in %lld blocks (expected %lld more bytes from the DTVs of live threads)",
                  label, vb, vn, sb, sn, dtv_growth);
}

START_TEST(test_exact)
{
    const struct target *t = &targets[_i];
    char *out = tu_strf("%s/reports", tmp);
    struct tu_env base, shim_env;
    base_env(&base, out);

    struct tu_proc probe = probe_valgrind_env(base.vars);
    env_from_nul_list(&shim_env, probe.out, probe.out_len);
    const char *found = tu_env_get(&shim_env, "LD_PRELOAD");
    ck_assert_msg(found && strstr(found, "vgpreload"), "valgrind's client has no vgpreload in LD_PRELOAD");
    char *vg_preload = strdup(found);
    char *preload = padded_shim_path(strlen(vg_preload));
    tu_env_set(&shim_env, "LD_PRELOAD", preload);

    /* The shim's client must see byte for byte what valgrind's saw (apart from LD_PRELOAD's value). */
    struct tu_proc check;
    char *env_argv[] = { "/usr/bin/env", "-0", NULL };
    tu_spawn(&check, env_argv, shim_env.vars, tmp);
    tu_finish(&check, RUN_LIMIT_S);
    ck_assert_int_eq(check.out_len, probe.out_len);
    char *shim_preload = NULL;
    for (size_t at = 0; at < check.out_len; at += strlen(check.out + at) + 1)
        if (strncmp(check.out + at, "LD_PRELOAD=", 11) == 0)
            shim_preload = check.out + at + 11;
    ck_assert_msg(shim_preload && strcmp(shim_preload, preload) == 0, "LD_PRELOAD under the shim is not %s", preload);
    memcpy(shim_preload, vg_preload, strlen(vg_preload));
    ck_assert_msg(memcmp(check.out, probe.out, probe.out_len) == 0, "the environments differ");

    char *argv[8];
    argv_of(t, argv, 8);
    char *log_opt = tu_strf("--log-file=%s/vg.%%p", tmp);
    char *vg_argv[12] = { VALGRIND, "--run-libc-freeres=no", "--run-cxx-freeres=no", "--leak-check=summary",
                          log_opt };
    for (size_t i = 0; argv[i]; i++)
        vg_argv[5 + i] = argv[i];
    struct tu_proc vg, sh;
    tu_spawn(&vg, vg_argv, base.vars, tmp);
    tu_finish(&vg, RUN_LIMIT_S);
    ck_assert_msg(!vg.timed_out, "%s under valgrind timed out", t->label);
    tu_spawn(&sh, argv, shim_env.vars, tmp);
    tu_finish(&sh, RUN_LIMIT_S);
    ck_assert_msg(!sh.timed_out && WIFEXITED(sh.status), "%s under the shim: %s\n%s", t->label,
                  tu_status_str(&sh), sh.err);

    /* The real programs must have done the same work in both runs. (Fixtures print pids, and valgrind's
     * calloc does not set errno on overflow, which alloc_semantics reports.) */
    if (!t->fixture)
        ck_assert_msg(strcmp(vg.out, sh.out) == 0, "%s printed different output under valgrind:\n%s\nand under the "
                      "shim:\n%s", t->label, vg.out, sh.out);
    compare(t->label, out, vg.pid, sh.pid, strcmp(t->label, "threads_alive") == 0 ? THREADS_ALIVE_AT_EXIT : 0);
    if (strcmp(t->label, "leak_fork") == 0) {
        char *label = tu_strf("%s child", t->label);
        compare(label, out, child_pid(vg.out), child_pid(sh.out), 0);
        free(label);
    }

    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(log_opt);
    free(preload);
    free(vg_preload);
    free(out);
    tu_proc_free(&probe);
    tu_proc_free(&check);
    tu_proc_free(&vg);
    tu_proc_free(&sh);
    tu_env_free(&base);
    tu_env_free(&shim_env);
}
END_TEST

static Suite *exactness_suite(void)
{
    Suite *s = suite_create("exactness");
    TCase *tc = tcase_create("valgrind");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_exact, 0, (int)(sizeof targets / sizeof *targets));
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(exactness_suite)
