/* End-to-end tests on real gateways from Debian (issue 5): nginx (master + two workers as `nobody`, pools on
 * posix_memalign, its own SIGUSR2 for binary upgrade) and a JVM running the Netty gateway of tests/java (HotSpot's
 * own SIGUSR2, JIT frames named from /tmp/perf-<pid>.map). They run the real programs under build/libleakwatch.so
 * and build/leakwatch, put load on them with wrk over loopback, and read the JSON reports. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "check_suites.h"
#include "testutil.h"

#define NGINX_BIN "/usr/sbin/nginx"

/* ------------------------------------------------------------------------------------------------------------
 * Processes. Everything a test starts stays in the test's process group, so Check's timeout (which kills that
 * group) also ends it; a failed assertion exits the test process, and the atexit hook kills what is left. */

#define MAX_KIDS 32
static pid_t kids[MAX_KIDS];
static int nkids;
static int atexit_done;

static void kids_kill_all(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            waitpid(kids[i], NULL, WNOHANG);
    nkids = 0;
}

static void kids_add(pid_t pid)
{
    if (!atexit_done) {
        atexit(kids_kill_all);
        atexit_done = 1;
    }
    for (int i = 0; i < nkids; i++)
        if (kids[i] == pid)
            return;
    if (nkids < MAX_KIDS)
        kids[nkids++] = pid;
}

/* The last `max` bytes of a log file, for failure messages. */
static char *tail_of(const char *path, size_t max)
{
    char *s = tu_slurp(path);
    if (!s)
        return tu_strf("(%s unreadable)", path);
    size_t len = strlen(s);
    if (len > max) {
        char *t = tu_strf("...%s", s + len - max);
        free(s);
        return t;
    }
    return s;
}

/* The source tree: build/ sits at its top. */
static char *src_path(const char *rel)
{
    char *b = tu_strf("%s", tu_build_dir());
    size_t len = strlen(b);
    while (len > 1 && b[len - 1] == '/')
        b[--len] = '\0';
    *strrchr(b, '/') = '\0';
    char *p = tu_strf("%s/%s", b, rel);
    free(b);
    return p;
}

static int on_path(const char *cmd)
{
    const char *path = getenv("PATH");
    char *dirs = tu_strf("%s", path ? path : "/usr/bin:/bin");
    int found = 0;
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = tu_strf("%s/%s", d, cmd);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(dirs);
    return found;
}

static void need_cmd(const char *cmd, const char *pkg)
{
    ck_assert_msg(on_path(cmd), "%s is not installed (Debian package %s; scripts/deps.sh installs it)", cmd, pkg);
}

static void need_built(const char *name)
{
    char *p = tu_strf("%s/%s", tu_build_dir(), name);
    ck_assert_msg(access(p, R_OK) == 0, "%s is missing: build it first (make all)", p);
    free(p);
}

/* tu_spawn_logged, the child remembered so that a failed test's leftovers are killed. */
static pid_t spawn(char *const argv[], char *const env[], const char *out_path)
{
    pid_t pid = tu_spawn_logged(argv, env, out_path);
    kids_add(pid);
    return pid;
}

/* Runs a command to completion with output into out_path; returns the wait status (-1: timed out). */
static int run_cmd(char *const argv[], char *const env[], const char *out_path, double timeout_s)
{
    return tu_wait_pid(spawn(argv, env, out_path), timeout_s);
}

static int alive(pid_t pid)
{
    char *p = tu_strf("/proc/%d/stat", (int)pid);
    char *s = tu_slurp(p);
    free(p);
    if (!s)
        return 0;
    /* A zombie no longer runs: the state letter follows the ")" of the command name. */
    char *rp = strrchr(s, ')');
    int ok = rp && rp[1] == ' ' && rp[2] != 'Z';
    free(s);
    return ok;
}

static pid_t ppid_of(pid_t pid)
{
    char *p = tu_strf("/proc/%d/stat", (int)pid);
    char *s = tu_slurp(p);
    free(p);
    if (!s)
        return -1;
    char *rp = strrchr(s, ')');
    int ppid = -1;
    char state;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        ppid = -1;
    free(s);
    return ppid;
}

static uid_t uid_of(pid_t pid)
{
    char *p = tu_strf("/proc/%d/status", (int)pid);
    char *s = tu_slurp(p);
    free(p);
    ck_assert_msg(s != NULL, "process %d is gone", (int)pid);
    char *u = strstr(s, "\nUid:");
    unsigned ruid = 0, euid = 0;
    ck_assert_msg(u && sscanf(u + 5, "%u %u", &ruid, &euid) == 2, "no Uid line for %d", (int)pid);
    free(s);
    return euid;
}

/* Up to max children of parent, in increasing pid order. */
static int children_of(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    ck_assert_msg(d != NULL, "opendir /proc: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (ppid_of((pid_t)pid) == parent && alive((pid_t)pid))
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j] < out[j - 1]; j--) {
            pid_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static int maps_have(pid_t pid, const char *needle)
{
    char *p = tu_strf("/proc/%d/maps", (int)pid);
    char *s = tu_slurp(p);
    free(p);
    int found = s && strstr(s, needle);
    free(s);
    return found;
}

/* The JIT symbol map a JVM leaves behind once jcmd Compiler.perfmap (or leakwatch dump) made it. */
static void remove_perf_map(pid_t pid)
{
    char *p = tu_strf("/tmp/perf-%d.map", (int)pid);
    unlink(p);
    free(p);
}

/* ------------------------------------------------------------------------------------------------------------
 * Network. */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                      getsockname(fd, (struct sockaddr *)&a, &len) == 0,
                  "no free loopback port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Waits until something accepts connections on the port, or the process dies, or timeout_s passes. */
static int wait_port(int port, pid_t pid, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (tu_now() < end) {
        int fd = connect_port(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (pid > 0 && !alive(pid))
            return -1;
        tu_sleep_ms(50);
    }
    return -1;
}

/* One GET with its own connection; returns the HTTP status code, or -1. */
static int http_status(int port, const char *path)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *req = tu_strf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    ssize_t w = write(fd, req, strlen(req));
    free(req);
    char buf[64] = "";
    ssize_t n = w > 0 ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    int code = -1;
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
            code = -1;
    }
    return code;
}

/* wrk on loopback for a bounded time; the test fails when wrk cannot run or gets no responses. */
static void load(int port, const char *path, int seconds, const char *log)
{
    char *url = tu_strf("http://127.0.0.1:%d%s", port, path);
    char *dur = tu_strf("%ds", seconds);
    char *argv[] = { "wrk", "-t1", "-c4", "-d", dur, url, NULL };
    int st = run_cmd(argv, NULL, log, seconds + 30);
    char *s = tu_wait_str(st);
    char *out = tail_of(log, 800);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wrk against %s: %s\n%s", url, s, out);
    ck_assert_msg(strstr(out, "requests in") != NULL, "wrk made no requests against %s:\n%s", url, out);
    free(out);
    free(s);
    free(url);
    free(dur);
}

/* ------------------------------------------------------------------------------------------------------------
 * Files and reports. */

static int wait_file(const char *path, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (access(path, F_OK) != 0) {
        if (tu_now() > end)
            return -1;
        tu_sleep_ms(50);
    }
    return 0;
}

/* Where the shim writes when LEAKWATCH_OUT is not set: the uid at the moment of writing. */
static char *default_out(uid_t uid)
{
    return tu_strf("/tmp/leakwatch-%u", (unsigned)uid);
}

/* Waits for the report and loads its JSON (the .json is renamed into place last of the two, by contract). */
static json_t *wait_report(const char *dir, const char *prog, pid_t pid, int seq, double timeout_s,
                           const char *log)
{
    char *path = tu_report_path(dir, prog, pid, seq, "json");
    if (wait_file(path, timeout_s) != 0) {
        char *t = log ? tail_of(log, 1500) : tu_strf("(no log)");
        ck_abort_msg("no report %s within %.0f s (process %d %s); its output:\n%s", path, timeout_s, (int)pid,
                     alive(pid) ? "alive" : "gone", t);
    }
    json_error_t err;
    json_t *j = NULL;
    /* The file appears by rename, so it is complete; retry once in case of a reader racing a slow filesystem. */
    for (int i = 0; i < 2 && !j; i++) {
        j = json_load_file(path, 0, &err);
        if (!j)
            tu_sleep_ms(200);
    }
    ck_assert_msg(j != NULL, "%s is not valid JSON: %s (line %d)", path, err.text, err.line);
    free(path);
    return j;
}

static void remove_reports(const char *dir, const char *prog, pid_t pid)
{
    for (int seq = 1; seq <= 8; seq++) {
        char *j = tu_report_path(dir, prog, pid, seq, "json"), *t = tu_report_path(dir, prog, pid, seq, "txt");
        unlink(j);
        unlink(t);
        free(j);
        free(t);
    }
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "report member \"%s\" is missing or not an integer", key);
    return json_integer_value(v);
}

/* Does one frame name both a and b (e.g. a class and a method)? A Java frame ("java" in the JSON) is matched
 * as class.method(file:line). */
static int frames_name(json_t *frames, const char *a, const char *b)
{
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f) {
        json_t *j = json_object_get(f, "java");
        char *fn = j ? tu_strf("%s.%s(%s:%lld)", jstr(j, "class"), jstr(j, "method"), jstr(j, "file"),
                            json_integer_value(json_object_get(j, "line")))
                     : tu_strf("%s", jstr(f, "function"));
        int hit = strstr(fn, a) && (!b || strstr(fn, b));
        free(fn);
        if (hit)
            return 1;
    }
    return 0;
}

static char *frames_str(json_t *frames, int max)
{
    size_t i;
    json_t *f;
    char *s = tu_strf("%s", "");
    json_array_foreach(frames, i, f) {
        if ((int)i >= max)
            break;
        json_t *j = json_object_get(f, "java");
        char *fn = j ? tu_strf("%s.%s", jstr(j, "class"), jstr(j, "method")) : tu_strf("%s", jstr(f, "function"));
        char *n = tu_strf("%s\n\t%s %s", s, jstr(f, "ip"), fn[0] ? fn : "??");
        free(fn);
        free(s);
        s = n;
    }
    return s;
}

/* Is this creation stack a direct buffer's malloc (os::malloc <- Unsafe_AllocateMemory0) for a body, made by
 * UnpooledByteBufAllocator.newDirectBuffer for the gateway's buildOrderBody? (The JVM's own mallocs while those
 * methods run, e.g. loading a class, name them too, further down.) */
static int body_stack(json_t *at)
{
    json_t *second = json_array_get(at, 1);
    return second && strcmp(jstr(second, "function"), "Unsafe_AllocateMemory0") == 0 &&
           frames_name(at, "UnpooledByteBufAllocator", "newDirectBuffer") && frames_name(at, "buildOrderBody", NULL);
}

/* The LEAK group (sites[].leaks[]) whose "Created at" names newDirectBuffer of UnpooledByteBufAllocator and the
 * gateway's buildOrderBody, or NULL. */
static json_t *netty_leak(json_t *report)
{
    size_t i, k;
    json_t *site, *leak;
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        json_array_foreach(json_object_get(site, "leaks"), k, leak) {
            if (body_stack(json_object_get(leak, "created_at")))
                return leak;
        }
    }
    return NULL;
}

/* Blocks in every LEAK group created at newDirectBuffer by buildOrderBody, and how many groups there are: the
 * compiled versions of the path must be one group. */
