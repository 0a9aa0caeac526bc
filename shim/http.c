/* http.c — the live endpoint's sockets, thread and request handling (see http.h).
 * One connection at a time: a request must arrive whole (at most REQUEST_MAX bytes of head) within
 * READ_DEADLINE_MS and the response must drain within WRITE_DEADLINE_MS, so a slow or malformed
 * client holds the endpoint for a few seconds at most and never touches the program's threads. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pprof_out.h"
#include "report_thread.h"
#include "state.h"
#include "threads.h"

#define REQUEST_MAX 8192
#define READ_DEADLINE_MS 3000
#define WRITE_DEADLINE_MS 10000
#define PORTS_TRIED 64              /* an address in use: the next ports up, one per forked worker */

static struct {
    int listen_fd, conn_fd, body_fd;    /* -1: none */
    char where[140];                    /* what the state file and the log say: host:port or unix:path */
    char unix_path[108];                /* the bound socket path, "" for TCP */
} srv = { -1, -1, -1, "", "" };

/* ---- addresses ------------------------------------------------------------------------------- */

union address {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
};

/* Parses host:port (config_parse_http has checked the shape); 0 or -1. */
static int tcp_address(const char *text, union address *a, socklen_t *len, unsigned *port, int *loopback)
{
    char host[108];
    const char *colon = strrchr(text, ':');
    size_t n = (size_t)(colon - text);
    memcpy(host, text, n);
    host[n] = '\0';
    *port = 0;
    for (const char *p = colon + 1; *p; p++)
        *port = *port * 10 + (unsigned)(*p - '0');
    memset(a, 0, sizeof *a);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->in6.sin6_addr) != 1)
            return -1;
        a->in6.sin6_family = AF_INET6;
        *len = sizeof a->in6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr);
        return 0;
    }
    if (inet_pton(AF_INET, host, &a->in.sin_addr) != 1)
        return -1;
    a->in.sin_family = AF_INET;
    *len = sizeof a->in;
    *loopback = (ntohl(a->in.sin_addr.s_addr) >> 24) == 127;
    return 0;
}

static void set_port(union address *a, unsigned port)
{
    if (a->sa.sa_family == AF_INET6)
        a->in6.sin6_port = htons((uint16_t)port);
    else
        a->in.sin_port = htons((uint16_t)port);
}

static void describe_tcp(const union address *a)
{
    char host[INET6_ADDRSTRLEN];
    struct out o;
    out_init(&o, -1, srv.where, sizeof srv.where - 1);
    if (a->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof host);
        out_char(&o, '[');
        out_str(&o, host);
        out_char(&o, ']');
    } else {
        inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof host);
        out_str(&o, host);
    }
    out_char(&o, ':');
    out_u64(&o, ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port));
    srv.where[o.len] = '\0';
}

static int listen_tcp(const char *text, int quiet_about_exposure)
{
    union address a;
    socklen_t len;
    unsigned port;
    int loopback;
    if (tcp_address(text, &a, &len, &port, &loopback) < 0) {
        lw_log("LEAKWATCH_HTTP=", text, ": the host is not an IP address or localhost",
               " (like 127.0.0.1:6061 or [::1]:6061); the live endpoint stays off", NULL);
        return -1;
    }
    if (!loopback && !quiet_about_exposure)
        lw_log("LEAKWATCH_HTTP=", text, " is not a loopback address: anyone who can reach it can read",
               " this process's allocation sites and stacks", NULL);
    int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    unsigned last = port == 0 ? 0 : (port + PORTS_TRIED - 1 > 65535 ? 65535 : port + PORTS_TRIED - 1);
    for (unsigned p = port;; p++) {
        set_port(&a, p);
        if (bind(fd, &a.sa, len) == 0)
            break;
        if (errno != EADDRINUSE || p >= last)
            goto fail;
    }
    if (listen(fd, 8) < 0 || getsockname(fd, &a.sa, &len) < 0)
        goto fail;
    describe_tcp(&a);
    return fd;
fail:;
    int err = errno;
    if (fd >= 0)
        close(fd);
    lw_log("cannot serve LEAKWATCH_HTTP=", text, ": ", strerror(err),
           err == EADDRINUSE ? " (and the next ports up); the live endpoint stays off"
                             : "; the live endpoint stays off");
    return -1;
}

