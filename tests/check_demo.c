/* check_demo — the example gateway and load client (tests/demo/), and the CI gate's verdict on them: `leakwatch
 * gate` must fail the gateway's leak and queue modes and pass its ok and cache modes, every time (each case runs
 * three times), and the gateway must serve correct answers on its own, without the shim. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

#define GATE_ROUNDS     "5"
#define GATE_REQUESTS   "1000"
#define GATE_TIMEOUT_S  150.0
/* A quarter of the load's requests are product pages with random ids, 250 per round: the cache holds 250, 500
 * and 750 pages after rounds 1-3 and is full from round 4 on. So it grows through the first post-warm-up
 * rounds, by more than the gate's default --min-growth, and then stops: the shape the gate must pass. */
#define CACHE_ENTRIES   "768"

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    ck_assert_msg(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
                  getsockname(fd, (struct sockaddr *)&addr, &len) == 0, "bind: %s", strerror(errno));
    close(fd);
    return ntohs(addr.sin_port);
}

static char *demo_program(const char *name)
{
    char *path = tu_strf("%s/demo/%s", tu_build_dir(), name);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built (make all)", path);
    return path;
}

/* A started gateway, bare (no shim), ready for connections. */
struct gateway {
    struct tu_proc proc;
    struct tu_env env;
    char *out;
    int port;
};

static void gateway_start(struct gateway *gw, const char *mode)
{
    char *bin = demo_program("gateway");
    gw->out = tu_tempdir();
    tu_env_base(&gw->env, gw->out);
    gw->port = free_port();
    char *port = tu_strf("%d", gw->port);
    char *argv[] = { bin, "--port", port, "--mode", (char *)mode, NULL };
    tu_spawn(&gw->proc, argv, gw->env.vars, NULL);
    char *ready = tu_strf("listening on 127.0.0.1:%d\n", gw->port);
    int r = tu_read_until(&gw->proc, ready, 10);
    ck_assert_msg(r == 0, "gateway --mode %s did not print '%s' within 10 s; stdout: %s stderr: %s", mode,
                  "listening on 127.0.0.1:PORT", gw->proc.out, gw->proc.err);
    free(ready);
    free(port);
    free(bin);
}

/* Stops the gateway with SIGTERM and checks that it shut down cleanly after serving `served` requests. */
static void gateway_stop(struct gateway *gw, unsigned served)
{
    kill(gw->proc.pid, SIGTERM);
    tu_finish(&gw->proc, 10);
    ck_assert_msg(!gw->proc.timed_out && WIFEXITED(gw->proc.status) && WEXITSTATUS(gw->proc.status) == 0,
                  "gateway did not exit 0 on SIGTERM (%s); stderr: %s", tu_status_str(&gw->proc), gw->proc.err);
    char *bye = tu_strf("gateway: Terminated after %u requests\n", served);
    ck_assert_msg(strstr(gw->proc.out, bye) != NULL, "gateway did not say '%s'; stdout: %s", bye, gw->proc.out);
    free(bye);
    tu_proc_free(&gw->proc);
    tu_env_free(&gw->env);
    tu_rmtree(gw->out);
    free(gw->out);
}

/* Sends raw request bytes in the given pieces (a short pause between them, so the server sees partial requests)
 * and returns everything the server sent until it closed the connection. */