static long long netty_leak_blocks(json_t *report, int *groups)
{
    size_t i, k;
    json_t *site, *leak;
    long long blocks = 0;
    *groups = 0;
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        json_array_foreach(json_object_get(site, "leaks"), k, leak) {
            if (body_stack(json_object_get(leak, "created_at"))) {
                blocks += jint(leak, "blocks");
                ++*groups;
            }
        }
    }
    return blocks;
}

/* For failure messages: the creation stacks of the biggest LEAK groups on the heap. */
static char *leaks_summary(json_t *report, int max_groups)
{
    size_t i, k;
    json_t *site, *leak;
    int n = 0;
    char *s = tu_strf("%s", "");
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        if (strcmp(jstr(site, "kind"), "heap") != 0)
            continue;
        json_array_foreach(json_object_get(site, "leaks"), k, leak) {
            if (n++ >= max_groups)
                return s;
            char *fr = frames_str(json_object_get(leak, "created_at"), 14);
            char *t = tu_strf("%sLEAK group: %lld blocks, %lld bytes; created at:%s\n", s, jint(leak, "blocks"),
                           jint(leak, "bytes"), fr);
            free(fr);
            free(s);
            s = t;
        }
    }
    return s;
}

/* ------------------------------------------------------------------------------------------------------------
 * The Java gateway. */

struct jvm {
    char *dir;      /* temporary directory: reports/, logs, JFR files */
    char *out;      /* LEAKWATCH_OUT */
    char *log;      /* the JVM's stdout+stderr */
    int port;
    pid_t pid;
};

/* Compiles tests/java (cached by mtime) and returns the classpath. */
static char *java_classpath(const char *dir)
{
    need_cmd("javac", "openjdk-17-jdk-headless");
    char *script = src_path("tests/e2e/build-java.sh");
    char *out = tu_strf("%s/classpath.txt", dir);
    char *argv[] = { script, (char *)tu_build_dir(), NULL };
    int st = run_cmd(argv, NULL, out, 120);
    char *text = tu_slurp(out);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed:\n%s", script, text ? text : "");
    /* The classpath is the last line; javac's messages, if any, come before it. */
    char *nl;
    while ((nl = strrchr(text, '\n')) && nl[1] == '\0')
        *nl = '\0';
    char *last = strrchr(text, '\n');
    char *cp = tu_strf("%s", last ? last + 1 : text);
    free(text);
    free(out);
    free(script);
    return cp;
}

/* The JVM's command line for the gateway, as production runs it (the JIT compiles and inlines as it likes):
 * no-cleaner direct buffers from Netty's default pooled allocator, or its unpooled one (`unpooled`), a crash log
 * (hs_err) in dir instead of the working directory, no core dump. `fp` adds -XX:+PreserveFramePointer (what
 * `leakwatch run` adds by itself). Direct memory may reach 4 GiB: a leaking mode loses up to ~300 MiB a round, and
 * a gateway that runs out (OutOfDirectMemoryError) resets every connection, so its last rounds would show no
 * growth for want of requests rather than for want of a leak. */
static char **java_argv(const char *dir, const char *cp, int port, const char *mode, int fp, int unpooled)
{
    static char *opts[] = {
        "-Xmx256m", "-XX:MaxDirectMemorySize=4g", "-XX:-CreateCoredumpOnCrash",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "--add-opens", "java.base/java.nio=ALL-UNNAMED", "--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED",
    };
    size_t nopts = sizeof opts / sizeof opts[0];
    char **argv = calloc(nopts + 10, sizeof *argv);
    size_t n = 0;
    argv[n++] = "java";
    if (fp)
        argv[n++] = "-XX:+PreserveFramePointer";
    argv[n++] = tu_strf("-XX:ErrorFile=%s/hs_err_%%p.log", dir);
    if (unpooled)
        argv[n++] = "-Dio.netty.allocator.type=unpooled";
    else
        argv[n++] = "-Dgateway.items=360";   /* ~16 KiB bodies: a leak fills a 16 MiB chunk every ~1,000 requests */
    for (size_t i = 0; i < nopts; i++)
        argv[n++] = opts[i];
    argv[n++] = "-cp";
    argv[n++] = (char *)cp;
    argv[n++] = "NettyGateway";
    argv[n++] = tu_strf("%d", port);
    argv[n++] = (char *)mode;
    argv[n] = NULL;
    return argv;
}

/* The gateway prints "useDirectBufferNoCleaner=true": without it direct memory is not malloc freed by release(). */
static void check_no_cleaner(const char *log, int unpooled)
{
    char *text = tu_slurp(log);
    const char *want = unpooled ? "allocator=io.netty.buffer.UnpooledByteBufAllocator"
                                : "allocator=io.netty.buffer.PooledByteBufAllocator";
    ck_assert_msg(text && strstr(text, "useDirectBufferNoCleaner=true") && strstr(text, want),
                  "the gateway does not use Netty's no-cleaner direct buffers (%s):\n%.2500s", want, text ? text : "");
    free(text);
}

/* "NettyGateway.buildOrderBody(NettyGateway.java:N)" with N the line of tests/java/NettyGateway.java that allocates
 * the body: a report must name that line, never a neighbour. */
static char *body_frame(void)
{
    char *path = src_path("tests/java/NettyGateway.java");
    char *text = tu_slurp(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    int line = 1;
    const char *at = strstr(text, "ByteBuf body = alloc.directBuffer(");
    ck_assert_msg(at != NULL, "%s does not allocate the body with alloc.directBuffer", path);
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    free(path);
    return tu_strf("NettyGateway.buildOrderBody(NettyGateway.java:%d)", line);
}

/* Starts the gateway under the shim (LD_PRELOAD) with reports into a fresh directory. */
static void jvm_start(struct jvm *j, const char *mode, int min_age_s, int unpooled)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_cmd("wrk", "wrk");
    need_built("libleakwatch.so");
    j->dir = tu_tempdir();
    j->out = tu_strf("%s/reports", j->dir);
    mkdir(j->out, 0700);
    j->log = tu_strf("%s/java.log", j->dir);
    j->port = free_port();
    char *cp = java_classpath(j->dir);
    char **argv = java_argv(j->dir, cp, j->port, mode, 1, unpooled);
    /* LEAKWATCH_SITE_DEPTH=20, as docs/gateways.md tells users who preload the shim by hand: at the default
     * depth every direct buffer is one site, and most leaked bodies would be shown under whichever stack that
     * site saw first. */
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), tu_strf("LEAKWATCH_OUT=%s", j->out),
                    tu_strf("LEAKWATCH_MIN_AGE=%ds", min_age_s), "LEAKWATCH_SITE_DEPTH=20", NULL };
    j->pid = spawn(argv, env, j->log);
    if (wait_port(j->port, j->pid, 60) != 0) {
        char *t = tail_of(j->log, 2000);
        ck_abort_msg("the Java gateway under the shim did not listen on port %d within 60 s:\n%s", j->port, t);
    }
    check_no_cleaner(j->log, unpooled);
}

static void jvm_stop(struct jvm *j)
{
    if (j->pid > 0 && alive(j->pid)) {
        kill(j->pid, SIGTERM);
        if (tu_wait_pid(j->pid, 20) == -1)
            fprintf(stderr, "check_e2e: the JVM %d needed SIGKILL\n", (int)j->pid);
    }
    j->pid = 0;
}

/* jcmd PID ARGS...: fails the test unless jcmd succeeds; output into dir/jcmd.log. */
static void jcmd(struct jvm *j, const char *a1, const char *a2, const char *a3)
{
    char *pid = tu_strf("%d", (int)j->pid);
    char *log = tu_strf("%s/jcmd.log", j->dir);
    char *argv[] = { "jcmd", pid, (char *)a1, (char *)a2, (char *)a3, NULL };
    int st = run_cmd(argv, NULL, log, 60);
    char *t = tail_of(log, 1500);
    char *s = tu_wait_str(st);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "jcmd %s %s: %s\n%s", pid, a1, s, t);
    free(s);
    free(t);
    free(log);
    free(pid);
}

/* The number of jdk.ExecutionSample events in a JFR file, from `jfr summary`. */
static long jfr_execution_samples(const char *dir, const char *jfr_file)
{
    need_cmd("jfr", "openjdk-17-jdk-headless");
    char *log = tu_strf("%s/jfr-summary.txt", dir);
    char *argv[] = { "jfr", "summary", (char *)jfr_file, NULL };
    int st = run_cmd(argv, NULL, log, 60);
    char *text = tu_slurp(log);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && text, "jfr summary %s failed:\n%s",
                  jfr_file, text ? text : "");
    long count = -1;
    const char *p = strstr(text, "jdk.ExecutionSample ");
    if (p)
        sscanf(p + strlen("jdk.ExecutionSample"), "%ld", &count);
    ck_assert_msg(count >= 0, "no jdk.ExecutionSample line in `jfr summary %s`:\n%s", jfr_file, text);
    free(text);
    free(log);
    return count;
}

/* kill -USR2 on a JVM under the shim gives a report, the JVM keeps serving, HotSpot's own use of SIGUSR2 (thread
 * suspension for JFR's execution sampler) still works, and the report names the Java code that allocated (checked
 * last, so that a failure there does not hide the others). */
START_TEST(java_usr2_report_names_frames)
{
    struct jvm j = { 0 };
    jvm_start(&j, "leak", 1, 1);
    char *wrk_log = tu_strf("%s/wrk.log", j.dir);
    load(j.port, "/orders", 8, wrk_log);

    /* no `jcmd PID Compiler.perfmap`: the shim names Java frames itself */
    ck_assert_int_eq(kill(j.pid, SIGUSR2), 0);
    json_t *rep = wait_report(j.out, "java", j.pid, 1, 60, j.log);
    tu_sleep_ms(500);
    char *t = tail_of(j.log, 2000);
    ck_assert_msg(alive(j.pid), "the JVM died after kill -USR2:\n%s", t);
    ck_assert_str_eq(jstr(rep, "reason"), "signal");
    ck_assert_int_eq(jint(rep, "pid"), j.pid);
    ck_assert_msg(strstr(t, "leakwatch: report #1 (signal) for java[") != NULL,
                  "no report line on the JVM's stderr:\n%s", t);
    free(t);
    ck_assert_int_eq(http_status(j.port, "/orders/after-report"), 200);

    /* JFR's sampler suspends threads with HotSpot's SIGUSR2 (SR_handler): samples prove it still works. */
    char *jfr_file = tu_strf("%s/after-report.jfr", j.dir);
    char *fname = tu_strf("filename=%s", jfr_file);
    jcmd(&j, "JFR.start", "name=lw", "settings=profile");
    load(j.port, "/orders", 3, wrk_log);
    jcmd(&j, "JFR.dump", "name=lw", fname);
    long samples = jfr_execution_samples(j.dir, jfr_file);
    ck_assert_msg(samples > 0, "JFR recorded no jdk.ExecutionSample after the shim's SIGUSR2 report");
    ck_assert_msg(alive(j.pid), "the JVM died while JFR was sampling");
    ck_assert_int_eq(http_status(j.port, "/orders/end"), 200);

    json_t *leak = netty_leak(rep);
    if (!leak) {
        char *sum = leaks_summary(rep, 3);
        ck_abort_msg("no LEAK record created at UnpooledByteBufAllocator.newDirectBuffer + buildOrderBody in "
                     "%s/java.%d.1.json; the biggest heap groups:\n%.2500s", j.out, (int)j.pid, sum);
    }
    /* The JIT compiled and inlined the path several times over during the load: still one record. */
    int groups = 0;
    long long blocks = netty_leak_blocks(rep, &groups);
    ck_assert_msg(blocks >= 1000, "only %lld leaked bodies after 8 s of load", blocks);
    ck_assert_msg(groups == 1, "the leaked bodies are split into %d LEAK records (one per compiled version?) in "
                  "%s/java.%d.1.json", groups, j.out, (int)j.pid);

    /* Java frames as a Java stack trace shows them, inlined and interpreted ones included. */
    char *txt_path = tu_report_path(j.out, "java", j.pid, 1, "txt");
    char *txt = tu_slurp(txt_path);
    ck_assert_msg(txt && strstr(txt, "LEAK: ") && strstr(txt, "Created at"), "%s has no LEAK record", txt_path);
    const char *want[] = {
        "\tio.netty.buffer.UnpooledByteBufAllocator.newDirectBuffer(UnpooledByteBufAllocator.java:",
        "\tio.netty.buffer.AbstractByteBufAllocator.directBuffer(AbstractByteBufAllocator.java:",
        "\tjdk.internal.misc.Unsafe.allocateMemory0(Native Method)\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(txt, want[i]) != NULL, "%s does not name the frame \"%s\"", txt_path, want[i] + 1);
    char *body = body_frame();
    ck_assert_msg(strstr(txt, body) != NULL, "%s does not name the frame \"%s\"", txt_path, body);
    free(body);
    ck_assert_msg(strstr(txt, "Interpreter+0x") == NULL, "%s names a frame Interpreter+0x...", txt_path);

    remove_perf_map(j.pid);
    jvm_stop(&j);
    json_decref(rep);
    tu_rmtree(j.dir);
    free(txt);
    free(txt_path);
    free(jfr_file);
    free(fname);
    free(wrk_log);
}
END_TEST

