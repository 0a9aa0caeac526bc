/* testutil — process running and report reading for the integration tests (see testutil.h).
 * Every failure here is a test failure: helpers call ck_abort_msg rather than return errors the callers
 * would have to check, so a test reads as the behaviour it asserts. */
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "track.h"

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    ck_assert_msg(p != NULL, "out of memory");
    return p;
}

char *tu_strf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0, "out of memory");
    return s;
}

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_env_init(struct tu_env *env)
{
    env->n = 0;
    env->cap = 16;
    env->vars = xrealloc(NULL, env->cap * sizeof *env->vars);
    env->vars[0] = NULL;
}

void tu_env_free(struct tu_env *env)
{
    for (size_t i = 0; i < env->n; i++)
        free(env->vars[i]);
    free(env->vars);
    env->vars = NULL;
    env->n = env->cap = 0;
}

static ssize_t env_find(const struct tu_env *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->vars[i], name, len) == 0 && env->vars[i][len] == '=')
            return (ssize_t)i;
    return -1;
}

void tu_env_set(struct tu_env *env, const char *name, const char *value)
{
    char *var = tu_strf("%s=%s", name, value);
    ssize_t i = env_find(env, name);
    if (i >= 0) {
        free(env->vars[i]);
        env->vars[i] = var;
        return;
    }
    if (env->n + 2 > env->cap) {
        env->cap *= 2;
        env->vars = xrealloc(env->vars, env->cap * sizeof *env->vars);
    }
    env->vars[env->n++] = var;
    env->vars[env->n] = NULL;
}

void tu_env_unset(struct tu_env *env, const char *name)
{
    ssize_t i = env_find(env, name);
    if (i < 0)
        return;
    free(env->vars[i]);
    memmove(&env->vars[i], &env->vars[i + 1], (env->n - (size_t)i) * sizeof *env->vars);
    env->n--;
}

const char *tu_env_get(const struct tu_env *env, const char *name)
{
    ssize_t i = env_find(env, name);
    return i < 0 ? NULL : env->vars[i] + strlen(name) + 1;
}

void tu_env_base(struct tu_env *env, const char *out)
{
    tu_env_init(env);
    tu_env_set(env, "PATH", "/usr/bin:/bin");
    tu_env_set(env, "LANG", "C.UTF-8");
    tu_env_set(env, "LEAKWATCH_OUT", out);
}

void tu_env_shim(struct tu_env *env, const char *out)
{
    tu_env_base(env, out);
    char *shim = tu_shim_path();
    tu_env_set(env, "LD_PRELOAD", shim);
    free(shim);
}

void tu_env_with(struct tu_env *env, const char *out, int shim, const char *const *settings)
{
    if (shim)
        tu_env_shim(env, out);
    else
        tu_env_base(env, out);
    for (; settings && *settings; settings++) {
        char *name = strdup(*settings);
        char *eq = strchr(name, '=');
        ck_assert_msg(eq != NULL, "bad setting %s", *settings);
        *eq = '\0';
        tu_env_set(env, name, eq + 1);
        free(name);
    }
}

const char *tu_build_dir(void)
{
    const char *b = getenv("LEAKWATCH_BUILD");
    ck_assert_msg(b && b[0] == '/',
                  "LEAKWATCH_BUILD must name the absolute build/ directory (make check sets it)");
    return b;
}

char *tu_fixture(const char *name)
{
    char *path = tu_strf("%s/fixtures/%s", tu_build_dir(), name);
    ck_assert_msg(access(path, X_OK) == 0, "fixture %s is not built (make all)", path);
    return path;
}

char *tu_shim_path(void)
{
    char *path = tu_strf("%s/libleakwatch.so", tu_build_dir());
    ck_assert_msg(access(path, R_OK) == 0, "%s is not built", path);
    return path;
}

/* Made in the runner process by tu_tempbase_setup, so that its teardown, also run there, removes what
 * failed tests leave: Check ends a failed test's process with _exit, before the test's own teardown. */
static char *temp_base;

