/* check_live — the live endpoint (LEAKWATCH_HTTP) of a preloaded fixture that leaks exactly 5 x 1000
 * bytes from fx_live_leak: /metrics values, /debug/pprof/heap fetched with curl and read by the real
 * `go tool pprof`, /report.json, a Unix socket with %p, a forked child on its own port, clients that
 * stall, send garbage or a huge header (the program's output and exit status stay its own), a bad
 * setting, and Debian's Prometheus scraping the endpoint and answering through its HTTP API. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "config.h"
#include "metrics.h"
#include "out.h"
#include "pprof_out.h"
#include "sites.h"
#include "symbols.h"
#include "testutil.h"

/* Starts live_leak under the shim with LEAKWATCH_HTTP=http and waits for "ready". */
static void start_fixture(struct tu_proc *p, const char *dir, const char *http, const char *seconds,
                          const char *mode)
{
    char *fx = tu_fixture("live_leak");
    char *argv[] = { fx, (char *)seconds, (char *)mode, NULL };
    char *setting = tu_strf("LEAKWATCH_HTTP=%s", http);
    const char *settings[] = { setting, NULL };
    struct tu_env env;
    tu_env_with(&env, dir, 1, settings);
    tu_spawn(p, argv, env.vars, dir);
    tu_env_free(&env);
    ck_assert_msg(tu_read_until(p, "ready", 10) == 0, "fixture not ready: %s", p->err);
    free(setting);
    free(fx);
}

/* The address pid serves on, from the http= line of its state file. */
static char *served_at(pid_t pid)
{
    char *path = tu_strf("/tmp/leakwatch-%u/%d.state", (unsigned)geteuid(), (int)pid);
    double end = tu_now() + 10;
    char *where = NULL;
    while (!where && tu_now() < end) {
        char *text = tu_slurp(path);
        char *line = text ? strstr(text, "\nhttp=") : NULL;
        if (line) {
            line += 6;
            where = strndup(line, strcspn(line, "\n"));
        } else {
            usleep(50 * 1000);
        }
        free(text);
    }
    ck_assert_msg(where, "no http= line in %s", path);
    free(path);
    return where;
}

static int connect_to(const char *where)
{
    int fd;
    if (strncmp(where, "unix:", 5) == 0) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s", where + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s: %s", where, strerror(errno));
    } else {
        struct sockaddr_in a = { .sin_family = AF_INET };
        const char *colon = strrchr(where, ':');
        char *host = strndup(where, (size_t)(colon - where));
        ck_assert(inet_pton(AF_INET, host, &a.sin_addr) == 1);
        a.sin_port = htons((uint16_t)atoi(colon + 1));
        fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s: %s", where, strerror(errno));
        free(host);
    }
    return fd;
}