/* The report leads with the leak, in the first report as a user sees it: start the leaking gateway, apply load, one
 * kill -USR2. Its first LEAK record is the leaked bodies, whose site keeps growing, and says by how much; the JVM's
 * reservations (accounted apart) and the Java heap's committed pages, which grew once at start-up, come after it. */
START_TEST(java_report_leads_with_leak)
{
    struct jvm j = { 0 };
    jvm_start(&j, "leak", 1, 1);
    char *wrk_log = tu_strf("%s/wrk.log", j.dir);
    load(j.port, "/orders", 4, wrk_log);
    ck_assert_int_eq(kill(j.pid, SIGUSR2), 0);
    json_t *rep = wait_report(j.out, "java", j.pid, 1, 60, j.log);
    char *txt_path = tu_report_path(j.out, "java", j.pid, 1, "txt");
    char *txt = tu_slurp(txt_path);
    const char *first = txt ? strstr(txt, "\nLEAK: ") : NULL;
    ck_assert_msg(first != NULL, "%s has no LEAK record", txt_path);
    const char *second = strstr(first + 1, "\nLEAK: ");
    char *record = strndup(first, second ? (size_t)(second - first) : strlen(first));
    ck_assert_msg(strstr(record, "NettyGateway.buildOrderBody(NettyGateway.java:") != NULL &&
                      strstr(record, "; its site grew +") != NULL,
                  "the first LEAK record of %s is not the leaked bodies, saying how much their site grew:\n%.3000s",
                  txt_path, record);
    jvm_stop(&j);
    json_decref(rep);
    tu_rmtree(j.dir);
    free(record);
    free(txt);
    free(txt_path);
    free(wrk_log);
}
END_TEST

/* What the frames of a path through InlineAlloc.make show: is1 counts frames of `method` (Class.method) marked
 * inlined, is0 those marked not inlined. */
struct inline_tally {
    const char *klass, *method;
    int is1, is0;
};

static void tally_frames(json_t *frames, struct inline_tally *t, size_t nt)
{
    size_t i;
    json_t *f;
    int through_make = 0;
    json_array_foreach(frames, i, f) {
        json_t *jo = json_object_get(f, "java");
        through_make |= jo && strcmp(jstr(jo, "class"), "InlineAlloc") == 0 && strcmp(jstr(jo, "method"), "make") == 0;
    }
    if (!through_make)
        return;
    json_array_foreach(frames, i, f) {
        json_t *jo = json_object_get(f, "java");
        if (!jo)
            continue;
        json_t *inl = json_object_get(jo, "inlined");
        ck_assert_msg(json_is_boolean(inl), "a Java frame of %s.%s has no boolean \"inlined\"", jstr(jo, "class"),
                      jstr(jo, "method"));
        for (size_t k = 0; k < nt; k++)
            if (strcmp(jstr(jo, "class"), t[k].klass) == 0 && strcmp(jstr(jo, "method"), t[k].method) == 0)
                json_is_true(inl) ? t[k].is1++ : t[k].is0++;
    }
}

/* The JIT inlines a hot allocation path (make() and ByteBuffer.allocateDirect into churn()): the report marks those
 * frames inlined, in the JSON and in the text, and never the frame of main(), which runs interpreted. */
START_TEST(java_report_marks_inlined_frames)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_built("libleakwatch.so");
    char *dir = tu_tempdir();
    char *out = tu_strf("%s/reports", dir);
    mkdir(out, 0700);
    char *log = tu_strf("%s/java.log", dir);
    char *cp = java_classpath(dir);
    /* -XX:+PreserveFramePointer and a site depth of 20 are what `leakwatch run` adds for java */
    char *argv[] = { "java", "-XX:+PreserveFramePointer", tu_strf("-XX:ErrorFile=%s/hs_err_%%p.log", dir),
                     "-XX:-CreateCoredumpOnCrash", "-cp", cp, "InlineAlloc", "120", NULL };
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), tu_strf("LEAKWATCH_OUT=%s", out),
                    "LEAKWATCH_MIN_AGE=1s", "LEAKWATCH_SITE_DEPTH=20", NULL };
    pid_t pid = spawn(argv, env, log);
    char *text = NULL;
    for (double end = tu_now() + 60; tu_now() < end && !(text && strstr(text, "ready pid=")); tu_sleep_ms(100)) {
        free(text);
        text = tu_slurp(log);
    }
    ck_assert_msg(text && strstr(text, "ready pid="), "InlineAlloc did not start:\n%s", tail_of(log, 2000));
    free(text);
    tu_sleep_ms(8000);        /* a few seconds of a hot loop: C1, then C2, compile and inline the path */
    ck_assert_int_eq(kill(pid, SIGUSR2), 0);
    json_t *rep = wait_report(out, "java", pid, 1, 60, log);

    struct inline_tally t[] = { { "java.nio.ByteBuffer", "allocateDirect", 0, 0 }, { "InlineAlloc", "main", 0, 0 } };
    size_t i, k;
    json_t *site, *leak;
    json_array_foreach(json_object_get(rep, "sites"), i, site) {
        if (strcmp(jstr(site, "kind"), "java-heap") == 0)
            continue;         /* sampled Java objects: their frames come from the JVM's sampler, not from a path */
        tally_frames(json_object_get(site, "frames"), t, 2);
        json_array_foreach(json_object_get(site, "leaks"), k, leak)
            tally_frames(json_object_get(leak, "created_at"), t, 2);
    }
    char *json_path = tu_report_path(out, "java", pid, 1, "json");
    ck_assert_msg(t[0].is1 > 0, "no path through InlineAlloc.make in %s marks java.nio.ByteBuffer.allocateDirect "
                  "inlined (%d frames of it marked not inlined)", json_path, t[0].is0);
    ck_assert_msg(t[1].is0 > 0 && t[1].is1 == 0, "InlineAlloc.main runs interpreted, yet %s marks it inlined in %d "
                  "frames (not inlined in %d)", json_path, t[1].is1, t[1].is0);
    char *txt_path = tu_report_path(out, "java", pid, 1, "txt");
    char *txt = tu_slurp(txt_path);
    ck_assert_msg(txt && strstr(txt, "\tjava.nio.ByteBuffer.allocateDirect(ByteBuffer.java:") &&
                      strstr(strstr(txt, "\tjava.nio.ByteBuffer.allocateDirect(ByteBuffer.java:"), ") (inlined)\n"),
                  "%s does not mark java.nio.ByteBuffer.allocateDirect (inlined)", txt_path);
    for (const char *m = strstr(txt, "\tInlineAlloc.main("); m; m = strstr(m + 1, "\tInlineAlloc.main(")) {
        size_t len = strcspn(m, "\n");
        ck_assert_msg(!memmem(m, len, "(inlined)", 9), "%s marks InlineAlloc.main (inlined): %.*s", txt_path,
                      (int)len, m + 1);
    }
    ck_assert_msg(alive(pid), "the JVM died after kill -USR2:\n%s", tail_of(log, 2000));
    kill(pid, SIGTERM);
    tu_wait_pid(pid, 20);
    json_decref(rep);
    tu_rmtree(dir);
    free(txt);
    free(txt_path);
    free(json_path);
    free(log);
    free(out);
}
END_TEST

/* The control: on a plain JVM 17 (no shim) kill -USR2 from outside lands in HotSpot's SR_handler and kills it.
 * This is the reason the shim has to interpose sigaction for a JVM. */
START_TEST(java_usr2_without_shim_crashes)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    char *dir = tu_tempdir();
    char *log = tu_strf("%s/java.log", dir);
    int port = free_port();
    char *cp = java_classpath(dir);
    char **argv = java_argv(dir, cp, port, "ok", 0, 1);
    pid_t pid = spawn(argv, NULL, log);
    ck_assert_msg(wait_port(port, pid, 60) == 0, "the plain JVM did not start");
    ck_assert_int_eq(kill(pid, SIGUSR2), 0);
    int st = tu_wait_pid(pid, 30);
    char *s = tu_wait_str(st);
    char *hs = tu_strf("%s/hs_err_%d.log", dir, (int)pid);
    char *crash = tu_slurp(hs);
    ck_assert_msg(st >= 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) && crash && strstr(crash, "SR_handler"),
                  "expected plain JVM 17 to crash in SR_handler on kill -USR2; it ended with %s, %s %s", s, hs,
                  crash ? "does not name SR_handler" : "is missing");
    tu_rmtree(dir);
    free(crash);
    free(hs);
    free(s);
    free(log);
}
END_TEST