/* A socket file left by a process that is gone (a recycled pid, a crash) may be replaced; one that
 * answers, or is not ours, or is not a socket, may not. */
static int stale_socket(const char *path, const union address *a)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
        return 0;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return 0;
    int refused = connect(probe, &a->sa, sizeof a->un) < 0 && errno == ECONNREFUSED;
    close(probe);
    return refused;
}

static int listen_unix(const char *template)
{
    struct out o;
    out_init(&o, -1, srv.unix_path, sizeof srv.unix_path - 1);
    for (const char *p = template; *p; p++) {
        if (p[0] == '%' && p[1] == 'p')
            out_u64(&o, (uint64_t)shim_state.pid), p++;
        else
            out_char(&o, *p);
    }
    srv.unix_path[o.len] = '\0';
    union address a;
    memset(&a, 0, sizeof a);
    a.un.sun_family = AF_UNIX;
    strcpy(a.un.sun_path, srv.unix_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, &a.sa, sizeof a.un) < 0) {
        if (errno != EADDRINUSE || !stale_socket(srv.unix_path, &a) || unlink(srv.unix_path) < 0 ||
            bind(fd, &a.sa, sizeof a.un) < 0)
            goto fail;
    }
    /* bound but not yet listening: nobody can connect before the mode is ours alone */
    if (chmod(srv.unix_path, 0600) < 0 || listen(fd, 8) < 0)
        goto fail;
    out_init(&o, -1, srv.where, sizeof srv.where - 1);
    out_str(&o, "unix:");
    out_str(&o, srv.unix_path);
    srv.where[o.len] = '\0';
    return fd;
fail:;
    int err = errno;
    if (fd >= 0)
        close(fd);
    lw_log("cannot serve on the socket ", srv.unix_path, " (LEAKWATCH_HTTP): ", strerror(err),
           err == EADDRINUSE ? " (another process serves there; put %p in the path for one per process)"
                             : "; the live endpoint stays off");
    srv.unix_path[0] = '\0';
    return -1;
}

/* ---- one request ----------------------------------------------------------------------------- */

static int wait_for(int fd, short events, uint64_t deadline)
{
    uint64_t now = lw_now_ms();
    if (now >= deadline)
        return 0;
    struct pollfd p = { fd, events, 0 };
    int rc = poll(&p, 1, (int)(deadline - now));
    return rc > 0;
}