/* Everything the server sends until it closes (at most timeout_s); *len gets the length. */
static char *read_all(int fd, double timeout_s, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    double end = tu_now() + timeout_s;
    for (;;) {
        double left = end - tu_now();
        struct pollfd p = { fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            break;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* GET path; returns the whole response (status line, headers, body). */
static char *get(const char *where, const char *path, size_t *len)
{
    int fd = connect_to(where);
    char *req = tu_strf("GET %s HTTP/1.1\r\nHost: test\r\nUser-Agent: check_live\r\nConnection: close\r\n\r\n", path);
    ck_assert(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    char *resp = read_all(fd, 20, len);
    close(fd);
    free(req);
    return resp;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    ck_assert_msg(b, "no end of headers in: %.300s", resp);
    return b + 4;
}

static void assert_status(const char *resp, const char *status)
{
    ck_assert_msg(strncmp(resp, "HTTP/1.1 ", 9) == 0 && strncmp(resp + 9, status, strlen(status)) == 0,
                  "expected %s, got: %.300s", status, resp);
}

/* The value of the first sample line that starts with prefix. */
static long long metric(const char *text, const char *prefix)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            const char *sp = strchr(line, '\n');
            const char *v = sp ? sp : line + strlen(line);
            while (v > line && v[-1] != ' ')
                v--;
            return atoll(v);
        }
    }
    ck_abort_msg("no sample line starting with %s in:\n%s", prefix, text);
    return -1;
}

static void stop(struct tu_proc *p)
{
    kill(p->pid, SIGTERM);
    tu_finish(p, 20);
    tu_proc_free(p);
}

START_TEST(metrics_give_the_known_leak)
{
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "30", NULL);
    char *where = served_at(p.pid);
    ck_assert_msg(strncmp(where, "127.0.0.1:", 10) == 0 && atoi(where + 10) > 0, "served at %s", where);
    size_t len;
    char *resp = get(where, "/metrics", &len);
    assert_status(resp, "200");
    ck_assert_msg(strstr(resp, "Content-Type: application/openmetrics-text"), "%.300s", resp);
    const char *m = body_of(resp);
    ck_assert_int_eq(metric(m, "leakwatch_live_bytes{kind=\"heap\"}"), 5000);
    ck_assert_int_eq(metric(m, "leakwatch_live_blocks{kind=\"heap\"}"), 5);
    ck_assert_int_eq(metric(m, "leakwatch_site_live_bytes{site=\"fx_live_leak+0x"), 5000);
    ck_assert_int_eq(metric(m, "leakwatch_site_live_blocks{site=\"fx_live_leak+0x"), 5);
    ck_assert_msg(strstr(m, " < main+0x"), "site label names the callers: %s", m);
    ck_assert_msg(strlen(m) > 6 && strcmp(m + strlen(m) - 6, "# EOF\n") == 0, "OpenMetrics ends with # EOF");
    free(resp);
    /* a query string is accepted; an unknown path is a 404 */
    resp = get(where, "/metrics?x=1", &len);
    assert_status(resp, "200");
    free(resp);
    resp = get(where, "/debug/pprof/nothing", &len);
    assert_status(resp, "404");
    free(resp);
    stop(&p);
    free(where);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(pprof_heap_read_by_go_tool_pprof)
{
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "60", NULL);
    char *where = served_at(p.pid);
    char *url = tu_strf("http://%s/debug/pprof/heap?gc=1", where);
    char *file = tu_strf("%s/heap.pb.gz", dir);
    char *curl[] = { "/usr/bin/curl", "-sS", "--fail", "--max-time", "30", "-o", file, url, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    struct tu_proc c;
    tu_run(&c, curl, env.vars, 40);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "curl: %s %s", tu_status_str(&c), c.err);
    tu_proc_free(&c);
    char *go = access("/usr/bin/go", X_OK) == 0 ? "/usr/bin/go" : "/usr/lib/go/bin/go";
    char *pprof[] = { go, "tool", "pprof", "-raw", file, NULL };
    tu_run(&c, pprof, env.vars, 120);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "pprof: %s %s", tu_status_str(&c), c.err);
    const char *raw = c.out;
    ck_assert_msg(strstr(raw, "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]\n"),
                  "Go's heap sample types, and no others without a JVM: %s", raw);
    /* the location named fx_live_leak, and the sample whose innermost frame it is */
    const char *loc = strstr(raw, " fx_live_leak ");
    ck_assert_msg(loc, "no location fx_live_leak in:\n%s", raw);
    while (loc > raw && loc[-1] != '\n')
        loc--;
    int id = atoi(loc);
    char *needle = tu_strf(": %d ", id);
    const char *s = strstr(raw, needle);
    ck_assert_msg(s, "no sample starting at location %d:\n%s", id, raw);
    const char *line = s;
    while (line > raw && line[-1] != '\n')
        line--;
    long long v[4];
    ck_assert_int_eq(sscanf(line, "%lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]), 4);
    ck_assert_int_eq(v[0], 5);
    ck_assert_int_eq(v[1], 5000);
    ck_assert_int_eq(v[2], 5);
    ck_assert_int_eq(v[3], 5000);
    tu_proc_free(&c);
    /* and -top, as people read it, names the function */
    char *top[] = { go, "tool", "pprof", "-top", file, NULL };
    tu_run(&c, top, env.vars, 120);
    ck_assert_msg(strstr(c.out, "fx_live_leak") && strstr(c.out, "Type: inuse_space"), "%s", c.out);
    tu_proc_free(&c);
    /* gc=1 without a JVM: said in a header and in the profile's comment, and no Java-heap sample type */
    char *comments[] = { go, "tool", "pprof", "-comments", file, NULL };
    tu_run(&c, comments, env.vars, 120);
    ck_assert_msg(strstr(c.out, "gc=1: no JVM whose heap leakwatch follows"), "comments: %s", c.out);
    tu_proc_free(&c);
    size_t len;
    char *resp = get(where, "/debug/pprof/heap?gc=1", &len);
    assert_status(resp, "200");
    ck_assert_msg(strstr(resp, "\r\nX-Leakwatch-GC: no-jvm\r\n"), "%.400s", resp);
    free(resp);
    resp = get(where, "/debug/pprof/heap?gc=0", &len);
    assert_status(resp, "200");
    ck_assert_msg(!strstr(resp, "X-Leakwatch-GC"), "%.400s", resp);
    free(resp);
    tu_env_free(&env);
    stop(&p);
    free(needle), free(url), free(file), free(where);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(report_json_over_a_unix_socket)
{
    char *dir = tu_tempdir();
    char *sock = tu_strf("%s/app.%%p.sock", dir);
    struct tu_proc p;
    start_fixture(&p, dir, sock, "30", NULL);
    char *where = served_at(p.pid);
    char *expect = tu_strf("unix:%s/app.%d.sock", dir, (int)p.pid);
    ck_assert_str_eq(where, expect);
    size_t len;
    char *resp = get(where, "/report.json", &len);
    assert_status(resp, "200");
    json_error_t err;
    json_t *r = json_loads(body_of(resp), 0, &err);
    ck_assert_msg(r, "not JSON: %s", err.text);
    ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "http");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "pid")), p.pid);
    tu_assert_totals(r, 5000, 5);
    json_t *site = tu_site(r, "fx_live_leak");
    ck_assert_int_eq(tu_int(site, "live_bytes"), 5000);
    json_decref(r);
    free(resp);
    /* served, not written: no report file appears */
    ck_assert_int_eq(tu_count_files(dir, "live_leak."), 0);
    stop(&p);
    free(where), free(expect), free(sock);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Sends raw bytes and returns what comes back before the server closes. */
static char *exchange(const char *where, const char *data, size_t n, double timeout_s)
{
    int fd = connect_to(where);
    if (n)
        send(fd, data, n, MSG_NOSIGNAL);
    size_t len;
    char *resp = read_all(fd, timeout_s, &len);
    close(fd);
    return resp;
}