/* dir/<program>.<pid>.<seq>.json with the highest seq, or NULL. */
static char *newest_json(const char *dir, const char *program, pid_t pid)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *prefix = tu_strf("%s.%d.", program, (int)pid), *best = NULL;
    int best_seq = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) || l < 5 || strcmp(e->d_name + l - 5, ".json"))
            continue;
        int seq = atoi(e->d_name + strlen(prefix));
        if (seq > best_seq) {
            best_seq = seq;
            free(best);
            best = tu_strf("%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    free(prefix);
    return best;
}

/* The report as a pprof profile read by Go's pprof: the Java frames carry the names the JVM gives them. */
static void java_report_in_pprof(const char *dir, const char *lw, const char *json)
{
    need_cmd("go", "golang-go");
    char *pb = tu_strf("%s/java.pb.gz", dir), *traces = tu_strf("%s/java.traces", dir), *home = tu_strf("HOME=%s", dir);
    char *rargv[] = { (char *)lw, "report", (char *)json, "--format", "pprof", NULL };
    int st = run_cmd(rargv, NULL, pb, 60);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch report %s --format pprof failed",
                  json);
    char *gargv[] = { "go", "tool", "pprof", "-traces", pb, NULL };
    char *env[] = { home, NULL };
    st = run_cmd(gargv, env, traces, 120);
    char *t = tu_slurp(traces);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && t, "go tool pprof -traces %s failed:\n%.2000s",
                  pb, t ? t : "");
    /* A -traces frame line is the function name alone: Class.method for a Java frame. */
    int found = 0;
    for (char *l = t; l && *l && found < 2; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char *line = tu_strf("%.*s", (int)len, l);
        if (strstr(line, "io.netty.buffer.UnpooledByteBufAllocator.newDirectBuffer") ||
            strstr(line, "NettyGateway.buildOrderBody"))
            found |= strstr(line, "newDirectBuffer") ? 1 : 2;
        free(line);
    }
    ck_assert_msg(found == 3, "go tool pprof -traces does not show UnpooledByteBufAllocator.newDirectBuffer and "
                  "NettyGateway.buildOrderBody:\n%.3000s", t);
    free(t);
    free(pb);
    free(traces);
    free(home);
}

/* `leakwatch run -- java ...` adds -XX:+PreserveFramePointer itself; `leakwatch dump PID` refreshes the perf map
 * and prints the report, which names the Java allocation site. */
START_TEST(java_run_and_dump)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_cmd("wrk", "wrk");
    need_built("leakwatch");
    need_built("libleakwatch.so");
    char *dir = tu_tempdir();
    char *out = tu_strf("%s/reports", dir);
    mkdir(out, 0700);
    char *log = tu_strf("%s/java.log", dir);
    int port = free_port();
    char *cp = java_classpath(dir);
    char **jargv = java_argv(dir, cp, port, "leak", 0, 1);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[64] = { lw, "run", "--out", out, "--min-age", "1s", "--" };
    int n = 7;
    for (int i = 0; jargv[i] && n < 63; i++)
        argv[n++] = jargv[i];
    argv[n] = NULL;
    /* leakwatch run sets LEAKWATCH_SITE_DEPTH=20 for java by itself: deep enough to reach the Java caller */
    pid_t runner = spawn(argv, NULL, log);
    ck_assert_msg(wait_port(port, runner, 60) == 0, "leakwatch run -- java ...: the gateway did not start:\n%s",
                  tail_of(log, 2000));
    /* The gateway prints its pid right after it starts listening: give the line a moment to arrive. */
    char *text = NULL;
    const char *p = NULL;
    for (double end = tu_now() + 10; !p && tu_now() < end; tu_sleep_ms(50)) {
        free(text);
        text = tu_slurp(log);
        p = text ? strstr(text, " pid=") : NULL;
    }
    ck_assert_msg(p != NULL, "the gateway did not print its pid:\n%.2500s", text ? text : "");
    pid_t jpid = (pid_t)atoi(p + 5);
    ck_assert_msg(maps_have(jpid, "libleakwatch.so"), "leakwatch run did not preload the shim into java %d",
                  (int)jpid);
    char *wrk_log = tu_strf("%s/wrk.log", dir);
    load(port, "/orders", 6, wrk_log);

    char *pids = tu_strf("%d", (int)jpid);
    char *dump_out = tu_strf("%s/dump.txt", dir);
    char *dargv[] = { lw, "dump", pids, "--timeout", "60s", NULL };
    int st = run_cmd(dargv, NULL, dump_out, 90);
    char *s = tu_wait_str(st);
    char *dump = tu_slurp(dump_out);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch dump %d: %s\n%.2500s", (int)jpid, s,
                  dump ? dump : "");
    ck_assert_msg(dump && strstr(dump, "LEAK: ") &&
                      strstr(dump, "io.netty.buffer.UnpooledByteBufAllocator.newDirectBuffer(UnpooledByteBufAllocator.java:") &&
                      strstr(dump, "NettyGateway.buildOrderBody(NettyGateway.java:"),
                  "leakwatch dump %d printed no LEAK record naming newDirectBuffer and buildOrderBody with their "
                  "lines (was -XX:+PreserveFramePointer added?):\n%.2500s", (int)jpid, dump ? dump : "");
    ck_assert_msg(alive(jpid), "the JVM died after leakwatch dump");
    ck_assert_int_eq(http_status(port, "/orders/after-dump"), 200);
    char *json = newest_json(out, "java", jpid);
    ck_assert_msg(json != NULL, "leakwatch dump left no java.%d.*.json in %s", (int)jpid, out);
    java_report_in_pprof(dir, lw, json);
    free(json);

    kill(jpid, SIGTERM);
    remove_perf_map(jpid);
    ck_assert_msg(tu_wait_pid(runner, 30) >= 0, "leakwatch run did not end after its java ended");
    tu_rmtree(dir);
    free(dump);
    free(s);
    free(dump_out);
    free(pids);
    free(wrk_log);
    free(text);
    free(lw);
}
END_TEST

/* leakwatch gate over the gateway under wrk, as users run it: two warm-up rounds as short as the others, the JIT
 * free to compile and inline. Returns the gate's wait status, its output in dir/gate.txt. `post` sends a 4 KB
 * request body (for the handler that never releases its request). */
static int java_gate(const char *dir, const char *mode, int unpooled, int post, unsigned requests)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_cmd("wrk", "wrk");
    need_built("leakwatch");
    need_built("libleakwatch.so");
    int port = free_port();
    char *cp = java_classpath(dir);
    char **jargv = java_argv(dir, cp, port, mode, 0, unpooled);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *script = tu_strf("%s/post.lua", dir);
    FILE *f = fopen(script, "w");
    ck_assert_msg(f != NULL, "cannot write %s", script);
    if (post == 2)   /* a form of four fields, for the disk-backed form decoder */
        fputs("wrk.method = \"POST\"\nwrk.body = \"customer=alice&city=paris&zip=75001&note=hello\"\n"
              "wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n", f);
    else
        fputs("wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", 4000)\n"
              "wrk.headers[\"Content-Type\"] = \"text/plain\"\n", f);
    fclose(f);
    /* the disk-backed form decoder serves 300-1,600 requests a second here: longer rounds give its leak enough
     * sampled growth to stand above the estimate's noise floor (10,000 requests a round: ~2.5x the floor) */
    char *loadcmd = tu_strf("wrk -t1 -c4 -d%ds %s%s http://127.0.0.1:%d/orders", post == 2 ? 5 : 2, post ? "-s " : "",
                         post ? script : "", port);
    if (requests) {
        /* the same number of requests every round, however fast the shared machine lets the gateway serve: a
         * round of fewer requests would grow a leak less and look like one that levels off */
        need_built("demo/load");
        free(loadcmd);
        loadcmd = tu_strf("%s/demo/load --port %d --requests %u --concurrency 4 --path /orders --timeout 300%s",
                          tu_build_dir(), port, requests,
                          post == 2 ? " --form 'customer=alice&city=paris&zip=75001&note=hello'" : "");
    }
    char *portstr = tu_strf("%d", port);
    char *junit = tu_strf("%s/gate.xml", dir);
    /* The suppressions shipped for HotSpot hide the JIT's own memory (its arena pool, the metadata of compiled
     * code), and must not hide the leak. */
    char *supp = tu_strf("%s/../docs/suppressions/hotspot.supp", tu_build_dir());
    /* a round of a fixed number of requests takes what the shared machine gives it: more than the default 60 s */
    char *argv[64] = { lw, "gate", "--rounds", "6", "--warmup", "2", "--load", loadcmd, "--ready-port", portstr,
                       "--junit", junit, "--suppress", supp, "--timeout", requests ? "240s" : "60s", "--" };
    int n = 17;
    for (int i = 0; jargv[i] && n < 63; i++)
        argv[n++] = jargv[i];
    argv[n] = NULL;
    char *out = tu_strf("%s/gate.txt", dir);
    char *env[] = { tu_strf("LEAKWATCH_OUT=%s/reports", dir), NULL };
    int st = run_cmd(argv, env, out, 450);
    char *text = tu_slurp(out);
    const char *at = text ? strstr(text, "started java as PID ") : NULL;
    if (at)
        remove_perf_map((pid_t)atoi(at + strlen("started java as PID ")));
    free(text);
    free(out);
    free(junit);
    free(supp);
    free(portstr);
    free(loadcmd);
    free(script);
    free(lw);
    return st;
}

/* The gate must end with `want` (1: a leak) and, when it fails, name the leaking Java path in its verdict. */
static void check_java_gate(const char *mode, int unpooled, int post, int want, const char *leak_frame)
{
    char *dir = tu_tempdir();
    int st = java_gate(dir, mode, unpooled, post, 0);
    char *out = tu_strf("%s/gate.txt", dir);
    char *t = tail_of(out, 3000);
    char *s = tu_wait_str(st);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == want,
                  "leakwatch gate over the Java gateway (%s, %s allocator): %s, expected exit %d:\n%s", mode,
                  unpooled ? "unpooled" : "pooled", s, want, t);
    char *junit_path = tu_strf("%s/gate.xml", dir);
    char *junit = tu_slurp(junit_path);
    if (want == 1) {
        ck_assert_msg(junit && strstr(junit, "<failure"), "%s records no failing site", junit_path);
        ck_assert_msg(junit && strstr(junit, leak_frame), "the failing site of %s does not name %s:\n%s", mode,
                      leak_frame, t);
    }
    if (want == 1 && !unpooled) {
        /* the growing site is the pool's chunk allocation: the verdict must say how to get per-buffer stacks */
        char *text = tu_slurp(out);
        ck_assert_msg(text && strstr(text, "This site is a chunk allocation of Netty's pooled allocator") &&
                          strstr(text, "run the server with -Dio.netty.allocator.type=unpooled"),
                      "the verdict over the pooled %s gateway does not tell the user to hunt with "
                      "-Dio.netty.allocator.type=unpooled:\n%s", mode, t);
        free(text);
    }
    free(junit);
    free(junit_path);
    tu_rmtree(dir);
    free(s);
    free(t);
    free(out);
}

/* An encoder that retains each body once too often: the gate fails the body's allocation path, with Netty's default
 * pooled allocator (the growing site is the pool's chunk allocation) and with the unpooled one. */
START_TEST(java_gate_fails_leak)
{
    check_java_gate("leak", 0, 0, 1, "PoolArena");
}
END_TEST

START_TEST(java_gate_fails_leak_unpooled)
{
    check_java_gate("leak", 1, 0, 1, "NettyGateway.buildOrderBody");
}
END_TEST

/* A handler that never releases its request (and the aggregated body in it). */
START_TEST(java_gate_fails_norelease)
{
    check_java_gate("norelease", 0, 1, 1, "PoolArena");
}
END_TEST

START_TEST(java_gate_fails_norelease_unpooled)
{
    check_java_gate("norelease", 1, 1, 1, "io.netty");
}
END_TEST

START_TEST(java_gate_passes_ok)
{
    check_java_gate("ok", 0, 0, 0, NULL);
}
END_TEST

/* A cache of the last 2,000 bodies fills in the first rounds, then stays the same size. */
START_TEST(java_gate_passes_cache)
{
    check_java_gate("cache", 0, 0, 0, NULL);
}
END_TEST

/* Java-heap leaks, which change no native allocation: the gate fails the growing java-heap site, its verdict shows
 * the stack down to the gateway's own frame and the chain of references that holds the objects. */