void tu_tempbase_setup(void)
{
    const char *base = getenv("TMPDIR");
    temp_base = tu_strf("%s/lwtest.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(temp_base) != NULL, "mkdtemp %s: %s", temp_base, strerror(errno));
}

void tu_tempbase_teardown(void)
{
    tu_rmtree(temp_base);
    free(temp_base);
    temp_base = NULL;
}

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = temp_base ? tu_strf("%s/t.XXXXXX", temp_base)
                           : tu_strf("%s/lwtest.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
    return tmpl;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void tu_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t len = 0, cap = 4096;
    char *s = xrealloc(NULL, cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            s = xrealloc(s, cap *= 2);
    }
    fclose(f);
    s[len] = '\0';
    return s;
}

void tu_spawn(struct tu_proc *p, char *const argv[], char *const envp[], const char *cwd)
{
    int out[2], err[2];
    memset(p, 0, sizeof *p);
    ck_assert_msg(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    p->pid = fork();
    ck_assert_msg(p->pid >= 0, "fork: %s", strerror(errno));
    if (p->pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        /* Check runs tests with signals it may have blocked; the program must start clean. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execve(argv[0], argv, envp);
        dprintf(2, "testutil: execve %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    p->out_fd = out[0];
    p->err_fd = err[0];
    p->out = xrealloc(NULL, 1);
    p->err = xrealloc(NULL, 1);
    p->out[0] = p->err[0] = '\0';
}

/* Appends what is readable on fd; closes it at EOF (or on an error other than EINTR). */
static void drain(int *fd, char **buf, size_t *len)
{
    char chunk[4096];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    *buf = xrealloc(*buf, *len + (size_t)n + 1);
    memcpy(*buf + *len, chunk, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = '\0';
}

/* One poll round over the open pipes; returns -1 when both are closed. */
static int pump(struct tu_proc *p, int timeout_ms)
{
    struct pollfd fds[2] = { { .fd = p->out_fd, .events = POLLIN }, { .fd = p->err_fd, .events = POLLIN } };
    if (p->out_fd < 0 && p->err_fd < 0)
        return -1;
    int r = poll(fds, 2, timeout_ms);
    if (r <= 0)
        return 0;
    if (fds[0].revents)
        drain(&p->out_fd, &p->out, &p->out_len);
    if (fds[1].revents)
        drain(&p->err_fd, &p->err, &p->err_len);
    return 0;
}

int tu_read_until(struct tu_proc *p, const char *needle, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (!strstr(p->out, needle)) {
        double left = end - tu_now();
        if (left <= 0 || p->out_fd < 0)
            return -1;
        pump(p, (int)(left * 1000) + 1);
    }
    return 0;
}

void tu_finish(struct tu_proc *p, double timeout_s)
{
    double end = tu_now() + timeout_s;
    for (;;) {
        double left = end - tu_now();
        if (left <= 0) {
            p->timed_out = 1;
            kill(p->pid, SIGKILL);
            break;
        }
        if (pump(p, (int)(left * 1000) + 1) < 0)
            break;
    }
    /* The pipes may close before the exit (or stay open in a grandchild): wait for the pid itself too. */
    for (;;) {
        pid_t r = waitpid(p->pid, &p->status, p->timed_out ? 0 : WNOHANG);
        if (r == p->pid || (r < 0 && errno != EINTR))
            break;
        if (tu_now() >= end) {
            p->timed_out = 1;
            kill(p->pid, SIGKILL);
        } else {
            struct timespec tick = { 0, 5 * 1000 * 1000 };
            nanosleep(&tick, NULL);
        }
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
}

void tu_proc_free(struct tu_proc *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

void tu_run(struct tu_proc *p, char *const argv[], char *const envp[], double timeout_s)
{
    tu_spawn(p, argv, envp, NULL);
    tu_finish(p, timeout_s);
}

const char *tu_status_str(const struct tu_proc *p)
{
    static __thread char buf[48];
    if (p->timed_out)
        snprintf(buf, sizeof buf, "timed out");
    else if (WIFEXITED(p->status))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(p->status));
    else
        snprintf(buf, sizeof buf, "status 0x%x", (unsigned)p->status);
    return buf;
}

char *tu_report_path(const char *dir, const char *program, pid_t pid, int seq, const char *suffix)
{
    return tu_strf("%s/%s.%d.%d.%s", dir, program, (int)pid, seq, suffix);
}

json_t *tu_report(const char *dir, const char *program, pid_t pid, int seq)
{
    char *path = tu_report_path(dir, program, pid, seq, "json");
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "report %s: %s", path, err.text);
    ck_assert_msg(json_is_object(j), "report %s is not a JSON object", path);
    free(path);
    return j;
}

json_t *tu_find_report(const char *dir, pid_t pid, const char *reason)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *infix = tu_strf(".%d.", (int)pid);
    json_t *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (!strstr(e->d_name, infix) || len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char *path = tu_strf("%s/%s", dir, e->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        const char *why = json_string_value(json_object_get(j, "reason"));
        if (j && why && strcmp(why, reason) == 0 && json_integer_value(json_object_get(j, "pid")) == pid)
            found = j;
        else
            json_decref(j);
        free(path);
    }
    closedir(d);
    free(infix);
    return found;
}

int tu_count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

long long tu_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_integer(v), "\"%s\" is missing or not an integer", key);
    return (long long)json_integer_value(v);
}

const char *tu_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_string(v), "\"%s\" is missing or not a string", key);
    return json_string_value(v);
}

int tu_frames_name(json_t *frames, const char *fn)
{
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f) {
        const char *name = json_string_value(json_object_get(f, "function"));
        if (name && strcmp(name, fn) == 0)
            return 1;
    }
    return 0;
}