START_TEST(bad_clients_change_nothing)
{
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "12", NULL);
    char *where = served_at(p.pid);
    /* half a request, then silence: answered 408 and closed within the read deadline */
    double t0 = tu_now();
    char *resp = exchange(where, "GET /metr", 9, 15);
    ck_assert_msg(tu_now() - t0 < 6, "a stalled client held the connection %.1f s", tu_now() - t0);
    assert_status(resp, "408");
    free(resp);
    /* a stalled client does not stop the next one being served once its deadline is past */
    int staller = connect_to(where);
    send(staller, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
    size_t len;
    t0 = tu_now();
    resp = get(where, "/metrics", &len);
    assert_status(resp, "200");
    ck_assert_msg(tu_now() - t0 < 6, "waited %.1f s behind a stalled client", tu_now() - t0);
    free(resp);
    close(staller);
    /* garbage */
    resp = exchange(where, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 16, 10);
    assert_status(resp, "400");
    free(resp);
    resp = exchange(where, "POST /metrics HTTP/1.1\r\n\r\n", 26, 10);
    assert_status(resp, "405");
    free(resp);
    /* a huge header: refused after 8 KiB, never read to the end */
    size_t big = 1 << 20;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX-Big: ", 30);
    resp = exchange(where, huge, 64 * 1024, 10);
    assert_status(resp, "431");
    free(resp);
    free(huge);
    /* a client that resets the connection before the answer */
    for (int i = 0; i < 20; i++) {
        int fd = connect_to(where);
        send(fd, "GET /debug/pprof/heap HTTP/1.1\r\n\r\n", 34, MSG_NOSIGNAL);
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    /* still serving, and the program ends as it would alone */
    resp = get(where, "/metrics", &len);
    assert_status(resp, "200");
    ck_assert_int_eq(metric(body_of(resp), "leakwatch_live_bytes{kind=\"heap\"}"), 5000);
    free(resp);
    tu_finish(&p, 30);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 7, "fixture: %s", tu_status_str(&p));
    ck_assert_str_eq(p.out, "ready\ndone\n");
    for (const char *line = p.err; *line; line = strchr(line, '\n') + 1) {
        ck_assert_msg(strncmp(line, "leakwatch: ", 11) == 0, "stderr not the shim's: %s", p.err);
        if (!strchr(line, '\n'))
            break;
    }
    tu_proc_free(&p);
    free(where);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(forked_child_serves_on_its_own)
{
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "30", "fork");
    ck_assert(tu_read_until(&p, "\n", 10) == 0);
    /* both lines: "ready <pid>" from the parent and the child */
    double end = tu_now() + 10;
    int pids[2], n = 0;
    while (n < 2 && tu_now() < end) {
        n = 0;
        for (const char *s = p.out; (s = strstr(s, "ready ")) != NULL && n < 2; s += 6)
            pids[n++] = atoi(s + 6);
        if (n < 2)
            tu_read_until(&p, "no such text", 0.2);
    }
    ck_assert_int_eq(n, 2);
    char *a = served_at(pids[0]), *b = served_at(pids[1]);
    ck_assert_msg(strcmp(a, b) != 0, "parent and child at the same address %s", a);
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *resp = get(i ? b : a, "/report.json", &len);
        assert_status(resp, "200");
        json_t *r = json_loads(body_of(resp), 0, NULL);
        ck_assert(r);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "pid")), pids[i]);
        json_t *site = tu_site(r, "fx_live_leak");
        ck_assert_int_eq(tu_int(site, "live_bytes"), 5000);
        json_decref(r);
        free(resp);
    }
    kill(pids[0] == p.pid ? pids[1] : pids[0], SIGTERM);
    stop(&p);
    free(a), free(b);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_setting_is_one_line)
{
    char *dir = tu_tempdir();
    char *fx = tu_fixture("live_leak");
    char *argv[] = { fx, "0", NULL };
    const char *settings[] = { "LEAKWATCH_HTTP=6061", NULL };
    struct tu_env env;
    tu_env_with(&env, dir, 1, settings);
    struct tu_proc p;
    tu_run(&p, argv, env.vars, 20);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 7, "%s", tu_status_str(&p));
    ck_assert_str_eq(p.out, "ready\ndone\n");
    ck_assert_msg(strncmp(p.err, "leakwatch: LEAKWATCH_HTTP=6061 ", 31) == 0, "%s", p.err);
    ck_assert_msg(strchr(p.err, '\n') && !strstr(strchr(p.err, '\n') + 1, "HTTP"), "one line: %s", p.err);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(fx);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A loopback port nobody listens on now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Asks Prometheus for an instant query (already URL-encoded); the first result's value, or -1 while
 * there is none. */
static long long prometheus_value(const char *where, const char *query, json_t **metric_out)
{
    char *path = tu_strf("/api/v1/query?query=%s", query);
    size_t len;
    char *resp = get(where, path, &len);
    free(path);
    long long v = -1;
    json_t *r = strncmp(resp, "HTTP/1.1 200", 12) == 0 ? json_loads(body_of(resp), 0, NULL) : NULL;
    json_t *result = json_object_get(json_object_get(r, "data"), "result");
    if (json_array_size(result) > 0) {
        json_t *first = json_array_get(result, 0);
        v = atoll(json_string_value(json_array_get(json_object_get(first, "value"), 1)));
        if (metric_out)
            *metric_out = json_incref(json_object_get(first, "metric"));
    }
    json_decref(r);
    free(resp);
    return v;
}