static void check_java_heap_gate(const char *mode, int post, unsigned requests, const char *frame,
                                 const char *held_by)
{
    char *dir = tu_tempdir();
    int st = java_gate(dir, mode, 0, post, requests);
    char *out = tu_strf("%s/gate.txt", dir);
    char *t = tail_of(out, 2500);   /* Check's messages are capped at 4 KiB */
    char *text = tu_slurp(out);
    char *s = tu_wait_str(st);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
                  "leakwatch gate over the Java gateway (%s): %s, expected exit 1 (a Java-heap leak):\n%s", mode, s, t);
    ck_assert_msg(text && strstr(text, "(java-heap, estimated by sampling)"),
                  "the gate over %s fails no java-heap site:\n%s", mode, t);
    ck_assert_msg(strstr(text, held_by), "the gate's verdict over %s does not show \"%s\":\n%s", mode, held_by, t);
    char *junit_path = tu_strf("%s/gate.xml", dir);
    char *junit = tu_slurp(junit_path);
    ck_assert_msg(junit && strstr(junit, frame), "the failing java-heap site of %s does not name %s in %s:\n%s", mode,
                  frame, junit_path, t);
    /* the last round's report counted the class of every sampled object: the failing site's count is shown */
    ck_assert_msg(strstr(text, "  Exact count: ") && strstr(text, " at the last round: every object of the class") &&
                  strstr(junit, "Exact count: "), "the gate's verdict over %s shows no exact count:\n%s", mode, t);
    free(junit);
    free(junit_path);
    tu_rmtree(dir);
    free(s);
    free(text);
    free(t);
    free(out);
}

/* The lines of a log that are not the shim's ("leakwatch: ..."), and in *ours how many of the shim's name `word`. */
static char *program_lines(const char *log, const char *word, int *ours)
{
    char *text = tu_slurp(log);
    char *kept = tu_strf("%s", "");
    *ours = 0;
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "leakwatch: ", 11) == 0) {
            *ours += strstr(line, word) != NULL;
            continue;
        }
        char *more = tu_strf("%s%s\n", kept, line);
        free(kept);
        kept = more;
    }
    free(text);
    return kept;
}

/* `java -agentpath:libleakwatch.so` on a JVM that also preloads the shim (a setup left over from another agent,
 * or a user trying both): the JVM starts, its output and exit code are its own, one line at most says what the
 * agent adds, and the preloaded shim tracks as always (its exit report has native sites). */
START_TEST(java_agentpath_with_preload)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_built("libleakwatch.so");
    char *dir = tu_tempdir();
    char *cp = java_classpath(dir);
    char *shim = tu_strf("%s/libleakwatch.so", tu_build_dir());
    char *agent = tu_strf("-agentpath:%s", shim);
    char *reports = tu_strf("%s/reports", dir);
    mkdir(reports, 0700);
    char *plain_log = tu_strf("%s/plain.log", dir), *both_log = tu_strf("%s/both.log", dir);
    char *plain[] = { "java", "-Xmx64m", "-cp", cp, "ExitCode", "7", NULL };
    char *both[] = { "java", "-Xmx64m", agent, "-cp", cp, "ExitCode", "7", NULL };
    char *env[] = { tu_strf("LD_PRELOAD=%s", shim), tu_strf("LEAKWATCH_OUT=%s", reports), NULL };
    int st_plain = run_cmd(plain, NULL, plain_log, 60);
    pid_t pid = spawn(both, env, both_log);
    int st_both = tu_wait_pid(pid, 60);
    char *t = tail_of(both_log, 2000);
    ck_assert_msg(st_plain >= 0 && WIFEXITED(st_plain) && WEXITSTATUS(st_plain) == 7, "plain java did not exit 7");
    ck_assert_msg(st_both >= 0 && WIFEXITED(st_both) && WEXITSTATUS(st_both) == 7,
                  "java -agentpath with the shim preloaded did not exit 7 as without it:\n%s", t);
    int ours_plain = 0, ours = 0;
    char *want = program_lines(plain_log, "agent", &ours_plain);
    char *got = program_lines(both_log, "agent", &ours);
    ck_assert_msg(strcmp(want, got) == 0, "the JVM's output changed with -agentpath and the preload:\n%s\nwas:\n%s",
                  got, want);
    ck_assert_msg(ours <= 1, "more than one line about the agent:\n%s", t);
    char *json = newest_json(reports, "java", pid);
    ck_assert_msg(json != NULL, "no report from the preloaded shim in %s:\n%s", reports, t);
    json_t *r = json_load_file(json, 0, NULL);
    ck_assert_msg(r && json_array_size(json_object_get(r, "sites")) > 0, "%s has no native sites", json);
    json_decref(r);
    tu_rmtree(dir);
    free(json);
    free(got);
    free(want);
    free(t);
    free(env[0]);
    free(env[1]);
    free(plain_log);
    free(both_log);
    free(reports);
    free(agent);
    free(shim);
    free(cp);
}
END_TEST

/* The report of `pid` numbered `seq` in `dir`, parsed, waiting up to timeout_s for it to appear; NULL if it never does. */
static json_t *wait_report_seq(const char *dir, pid_t pid, int seq, double timeout_s)
{
    char *path = tu_strf("%s/java.%d.%d.json", dir, (int)pid, seq);
    json_t *r = NULL;
    for (double waited = 0; waited < timeout_s && !(r = json_load_file(path, 0, NULL)); waited += 0.2)
        tu_sleep_ms(200);
    free(path);
    return r;
}

/* How many sites of `kind` in a report have live blocks, and whether one of them has a Java frame `method`. */
static int live_sites_of_kind(json_t *report, const char *kind, const char *java_method, int *has_method)
{
    size_t i, k;
    json_t *site, *frame;
    int n = 0;
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        const char *kd = json_string_value(json_object_get(site, "kind"));
        if (!kd || strcmp(kd, kind) || json_integer_value(json_object_get(site, "live_blocks")) <= 0)
            continue;
        n++;
        json_array_foreach(json_object_get(site, "frames"), k, frame) {
            json_t *java = json_object_get(frame, "java");
            char *m = java ? tu_strf("%s.%s", json_string_value(json_object_get(java, "class")),
                                     json_string_value(json_object_get(java, "method"))) : NULL;
            if (m && java_method && strcmp(m, java_method) == 0)
                *has_method = 1;
            free(m);
        }
    }
    return n;
}

/* `java -agentpath:libleakwatch.so` alone, no preload of ours, no flag of ours (as async-profiler is used): the agent
 * is the shim. The JVM's output and exit code are its own and nothing is said about the agent; `kill -USR2` writes a
 * report with native sites (the JVM's mallocs and mmaps, through the redirected calls of its libraries) and the
 * program's Java-heap site (ExitCode.main's byte arrays); the exit report has native sites too. `preload` is what
 * the user preloads, plain and with the agent ("" none); with `options` the settings are the agent's options
 * (as `-agentpath:...=out=DIR,min-age=1s`), else LEAKWATCH_* variables. */
static void check_agent_alone(const char *preload, int options)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_built("libleakwatch.so");
    char *dir = tu_tempdir();
    char *cp = java_classpath(dir);
    char *reports = tu_strf("%s/reports", dir);
    mkdir(reports, 0700);
    char *agent = options ? tu_strf("-agentpath:%s/libleakwatch.so=out=%s,min-age=1s,java-heap-sample=64k",
                                    tu_build_dir(), reports)
                          : tu_strf("-agentpath:%s/libleakwatch.so", tu_build_dir());
    char *plain_log = tu_strf("%s/plain.log", dir), *agent_log = tu_strf("%s/agent.log", dir);
    char *plain[] = { "java", "-Xmx64m", "-cp", cp, "ExitCode", "7", "16000", NULL };
    char *with_agent[] = { "java", "-Xmx64m", agent, "-cp", cp, "ExitCode", "7", "16000", NULL };
    char *ld = tu_strf("LD_PRELOAD=%s", preload), *out_var = tu_strf("LEAKWATCH_OUT=%s", reports);
    char *settings[] = { ld, out_var, "LEAKWATCH_MIN_AGE=1s", "LEAKWATCH_JAVA_HEAP_SAMPLE=64k", NULL };
    char *plain_env[] = { ld, NULL };
    char **env = options ? plain_env : settings;
    int st_plain = run_cmd(plain, plain_env, plain_log, 60);
    pid_t pid = spawn(with_agent, env, agent_log);
    tu_sleep_ms(10000);               /* the JVM is up, the shim's thread attached, the arrays kept */
    kill(pid, SIGUSR2);
    json_t *signal_report = wait_report_seq(reports, pid, 1, 30);
    int st_agent = tu_wait_pid(pid, 60);
    char *t = tail_of(agent_log, 2000);
    ck_assert_msg(st_plain >= 0 && WIFEXITED(st_plain) && WEXITSTATUS(st_plain) == 7, "plain java did not exit 7");
    ck_assert_msg(st_agent >= 0 && WIFEXITED(st_agent) && WEXITSTATUS(st_agent) == 7,
                  "java -agentpath:libleakwatch.so did not exit 7 as without it:\n%s", t);
    int ours_plain = 0, ours = 0;
    char *want = program_lines(plain_log, "agent", &ours_plain);
    char *got = program_lines(agent_log, "agent", &ours);
    ck_assert_msg(strcmp(want, got) == 0, "the JVM's output changed with -agentpath:\n%s\nwas:\n%s", got, want);
    ck_assert_msg(signal_report != NULL, "kill -USR2 wrote no report in %s:\n%s", reports, t);
    int has_main = 0, unused = 0;
    int native = live_sites_of_kind(signal_report, "heap", NULL, &unused);
    int java = live_sites_of_kind(signal_report, "java-heap", "ExitCode.main", &has_main);
    ck_assert_msg(native > 0, "the report on kill -USR2 has no native site with live blocks:\n%s", t);
    ck_assert_msg(java > 0 && has_main, "the report on kill -USR2 has no Java-heap site of ExitCode.main:\n%s", t);
    ck_assert_msg(ours == 0, "a working agent said something about itself:\n%s", t);
    json_t *exit_report = wait_report_seq(reports, pid, 2, 5);
    ck_assert_msg(exit_report && strcmp(json_string_value(json_object_get(exit_report, "reason")), "exit") == 0,
                  "no exit report after the signal's in %s:\n%s", reports, t);
    ck_assert_msg(live_sites_of_kind(exit_report, "heap", NULL, &unused) > 0, "the exit report has no native site");
    json_decref(exit_report);
    json_decref(signal_report);
    tu_rmtree(dir);
    free(got);
    free(want);
    free(t);
    free(ld);
    free(out_var);
    free(plain_log);
    free(agent_log);
    free(reports);
    free(agent);
    free(cp);
}

START_TEST(java_agentpath_alone)
{
    check_agent_alone("", 1);
}
END_TEST

/* The same over a preloaded jemalloc: the JVM's modules are bound to jemalloc's malloc and free, so the hooks the
 * agent sends them to must call jemalloc's, not the C library's that comes next after the agent in its own scope. */
START_TEST(java_agentpath_alone_over_jemalloc)
{
    const char *jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
    ck_assert_msg(access(jemalloc, R_OK) == 0, "%s is missing: install libjemalloc2 (scripts/deps.sh)", jemalloc);
    check_agent_alone(jemalloc, 0);
}
END_TEST

