/* testutil — what the Check suites share: run a program with an exact environment (under the shim,
 * under valgrind, or bare), capture its output with a time limit, read the reports it leaves, and set up
 * the shim's core for the tests that link it in-process.
 * Test-only code: it may allocate freely and reports failures through Check's ck_abort_msg. */
#ifndef TU_TESTUTIL_H
#define TU_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* An environment in the order it will be handed to execve (order and lengths matter for exactness). */
struct tu_env {
    char **vars;    /* "NAME=value", NULL-terminated */
    size_t n, cap;
};

void tu_env_init(struct tu_env *env);
void tu_env_free(struct tu_env *env);
/* Replaces NAME in place when present (keeping its position), else appends. */
void tu_env_set(struct tu_env *env, const char *name, const char *value);
void tu_env_unset(struct tu_env *env, const char *name);
/* The value of NAME, or NULL. */
const char *tu_env_get(const struct tu_env *env, const char *name);
/* PATH=/usr/bin:/bin, LANG=C.UTF-8, LEAKWATCH_OUT=out: the base every test run starts from. */
void tu_env_base(struct tu_env *env, const char *out);
/* The base plus LD_PRELOAD of the shim under test. */
void tu_env_shim(struct tu_env *env, const char *out);
/* tu_env_shim (or tu_env_base when shim is 0) plus "NAME=value" settings (a NULL-terminated list, may be NULL). */
void tu_env_with(struct tu_env *env, const char *out, int shim, const char *const *settings);

/* glibc keeps each joined thread's TLS vector (DTV), a heap block, live in its stack cache: the program did
 * not leak it, yet it would be counted. Tests that count threads' blocks exactly pass this setting. */
#define TU_NO_STACK_CACHE "GLIBC_TUNABLES=glibc.pthread.stack_cache_size=0"

/* A running child with its stdout and stderr captured through pipes; stdin is /dev/null. */
struct tu_proc {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err;     /* everything read so far, NUL-terminated */
    size_t out_len, err_len;
    int status;          /* waitpid status once finished */
    int timed_out;       /* the child was killed because it overran the time limit */
};

/* Starts argv[0] (a path) with exactly envp in directory cwd (NULL: the current one). */
void tu_spawn(struct tu_proc *p, char *const argv[], char *const envp[], const char *cwd);
/* Reads stdout until it contains needle; returns 0, or -1 at EOF or after timeout_s. */
int tu_read_until(struct tu_proc *p, const char *needle, double timeout_s);
/* Reads both pipes to EOF and reaps the child; kills it with SIGKILL after timeout_s. */
void tu_finish(struct tu_proc *p, double timeout_s);
void tu_proc_free(struct tu_proc *p);
/* tu_spawn + tu_finish. */
void tu_run(struct tu_proc *p, char *const argv[], char *const envp[], double timeout_s);
/* "exit 3", "signal 9" or "timed out": for messages. */
const char *tu_status_str(const struct tu_proc *p);

/* $LEAKWATCH_BUILD (absolute build/ directory); fails the test when it is not set. */
const char *tu_build_dir(void);
/* $LEAKWATCH_BUILD/fixtures/name. */
char *tu_fixture(const char *name);
/* $LEAKWATCH_BUILD/libleakwatch.so. */
char *tu_shim_path(void);
/* Starts argv (looked up in PATH) with this process's environment plus env ("NAME=value", NULL-terminated,
 * may be NULL), stdin from /dev/null and stdout+stderr appended to out_path (NULL: inherited): for long-lived
 * servers whose logs are read afterwards. */
pid_t tu_spawn_logged(char *const argv[], char *const env[], const char *out_path);
/* Waits for a child; returns its wait status, -1 (after SIGKILL) when it overran timeout_s, -2 if not a child. */
int tu_wait_pid(pid_t pid, double timeout_s);
/* tu_wait_pid's status as text ("exit 3", "signal 9", "timed out"), a fresh string. */
char *tu_wait_str(int status);
void tu_sleep_ms(int ms);
/* printf into a fresh string. */
char *tu_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A fresh private directory (under the test case's base directory when there is one, else under $TMPDIR
 * or /tmp); tu_rmtree removes it and everything below. */
char *tu_tempdir(void);
/* Unchecked fixture (runs in the runner process): one base directory per test case, removed with all
 * that the tests left in it, even those that failed. */
void tu_tempbase_setup(void);
void tu_tempbase_teardown(void);
void tu_rmtree(const char *dir);
/* Whole file as a NUL-terminated string, or NULL. */
char *tu_slurp(const char *path);
/* Monotonic seconds. */
double tu_now(void);

/* The report dir/program.pid.seq.json; fails the test when it is missing or not JSON. */
json_t *tu_report(const char *dir, const char *program, pid_t pid, int seq);
/* The report of process pid with the given reason, whatever the program's name, or NULL. */
json_t *tu_find_report(const char *dir, pid_t pid, const char *reason);
/* The same path with the given suffix ("json" or "txt"). */
char *tu_report_path(const char *dir, const char *program, pid_t pid, int seq, const char *suffix);
/* Number of files in dir whose name starts with prefix (e.g. "leak_direct."). */
int tu_count_files(const char *dir, const char *prefix);
/* An integer member of obj (fails the test when missing). */
long long tu_int(json_t *obj, const char *key);
/* A string member of obj (fails the test when missing or not a string). */
const char *tu_str(json_t *obj, const char *key);
/* Does any frame of the array have "function" == fn? */
int tu_frames_name(json_t *frames, const char *fn);
/* The site whose key frames name fn (fails the test when there is none or more than one). */
json_t *tu_site(json_t *report, const char *fn);
/* How many sites' key frames name fn. */
int tu_sites_naming(json_t *report, const char *fn);

/* For the tests that link the shim's core in-process (no LD_PRELOAD): resets shim_state's settings to
 * records 3, site depth 4, depth 64, top 20 (all others 0), sets the start time and pid, and starts the
 * tracking tables (failing the test when they cannot start). */
void tu_shim_core_setup(void);

/* A report's totals.live_bytes and live_blocks are exactly bytes and blocks. */
void tu_assert_totals(json_t *report, long long bytes, long long blocks);

#endif