int tu_sites_naming(json_t *report, const char *fn)
{
    size_t i;
    json_t *site;
    int n = 0;
    json_array_foreach(json_object_get(report, "sites"), i, site)
        n += tu_frames_name(json_object_get(site, "frames"), fn);
    return n;
}

json_t *tu_site(json_t *report, const char *fn)
{
    size_t i;
    json_t *site, *found = NULL;
    int n = tu_sites_naming(report, fn);
    ck_assert_msg(n == 1, "expected exactly one site whose frames name %s, found %d", fn, n);
    json_array_foreach(json_object_get(report, "sites"), i, site)
        if (tu_frames_name(json_object_get(site, "frames"), fn))
            found = site;
    return found;
}

void tu_assert_totals(json_t *report, long long bytes, long long blocks)
{
    json_t *t = json_object_get(report, "totals");
    ck_assert_msg(json_is_object(t), "no totals");
    ck_assert_msg(tu_int(t, "live_bytes") == bytes && tu_int(t, "live_blocks") == blocks,
                  "totals: %lld bytes in %lld blocks, expected %lld in %lld", tu_int(t, "live_bytes"),
                  tu_int(t, "live_blocks"), bytes, blocks);
}

pid_t tu_spawn_logged(char *const argv[], char *const env[], const char *out_path)
{
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* make check's own variable is no setting of the shim's; the shim would warn about it in every log. */
        unsetenv("LEAKWATCH_BUILD");
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int tu_wait_pid(pid_t pid, double timeout_s)
{
    double end = tu_now() + timeout_s;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -2;
        if (tu_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        tu_sleep_ms(20);
    }
}

char *tu_wait_str(int st)
{
    if (st == -1)
        return tu_strf("timed out");
    if (st == -2)
        return tu_strf("not a child");
    if (WIFEXITED(st))
        return tu_strf("exit %d", WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return tu_strf("signal %d", WTERMSIG(st));
    return tu_strf("status 0x%x", st);
}

void tu_shim_core_setup(void)
{
    memset(&shim_state.config, 0, sizeof shim_state.config);
    shim_state.config.records = 3;
    shim_state.config.site_depth = 4;
    shim_state.config.depth = 64;
    shim_state.config.top = 20;
    shim_state.start_ms = lw_now_ms();
    shim_state.pid = getpid();
    ck_assert_int_eq(track_init(), 0);
}