/* A heap too large to walk or count within the report's time bound (the bounds set to 1 ms): the report keeps its
 * Java-heap sites and says, in one line each and in the JSON, why there is no chain and no exact count; nothing
 * on stderr; the JVM goes on serving and ends as it would without the shim. */
START_TEST(java_heap_too_large_for_the_bound)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_cmd("wrk", "wrk");
    need_built("libleakwatch.so");
    struct jvm j = { 0 };
    j.dir = tu_tempdir();
    j.out = tu_strf("%s/reports", j.dir);
    mkdir(j.out, 0700);
    j.log = tu_strf("%s/java.log", j.dir);
    j.port = free_port();
    char *cp = java_classpath(j.dir);
    char **argv = java_argv(j.dir, cp, j.port, "queue", 0, 0);
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), tu_strf("LEAKWATCH_OUT=%s", j.out),
                    "LEAKWATCH_MIN_AGE=1s", "LEAKWATCH_JAVA_HELD_BY_MS=1", "LEAKWATCH_JAVA_COUNT_MS=1", NULL };
    j.pid = spawn(argv, env, j.log);
    ck_assert_msg(wait_port(j.port, j.pid, 60) == 0, "the queue gateway under the shim did not listen");
    char *wrk_log = tu_strf("%s/wrk.log", j.dir);
    load(j.port, "/orders", 6, wrk_log);
    char *pid = tu_strf("%d", (int)j.pid);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *dump_log = tu_strf("%s/dump.log", j.dir);
    char *dump[] = { lw, "dump", "--gc", "--timeout", "30s", pid, NULL };
    int st = run_cmd(dump, NULL, dump_log, 60);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch dump --gc failed");
    char *json = newest_json(j.out, "java", j.pid);
    ck_assert_msg(json != NULL, "no report in %s", j.out);
    char *txt = tu_strf("%.*s.txt", (int)(strlen(json) - 5), json);
    char *text = tu_slurp(txt);
    ck_assert_msg(text && strstr(text, "Kind: Java heap (estimated by sampling)"), "%s has no Java-heap sites", txt);
    ck_assert_msg(strstr(text, "Held by: not shown (the heap is too large to walk within the report's time bound).\n"),
                  "%s does not say the walk ran out of time", txt);
    ck_assert_msg(strstr(text, "Exact counts: not shown (the heap is too large to count within the report's time "
                               "bound).\n"), "%s does not say the count ran out of time", txt);
    json_t *r = json_load_file(json, 0, NULL);
    json_t *jh = json_object_get(r, "java_heap");
    ck_assert_msg(jh && json_string_value(json_object_get(jh, "held_by_missing")) &&
                  json_string_value(json_object_get(jh, "class_count_missing")),
                  "%s: java_heap lacks held_by_missing or class_count_missing", json);
    /* the JVM serves on, and says nothing on stderr about either bound */
    load(j.port, "/orders", 1, wrk_log);
    char *log = tu_slurp(j.log);
    ck_assert_msg(log && !strstr(log, "time bound") && !strstr(log, "did not finish"), "stderr:\n%s", log);
    kill(j.pid, SIGTERM);
    int jst = tu_wait_pid(j.pid, 30);
    ck_assert_msg(jst >= 0 && WIFEXITED(jst) && WEXITSTATUS(jst) == 143,
                  "the JVM did not end on SIGTERM as a JVM does (exit 143)");
    j.pid = 0;
    json_decref(r);
    tu_rmtree(j.dir);
    free(log);
    free(text);
    free(txt);
    free(json);
    free(dump_log);
    free(lw);
    free(pid);
    free(wrk_log);
    free(env[0]);
    free(env[1]);
    free(cp);
    free(j.log);
    free(j.out);
    free(j.dir);
}
END_TEST

/* The exact count per class: a program keeps exactly 5,000 objects of its own class (and sampling every ~1 KiB makes
 * sure some are sampled); after `leakwatch dump --gc` the record of that class counts 5,000 objects exactly, in the
 * text and in the JSON, next to its estimate, and bytes that are 5,000 times one object's size. */
START_TEST(java_heap_exact_count)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_built("libleakwatch.so");
    need_built("leakwatch");
    char *dir = tu_tempdir();
    char *cp = java_classpath(dir);
    char *reports = tu_strf("%s/reports", dir);
    mkdir(reports, 0700);
    char *log = tu_strf("%s/java.log", dir);
    char *argv[] = { "java", "-Xmx64m", "-cp", cp, "ExitCode", "0", "20000", NULL };
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), tu_strf("LEAKWATCH_OUT=%s", reports),
                    "LEAKWATCH_JAVA_HEAP_SAMPLE=1k", "LEAKWATCH_MIN_AGE=1s", NULL };
    pid_t pid = spawn(argv, env, log);
    tu_sleep_ms(8000);                /* the JVM is up, the shim's thread attached, the objects kept */
    char *pidstr = tu_strf("%d", (int)pid);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *dump_log = tu_strf("%s/dump.log", dir);
    char *dump[] = { lw, "dump", "--gc", "--timeout", "30s", pidstr, NULL };
    int st = run_cmd(dump, NULL, dump_log, 60);
    char *t = tail_of(dump_log, 1000);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch dump --gc failed:\n%s", t);
    char *json = newest_json(reports, "java", pid);
    ck_assert_msg(json != NULL, "no report in %s", reports);
    json_t *r = json_load_file(json, 0, NULL);
    size_t i;
    json_t *site;
    json_int_t objects = -1, bytes = -1;
    json_array_foreach(json_object_get(r, "sites"), i, site) {
        const char *klass = json_string_value(json_object_get(site, "class"));
        json_t *leak = json_array_get(json_object_get(site, "leaks"), 0);
        json_t *exact = json_object_get(leak, "class_exact");
        if (klass && strcmp(klass, "ExitCode$Kept") == 0 && exact) {
            objects = json_integer_value(json_object_get(exact, "objects"));
            bytes = json_integer_value(json_object_get(exact, "bytes"));
        }
    }
    ck_assert_msg(objects == 5000, "%s: class_exact of ExitCode$Kept counts %lld objects, expected 5000", json,
                  (long long)objects);
    ck_assert_msg(bytes % 5000 == 0 && bytes / 5000 >= 16 && bytes / 5000 <= 32,
                  "%s: %lld bytes are not 5,000 objects of 16-32 bytes", json, (long long)bytes);
    char *txt = tu_strf("%.*s.txt", (int)(strlen(json) - 5), json);
    char *text = tu_slurp(txt);
    char *line = tu_strf("Exact count: 5,000 objects of ExitCode$Kept (");
    ck_assert_msg(text && strstr(text, line), "%s has no \"%s...\" line", txt, line);
    int est = tu_wait_pid(pid, 60);
    ck_assert_msg(est >= 0 && WIFEXITED(est) && WEXITSTATUS(est) == 0, "the program did not exit 0");
    json_decref(r);
    tu_rmtree(dir);
    free(line);
    free(text);
    free(txt);
    free(json);
    free(t);
    free(dump_log);
    free(lw);
    free(pidstr);
    free(env[0]);
    free(env[1]);
    free(log);
    free(reports);
    free(cp);
}
END_TEST

/* The live blocks of the sites whose frames pass through HotSpot's tag-map entries (Hashtable<WeakHandle,...>). */
static json_int_t tag_map_blocks(const char *json_path)
{
    json_t *r = json_load_file(json_path, 0, NULL);
    size_t i;
    json_t *site;
    json_int_t blocks = 0;
    json_array_foreach(json_object_get(r, "sites"), i, site) {
        char *frames = json_dumps(json_object_get(site, "frames"), 0);
        if (frames && strstr(frames, "WeakHandle)"))
            blocks += json_integer_value(json_object_get(site, "live_blocks"));
        free(frames);
    }
    json_decref(r);
    return blocks;
}

/* The "Held by" walk tags tens of thousands of objects (the JVM allocates an entry for each); once the walk is over
 * they are all freed, and the next report (here the exit report) must not count them as live native memory. */
START_TEST(java_heap_walk_leaves_no_native_blocks)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    need_cmd("wrk", "wrk");
    need_built("libleakwatch.so");
    struct jvm j = { 0 };
    j.dir = tu_tempdir();
    j.out = tu_strf("%s/reports", j.dir);
    mkdir(j.out, 0700);
    j.log = tu_strf("%s/java.log", j.dir);
    j.port = free_port();
    char *cp = java_classpath(j.dir);
    char **argv = java_argv(j.dir, cp, j.port, "queue", 0, 0);
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), tu_strf("LEAKWATCH_OUT=%s", j.out),
                    "LEAKWATCH_MIN_AGE=1s", NULL };
    j.pid = spawn(argv, env, j.log);
    ck_assert_msg(wait_port(j.port, j.pid, 60) == 0, "the queue gateway under the shim did not listen");
    char *wrk_log = tu_strf("%s/wrk.log", j.dir);
    load(j.port, "/orders", 4, wrk_log);
    char *pid = tu_strf("%d", (int)j.pid);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *dump_log = tu_strf("%s/dump.log", j.dir);
    char *dump[] = { lw, "dump", "--gc", "--timeout", "30s", pid, NULL };
    int st = run_cmd(dump, NULL, dump_log, 60);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch dump --gc failed");
    char *first = newest_json(j.out, "java", j.pid);
    ck_assert_msg(first != NULL, "no report in %s", j.out);
    char *txt = tu_strf("%.*s.txt", (int)(strlen(first) - 5), first);
    char *text = tu_slurp(txt);
    ck_assert_msg(text && strstr(text, "Held by: static NettyGateway.OUTBOX"), "%s shows no walk's chain", txt);
    tu_sleep_ms(2000);
    kill(j.pid, SIGTERM);
    ck_assert_int_ge(tu_wait_pid(j.pid, 30), 0);
    char *last = newest_json(j.out, "java", j.pid);
    ck_assert_msg(last && strcmp(last, first) != 0, "no exit report after %s", first);
    json_int_t blocks = tag_map_blocks(last);
    ck_assert_msg(blocks < 100, "%s: %lld blocks of the walk's tag map are still counted live", last,
                  (long long)blocks);
    j.pid = 0;
    tu_rmtree(j.dir);
    free(last);
    free(text);
    free(txt);
    free(first);
    free(dump_log);
    free(lw);
    free(pid);
    free(wrk_log);
    free(env[0]);
    free(env[1]);
    free(cp);
    free(j.log);
    free(j.out);
    free(j.dir);
}
END_TEST

/* The first seed: a disk-backed HttpPostRequestDecoder leaves each field's temp file path in DeleteOnExitHook. */
START_TEST(java_gate_fails_form_delete_on_exit)
{
    check_java_heap_gate("form", 2, 10000, "NettyGateway.decodeForm", "Held by: static java.io.DeleteOnExitHook.files -> ");
}
END_TEST

/* The second seed: monitoring messages queued for a collector that never answers. */
START_TEST(java_gate_fails_queue_to_absent_collector)
{
    check_java_heap_gate("queue", 0, 8000, "NettyGateway.reportMetric", "Held by: static NettyGateway.OUTBOX -> "
                         "java.util.concurrent.LinkedBlockingQueue -> java.util.concurrent.LinkedBlockingQueue$Node");
}
END_TEST

/* ------------------------------------------------------------------------------------------------------------
 * nginx: a reverse proxy in front of a second local server block, master + 2 workers, from a temporary prefix. */