static char *exchange(int port, const char *const pieces[], size_t npieces)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0, "connect to 127.0.0.1:%d: %s", port,
                  strerror(errno));
    for (size_t i = 0; i < npieces; i++) {
        size_t len = strlen(pieces[i]);
        ck_assert_msg(write(fd, pieces[i], len) == (ssize_t)len, "send: %s", strerror(errno));
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    ck_assert_msg(buf != NULL, "out of memory");
    for (;;) {
        ck_assert_msg(len + 1 < cap, "response larger than %zu bytes", cap);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        ck_assert_msg(n >= 0, "receive from the gateway: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* Checks one response at *p (status line, the header line `header` unless NULL, Content-Length matching the
 * body) and returns its body (a new string); *p moves past the response. */
static char *take_response(const char **p, const char *status_line, const char *header)
{
    ck_assert_msg(strncmp(*p, status_line, strlen(status_line)) == 0, "expected '%s', got: %.200s", status_line,
                  *p);
    const char *head_end = strstr(*p, "\r\n\r\n");
    ck_assert_msg(head_end != NULL, "response without the end of its head: %.200s", *p);
    if (header) {
        char *line = tu_strf("\r\n%s\r\n", header);
        const char *h = strstr(*p, line);
        ck_assert_msg(h != NULL && h < head_end, "response without '%s': %.200s", header, *p);
        free(line);
    }
    const char *cl = strstr(*p, "\r\nContent-Length: ");
    ck_assert_msg(cl != NULL && cl < head_end, "response without Content-Length: %.200s", *p);
    size_t body_len = strtoul(cl + 18, NULL, 10);
    const char *body = head_end + 4;
    ck_assert_msg(strlen(body) >= body_len, "body shorter than its Content-Length %zu: %s", body_len, body);
    *p = body + body_len;
    return strndup(body, body_len);
}

/* The gateway alone, in every mode: right status, Content-Length and body, over one keep-alive connection
 * whose first request arrives in three pieces; identical product pages on a repeat (the cache's hit path). */
START_TEST(gateway_serves_without_shim)
{
    static const char *const modes[] = { "ok", "leak", "queue", "cache" };
    struct gateway gw;
    gateway_start(&gw, modes[_i]);
    static const char *const pieces[] = {
        "GET /api/ord", "ers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: 1\r\n", "\r\n",
        "GET /api/products/4242 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/products/4242 HTTP/1.1\r\n\r\n"
        "GET /api/users/7 HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
        "GET /api/orders HTTP/1.1\r\nConnection: close\r\n\r\n",
    };
    char *all = exchange(gw.port, pieces, 4);
    const char *p = all;

    char *orders = take_response(&p, "HTTP/1.1 200 OK\r\n", "Connection: keep-alive");
    ck_assert_msg(strncmp(orders, "{\"api\":\"orders/v2\",\"data\":{\"orders\":[{\"id\":", 42) == 0,
                  "unexpected orders body: %s", orders);
    ck_assert_msg(strstr(orders, "\"status\":\"paid\"") && strcmp(orders + strlen(orders) - 3, "}}\n") == 0,
                  "orders body incomplete: %s", orders);
    char *page1 = take_response(&p, "HTTP/1.1 200 OK\r\n", NULL);
    char *page2 = take_response(&p, "HTTP/1.1 200 OK\r\n", NULL);
    ck_assert_msg(strstr(page1, "<h1>Product 4242</h1>") && strstr(page1, "</html>\n"), "bad page: %s", page1);
    ck_assert_str_eq(page1, page2);
    char *user = take_response(&p, "HTTP/1.1 200 OK\r\n", NULL);
    ck_assert_msg(strstr(user, "\"email\":\"user7@example.test\"") != NULL, "bad user: %s", user);
    char *health = take_response(&p, "HTTP/1.1 200 OK\r\n", NULL);
    ck_assert_str_eq(health, "ok\n");
    char *missing = take_response(&p, "HTTP/1.1 404 Not Found\r\n", NULL);
    ck_assert_str_eq(missing, "not found\n");
    char *last = take_response(&p, "HTTP/1.1 200 OK\r\n", "Connection: close");
    ck_assert_msg(*p == '\0', "bytes after the last response: %s", p);

    const char *const bad[] = { "NONSENSE\r\n\r\n" };
    char *rejected = exchange(gw.port, bad, 1);
    ck_assert_msg(strncmp(rejected, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "malformed request got: %s",
                  rejected);

    free(rejected);
    free(last);
    free(missing);
    free(health);
    free(user);
    free(page2);
    free(page1);
    free(orders);
    free(all);
    gateway_stop(&gw, 7);
}
END_TEST

/* The load client sends exactly what it is asked to, and fails when the server is not there. */
START_TEST(load_counts_and_fails)
{
    struct gateway gw;
    gateway_start(&gw, "ok");
    char *load = demo_program("load");
    char *port = tu_strf("%d", gw.port);
    char *argv[] = { load, "--port", port, "--requests", "500", "--concurrency", "3", NULL };
    struct tu_proc p;
    tu_run(&p, argv, gw.env.vars, 60);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "load: %s; stderr: %s", tu_status_str(&p),
                  p.err);
    ck_assert_msg(strstr(p.out, "load: 500/500 requests") && strstr(p.out, ", 0 errors"), "load said: %s", p.out);
    tu_proc_free(&p);
    gateway_stop(&gw, 500);

    char *dead = tu_strf("%d", free_port());
    char *argv2[] = { load, "--port", dead, "--requests", "10", NULL };
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_run(&p, argv2, env.vars, 30);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1,
                  "load against a closed port: %s, expected exit 1", tu_status_str(&p));
    ck_assert_msg(strstr(p.err, "connect to 127.0.0.1:") != NULL, "load's error does not say what failed: %s",
                  p.err);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(dead);
    free(port);
    free(load);
}
END_TEST

/* What one gate run left: the finished process and its --json verdict. */
struct gate_run {
    struct tu_proc proc;
    json_t *verdict;
    char *out;
};

/* Runs the whole CI job on the gateway in one mode. */
static void run_gate(const char *mode, struct gate_run *run)
{
    const char *b = tu_build_dir();
    char *leakwatch = tu_strf("%s/leakwatch", b);
    ck_assert_msg(access(leakwatch, X_OK) == 0, "%s is not built (make all): the gate tests need it", leakwatch);
    char *shim = tu_shim_path();
    char *gateway = demo_program("gateway");
    char *loader = demo_program("load");
    int port = free_port();
    char *port_s = tu_strf("%d", port);
    char *load = tu_strf("%s --port %d --requests %s", loader, port, GATE_REQUESTS);
    run->out = tu_tempdir();
    char *json = tu_strf("%s/gate.json", run->out);
    struct tu_env env;
    tu_env_base(&env, run->out);
    char *argv[] = { leakwatch, "gate", "--rounds", GATE_ROUNDS, "--warmup", "1", "--load", load,
                     "--ready-port", port_s, "--json", json, "--", gateway, "--port", port_s, "--mode", (char *)mode,
                     "--cache-entries", CACHE_ENTRIES, NULL };
    double start = tu_now();
    tu_run(&run->proc, argv, env.vars, GATE_TIMEOUT_S);
    fprintf(stderr, "check_demo: gate on --mode %s: %s after %.1f s\n", mode, tu_status_str(&run->proc),
            tu_now() - start);
    ck_assert_msg(!run->proc.timed_out, "leakwatch gate on --mode %s did not finish within %.0f s; output: %s %s",
                  mode, GATE_TIMEOUT_S, run->proc.out, run->proc.err);
    json_error_t err;
    run->verdict = json_load_file(json, 0, &err);
    ck_assert_msg(run->verdict != NULL, "leakwatch gate on --mode %s (%s) left no readable --json %s: %s\nstderr:\n%s",
                  mode, tu_status_str(&run->proc), json, err.text, run->proc.err);
    tu_env_free(&env);
    free(json);
    free(load);
    free(port_s);
    free(loader);
    free(gateway);
    free(shim);
    free(leakwatch);
}

static void gate_run_free(struct gate_run *run)
{
    json_decref(run->verdict);
    tu_proc_free(&run->proc);
    tu_rmtree(run->out);
    free(run->out);
}

static int gate_exit(const struct tu_proc *gate)
{
    return WIFEXITED(gate->status) ? WEXITSTATUS(gate->status) : -1;
}

/* The leak and queue modes must fail, and every failing site must have been created in `creator` and have
 * grown by exactly `blocks_per_round` blocks in every round (the load is deterministic: the growing paths get
 * a fixed share of the requests). Returns how many sites failed. */
static size_t expect_gate_fails(const char *mode, const char *creator, long long blocks_per_round)
{
    struct gate_run run;
    run_gate(mode, &run);
    ck_assert_msg(gate_exit(&run.proc) == 1, "leakwatch gate on the %s gateway: %s, expected exit 1 (a growing "
                  "leak);\nstdout:\n%s\nstderr:\n%s", mode, tu_status_str(&run.proc), run.proc.out, run.proc.err);
    ck_assert_msg(strstr(run.proc.out, creator) != NULL, "the gate failed --mode %s but its output does not name "
                  "%s:\n%s", mode, creator, run.proc.out);
    ck_assert_str_eq(json_string_value(json_object_get(run.verdict, "verdict")), "fail");
    size_t i, failed = 0;
    json_t *site;
    json_array_foreach(json_object_get(run.verdict, "sites"), i, site) {
        if (strcmp(json_string_value(json_object_get(site, "verdict")), "fail") != 0)
            continue;
        failed++;
        const char *top = json_string_value(json_array_get(json_object_get(site, "created_at"), 0));
        ck_assert_msg(top && strncmp(top, creator, strlen(creator)) == 0 && top[strlen(creator)] == '+',
                      "--mode %s: a failing site was created at %s, not in %s", mode, top ? top : "(none)", creator);
        json_t *blocks = json_object_get(site, "live_blocks");
        ck_assert_int_eq(json_array_size(blocks), atoi(GATE_ROUNDS));
        for (size_t r = 1; r < json_array_size(blocks); r++) {
            long long grew = json_integer_value(json_array_get(blocks, r)) -
                             json_integer_value(json_array_get(blocks, r - 1));
            ck_assert_msg(grew == blocks_per_round, "--mode %s: site created in %s grew by %lld blocks in round "
                          "%zu, expected %lld", mode, creator, grew, r + 1, blocks_per_round);
        }
    }
    ck_assert_int_eq((long long)failed, json_integer_value(json_object_get(run.verdict, "failed")));
    gate_run_free(&run);
    return failed;
}

/* The ok and cache modes must pass; returns how many sites the gate judged to be levelling off. */
static size_t expect_gate_passes(const char *mode)
{
    struct gate_run run;
    run_gate(mode, &run);
    ck_assert_msg(gate_exit(&run.proc) == 0, "leakwatch gate on the %s gateway: %s, expected exit 0 (no growing "
                  "leak);\nstdout:\n%s\nstderr:\n%s", mode, tu_status_str(&run.proc), run.proc.out, run.proc.err);
    ck_assert_str_eq(json_string_value(json_object_get(run.verdict, "verdict")), "pass");
    size_t i, levelling = 0;
    json_t *site;
    json_array_foreach(json_object_get(run.verdict, "sites"), i, site)
        levelling += strcmp(json_string_value(json_object_get(site, "trend")), "levelling") == 0;
    gate_run_free(&run);
    return levelling;
}

/* A quarter of the requests go to /api/orders, and each loses its 2 KiB body. */
START_TEST(gate_fails_leak)
{
    ck_assert_int_eq(expect_gate_fails("leak", "build_order_response", atoi(GATE_REQUESTS) / 4), 1);
}
END_TEST

/* Every request queues one event: its struct and its line are two sites, both growing. */
START_TEST(gate_fails_queue)
{
    ck_assert_int_eq(expect_gate_fails("queue", "enqueue_audit_event", atoi(GATE_REQUESTS)), 2);
}
END_TEST

START_TEST(gate_passes_ok)
{
    ck_assert_int_eq(expect_gate_passes("ok"), 0);
}
END_TEST

/* The pages' site grows through the first judged rounds by more than --min-growth: it must pass because
 * it levels off, not because it was too small to notice. */
START_TEST(gate_passes_cache)
{
    ck_assert_uint_ge(expect_gate_passes("cache"), 1);
}
END_TEST

static Suite *demo_suite(void)
{
    Suite *s = suite_create("demo");
    TCase *alone = tcase_create("gateway");
    tcase_set_timeout(alone, 60);
    tcase_add_loop_test(alone, gateway_serves_without_shim, 0, 4);
    tcase_add_test(alone, load_counts_and_fails);
    suite_add_tcase(s, alone);

    /* Three runs of each: the verdict must not depend on timing or on the random ids the load picks. */
    TCase *gate = tcase_create("gate");
    tcase_set_timeout(gate, GATE_TIMEOUT_S + 30);
    tcase_add_loop_test(gate, gate_fails_leak, 0, 3);
    tcase_add_loop_test(gate, gate_fails_queue, 0, 3);
    tcase_add_loop_test(gate, gate_passes_ok, 0, 3);
    tcase_add_loop_test(gate, gate_passes_cache, 0, 3);
    suite_add_tcase(s, gate);
    return s;
}

LW_SUITE(demo_suite)
