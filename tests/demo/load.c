/* load — a small, bounded HTTP/1.1 load client for the demo gateway, so `make demo` and the tests need no wrk.
 * Sends exactly --requests GETs over --concurrency keep-alive connections to 127.0.0.1 only, cycling through the
 * --path list ("{id}" becomes a random number below --ids), checks every answer is a complete 200, and gives up
 * after --timeout seconds. With --form BODY each request is instead a POST of BODY as an HTML form
 * (application/x-www-form-urlencoded). Exit 0 when every request succeeded, 1 on any failed request, 2 on usage
 * errors. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_PATHS   32
#define RESP_CAP    (256 * 1024)
#define DEFAULT_PATHS "/api/orders,/api/users/{id},/api/products/{id},/health"

struct client {
    pthread_t thread;
    unsigned index;
    int fd;
    uint64_t rng;
    char *resp;
    unsigned long done, errors;
};

static struct {
    int port;
    unsigned long requests;
    unsigned concurrency;
    unsigned long ids;
    double timeout_s;
    char *paths[MAX_PATHS];
    unsigned npaths;
    const char *form;           /* --form: the body of a POST, or NULL for GETs */
    atomic_ulong next;          /* index of the next request to send */
    atomic_bool quiet_errors;   /* only the first failure is described */
    struct timespec deadline;
    struct client clients[MAX_THREADS];
} g;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: load --port P --requests N [--concurrency C] [--path P1,P2,...] [--ids N] "
            "[--timeout SECONDS] [--form BODY]\n  default paths: %s\n", DEFAULT_PATHS);
    exit(2);
}

static void report_error(const struct client *c, const char *what, const char *detail)
{
    if (!atomic_exchange(&g.quiet_errors, true))
        fprintf(stderr, "load: connection %u: %s%s%s\n", c->index, what, detail ? ": " : "", detail ? detail : "");
}

static uint64_t next_random(struct client *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

static bool past_deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec > g.deadline.tv_sec || (ts.tv_sec == g.deadline.tv_sec && ts.tv_nsec >= g.deadline.tv_nsec);
}

static bool client_connect(struct client *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        report_error(c, "socket", strerror(errno));
        return false;
    }
    /* Every blocking call is bounded, so a stuck server cannot hold the load (and a CI job) forever. */
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        char where[64];
        snprintf(where, sizeof where, "connect to 127.0.0.1:%d", g.port);
        report_error(c, where, strerror(errno));
        close(c->fd);
        c->fd = -1;
        return false;
    }
    return true;
}

/* Closes the connection after the server has closed its side: the gateway frees a connection's memory before
 * closing it, so once every client has seen EOF no connection memory is left behind to blur a snapshot. */
static void client_close(struct client *c)
{
    if (c->fd < 0)
        return;
    shutdown(c->fd, SHUT_WR);
    char buf[512];
    while (read(c->fd, buf, sizeof buf) > 0)
        ;
    close(c->fd);
    c->fd = -1;
}

static void format_path(struct client *c, unsigned long i, char *out, size_t cap)
{
    const char *tmpl = g.paths[i % g.npaths];
    const char *mark = strstr(tmpl, "{id}");
    if (mark)
        snprintf(out, cap, "%.*s%llu%s", (int)(mark - tmpl), tmpl,
                 (unsigned long long)(next_random(c) % g.ids), mark + 4);
    else
        snprintf(out, cap, "%s", tmpl);
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Finds a header's value in the response head; returns its length or -1. */
static long find_header(const char *head, size_t head_len, const char *name, const char **value)
{
    size_t name_len = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    const char *end = head + head_len;
    while (p && p + 1 < end) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > name_len + 1 && strncasecmp(p, name, name_len) == 0 && p[name_len] == ':') {
            const char *v = p + name_len + 1;
            while (v < eol && *v == ' ')
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *value = v;
            return ve - v;
        }
        p = eol;
    }
    return -1;
}

/* Sends one request and reads one complete response. Returns 0 on a 200, 1 on another status (the connection
 * stays usable), -1 when the connection failed. *keep tells whether the server keeps the connection open. */