struct ngx {
    char *dir;       /* the prefix */
    char *log;       /* nginx's stderr (error_log stderr) and the shim's stderr lines */
    int front, back;
    pid_t master;
    pid_t workers[2];
    uid_t wuid;      /* the workers' uid: nobody when started as root */
};

/* The parent nginx remembers at start-up; a master whose parent is still that process ignores SIGUSR2 ("binary
 * upgrade"). A helper that exits once nginx listens makes it an orphan, as a daemonised nginx would be, so the
 * signal tests see what a production master does with SIGUSR2. */
static pid_t ngx_launch(struct ngx *g, char *const env[], int orphan)
{
    char *argv[] = { NGINX_BIN, "-p", g->dir, "-c", "conf/nginx.conf", "-e", "stderr", "-g", "daemon off;", NULL };
    if (!orphan)
        return spawn(argv, env, g->log);
    pid_t helper = fork();
    ck_assert_msg(helper >= 0, "fork: %s", strerror(errno));
    if (helper == 0) {
        nkids = 0;
        pid_t pid = spawn(argv, env, g->log);
        _exit(wait_port(g->front, pid, 30) == 0 ? 0 : 1);
    }
    int st = tu_wait_pid(helper, 40);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "nginx did not start:\n%s",
                  tail_of(g->log, 2000));
    char *pidfile = tu_strf("%s/logs/nginx.pid", g->dir);
    char *s = tu_slurp(pidfile);
    ck_assert_msg(s != NULL, "no %s", pidfile);
    pid_t pid = (pid_t)atoi(s);
    kids_add(pid);
    free(s);
    free(pidfile);
    return pid;
}

/* Makes the prefix (tests/e2e/nginx-prefix.sh), starts nginx under the shim and waits for both workers. */
static void ngx_start(struct ngx *g, const char *signal_name, int orphan, const char *const env_names[])
{
    need_cmd("wrk", "wrk");
    need_built("libleakwatch.so");
    ck_assert_msg(access(NGINX_BIN, X_OK) == 0, "%s is not installed (Debian package nginx-light or nginx)",
                  NGINX_BIN);
    g->dir = tu_tempdir();
    g->log = tu_strf("%s/stderr.log", g->dir);
    g->front = free_port();
    do
        g->back = free_port();
    while (g->back == g->front);
    char *script = src_path("tests/e2e/nginx-prefix.sh");
    char *fs = tu_strf("%d", g->front), *bs = tu_strf("%d", g->back);
    char *argv[16] = { script, g->dir, fs, bs };
    int n = 4;
    for (int i = 0; env_names && env_names[i] && n < 15; i++)
        argv[n++] = (char *)env_names[i];
    argv[n] = NULL;
    char *plog = tu_strf("%s/prefix.log", g->dir);
    int st = run_cmd(argv, NULL, plog, 30);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed:\n%s", script, tail_of(plog, 800));

    /* Blocks a second old count as leaks, so that reports after a short load show creation stacks. */
    char *env[] = { tu_strf("LD_PRELOAD=%s/libleakwatch.so", tu_build_dir()), "LEAKWATCH_MIN_AGE=1s",
                    signal_name ? tu_strf("LEAKWATCH_SIGNAL=%s", signal_name) : NULL, NULL };
    g->master = ngx_launch(g, env, orphan);
    ck_assert_msg(wait_port(g->front, g->master, 30) == 0, "nginx under the shim did not listen on %d:\n%s",
                  g->front, tail_of(g->log, 2000));
    double end = tu_now() + 15;
    int nw;
    while ((nw = children_of(g->master, g->workers, 2)) < 2 && tu_now() < end)
        tu_sleep_ms(50);
    ck_assert_msg(nw == 2, "nginx master %d has %d workers, expected 2:\n%s", (int)g->master, nw,
                  tail_of(g->log, 2000));
    for (int i = 0; i < 2; i++) {
        kids_add(g->workers[i]);
        ck_assert_msg(maps_have(g->workers[i], "libleakwatch.so"), "nginx worker %d does not carry the shim",
                      (int)g->workers[i]);
    }
    /* A worker switches user after it is forked: wait until it has. */
    end = tu_now() + 10;
    while ((g->wuid = uid_of(g->workers[0])) == 0 && geteuid() == 0 && tu_now() < end)
        tu_sleep_ms(50);
    free(plog);
    free(fs);
    free(bs);
    free(script);
}

/* TERM to every master nginx we know of; they stop their workers. Then their reports are removed. */
static void ngx_stop(struct ngx *g, pid_t extra_master)
{
    pid_t masters[2] = { g->master, extra_master };
    for (int i = 0; i < 2; i++)
        if (masters[i] > 0)
            kill(masters[i], SIGTERM);
    double end = tu_now() + 15;
    for (int i = 0; i < 2; i++) {
        while (masters[i] > 0 && alive(masters[i]) && tu_now() < end) {
            waitpid(masters[i], NULL, WNOHANG);
            tu_sleep_ms(50);
        }
    }
    char *mdir = default_out(geteuid()), *wdir = default_out(g->wuid);
    for (int i = 0; i < 2; i++) {
        remove_reports(mdir, "nginx", masters[i]);
        remove_reports(wdir, "nginx", g->workers[i]);
    }
    free(mdir);
    free(wdir);
}

/* A site of kind heap with live bytes whose key frames or creation stacks go through nginx's pool allocator. */
static json_t *pool_site(json_t *report)
{
    static const char *const pool_fns[] = { "ngx_memalign", "ngx_create_pool", "ngx_palloc", NULL };
    size_t i, k;
    json_t *site, *leak;
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        if (strcmp(jstr(site, "kind"), "heap") != 0 || jint(site, "live_bytes") <= 0)
            continue;
        for (int f = 0; pool_fns[f]; f++) {
            if (frames_name(json_object_get(site, "frames"), pool_fns[f], NULL))
                return site;
            json_array_foreach(json_object_get(site, "leaks"), k, leak)
                if (frames_name(json_object_get(leak, "created_at"), pool_fns[f], NULL))
                    return site;
        }
    }
    return NULL;
}

static char *sites_summary(json_t *report, int max)
{
    size_t i;
    json_t *site;
    char *s = tu_strf("%s", "");
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        if ((int)i >= max)
            break;
        char *fr = frames_str(json_object_get(site, "frames"), 6);
        char *t = tu_strf("%ssite %s %s: %lld live bytes%s\n", s, jstr(site, "id"), jstr(site, "kind"),
                       jint(site, "live_bytes"), fr);
        free(fr);
        free(s);
        s = t;
    }
    return s;
}

/* Reports come from the master and from each worker under its own pid; the signal sent to one worker makes that
 * worker's report only. Workers of a root master run as nobody and write to /tmp/leakwatch-65534. Pool memory
 * (posix_memalign under ngx_create_pool) is accounted. */
START_TEST(nginx_reports_per_process)
{
    struct ngx g = { 0 };
    ngx_start(&g, NULL, 0, NULL);
    char *wrk_log = tu_strf("%s/wrk.log", g.dir);
    load(g.front, "/", 3, wrk_log);
    ck_assert_int_eq(http_status(g.front, "/"), 200);

    char *mdir = default_out(geteuid()), *wdir = default_out(g.wuid);
    ck_assert_int_eq(kill(g.workers[0], SIGUSR2), 0);
    json_t *w0 = wait_report(wdir, "nginx", g.workers[0], 1, 30, g.log);
    ck_assert_int_eq(jint(w0, "pid"), g.workers[0]);
    ck_assert_int_eq(jint(w0, "ppid"), g.master);
    ck_assert_str_eq(jstr(w0, "reason"), "signal");
    tu_sleep_ms(500);
    char *other = tu_report_path(wdir, "nginx", g.workers[1], 1, "json");
    char *mrep = tu_report_path(mdir, "nginx", g.master, 1, "json");
    ck_assert_msg(access(other, F_OK) != 0, "the signal to worker %d also made %s", (int)g.workers[0], other);
    ck_assert_msg(access(mrep, F_OK) != 0, "the signal to worker %d also made %s", (int)g.workers[0], mrep);

    json_t *pool = pool_site(w0);
    if (!pool) {
        char *sum = sites_summary(w0, 12);
        ck_abort_msg("worker %d's report has no live site through ngx_memalign/ngx_create_pool/ngx_palloc "
                     "(posix_memalign pools not accounted?); its biggest sites:\n%.2500s", (int)g.workers[0], sum);
    }

    ck_assert_int_eq(kill(g.workers[1], SIGUSR2), 0);
    json_t *w1 = wait_report(wdir, "nginx", g.workers[1], 1, 30, g.log);
    ck_assert_int_eq(jint(w1, "pid"), g.workers[1]);
    ck_assert_msg(pool_site(w1) != NULL, "worker %d's report has no pool site", (int)g.workers[1]);

    ck_assert_int_eq(kill(g.master, SIGUSR2), 0);
    json_t *m = wait_report(mdir, "nginx", g.master, 1, 30, g.log);
    ck_assert_int_eq(jint(m, "pid"), g.master);
    ck_assert_msg(pool_site(m) != NULL, "the master's report has no pool site (the cycle's pool)");
    ck_assert_msg(alive(g.master) && alive(g.workers[0]) && alive(g.workers[1]),
                  "an nginx process died after the reports");
    ck_assert_int_eq(http_status(g.front, "/"), 200);

    ngx_stop(&g, 0);
    json_decref(w0);
    json_decref(w1);
    json_decref(m);
    tu_rmtree(g.dir);
    free(other);
    free(mrep);
    free(mdir);
    free(wdir);
    free(wrk_log);
}
END_TEST

/* `leakwatch dump WORKER` finds the worker's signal and directory (the worker has overwritten its environ with its
 * title and changed user) and prints its report. */
START_TEST(nginx_dump_worker)
{
    need_built("leakwatch");
    struct ngx g = { 0 };
    ngx_start(&g, NULL, 0, NULL);
    char *wrk_log = tu_strf("%s/wrk.log", g.dir);
    load(g.front, "/", 2, wrk_log);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *pidstr = tu_strf("%d", (int)g.workers[1]);
    char *out = tu_strf("%s/dump.txt", g.dir);
    char *argv[] = { lw, "dump", pidstr, "--timeout", "20s", NULL };
    int st = run_cmd(argv, NULL, out, 40);
    char *s = tu_wait_str(st);
    char *text = tu_slurp(out);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leakwatch dump %s (nginx worker): %s\n%.2500s",
                  pidstr, s, text ? text : "");
    ck_assert_msg(text && strstr(text, "ngx_"), "leakwatch dump %s printed no nginx frame:\n%.2500s", pidstr,
                  text ? text : "");
    char *wdir = default_out(g.wuid);
    char *rep = tu_report_path(wdir, "nginx", g.workers[1], 1, "json");
    ck_assert_msg(access(rep, F_OK) == 0, "leakwatch dump printed a report but %s is missing", rep);
    ngx_stop(&g, 0);
    tu_rmtree(g.dir);
    free(rep);
    free(wdir);
    free(text);
    free(s);
    free(out);
    free(pidstr);
    free(lw);
    free(wrk_log);
}
END_TEST

/* The default policy: the shim owns SIGUSR2 sent by other processes and says so once on stderr; kill -USR2 on the
 * master gives a report and no binary upgrade (nginx never sees the signal). */