START_TEST(prometheus_scrapes_the_endpoint)
{
    ck_assert_msg(access("/usr/bin/prometheus", X_OK) == 0, "prometheus is not installed (scripts/deps.sh)");
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "120", NULL);
    char *target = served_at(p.pid);
    char *config = tu_strf("%s/prometheus.yml", dir);
    FILE *f = fopen(config, "w");
    fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
               "  - job_name: leakwatch\n    static_configs:\n      - targets: ['%s']\n", target);
    fclose(f);
    char *listen = tu_strf("--web.listen-address=127.0.0.1:%d", free_port());
    char *where = tu_strf("%s", strchr(listen, '=') + 1);
    char *config_arg = tu_strf("--config.file=%s", config);
    char *data_arg = tu_strf("--storage.tsdb.path=%s/data", dir);
    char *argv[] = { "/usr/bin/prometheus", config_arg, data_arg, listen, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    struct tu_proc prom;
    tu_spawn(&prom, argv, env.vars, dir);
    tu_env_free(&env);
    /* until a scrape has landed: up to a minute on a loaded machine */
    json_t *labels = NULL;
    long long site_bytes = -1;
    double end = tu_now() + 60;
    while (tu_now() < end) {
        tu_read_until(&prom, "no such text", 0.5);   /* keeps its output pipes drained */
        if (prom.out_fd < 0 && prom.err_fd < 0)
            break;
        int probe = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t)atoi(strchr(where, ':') + 1)) };
        int up = connect(probe, (struct sockaddr *)&a, sizeof a) == 0;
        close(probe);
        if (!up)
            continue;
        site_bytes = prometheus_value(where, "leakwatch_site_live_bytes%7Bsite%3D~%22fx_live_leak.*%22%7D", &labels);
        if (site_bytes >= 0)
            break;
    }
    ck_assert_msg(site_bytes == 5000, "fx_live_leak's series through Prometheus: %lld\nprometheus: %.3000s",
                  site_bytes, prom.err);
    ck_assert_str_eq(json_string_value(json_object_get(labels, "job")), "leakwatch");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "instance")), target);
    ck_assert_str_eq(json_string_value(json_object_get(labels, "kind")), "heap");
    const char *site = json_string_value(json_object_get(labels, "site"));
    ck_assert_msg(site && strncmp(site, "fx_live_leak+0x", 15) == 0 && strstr(site, " < main+0x"), "site=%s", site);
    json_decref(labels);
    ck_assert_int_eq(prometheus_value(where, "leakwatch_live_bytes%7Bkind%3D%22heap%22%7D", NULL), 5000);
    ck_assert_int_eq(prometheus_value(where, "leakwatch_live_blocks%7Bkind%3D%22heap%22%7D", NULL), 5);
    ck_assert_int_eq(prometheus_value(where, "up%7Bjob%3D%22leakwatch%22%7D", NULL), 1);
    kill(prom.pid, SIGTERM);
    tu_finish(&prom, 30);
    tu_proc_free(&prom);
    stop(&p);
    free(target), free(config), free(listen), free(where), free(config_arg), free(data_arg);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Label values as the exposition format wants them, from names no one should have to trust. */
START_TEST(site_label_is_escaped)
{
    struct module mod;
    memset(&mod, 0, sizeof mod);
    strcpy(mod.path, "/opt/x/lib\"q\\uote\n\x01\xc3\xa9.so");
    mod.base = 0x400000;
    mod.lo = 0x401000;
    mod.hi = 0x402000;
    struct module_set set = { &mod, 1, 1, NULL };
    union { struct site s; char room[sizeof(struct site) + 3 * sizeof(uintptr_t)]; } u;
    memset(&u, 0, sizeof u);
    u.s.nframes = 2;
    u.s.frames[0] = 0x401234;
    u.s.frames[1] = 0x7777;          /* in no module */
    char buf[512];
    struct out o;
    out_init(&o, -1, buf, sizeof buf - 1);
    metrics_site_label(&o, &set, &u.s);
    buf[o.len] = '\0';
    ck_assert_str_eq(buf, "lib\\\"q\\\\uote\\n???.so+0x1234 < 0x7777");
}
END_TEST