static int one_request(struct client *c, const char *path, bool *keep)
{
    char req[1024];
    int n = g.form ? snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              "User-Agent: leakwatch-demo-load\r\nAccept: */*\r\n"
                              "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                              path, g.port, strlen(g.form), g.form)
                   : snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              "User-Agent: leakwatch-demo-load\r\nAccept: */*\r\n\r\n", path, g.port);
    if (n <= 0 || (size_t)n >= sizeof req) {
        report_error(c, "path too long", path);
        return -1;
    }
    if (!write_all(c->fd, req, (size_t)n)) {
        report_error(c, "send", strerror(errno));
        return -1;
    }
    size_t len = 0, head_len = 0, body_len = 0;
    for (;;) {
        if (head_len == 0) {
            const char *e = memmem(c->resp, len, "\r\n\r\n", 4);
            if (e) {
                head_len = (size_t)(e - c->resp) + 4;
                const char *v;
                long vl = find_header(c->resp, head_len, "Content-Length", &v);
                char num[24];
                if (vl <= 0 || vl >= (long)sizeof num) {
                    report_error(c, "response without Content-Length for", path);
                    return -1;
                }
                memcpy(num, v, (size_t)vl);
                num[vl] = '\0';
                body_len = strtoul(num, NULL, 10);
                if (head_len + body_len > RESP_CAP) {
                    report_error(c, "response too large for", path);
                    return -1;
                }
            }
        }
        if (head_len && len >= head_len + body_len)
            break;
        if (len == RESP_CAP) {
            report_error(c, "response head too large for", path);
            return -1;
        }
        ssize_t r = read(c->fd, c->resp + len, RESP_CAP - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            report_error(c, r == 0 ? "server closed the connection early on" : "receive", r == 0 ? path :
                         strerror(errno));
            return -1;
        }
        len += (size_t)r;
    }
    if (len != head_len + body_len) {
        report_error(c, "unexpected bytes after the response to", path);
        return -1;
    }
    const char *v;
    long vl = find_header(c->resp, head_len, "Connection", &v);
    *keep = !(vl == 5 && strncasecmp(v, "close", 5) == 0);
    if (strncmp(c->resp, "HTTP/1.1 200 ", 13) != 0) {
        char status[320];
        int line_len = (int)strcspn(c->resp, "\r\n");
        snprintf(status, sizeof status, "%.*s for %s", line_len > 40 ? 40 : line_len, c->resp, path);
        report_error(c, "unexpected status", status);
        return 1;
    }
    return 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    c->fd = -1;
    for (;;) {
        unsigned long i = atomic_fetch_add(&g.next, 1);
        if (i >= g.requests)
            break;
        if (past_deadline()) {
            report_error(c, "gave up", "--timeout reached");
            c->errors++;
            break;
        }
        if (c->fd < 0 && !client_connect(c)) {
            c->errors++;
            break;
        }
        char path[256];
        format_path(c, i, path, sizeof path);
        bool keep = true;
        int r = one_request(c, path, &keep);
        if (r == 0)
            c->done++;
        else
            c->errors++;
        if (r < 0) {
            close(c->fd);
            c->fd = -1;
            break;
        }
        if (!keep)
            client_close(c);
    }
    client_close(c);
    return NULL;
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "load: %s wants a number from %lu to %lu, got '%s'\n", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static void parse_paths(char *list)
{
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (g.npaths == MAX_PATHS || p[0] != '/' || strlen(p) > 200) {
            fprintf(stderr, "load: --path takes up to %d comma-separated paths starting with '/', "
                    "each up to 200 characters\n", MAX_PATHS);
            exit(2);
        }
        g.paths[g.npaths++] = p;
    }
    if (g.npaths == 0)
        usage();
}

int main(int argc, char **argv)
{
    static char default_paths[] = DEFAULT_PATHS;
    char *paths = default_paths;
    g.port = -1;
    g.concurrency = 4;
    g.ids = 100000;
    g.timeout_s = 60;
    bool have_requests = false;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            usage();
        char *val = argv[++i];
        if (strcmp(opt, "--port") == 0) {
            g.port = (int)parse_num(opt, val, 1, 65535);
        } else if (strcmp(opt, "--requests") == 0) {
            g.requests = parse_num(opt, val, 1, 100000000);
            have_requests = true;
        } else if (strcmp(opt, "--concurrency") == 0) {
            g.concurrency = (unsigned)parse_num(opt, val, 1, MAX_THREADS);
        } else if (strcmp(opt, "--ids") == 0) {
            g.ids = parse_num(opt, val, 1, 1000000000);
        } else if (strcmp(opt, "--timeout") == 0) {
            g.timeout_s = (double)parse_num(opt, val, 1, 3600);
        } else if (strcmp(opt, "--path") == 0) {
            paths = val;
        } else if (strcmp(opt, "--form") == 0) {
            if (strlen(val) > 512)
                usage();
            g.form = val;
        } else {
            usage();
        }
    }
    if (g.port < 0 || !have_requests)
        usage();
    parse_paths(paths);
    if (g.concurrency > g.requests)
        g.concurrency = (unsigned)g.requests;
    signal(SIGPIPE, SIG_IGN);

    clock_gettime(CLOCK_MONOTONIC, &g.deadline);
    g.deadline.tv_sec += (time_t)g.timeout_s;
    double start = now_s();
    unsigned started = 0;
    for (unsigned t = 0; t < g.concurrency; t++) {
        struct client *c = &g.clients[t];
        c->index = t;
        c->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(start * 1e9) ^ (0x9e3779b97f4a7c15ull * (t + 1));
        if (c->rng == 0)
            c->rng = 1;
        c->resp = malloc(RESP_CAP);
        if (!c->resp || pthread_create(&c->thread, NULL, client_main, c) != 0) {
            fprintf(stderr, "load: cannot start connection %u\n", t);
            free(c->resp);
            break;
        }
        started++;
    }
    unsigned long done = 0, errors = 0;
    for (unsigned t = 0; t < started; t++) {
        pthread_join(g.clients[t].thread, NULL);
        done += g.clients[t].done;
        errors += g.clients[t].errors;
        free(g.clients[t].resp);
    }
    double elapsed = now_s() - start;
    printf("load: %lu/%lu requests to 127.0.0.1:%d in %.2f s (%.0f req/s, %u connections), %lu errors\n",
           done, g.requests, g.port, elapsed, elapsed > 0 ? (double)done / elapsed : 0.0, started, errors);
    if (fflush(stdout) != 0 || ferror(stdout))
        return 2;
    return done == g.requests && errors == 0 ? 0 : 1;
}