START_TEST(nginx_usr2_is_a_report_not_an_upgrade)
{
    struct ngx g = { 0 };
    ngx_start(&g, NULL, 1, NULL);
    char *text = tu_slurp(g.log);
    int notice = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "leakwatch: ", 11) == 0 && strstr(line, "SIGUSR2") && !strstr(line, "report #"))
            notice++;
    free(text);
    ck_assert_msg(notice >= 1, "no one-line notice from the shim that it owns SIGUSR2 in nginx's stderr:\n%s",
                  tail_of(g.log, 2000));

    ck_assert_int_eq(kill(g.master, SIGUSR2), 0);
    char *mdir = default_out(geteuid());
    json_t *m = wait_report(mdir, "nginx", g.master, 1, 30, g.log);
    ck_assert_str_eq(jstr(m, "reason"), "signal");
    tu_sleep_ms(1000);
    text = tu_slurp(g.log);
    char *oldbin = tu_strf("%s/logs/nginx.pid.oldbin", g.dir);
    ck_assert_msg(!strstr(text, "(SIGUSR2) received") && !strstr(text, "changing binary") &&
                      access(oldbin, F_OK) != 0,
                  "nginx saw the SIGUSR2 that the shim owns:\n%.2500s", text);
    ck_assert_msg(alive(g.master), "the nginx master died after kill -USR2");
    ck_assert_int_eq(http_status(g.front, "/"), 200);
    ngx_stop(&g, 0);
    json_decref(m);
    tu_rmtree(g.dir);
    free(oldbin);
    free(text);
    free(mdir);
}
END_TEST

/* With LEAKWATCH_SIGNAL=SIGRTMIN+3 nginx keeps SIGUSR2: a binary upgrade starts a new master, which carries the
 * shim when the configuration passes LD_PRELOAD on (`env LD_PRELOAD;`), and both masters report on SIGRTMIN+3. */
START_TEST(nginx_other_signal_keeps_binary_upgrade)
{
    static const char *const pass_on[] = { "LD_PRELOAD", "LEAKWATCH_SIGNAL", NULL };
    struct ngx g = { 0 };
    ngx_start(&g, "SIGRTMIN+3", 1, pass_on);
    ck_assert_int_eq(kill(g.master, SIGUSR2), 0);
    char *oldbin = tu_strf("%s/logs/nginx.pid.oldbin", g.dir);
    char *pidfile = tu_strf("%s/logs/nginx.pid", g.dir);
    pid_t newmaster = 0;
    double end = tu_now() + 20;
    while (tu_now() < end) {
        char *s = access(oldbin, F_OK) == 0 ? tu_slurp(pidfile) : NULL;
        newmaster = s ? (pid_t)atoi(s) : 0;
        free(s);
        if (newmaster > 0 && newmaster != g.master)
            break;
        tu_sleep_ms(50);
    }
    ck_assert_msg(newmaster > 0 && newmaster != g.master, "no binary upgrade after SIGUSR2 to master %d:\n%s",
                  (int)g.master, tail_of(g.log, 2000));
    kids_add(newmaster);
    char *text = tu_slurp(g.log);
    ck_assert_msg(strstr(text, "signal 12 (SIGUSR2) received") && strstr(text, "changing binary"),
                  "nginx did not log the binary upgrade:\n%.2500s", text);
    ck_assert_msg(ppid_of(newmaster) == g.master, "the new master %d is not a child of the old one",
                  (int)newmaster);
    end = tu_now() + 10;
    while (!maps_have(newmaster, "libleakwatch.so") && tu_now() < end)
        tu_sleep_ms(50);
    ck_assert_msg(maps_have(newmaster, "libleakwatch.so"), "the new master %d does not carry the shim",
                  (int)newmaster);

    char *mdir = default_out(geteuid());
    char *none = tu_report_path(mdir, "nginx", g.master, 1, "json");
    ck_assert_msg(access(none, F_OK) != 0, "SIGUSR2 made a report although the shim's signal is SIGRTMIN+3");
    ck_assert_int_eq(kill(g.master, SIGRTMIN + 3), 0);
    json_t *old = wait_report(mdir, "nginx", g.master, 1, 30, g.log);
    ck_assert_int_eq(jint(old, "pid"), g.master);
    ck_assert_msg(wait_port(g.front, newmaster, 20) == 0, "the new master died");
    /* The new binary needs a moment to set its handlers; its startup is over once its workers exist. */
    pid_t nw[2];
    end = tu_now() + 15;
    while (children_of(newmaster, nw, 2) < 2 && tu_now() < end)
        tu_sleep_ms(50);
    ck_assert_int_eq(kill(newmaster, SIGRTMIN + 3), 0);
    json_t *nm = wait_report(mdir, "nginx", newmaster, 1, 30, g.log);
    ck_assert_int_eq(jint(nm, "ppid"), g.master);
    ck_assert_int_eq(http_status(g.front, "/"), 200);

    ngx_stop(&g, newmaster);
    remove_reports(mdir, "nginx", newmaster);
    json_decref(old);
    json_decref(nm);
    tu_rmtree(g.dir);
    free(none);
    free(mdir);
    free(text);
    free(pidfile);
    free(oldbin);
}
END_TEST

/* The whole CI job over a healthy nginx: no site grows with load, summed over the master and its workers. */
START_TEST(nginx_gate_passes)
{
    need_cmd("wrk", "wrk");
    need_built("leakwatch");
    need_built("libleakwatch.so");
    struct ngx g = { 0 };
    g.dir = tu_tempdir();
    g.front = free_port();
    do
        g.back = free_port();
    while (g.back == g.front);
    char *script = src_path("tests/e2e/nginx-prefix.sh");
    char *fs = tu_strf("%d", g.front), *bs = tu_strf("%d", g.back);
    char *pargv[] = { script, g.dir, fs, bs, NULL };
    ck_assert_int_eq(run_cmd(pargv, NULL, NULL, 30), 0);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *loadcmd = tu_strf("wrk -t2 -c8 -d2s http://127.0.0.1:%d/", g.front);
    char *out = tu_strf("%s/gate.txt", g.dir);
    char *argv[] = { lw, "gate", "--rounds", "5", "--warmup", "1", "--load", loadcmd, "--ready-port", fs,
                     "--timeout", "20s", "--",
                     NGINX_BIN, "-p", g.dir, "-c", "conf/nginx.conf", "-e", "stderr", "-g", "daemon off;", NULL };
    int st = run_cmd(argv, NULL, out, 150);
    char *s = tu_wait_str(st);
    char *t = tail_of(out, 2000);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "leakwatch gate over nginx under wrk: %s, expected exit 0:\n%s", s, t);
    /* The gate made its own report directory (a subdirectory per uid, for the workers) and named it. */
    static const char gate_dir[] = "/tmp/leakwatch-gate.";
    char *text = tu_slurp(out);
    const char *at = text ? strstr(text, gate_dir) : NULL;
    if (at) {
        size_t len = strlen(gate_dir) + strcspn(at + strlen(gate_dir), "/ \n");
        char *gdir = tu_strf("%.*s", (int)len, at);
        /* Not writable by others: the workers' uid got its own private subdirectory, made by the gate, and
         * may only pass through the gate's directory (0711), neither list it nor add to it. */
        struct stat gst, wst;
        unsigned want = geteuid() == 0 ? 0711 : 0700;   /* as root the workers run as nobody (nginx-prefix.sh) */
        ck_assert_msg(stat(gdir, &gst) == 0 && (gst.st_mode & 07777) == want, "%s has mode %04o, not %04o", gdir,
                      (unsigned)(gst.st_mode & 07777), want);
        if (geteuid() == 0) {
            char *wdir = tu_strf("%s/65534", gdir);
            ck_assert_msg(stat(wdir, &wst) == 0 && wst.st_uid == 65534 && (wst.st_mode & 07777) == 0700,
                          "the workers' report directory %s: uid %d, mode %04o", wdir, (int)wst.st_uid,
                          (unsigned)(wst.st_mode & 07777));
            free(wdir);
        }
        tu_rmtree(gdir);
        free(gdir);
    }
    free(text);
    tu_rmtree(g.dir);
    free(t);
    free(s);
    free(out);
    free(loadcmd);
    free(lw);
    free(fs);
    free(bs);
    free(script);
}
END_TEST

static Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *java = tcase_create("java");
    tcase_set_timeout(java, 480);
    tcase_add_test(java, java_usr2_without_shim_crashes);
    tcase_add_test(java, java_usr2_report_names_frames);
    tcase_add_test(java, java_run_and_dump);
    suite_add_tcase(s, java);
    /* the gate over the gateway's native leaks: CK_RUN_CASE=java_gate runs them alone */
    TCase *java_gate = tcase_create("java_gate");
    tcase_set_timeout(java_gate, 480);
    tcase_add_test(java_gate, java_gate_fails_leak);
    tcase_add_test(java_gate, java_gate_fails_leak_unpooled);
    tcase_add_test(java_gate, java_gate_fails_norelease);
    tcase_add_test(java_gate, java_gate_fails_norelease_unpooled);
    tcase_add_test(java_gate, java_gate_passes_ok);
    tcase_add_test(java_gate, java_gate_passes_cache);
    suite_add_tcase(s, java_gate);
    /* Java-heap leaks (docs/java-heap.md): CK_RUN_CASE=java_heap runs them alone */
    TCase *java_heap = tcase_create("java_heap");
    tcase_set_timeout(java_heap, 480);
    tcase_add_test(java_heap, java_gate_fails_form_delete_on_exit);
    tcase_add_test(java_heap, java_gate_fails_queue_to_absent_collector);
    suite_add_tcase(s, java_heap);
    /* what must not hurt the JVM: CK_RUN_CASE=java_fallbacks */
    TCase *java_fallbacks = tcase_create("java_fallbacks");
    tcase_set_timeout(java_fallbacks, 240);
    tcase_add_test(java_fallbacks, java_agentpath_with_preload);
    tcase_add_test(java_fallbacks, java_heap_too_large_for_the_bound);
    tcase_add_test(java_fallbacks, java_heap_exact_count);
    tcase_add_test(java_fallbacks, java_heap_walk_leaves_no_native_blocks);
    suite_add_tcase(s, java_fallbacks);

    /* the shim loaded as a JVM agent alone: CK_RUN_CASE=java_agent */
    TCase *java_agent = tcase_create("java_agent");
    tcase_set_timeout(java_agent, 240);
    tcase_add_test(java_agent, java_agentpath_alone);
    tcase_add_test(java_agent, java_agentpath_alone_over_jemalloc);
    suite_add_tcase(s, java_agent);

    TCase *java_leads = tcase_create("java_leads");
    tcase_set_timeout(java_leads, 240);
    tcase_add_test(java_leads, java_report_leads_with_leak);
    suite_add_tcase(s, java_leads);

    TCase *java_inline = tcase_create("java_inline");
    tcase_set_timeout(java_inline, 180);
    tcase_add_test(java_inline, java_report_marks_inlined_frames);
    suite_add_tcase(s, java_inline);

    TCase *nginx = tcase_create("nginx");
    tcase_set_timeout(nginx, 180);
    tcase_add_test(nginx, nginx_reports_per_process);
    tcase_add_test(nginx, nginx_dump_worker);
    tcase_add_test(nginx, nginx_usr2_is_a_report_not_an_upgrade);
    tcase_add_test(nginx, nginx_other_signal_keeps_binary_upgrade);
    tcase_add_test(nginx, nginx_gate_passes);
    suite_add_tcase(s, nginx);
    return s;
}

LW_SUITE(e2e_suite)