START_TEST(http_setting_parses)
{
    const char *good[] = { "127.0.0.1:6061", "localhost:0", "[::1]:6061", "0.0.0.0:65535", "/tmp/app.%p.sock",
                           "/run/x.sock" };
    const char *bad[] = { "6061", ":6061", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "relative.sock", "",
                          "/a/very/long/path/that/with/a/pid/in/it/twice/%p/%p/does/not/fit/in/sun_path/of/108/bytes/at/all" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(config_parse_http(good[i]) == 0, "%s refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(config_parse_http(bad[i]) < 0, "%s accepted", bad[i]);
}
END_TEST

/* The gzip trailer's CRC-32: the standard check value of "123456789". */
START_TEST(crc32_check_value)
{
    ck_assert_uint_eq(pprof_crc32(0, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(pprof_crc32(pprof_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}
END_TEST

START_TEST(exec_inherits_no_socket)
{
    char *dir = tu_tempdir();
    struct tu_proc p;
    start_fixture(&p, dir, "127.0.0.1:0", "1", "exec");
    char *where = served_at(p.pid);
    tu_finish(&p, 30);
    /* the program exec'd `env -u LD_PRELOAD ls -l /proc/self/fd/`: ls lists what it inherited */
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s %s", tu_status_str(&p), p.err);
    ck_assert_msg(strstr(p.out, "/proc/") || strstr(p.out, "total"), "no listing: %s", p.out);
    ck_assert_msg(!strstr(p.out, "socket:"), "a socket reached the exec'd program:\n%s", p.out);
    tu_proc_free(&p);
    free(where);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- a JVM: Java logical sites, Java-heap estimates, ?gc=1 ------------------------------------------ */

/* `go tool pprof A1 [A2 [A3]] file` (NULL: no argument): its standard output (the test fails unless it exits 0). */
static char *go_pprof(const char *dir, const char *a1, const char *a2, const char *a3, const char *file)
{
    char *go = access("/usr/bin/go", X_OK) == 0 ? "/usr/bin/go" : "/usr/lib/go/bin/go";
    char *argv[8] = { go, "tool", "pprof", (char *)a1 };
    int n = 4;
    if (a2)
        argv[n++] = (char *)a2;
    if (a3)
        argv[n++] = (char *)a3;
    argv[n++] = (char *)file;
    argv[n] = NULL;
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    struct tu_proc c;
    tu_run(&c, argv, env.vars, 120);
    tu_env_free(&env);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "pprof %s: %s %s", a1, tu_status_str(&c), c.err);
    char *out = strdup(c.out);
    tu_proc_free(&c);
    return out;
}

/* curl http://where/path into dir/name, as people fetch a profile; returns the response's headers. */
static char *fetch_to(const char *where, const char *path, const char *dir, const char *name)
{
    char *url = tu_strf("http://%s%s", where, path);
    char *file = tu_strf("%s/%s", dir, name);
    char *headers = tu_strf("%s/%s.headers", dir, name);
    char *curl[] = { "/usr/bin/curl", "-sS", "--fail", "--max-time", "30", "-D", headers, "-o", file, url, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    struct tu_proc c;
    tu_run(&c, curl, env.vars, 40);
    tu_env_free(&env);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "curl %s: %s %s", url, tu_status_str(&c), c.err);
    tu_proc_free(&c);
    char *head = tu_slurp(headers);
    ck_assert_msg(head, "curl wrote no %s", headers);
    assert_status(head, "200");
    free(headers), free(file), free(url);
    return head;
}

/* GCs the JVM logged (-Xlog:gc): lines with "Pause"; *full gets those a JVMTI agent forced. */
static int gcs_logged(const char *log, int *forced)
{
    char *text = tu_slurp(log);
    int n = 0;
    *forced = 0;
    for (const char *p = text; p && (p = strstr(p, " Pause ")); p++) {
        n++;
        const char *nl = strchr(p, '\n');
        const char *f = strstr(p, "JvmtiEnv ForceGarbageCollection");
        *forced += f && (!nl || f < nl);
    }
    free(text);
    return n;
}

/* The Java program src (main class main, which prints "ready" once it has allocated what it keeps) compiled into
 * dir and started by `leakwatch run` with LEAKWATCH_HTTP, -Xlog:gc to *gc_log so the test can count collections;
 * waits for "ready". Returns where it serves. */
static char *start_java(struct tu_proc *p, const char *dir, const char *src, const char *main, char **gc_log)
{
    ck_assert_msg(access("/usr/bin/javac", X_OK) == 0 && access("/usr/bin/java", X_OK) == 0,
                  "OpenJDK 17 is not installed (scripts/deps.sh: openjdk-17-jdk-headless)");
    char *classes = tu_strf("%s/classes", dir);
    char *javac[] = { "/usr/bin/javac", "-d", classes, (char *)src, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    struct tu_proc c;
    tu_run(&c, javac, env.vars, 120);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "javac %s: %s %s", src, tu_status_str(&c), c.err);
    tu_proc_free(&c);
    tu_env_free(&env);
    *gc_log = tu_strf("%s/gc.log", dir);
    char *xlog = tu_strf("-Xlog:gc:file=%s", *gc_log);
    char *leakwatch = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = { leakwatch, "run", "--", "java", xlog, "-cp", classes, (char *)main, "300", NULL };
    const char *settings[] = { "LEAKWATCH_HTTP=127.0.0.1:0", NULL };
    tu_env_with(&env, dir, 0, settings);
    tu_env_set(&env, "HOME", dir);
    tu_spawn(p, argv, env.vars, dir);
    tu_env_free(&env);
    ck_assert_msg(tu_read_until(p, "ready", 90) == 0, "the JVM did not get ready: %s", p->err);
    free(leakwatch), free(xlog), free(classes);
    return served_at(p->pid);
}

/* LiveHeap (tests/java, below): *src gets its source. */
static char *start_live_heap(struct tu_proc *p, const char *dir, char **src, char **gc_log)
{
    *src = tu_strf("%s/../tests/java/LiveHeap.java", tu_build_dir());     /* build/ sits at the top */
    return start_java(p, dir, *src, "LiveHeap", gc_log);
}

/* A JVM (OpenJDK 17, only the flags `leakwatch run` adds, plus -Xlog:gc to a file so the test can count
 * collections) that keeps direct buffers and long[]s in a static list, served with LEAKWATCH_HTTP: the
 * profile names Java frames as Java does and has Java-heap samples in their own (estimated) sample type;
 * /metrics has the direct buffers as one Java logical site named by its Java frames, and the Java-heap
 * estimate; a plain request forces no GC, ?gc=1 forces exactly one and says so. */
START_TEST(jvm_sites_java_heap_and_gc)
{
    char *dir = tu_tempdir();
    char *src, *gc_log;
    struct tu_proc p;
    char *where = start_live_heap(&p, dir, &src, &gc_log);

    int forced, before = gcs_logged(gc_log, &forced);
    ck_assert_int_eq(forced, 0);
    char *head = fetch_to(where, "/debug/pprof/heap", dir, "plain.pb.gz");
    ck_assert_msg(!strstr(head, "X-Leakwatch-GC"), "a plain request answered about a GC:\n%s", head);
    int after = gcs_logged(gc_log, &forced);
    ck_assert_msg(forced == 0, "a plain request made the JVM collect (%d GCs logged before it, %d after)", before,
                  after);
    free(head);
    char *plain = tu_strf("%s/plain.pb.gz", dir);
    /* the direct buffers: one trace through the Java frames that allocate them, as Java names them */
    char *traces = go_pprof(dir, "-traces", "-focus=LiveHeap.keepDirectBuffer", NULL, plain);
    ck_assert_msg(strstr(traces, "java.nio.ByteBuffer.allocateDirect") && strstr(traces, "LiveHeap.main") &&
                  strstr(traces, "kind:  heap"), "no Java frames in the direct buffers' traces:\n%.3000s", traces);
    free(traces);
    /* Java frames carry their source line: the one of tests/java/LiveHeap.java that allocates the buffers */
    char *java = tu_slurp(src);
    ck_assert_msg(java && strstr(java, "ByteBuffer.allocateDirect("), "cannot read %s", src);
    int line = 1;
    for (const char *q = java; q < strstr(java, "ByteBuffer.allocateDirect("); q++)
        line += *q == '\n';
    char *with_line = tu_strf("LiveHeap.keepDirectBuffer LiveHeap.java:%d\n", line);
    char *lines = go_pprof(dir, "-top", "-lines", "-focus=LiveHeap.keepDirectBuffer", plain);
    ck_assert_msg(strstr(lines, with_line), "no %s in:\n%.3000s", with_line, lines);
    free(lines), free(with_line), free(java);
    /* the long[]s: a Java-heap sample, in its own sample type that says it is an estimate */
    char *top = go_pprof(dir, "-top", "-sample_index=java_inuse_space_estimated", NULL, plain);
    ck_assert_msg(strstr(top, "Type: java_inuse_space_estimated") && strstr(top, "LiveHeap.keepRecords"),
                  "no Java-heap sample at LiveHeap.keepRecords:\n%.3000s", top);
    free(top);
    traces = go_pprof(dir, "-traces", "-sample_index=java_inuse_space_estimated", NULL, plain);
    ck_assert_msg(strstr(traces, "kind:  java-heap") && strstr(traces, "class:  long[]"),
                  "Java-heap samples without their kind and class labels:\n%.3000s", traces);
    free(traces);

    head = fetch_to(where, "/debug/pprof/heap?debug=0&gc=1", dir, "gc.pb.gz");
    ck_assert_msg(strstr(head, "\r\nX-Leakwatch-GC: forced\r\n"), "?gc=1 did not say it forced a GC:\n%s", head);
    free(head);
    /* counted by cause: the program itself allocates nothing by now, but G1 may still finish a cycle of its own */
    after = gcs_logged(gc_log, &forced);
    ck_assert_msg(forced == 1 && after > before, "?gc=1: %d GCs logged before, %d after, %d forced", before, after,
                  forced);
    char *gc_file = tu_strf("%s/gc.pb.gz", dir);
    char *comments = go_pprof(dir, "-comments", NULL, NULL, gc_file);
    ck_assert_msg(strstr(comments, "gc=1: the JVM ran a full GC before this profile"), "%s", comments);
    free(comments);

    /* /metrics: every compiled version of the direct buffers' Java path is one series, named by Java frames */
    size_t len;
    char *resp = get(where, "/metrics", &len);
    assert_status(resp, "200");
    const char *text = body_of(resp);
    const char *want = "leakwatch_site_live_bytes{site=\"jdk.internal.misc.Unsafe.allocateMemory0 < "
                       "jdk.internal.misc.Unsafe.allocateMemory < java.nio.DirectByteBuffer.<init> < "
                       "java.nio.ByteBuffer.allocateDirect < LiveHeap.keepDirectBuffer < LiveHeap.main\"";
    const char *at = strstr(text, want);
    ck_assert_msg(at, "no series for the direct buffers' Java site:\n%.4000s", text);
    ck_assert_msg(!strstr(at + 1, want), "the direct buffers' Java site is more than one series:\n%.4000s", text);
    long long bytes = metric(at, "leakwatch_site_live_bytes{");
    ck_assert_msg(bytes >= 100 * 16384 && bytes % 16384 == 0, "direct buffers of 16 KiB: %lld bytes", bytes);
    /* ... the same site, with the same bytes, as a report shows it (nothing allocates any more): the JIT's versions
     * of that path are raw sites of their own, merged into one in both */
    size_t rlen;
    char *rresp = get(where, "/report.json", &rlen);
    assert_status(rresp, "200");
    json_error_t jerr;
    json_t *rep = json_loads(body_of(rresp), 0, &jerr);
    ck_assert_msg(rep, "/report.json: %s", jerr.text);
    json_t *direct = NULL, *site;
    size_t i;
    json_array_foreach(json_object_get(rep, "sites"), i, site) {
        json_t *frame;
        size_t k;
        json_array_foreach(json_object_get(site, "frames"), k, frame) {
            const char *method = json_string_value(json_object_get(json_object_get(frame, "java"), "method"));
            if (method && strcmp(method, "keepDirectBuffer") == 0 && (!direct ||
                json_integer_value(json_object_get(site, "live_bytes")) >
                    json_integer_value(json_object_get(direct, "live_bytes"))))
                direct = site;
        }
    }
    ck_assert_msg(direct, "no site through LiveHeap.keepDirectBuffer in /report.json");
    ck_assert_int_eq(json_integer_value(json_object_get(direct, "live_bytes")), bytes);
    ck_assert_msg(json_integer_value(json_object_get(direct, "raw_sites")) >= 2,
                  "the direct buffers' Java path has %lld raw sites: nothing was merged",
                  (long long)json_integer_value(json_object_get(direct, "raw_sites")));
    json_decref(rep);
    free(rresp);
    ck_assert_msg(metric(text, "leakwatch_java_heap_estimated_live_bytes ") > 8 << 20,
                  "the Java heap estimate misses the long[]s:\n%.4000s", text);
    ck_assert_msg(strstr(text, "leakwatch_java_heap_site_estimated_live_bytes{site=\"LiveHeap.keepRecords < "
                               "LiveHeap.main\",class=\"long[]\",site_id=\""),
                  "no Java-heap series for LiveHeap.keepRecords:\n%.4000s", text);
    free(resp);
    stop(&p);
    free(gc_file), free(plain), free(where), free(gc_log), free(src);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A scraper process: GET /metrics (no ?gc) from where, back to back, until killed; one byte to out per answer. */
static void scrape_forever(const char *where, int out)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    const char *colon = strrchr(where, ':');
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - where), where);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        _exit(2);
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    char buf[65536];
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
            _exit(3);
        ssize_t got, total = 0;
        while ((got = recv(fd, buf, sizeof buf, 0)) > 0)
            total += got;
        close(fd);
        if (total > 12 && write(out, "s", 1) != 1)
            _exit(4);
    }
}

/* `leakwatch dump --gc` while a client scrapes /metrics (without ?gc) back to back: each report ran the full GC
 * its request asked for and says so, and the scrapes force none (the JVM logs one forced GC per dump, no more). */
START_TEST(dump_gc_is_not_taken_by_scrapes)
{
    enum { ROUNDS = 16 };
    char *dir = tu_tempdir();
    char *src, *gc_log;
    struct tu_proc p;
    char *where = start_live_heap(&p, dir, &src, &gc_log);
    int forced;
    gcs_logged(gc_log, &forced);
    ck_assert_int_eq(forced, 0);
    int pipe_fds[2];
    ck_assert(pipe(pipe_fds) == 0);
    pid_t scraper = fork();
    ck_assert(scraper >= 0);
    if (scraper == 0) {
        close(pipe_fds[0]);
        scrape_forever(where, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char *pid = tu_strf("%d", (int)p.pid);
    char *leakwatch = tu_strf("%s/leakwatch", tu_build_dir());
    char *dump[] = { leakwatch, "dump", "--gc", "--timeout", "30s", pid, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    int said_forced = 0;
    char first_unforced[600] = "";
    for (int r = 0; r < ROUNDS; r++) {
        tu_sleep_ms(50 + 37 * r % 200);           /* lands at different points of the scrapes */
        struct tu_proc d;
        tu_run(&d, dump, env.vars, 60);
        ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0, "dump --gc: %s %s", tu_status_str(&d),
                      d.err);
        const char *heap = strstr(d.out, "\nJava heap: ~");
        ck_assert_msg(heap, "a dump --gc report without its Java heap:\n%.3000s", d.out);
        if (strstr(heap, "a full GC this report asked for)"))
            said_forced++;
        else if (!first_unforced[0])
            snprintf(first_unforced, sizeof first_unforced, "%.*s", (int)strcspn(heap + 1, "\n"), heap + 1);
        tu_proc_free(&d);
    }
    kill(scraper, SIGKILL);
    ck_assert_int_ge(tu_wait_pid(scraper, 10), 0);
    char answers[4096];
    ssize_t scrapes = read(pipe_fds[0], answers, sizeof answers);
    close(pipe_fds[0]);
    ck_assert_msg(scrapes > ROUNDS, "only %zd scrapes were answered beside %d dumps", scrapes, ROUNDS);
    ck_assert_msg(said_forced == ROUNDS, "%d of %d dump --gc reports say they forced no GC (beside %zd scrapes): %s",
                  ROUNDS - said_forced, ROUNDS, scrapes, first_unforced);
    gcs_logged(gc_log, &forced);
    ck_assert_msg(forced == ROUNDS, "%d dumps asked for a full GC, the JVM logged %d forced ones", ROUNDS, forced);
    tu_env_free(&env);
    stop(&p);
    free(dump[0]), free(pid), free(where), free(gc_log), free(src);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The source line of the first occurrence of needle in text (1-based). */
static int line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    ck_assert_msg(at, "no %s in the source", needle);
    int line = 1;
    for (const char *q = text; q < at; q++)
        line += *q == '\n';
    return line;
}

/* A class whose source file name has characters a Java stack trace line uses as separators or a report escapes
 * (", ", a backslash): the profile names its frames with that file and their lines, for the direct buffers (a
 * native site's Java path) and for the long[]s (a Java-heap site), as the report's JSON does. */
START_TEST(java_frames_keep_odd_source_names)
{
    char *dir = tu_tempdir();
    static const char file[] = "Kept, odd\\name.java";
    char *src = tu_strf("%s/%s", dir, file);
    static const char java[] =
        "import java.nio.ByteBuffer;\n"
        "import java.util.ArrayList;\n"
        "import java.util.List;\n"
        "\n"
        "class OddSource {\n"
        "    static final List<Object> KEPT = new ArrayList<>();\n"
        "\n"
        "    public static void main(String[] args) throws Exception {\n"
        "        Thread.sleep(2500);\n"
        "        for (int i = 0; i < 200; i++)\n"
        "            KEPT.add(ByteBuffer.allocateDirect(16 * 1024));\n"
        "        for (int i = 0; i < 4000; i++)\n"
        "            KEPT.add(new long[512]);\n"
        "        System.out.println(\"ready\");\n"
        "        System.out.flush();\n"
        "        Thread.sleep(Long.parseLong(args[0]) * 1000L);\n"
        "    }\n"
        "}\n";
    FILE *f = fopen(src, "w");
    ck_assert_msg(f && fputs(java, f) >= 0 && fclose(f) == 0, "cannot write %s", src);
    char *gc_log;
    struct tu_proc p;
    char *where = start_java(&p, dir, src, "OddSource", &gc_log);
    char *head = fetch_to(where, "/debug/pprof/heap", dir, "odd.pb.gz");
    free(head);
    char *profile = tu_strf("%s/odd.pb.gz", dir);
    char *direct = tu_strf("OddSource.main %s:%d\n", file, line_of(java, "allocateDirect"));
    char *lines = go_pprof(dir, "-top", "-lines", "-focus=OddSource.main", profile);
    ck_assert_msg(strstr(lines, direct), "no %s in:\n%.3000s", direct, lines);
    free(lines);
    char *records = tu_strf("OddSource.main %s:%d\n", file, line_of(java, "new long[512]"));
    lines = go_pprof(dir, "-top", "-lines", "-sample_index=java_inuse_space_estimated", profile);
    ck_assert_msg(strstr(lines, records), "no %s in:\n%.3000s", records, lines);
    free(lines);
    /* the report names the same file */
    size_t len;
    char *resp = get(where, "/report.json", &len);
    assert_status(resp, "200");
    char *quoted = tu_strf("\"file\":\"Kept, odd\\\\name.java\"");
    ck_assert_msg(strstr(body_of(resp), quoted), "/report.json has no %s", quoted);
    free(quoted), free(resp);
    stop(&p);
    free(records), free(direct), free(profile), free(where), free(gc_log), free(src);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The live blocks of the report json_path at sites whose frames pass through HotSpot's interpreter oop-map cache. */
static long long oop_map_cache_blocks(const char *json_path)
{
    json_error_t jerr;
    json_t *r = json_load_file(json_path, 0, &jerr);
    ck_assert_msg(r, "%s: %s", json_path, jerr.text);
    size_t i;
    json_t *site;
    long long blocks = 0;
    json_array_foreach(json_object_get(r, "sites"), i, site) {
        char *frames = json_dumps(json_object_get(site, "frames"), 0);
        if (frames && strstr(frames, "OopMapCache"))
            blocks += json_integer_value(json_object_get(site, "live_blocks"));
        free(frames);
    }
    json_decref(r);
    return blocks;
}

/* A full GC that `leakwatch dump --gc` forces ends, on leakwatch's own JVM thread, by freeing the entries it replaced
 * in HotSpot's interpreter oop-map caches (GC threads allocated them while scanning interpreted frames: the
 * program's counts hold them). Threads parked in 64 interpreted methods of one class make every GC replace some;
 * those frees must be counted, or each forced GC leaves more phantom blocks at the cache's sites. */
START_TEST(forced_gc_frees_are_counted)
{
    enum { METHODS = 64, DUMPS = 6 };
    char *dir = tu_tempdir();
    char *src = tu_strf("%s/Parked.java", dir);
    FILE *f = fopen(src, "w");
    ck_assert_msg(f, "cannot write %s", src);
    fprintf(f, "import java.util.concurrent.CountDownLatch;\n\npublic class Parked {\n"
               "    static final CountDownLatch READY = new CountDownLatch(%d);\n", METHODS);
    for (int m = 0; m < METHODS; m++) {
        fprintf(f, "    static void m%d(long x) throws Exception {\n", m);
        for (int k = 0; k < m % 7; k++)          /* methods of different sizes: their cache slots differ */
            fprintf(f, "        long a%d = %dL + x;\n", k, k);
        fprintf(f, "        READY.countDown();\n        Thread.sleep(Long.MAX_VALUE);\n    }\n");
    }
    fprintf(f, "    static void park(int i) throws Exception {\n        switch (i) {\n");
    for (int m = 0; m < METHODS; m++)
        fprintf(f, "        case %d: m%d(i); break;\n", m, m);
    fprintf(f, "        }\n    }\n\n    public static void main(String[] args) throws Exception {\n"
               "        Thread.sleep(2500);\n"
               "        for (int i = 0; i < %d; i++) {\n"
               "            final int k = i;\n"
               "            Thread t = new Thread(() -> { try { park(k); } catch (Exception e) { } });\n"
               "            t.setDaemon(true);\n"
               "            t.start();\n"
               "        }\n"
               "        READY.await();\n"
               "        System.out.println(\"ready\");\n"
               "        System.out.flush();\n"
               "        Thread.sleep(Long.parseLong(args[0]) * 1000L);\n"
               "    }\n}\n", METHODS);
    ck_assert(fclose(f) == 0);
    char *gc_log;
    struct tu_proc p;
    char *where = start_java(&p, dir, src, "Parked", &gc_log);
    char *pid = tu_strf("%d", (int)p.pid);
    char *leakwatch = tu_strf("%s/leakwatch", tu_build_dir());
    char *dump[] = { leakwatch, "dump", "--gc", "--timeout", "30s", pid, NULL };
    struct tu_env env;
    tu_env_base(&env, dir);
    long long blocks[DUMPS];
    for (int d = 0; d < DUMPS; d++) {
        struct tu_proc c;
        tu_run(&c, dump, env.vars, 60);
        ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "dump --gc: %s %s", tu_status_str(&c), c.err);
        /* stderr: "report of PID N: DIR/NAME.txt (and NAME.json)" */
        const char *txt = strstr(c.err, ": /");
        const char *end = txt ? strstr(txt, ".txt (and ") : NULL;
        ck_assert_msg(end, "dump --gc named no report: %s", c.err);
        char *json = tu_strf("%.*s.json", (int)(end - txt - 2), txt + 2);
        blocks[d] = oop_map_cache_blocks(json);
        free(json);
        tu_proc_free(&c);
    }
    tu_env_free(&env);
    ck_assert_msg(blocks[0] > 0, "no live blocks at the oop-map cache's sites: the test shows nothing");
    ck_assert_msg(blocks[DUMPS - 1] <= blocks[0] + 16,
                  "the oop-map cache's sites grew from %lld to %lld live blocks over %d forced GCs (%lld, %lld, %lld, "
                  "%lld, %lld, %lld): the GCs' frees on leakwatch's thread were not counted", blocks[0],
                  blocks[DUMPS - 1], DUMPS, blocks[0], blocks[1], blocks[2], blocks[3], blocks[4], blocks[5]);
    stop(&p);
    free(leakwatch), free(pid), free(where), free(gc_log), free(src);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *live_suite(void);
Suite *live_suite(void)
{
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("endpoint");
    tcase_add_checked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, metrics_give_the_known_leak);
    tcase_add_test(tc, pprof_heap_read_by_go_tool_pprof);
    tcase_add_test(tc, report_json_over_a_unix_socket);
    tcase_add_test(tc, bad_clients_change_nothing);
    tcase_add_test(tc, forked_child_serves_on_its_own);
    tcase_add_test(tc, bad_setting_is_one_line);
    tcase_add_test(tc, prometheus_scrapes_the_endpoint);
    tcase_add_test(tc, exec_inherits_no_socket);
    tcase_add_test(tc, site_label_is_escaped);
    tcase_add_test(tc, crc32_check_value);
    tcase_add_test(tc, http_setting_parses);
    suite_add_tcase(s, tc);
    /* the JVM's: CK_RUN_CASE=jvm runs them alone */
    TCase *jvm = tcase_create("jvm");
    tcase_add_checked_fixture(jvm, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_set_timeout(jvm, 300);
    tcase_add_test(jvm, jvm_sites_java_heap_and_gc);
    tcase_add_test(jvm, dump_gc_is_not_taken_by_scrapes);
    tcase_add_test(jvm, java_frames_keep_odd_source_names);
    tcase_add_test(jvm, forced_gc_frees_are_counted);
    suite_add_tcase(s, jvm);
    return s;
}
LW_SUITE(live_suite)