static int send_all(int fd, const char *data, size_t len, uint64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline))
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* header: one more header line (without its CRLF), or NULL. */
static void respond(int fd, const char *status, const char *type, const char *header, int body_fd,
                    const char *text, int head_only, uint64_t deadline)
{
    char head[512];
    uint64_t length = text ? strlen(text) : 0;
    struct stat st;
    if (body_fd >= 0 && fstat(body_fd, &st) == 0)
        length = (uint64_t)st.st_size;
    struct out o;
    out_init(&o, -1, head, sizeof head);
    out_str(&o, "HTTP/1.1 ");
    out_str(&o, status);
    out_str(&o, "\r\nContent-Type: ");
    out_str(&o, type);
    out_str(&o, "\r\nContent-Length: ");
    out_u64(&o, length);
    if (header) {
        out_str(&o, "\r\n");
        out_str(&o, header);
    }
    out_str(&o, "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
    if (send_all(fd, head, o.len, deadline) < 0 || head_only)
        return;
    if (text) {
        send_all(fd, text, length, deadline);
        return;
    }
    char chunk[16384];
    for (uint64_t at = 0; at < length;) {
        ssize_t n = pread(body_fd, chunk, sizeof chunk, (off_t)at);
        if (n <= 0 || send_all(fd, chunk, (size_t)n, deadline) < 0)
            return;
        at += (uint64_t)n;
    }
}

enum route { ROUTE_NONE, ROUTE_METRICS, ROUTE_HEAP, ROUTE_REPORT };

static enum route route_of(const char *path, size_t len)
{
    static const struct { const char *path; enum route route; } routes[] = {
        { "/metrics", ROUTE_METRICS }, { "/debug/pprof/heap", ROUTE_HEAP }, { "/report.json", ROUTE_REPORT },
    };
    for (unsigned i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strlen(routes[i].path) == len && memcmp(routes[i].path, path, len) == 0)
            return routes[i].route;
    return ROUTE_NONE;
}

#define TEXT "text/plain; charset=utf-8"

/* Does the query (after '?', up to end) ask for a collection first, as Go's pprof handler takes it:
 * gc=N with N > 0? Other parameters are ignored. */
static int wants_gc(const char *query, const char *end)
{
    for (const char *p = query; p && p < end; p = memchr(p, '&', (size_t)(end - p)), p = p ? p + 1 : NULL) {
        if (end - p < 4 || memcmp(p, "gc=", 3) != 0)
            continue;
        int nonzero = 0;
        const char *d = p + 3;
        for (; d < end && *d >= '0' && *d <= '9'; d++)
            nonzero |= *d != '0';
        if (nonzero && (d == end || *d == '&'))
            return 1;
    }
    return 0;
}

/* The heap profile's request: the report lock's callback takes the descriptor only. */
static struct { int want_gc; const char *gc_word; } heap_request;

static int heap_profile(int fd)
{
    return pprof_out_write(fd, heap_request.want_gc, &heap_request.gc_word);
}

static void serve(int fd)
{
    char req[REQUEST_MAX + 1];
    size_t len = 0;
    uint64_t deadline = lw_now_ms() + READ_DEADLINE_MS;
    char *end;
    for (;;) {
        req[len] = '\0';
        if ((end = strstr(req, "\r\n")) != NULL && (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")))
            break;
        if (len == REQUEST_MAX) {
            respond(fd, "431 Request Header Fields Too Large", TEXT, NULL, -1, "request head over 8 KiB\n", 0,
                    lw_now_ms() + 1000);
            return;
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            respond(fd, "408 Request Timeout", TEXT, NULL, -1, "request not complete within 3 s\n", 0,
                    lw_now_ms() + 1000);
            return;
        }
        ssize_t n = recv(fd, req + len, REQUEST_MAX - len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return;
        if (n > 0) {
            if (memchr(req + len, '\0', (size_t)n)) {
                respond(fd, "400 Bad Request", TEXT, NULL, -1, "NUL byte in the request\n", 0, lw_now_ms() + 1000);
                return;
            }
            len += (size_t)n;
        }
    }
    /* request line: METHOD SP target SP HTTP/1.x */
    uint64_t write_deadline = lw_now_ms() + WRITE_DEADLINE_MS;
    char *sp1 = memchr(req, ' ', (size_t)(end - req));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1[1] != '/' || end - sp2 < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond(fd, "400 Bad Request", TEXT, NULL, -1, "not an HTTP/1.x request line\n", 0, write_deadline);
        return;
    }
    int head_only = sp1 - req == 4 && memcmp(req, "HEAD", 4) == 0;
    if (!head_only && !(sp1 - req == 3 && memcmp(req, "GET", 3) == 0)) {
        respond(fd, "405 Method Not Allowed", TEXT, NULL, -1, "only GET and HEAD\n", 0, write_deadline);
        return;
    }
    char *path = sp1 + 1;
    char *query = memchr(path, '?', (size_t)(sp2 - path));
    enum route route = route_of(path, (size_t)((query ? query : sp2) - path));
    if (route == ROUTE_NONE) {
        respond(fd, "404 Not Found", TEXT, NULL, -1,
                "leakwatch serves /metrics, /debug/pprof/heap and /report.json\n", 0, write_deadline);
        return;
    }
    if (!lw_is_on()) {
        respond(fd, "503 Service Unavailable", TEXT, NULL, -1, "leakwatch is not tracking\n", 0, write_deadline);
        return;
    }
    srv.body_fd = memfd_create("leakwatch-http", MFD_CLOEXEC);
    if (srv.body_fd < 0) {
        respond(fd, "500 Internal Server Error", TEXT, NULL, -1, "no memfd for the response\n", 0, write_deadline);
        return;
    }
    int rc;
    const char *type;
    char gc_header[64] = "";
    if (route == ROUTE_METRICS) {
        rc = report_thread_with_lock(metrics_write, srv.body_fd);
        type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    } else if (route == ROUTE_HEAP) {
        heap_request.want_gc = query && wants_gc(query + 1, sp2);
        heap_request.gc_word = NULL;
        rc = report_thread_with_lock(heap_profile, srv.body_fd);
        type = "application/octet-stream";
        if (rc == 0 && heap_request.gc_word) {
            struct out h;
            out_init(&h, -1, gc_header, sizeof gc_header - 1);
            out_str(&h, "X-Leakwatch-GC: ");
            out_str(&h, heap_request.gc_word);
            gc_header[h.len] = '\0';
        }
    } else {
        rc = report_thread_json_now(srv.body_fd);
        type = "application/json";
    }
    if (rc == 0)
        respond(fd, "200 OK", type, gc_header[0] ? gc_header : NULL, srv.body_fd, NULL, head_only,
                lw_now_ms() + WRITE_DEADLINE_MS);
    else
        respond(fd, "500 Internal Server Error", TEXT, NULL, -1,
                "could not build the response (no memory, or the program is exiting)\n", 0, write_deadline);
    close(srv.body_fd);
    srv.body_fd = -1;
}

/* Lets the client read the response to the end: closing with unread bytes would reset the connection
 * and could cut the response short. */
static void finish(int fd)
{
    shutdown(fd, SHUT_WR);
    uint64_t deadline = lw_now_ms() + 500;
    char sink[1024];
    while (wait_for(fd, POLLIN, deadline) && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
}

static void *http_main(void *arg)
{
    (void)arg;
    lw_guard = 1;
    for (;;) {
        int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                poll(NULL, 0, 100);   /* the program holds every descriptor: try again later */
            else if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK)
                return NULL;          /* the program closed our socket (a daemon closing every fd): stop */
            continue;
        }
        srv.conn_fd = fd;
        serve(fd);
        finish(fd);
        srv.conn_fd = -1;
        close(fd);
    }
    return NULL;
}

/* ---- start ----------------------------------------------------------------------------------- */

static int start_thread(void)
{
    int rc = threads_start("leakwatch-http", http_main, 256 * 1024);
    if (rc != 0) {
        lw_log("cannot start the LEAKWATCH_HTTP thread (", strerror(rc), "); the live endpoint stays off",
               NULL, NULL);
        return -1;
    }
    if (!shim_state.config.quiet) {
        char pid[24];
        lw_log("serving /metrics, /debug/pprof/heap and /report.json on ", srv.where, " for pid ",
               log_num(pid, (uint64_t)shim_state.pid), NULL);
    }
    return 0;
}

static int start(int in_child)
{
    const char *setting = shim_state.config.http;
    srv.where[0] = '\0';
    if (setting[0] == '/') {
        if (in_child && !strstr(setting, "%p")) {
            lw_log("LEAKWATCH_HTTP=", setting, " has no %p: this forked child does not serve",
                   " (its parent keeps the socket)", NULL);
            return -1;
        }
        srv.listen_fd = listen_unix(setting);
    } else {
        srv.listen_fd = listen_tcp(setting, in_child);
    }
    if (srv.listen_fd < 0)
        return -1;
    if (start_thread() < 0) {
        close(srv.listen_fd);
        srv.listen_fd = -1;
        srv.where[0] = '\0';
        return -1;
    }
    return 0;
}

static void describe(struct out *o);

int http_start(void)
{
    if (!shim_state.config.http[0] || srv.listen_fd >= 0)
        return 0;
    report_thread_on_describe(describe);
    return start(0);
}

int http_atfork_child(void)
{
    if (srv.listen_fd < 0)
        return 0;
    int fds[] = { srv.listen_fd, srv.conn_fd, srv.body_fd };
    for (unsigned i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    srv.listen_fd = srv.conn_fd = srv.body_fd = -1;
    srv.unix_path[0] = '\0';
    return start(1) == 0;
}

/* Appends "http=<address>\n" for the state file when serving, nothing otherwise. */
static void describe(struct out *o)
{
    if (srv.listen_fd < 0 || !srv.where[0])
        return;
    out_str(o, "http=");
    out_str(o, srv.where);
    out_char(o, '\n');
}
