/* gateway — the example HTTP/1.1 gateway that `make demo` and tests/check_demo.c run under `leakwatch gate`.
 * Each request goes through named, non-inlined stages (parse, route, build body, send) so reports read like a
 * real service. --mode picks the memory behaviour: ok (frees everything), leak (loses /api/orders bodies),
 * queue (audit events for an unreachable collector pile up, still reachable), cache (a bounded LRU that plateaus). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

enum mode { MODE_OK, MODE_LEAK, MODE_QUEUE, MODE_CACHE };
static const char *const mode_names[] = { "ok", "leak", "queue", "cache" };

#define MAX_THREADS     16
#define MAX_REQUEST     (64 * 1024)     /* request line + headers + body; more is answered 431/413 */
#define IN_INITIAL      4096
#define ORDER_BODY_INITIAL 512     /* an order list needs about 900 bytes: one realloc per list */
#define USER_BODY_CAP   512
#define PRODUCT_BODY_CAP 1024
#define CACHE_BUCKETS   1024
/* Nothing listens here: the audit collector is "down" for the whole life of the gateway. */
#define COLLECTOR_PATH  "/nonexistent/leakwatch-demo/audit-collector.sock"

struct header {
    const char *name, *value;
    size_t name_len, value_len;
};

/* A parsed request; the strings point into the connection's input buffer. */
struct request {
    const char *method, *path;
    size_t method_len, path_len;
    struct header *headers;
    size_t nheaders, headers_cap;
    size_t content_length;
    size_t total_len;           /* bytes of the input buffer this request uses */
    bool keep_alive;
    bool chunked;
};

struct response {
    int status;
    const char *content_type;
    const char *body;
    size_t body_len;
    char *owned;                /* what to free after sending, when the body was allocated */
};

/* The growing byte buffer responses are assembled in. */
struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

struct conn {
    int fd;
    struct conn *prev, *next;   /* the owning worker's list, so shutdown frees every connection */
    char *in;
    size_t in_len, in_cap;
    char *out;                  /* unsent response bytes, owned */
    size_t out_len, out_off;
    bool close_after_write;
};

struct worker {
    pthread_t thread;
    int epfd;
    unsigned index;
    struct conn *conns;
    uint64_t served;
};

struct cache_entry {
    char *key, *value;
    size_t key_len, value_len;
    struct cache_entry *hnext;              /* bucket chain */
    struct cache_entry *lru_prev, *lru_next;
};

struct audit_event {
    struct audit_event *next;
    char *line;
    size_t len;
};

static struct {
    enum mode mode;
    int port;
    unsigned threads;
    size_t cache_capacity;
    int listen_fd;
    int stop_fd;                /* eventfd, written once at shutdown; level-triggered so every worker sees it */
    atomic_bool stopping;
    atomic_ulong order_seq;
    struct worker workers[MAX_THREADS];

    pthread_mutex_t cache_lock;
    struct cache_entry *buckets[CACHE_BUCKETS];
    struct cache_entry *lru_head, *lru_tail;    /* head is the most recently used */
    size_t cache_size;

    pthread_mutex_t audit_lock;
    pthread_cond_t audit_wake;
    struct audit_event *audit_head, *audit_tail;
    size_t audit_pending;
    pthread_t shipper;
} g = {
    .cache_lock = PTHREAD_MUTEX_INITIALIZER,
    .audit_lock = PTHREAD_MUTEX_INITIALIZER,
    .audit_wake = PTHREAD_COND_INITIALIZER,
};

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gateway: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- buffers ------------------------------------------------------------------------------------------------ */

static NOINLINE bool strbuf_reserve(struct strbuf *sb, size_t more)
{
    if (sb->failed)
        return false;
    if (sb->len + more <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + more)
        cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) {
        sb->failed = true;
        return false;
    }
    sb->data = data;
    sb->cap = cap;
    return true;
}

static void strbuf_append(struct strbuf *sb, const void *p, size_t n)
{
    if (strbuf_reserve(sb, n)) {
        memcpy(sb->data + sb->len, p, n);
        sb->len += n;
    }
}

static void __attribute__((format(printf, 2, 3))) strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        strbuf_append(sb, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- request parsing ---------------------------------------------------------------------------------------- */

static bool token_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Appends one header, growing the array with realloc as real servers do for requests with many headers. */
static NOINLINE bool push_header(struct request *req, const char *name, size_t name_len,
                                 const char *value, size_t value_len)
{
    if (req->nheaders == req->headers_cap) {
        size_t cap = req->headers_cap ? req->headers_cap * 2 : 8;
        if (cap > 256)
            return false;
        struct header *h = realloc(req->headers, cap * sizeof *h);
        if (!h)
            return false;
        req->headers = h;
        req->headers_cap = cap;
    }
    req->headers[req->nheaders++] = (struct header){ name, value, name_len, value_len };
    return true;
}

static void request_release(struct request *req)
{
    free(req->headers);
    req->headers = NULL;
    req->nheaders = req->headers_cap = 0;
}

/* Parses one request from buf. Returns 1 when complete, 0 when more bytes are needed, -1 when malformed.
 * The caller releases req with request_release() whatever the result. */
static NOINLINE int parse_request(const char *buf, size_t len, struct request *req)
{
    memset(req, 0, sizeof *req);
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head_len = (size_t)(end - buf) + 4;

    const char *line_end = memmem(buf, head_len, "\r\n", 2);
    const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
    if (!sp1)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
    if (!sp2 || sp1 == buf || sp2 == sp1 + 1)
        return -1;
    req->method = buf;
    req->method_len = (size_t)(sp1 - buf);
    req->path = sp1 + 1;
    req->path_len = (size_t)(sp2 - sp1 - 1);
    const char *version = sp2 + 1;
    size_t version_len = (size_t)(line_end - version);
    if (token_eq(version, version_len, "HTTP/1.1"))
        req->keep_alive = true;
    else if (!token_eq(version, version_len, "HTTP/1.0"))
        return -1;

    const char *p = line_end + 2;
    while (p < end + 2) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return -1;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        size_t name_len = (size_t)(colon - p), value_len = (size_t)(eol - v);
        if (!push_header(req, p, name_len, v, value_len))
            return -1;
        if (token_eq(p, name_len, "Content-Length")) {
            char *stop;
            char num[24];
            if (value_len == 0 || value_len >= sizeof num)
                return -1;
            memcpy(num, v, value_len);
            num[value_len] = '\0';
            unsigned long long n = strtoull(num, &stop, 10);
            if (*stop != '\0' || n > MAX_REQUEST)
                return -1;
            req->content_length = (size_t)n;
        } else if (token_eq(p, name_len, "Transfer-Encoding")) {
            req->chunked = true;
        } else if (token_eq(p, name_len, "Connection")) {
            if (token_eq(v, value_len, "close"))
                req->keep_alive = false;
            else if (token_eq(v, value_len, "keep-alive"))
                req->keep_alive = true;
        }
        p = eol + 2;
    }
    req->total_len = head_len + req->content_length;
    return req->total_len <= len ? 1 : 0;
}

/* ---- the bounded product cache (mode cache) ----------------------------------------------------------------- */

static size_t cache_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return (size_t)(h % CACHE_BUCKETS);
}

static void lru_unlink_locked(struct cache_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        g.lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        g.lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front_locked(struct cache_entry *e)
{
    e->lru_next = g.lru_head;
    if (g.lru_head)
        g.lru_head->lru_prev = e;
    g.lru_head = e;
    if (!g.lru_tail)
        g.lru_tail = e;
}

static void cache_entry_free(struct cache_entry *e)
{
    free(e->key);
    free(e->value);
    free(e);
}

static void cache_remove_locked(struct cache_entry *e)
{
    struct cache_entry **pp = &g.buckets[cache_hash(e->key, e->key_len)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink_locked(e);
    g.cache_size--;
}

/* Copies the cached value for key into a new buffer (the caller frees it), or returns NULL on a miss. */
static NOINLINE char *cache_lookup(const char *key, size_t key_len, size_t *value_len)
{
    char *copy = NULL;
    pthread_mutex_lock(&g.cache_lock);
    for (struct cache_entry *e = g.buckets[cache_hash(key, key_len)]; e; e = e->hnext) {
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            copy = malloc(e->value_len);
            if (copy) {
                memcpy(copy, e->value, e->value_len);
                *value_len = e->value_len;
            }
            lru_unlink_locked(e);
            lru_push_front_locked(e);
            break;
        }
    }
    pthread_mutex_unlock(&g.cache_lock);
    return copy;
}

/* Stores a copy of value under key, evicting the least recently used entry once the cache is full. */
static NOINLINE void cache_insert(const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct cache_entry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->key = malloc(key_len);
    e->value = malloc(value_len);
    if (!e->key || !e->value) {
        cache_entry_free(e);
        return;
    }
    memcpy(e->key, key, key_len);
    memcpy(e->value, value, value_len);
    e->key_len = key_len;
    e->value_len = value_len;

    struct cache_entry *evicted = NULL;
    pthread_mutex_lock(&g.cache_lock);
    size_t b = cache_hash(key, key_len);
    for (struct cache_entry *old = g.buckets[b]; old; old = old->hnext) {
        if (old->key_len == key_len && memcmp(old->key, key, key_len) == 0) {
            /* Another thread rendered the same page meanwhile: keep the entry already there. */
            pthread_mutex_unlock(&g.cache_lock);
            cache_entry_free(e);
            return;
        }
    }
    e->hnext = g.buckets[b];
    g.buckets[b] = e;
    lru_push_front_locked(e);
    if (++g.cache_size > g.cache_capacity) {
        evicted = g.lru_tail;
        cache_remove_locked(evicted);
    }
    pthread_mutex_unlock(&g.cache_lock);
    if (evicted)
        cache_entry_free(evicted);
}

static void cache_destroy(void)
{
    while (g.lru_head) {
        struct cache_entry *e = g.lru_head;
        cache_remove_locked(e);
        cache_entry_free(e);
    }
}

/* ---- the audit log shipper (mode queue) --------------------------------------------------------------------- */

/* Queues one access-log line for the collector. The queue has no bound: that is the bug queue mode shows. */
static NOINLINE void enqueue_audit_event(const char *line, size_t len)
{
    struct audit_event *ev = malloc(sizeof *ev);
    if (!ev)
        return;
    ev->line = malloc(len + 1);
    if (!ev->line) {
        free(ev);
        return;
    }
    memcpy(ev->line, line, len);
    ev->line[len] = '\0';
    ev->len = len;
    ev->next = NULL;
    pthread_mutex_lock(&g.audit_lock);
    if (g.audit_tail)
        g.audit_tail->next = ev;
    else
        g.audit_head = ev;
    g.audit_tail = ev;
    g.audit_pending++;
    pthread_mutex_unlock(&g.audit_lock);
}

static NOINLINE void audit_request(const struct worker *w, const struct request *req, int status, size_t bytes)
{
    char line[320];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int n = snprintf(line, sizeof line,
                     "{\"ts\":%lld.%03ld,\"worker\":%u,\"method\":\"%.*s\",\"path\":\"%.*s\",\"status\":%d,"
                     "\"bytes\":%zu,\"upstream\":\"orders-svc.internal:8443\"}",
                     (long long)now.tv_sec, now.tv_nsec / 1000000, w->index, (int)req->method_len, req->method,
                     (int)(req->path_len > 128 ? 128 : req->path_len), req->path, status, bytes);
    if (n > 0)
        enqueue_audit_event(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Sends every queued event to the collector, freeing what was sent. The collector never answers here, so
 * nothing is ever sent and the queue only grows; the events stay reachable from g.audit_head. */
static NOINLINE bool ship_audit_events(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", COLLECTOR_PATH);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return false;
    }
    pthread_mutex_lock(&g.audit_lock);
    struct audit_event *ev = g.audit_head;
    g.audit_head = g.audit_tail = NULL;
    g.audit_pending = 0;
    pthread_mutex_unlock(&g.audit_lock);
    bool ok = true;
    while (ev) {
        struct audit_event *next = ev->next;
        if (ok && (write(fd, ev->line, ev->len) != (ssize_t)ev->len || write(fd, "\n", 1) != 1))
            ok = false;
        free(ev->line);
        free(ev);
        ev = next;
    }
    close(fd);
    return ok;
}

static void *shipper_main(void *arg)
{
    bool warned = false;
    pthread_mutex_lock(&g.audit_lock);
    while (!atomic_load(&g.stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g.audit_wake, &g.audit_lock, &until);
        if (atomic_load(&g.stopping) || g.audit_pending == 0)
            continue;
        pthread_mutex_unlock(&g.audit_lock);
        if (!ship_audit_events() && !warned) {
            fprintf(stderr, "gateway: audit collector %s unreachable; keeping events queued\n", COLLECTOR_PATH);
            warned = true;
        }
        pthread_mutex_lock(&g.audit_lock);
    }
    pthread_mutex_unlock(&g.audit_lock);
    return NULL;
}

/* ---- handlers ----------------------------------------------------------------------------------------------- */

/* Wraps a JSON document in the v2 API envelope; the result is a new buffer. */
static NOINLINE char *wrap_envelope(const char *api, const char *data, size_t data_len, size_t *out_len)
{
    struct strbuf sb = { 0 };
    strbuf_printf(&sb, "{\"api\":\"%s\",\"data\":", api);
    strbuf_append(&sb, data, data_len);
    strbuf_append(&sb, "}\n", 2);
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    *out_len = sb.len;
    return sb.data;
}

/* Appends formatted text to a growing document, doubling it with realloc when the text does not fit. */
static NOINLINE __attribute__((format(printf, 4, 5))) bool body_appendf(char **body, size_t *len, size_t *cap,
                                                                         const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*body + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return false;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return true;
        }
        char *grown = realloc(*body, *cap * 2);
        if (!grown)
            return false;
        *body = grown;
        *cap *= 2;
    }
}

static NOINLINE void build_order_response(const struct worker *w, struct response *resp)
{
    static const char *const states[] = { "paid", "packed", "shipped", "delivered" };
    size_t len = 0, cap = ORDER_BODY_INITIAL;
    char *body = malloc(cap);
    if (!body) {
        resp->status = 503;
        return;
    }
    unsigned long first = atomic_fetch_add(&g.order_seq, 8);
    bool ok = body_appendf(&body, &len, &cap, "{\"orders\":[");
    for (unsigned i = 0; i < 8 && ok; i++) {
        unsigned long id = first + i;
        ok = body_appendf(&body, &len, &cap, "%s{\"id\":%lu,\"customer\":\"c-%05lu\",\"items\":%lu,"
                          "\"total_cents\":%lu,\"status\":\"%s\"}", i ? "," : "", id, (id * 7919) % 100000,
                          1 + id % 5, 1999 + (id * 104729) % 50000, states[id % 4]);
    }
    if (!ok || !body_appendf(&body, &len, &cap, "],\"worker\":%u}", w->index)) {
        free(body);
        resp->status = 503;
        return;
    }

    size_t env_len = 0;
    char *envelope = wrap_envelope("orders/v2", body, len, &env_len);
    /* The leak mode bug: the inner document is forgotten once it is wrapped. */
    if (g.mode != MODE_LEAK)
        free(body);
    if (!envelope) {
        resp->status = 503;
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = resp->owned = envelope;
    resp->body_len = env_len;
}

static NOINLINE void build_user_response(unsigned long id, struct response *resp)
{
    char *body = malloc(USER_BODY_CAP);
    if (!body) {
        resp->status = 503;
        return;
    }
    int n = snprintf(body, USER_BODY_CAP,
                     "{\"id\":%lu,\"name\":\"user %lu\",\"email\":\"user%lu@example.test\",\"plan\":\"%s\","
                     "\"created\":\"2026-0%lu-1%luT08:00:00Z\"}\n",
                     id, id, id, id % 3 ? "free" : "pro", 1 + id % 9, id % 10);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = resp->owned = body;
    resp->body_len = (size_t)n;
}

static NOINLINE char *render_product_page(unsigned long id, size_t *len)
{
    char *page = malloc(PRODUCT_BODY_CAP);
    if (!page)
        return NULL;
    size_t n = (size_t)snprintf(page, PRODUCT_BODY_CAP,
                                "<!doctype html><html><head><title>Product %lu</title></head><body>"
                                "<h1>Product %lu</h1><p class=\"price\">%lu.%02lu EUR</p><p>", id, id,
                                5 + id % 300, id % 100);
    while (n + 64 < PRODUCT_BODY_CAP - 32)
        n += (size_t)snprintf(page + n, PRODUCT_BODY_CAP - n, "A sturdy item number %lu, made to last. ", id);
    n += (size_t)snprintf(page + n, PRODUCT_BODY_CAP - n, "</p></body></html>\n");
    *len = n;
    return page;
}

static NOINLINE void build_product_response(const struct request *req, unsigned long id, struct response *resp)
{
    size_t len = 0;
    char *page = NULL;
    if (g.mode == MODE_CACHE)
        page = cache_lookup(req->path, req->path_len, &len);
    if (!page) {
        page = render_product_page(id, &len);
        if (page && g.mode == MODE_CACHE)
            cache_insert(req->path, req->path_len, page, len);
    }
    if (!page) {
        resp->status = 503;
        return;
    }
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
    resp->body = resp->owned = page;
    resp->body_len = len;
}

static bool path_id(const struct request *req, const char *prefix, unsigned long *id)
{
    size_t plen = strlen(prefix);
    if (req->path_len <= plen || memcmp(req->path, prefix, plen) != 0 || req->path_len - plen > 12)
        return false;
    unsigned long v = 0;
    for (size_t i = plen; i < req->path_len; i++) {
        if (req->path[i] < '0' || req->path[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(req->path[i] - '0');
    }
    *id = v;
    return true;
}

static bool path_is(const struct request *req, const char *lit)
{
    return req->path_len == strlen(lit) && memcmp(req->path, lit, req->path_len) == 0;
}

static void static_response(struct response *resp, int status, const char *body)
{
    resp->status = status;
    resp->content_type = "text/plain";
    resp->body = body;
    resp->body_len = strlen(body);
}

/* Picks the handler for a request and fills resp. */
static NOINLINE void route_request(struct worker *w, const struct request *req, struct response *resp)
{
    unsigned long id;
    bool get = token_eq(req->method, req->method_len, "GET");
    if (!get && !token_eq(req->method, req->method_len, "HEAD"))
        static_response(resp, 405, "method not allowed\n");
    else if (path_is(req, "/api/orders"))
        build_order_response(w, resp);
    else if (path_id(req, "/api/users/", &id))
        build_user_response(id, resp);
    else if (path_id(req, "/api/products/", &id))
        build_product_response(req, id, resp);
    else if (path_is(req, "/health"))
        static_response(resp, 200, "ok\n");
    else
        static_response(resp, 404, "not found\n");
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default:  return "Service Unavailable";
    }
}

/* ---- connections -------------------------------------------------------------------------------------------- */

static void conn_close(struct worker *w, struct conn *c)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* Memory goes before the descriptor: a client that saw EOF knows the connection's memory is gone. */
    int fd = c->fd;
    free(c->in);
    free(c->out);
    free(c);
    close(fd);
}

/* Writes what it can of the pending output. Returns false when the connection failed. */
static bool conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            return false;
        }
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return true;
}

/* Serialises resp and queues it on the connection; the assembled buffer becomes the connection's output. */
static NOINLINE void send_response(struct conn *c, const struct response *resp, bool head)
{
    struct strbuf sb = { 0 };
    strbuf_printf(&sb, "HTTP/1.1 %d %s\r\nServer: leakwatch-demo-gateway\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\nConnection: %s\r\n\r\n", resp->status, status_text(resp->status),
                  resp->content_type ? resp->content_type : "text/plain", resp->body_len,
                  c->close_after_write ? "close" : "keep-alive");
    if (!head)
        strbuf_append(&sb, resp->body, resp->body_len);
    if (sb.failed) {
        free(sb.data);
        c->close_after_write = true;
        return;
    }
    c->out = sb.data;
    c->out_len = sb.len;
    c->out_off = 0;
}

static NOINLINE void handle_request(struct worker *w, struct conn *c, const struct request *req)
{
    struct response resp = { 0 };
    if (req->chunked)
        static_response(&resp, 501, "chunked request bodies are not supported\n");
    else
        route_request(w, req, &resp);
    /* Without support for chunked bodies the next request's start is unknown: close after answering. */
    if (!req->keep_alive || req->chunked)
        c->close_after_write = true;
    send_response(c, &resp, token_eq(req->method, req->method_len, "HEAD"));
    if (g.mode == MODE_QUEUE)
        audit_request(w, req, resp.status, resp.body_len);
    free(resp.owned);
    w->served++;
}

static void send_error(struct conn *c, int status, const char *body)
{
    struct response resp = { 0 };
    static_response(&resp, status, body);
    c->close_after_write = true;
    send_response(c, &resp, false);
}

/* Answers every complete request in the input buffer, one at a time: a request waits while a previous
 * response is still unsent, which keeps pipelined responses in order. */
static void conn_process(struct worker *w, struct conn *c)
{
    while (!c->out && !c->close_after_write) {
        struct request req;
        int r = parse_request(c->in, c->in_len, &req);
        if (r == 0) {
            bool too_big = c->in_len >= MAX_REQUEST || (req.total_len && req.total_len > MAX_REQUEST);
            request_release(&req);
            if (too_big)
                send_error(c, req.total_len > MAX_REQUEST ? 413 : 431, "request too large\n");
            break;
        }
        if (r < 0) {
            request_release(&req);
            send_error(c, 400, "bad request\n");
            break;
        }
        handle_request(w, c, &req);
        size_t used = req.total_len;
        request_release(&req);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
}

/* Reads what is available. Returns false on EOF or error. */
static bool conn_read(struct conn *c)
{
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= MAX_REQUEST)
                return true;        /* full: conn_process answers 431/413 */
            size_t cap = c->in_cap * 2;
            char *in = realloc(c->in, cap);
            if (!in)
                return false;
            c->in = in;
            c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0)
            c->in_len += (size_t)n;
        else if (n == 0)
            return false;
        else if (errno == EINTR)
            continue;
        else
            return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        conn_close(w, c);
        return;
    }
    if ((events & EPOLLIN) && !c->out && !conn_read(c)) {
        conn_close(w, c);
        return;
    }
    for (;;) {
        if (c->out && !conn_flush(c)) {
            conn_close(w, c);
            return;
        }
        if (c->out)
            break;
        if (c->close_after_write) {
            conn_close(w, c);
            return;
        }
        conn_process(w, c);
        if (!c->out)
            break;
    }
    struct epoll_event ev = { .events = c->out ? EPOLLOUT : EPOLLIN, .data.ptr = c };
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static NOINLINE void accept_connections(struct worker *w)
{
    for (;;) {
        int fd = accept4(g.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;         /* EAGAIN: another worker took it, or none left; EMFILE & co: try on the next event */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        char *in = malloc(IN_INITIAL);
        if (!c || !in) {
            free(c);
            free(in);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in = in;
        c->in_cap = IN_INITIAL;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(in);
            free(c);
            close(fd);
            continue;
        }
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[64];
    while (!atomic_load(&g.stopping)) {
        int n = epoll_wait(w->epfd, events, 64, -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &g.listen_fd)
                accept_connections(w);
            else if (events[i].data.ptr != &g.stop_fd)
                conn_event(w, events[i].data.ptr, events[i].events);
        }
    }
    while (w->conns)
        conn_close(w, w->conns);
    return NULL;
}

/* ---- start-up and shutdown ---------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: gateway --port P --mode ok|leak|queue|cache [--threads N] [--cache-entries N]\n");
    exit(2);
}

static long parse_num(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        die("%s wants a number from %ld to %ld, got '%s'", opt, lo, hi, s);
    return v;
}

static void parse_args(int argc, char **argv)
{
    bool have_mode = false;
    g.port = -1;
    g.threads = 2;
    g.cache_capacity = 512;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *val = argv[++i];
        if (strcmp(opt, "--port") == 0) {
            g.port = (int)parse_num(opt, val, 0, 65535);
        } else if (strcmp(opt, "--threads") == 0) {
            g.threads = (unsigned)parse_num(opt, val, 1, MAX_THREADS);
        } else if (strcmp(opt, "--cache-entries") == 0) {
            g.cache_capacity = (size_t)parse_num(opt, val, 1, 1000000);
        } else if (strcmp(opt, "--mode") == 0) {
            for (unsigned m = 0; m < 4; m++) {
                if (strcmp(val, mode_names[m]) == 0) {
                    g.mode = (enum mode)m;
                    have_mode = true;
                }
            }
            if (!have_mode)
                die("unknown --mode '%s' (ok, leak, queue or cache)", val);
        } else {
            usage();
        }
    }
    if (g.port < 0 || !have_mode)
        usage();
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
    if (listen(fd, 512) != 0)
        die("listen: %s", strerror(errno));
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    g.port = ntohs(addr.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    /* Only SIGTERM and SIGINT are blocked (and taken by sigwait below): SIGUSR2 must stay deliverable so the
     * preloaded leak finder gets its report requests. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    g.listen_fd = listen_on(g.port);
    g.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g.stop_fd < 0)
        die("eventfd: %s", strerror(errno));
    for (unsigned i = 0; i < g.threads; i++) {
        struct worker *w = &g.workers[i];
        w->index = i;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &g.listen_fd };
        struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &g.stop_fd };
        if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, g.listen_fd, &lev) != 0 ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, g.stop_fd, &sev) != 0)
            die("epoll: %s", strerror(errno));
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            die("cannot start worker thread %u", i);
    }
    if (g.mode == MODE_QUEUE && pthread_create(&g.shipper, NULL, shipper_main, NULL) != 0)
        die("cannot start the audit shipper thread");

    printf("gateway: mode %s, %u threads\nlistening on 127.0.0.1:%d\n", mode_names[g.mode], g.threads, g.port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    atomic_store(&g.stopping, true);
    uint64_t one = 1;
    if (write(g.stop_fd, &one, sizeof one) != sizeof one)
        die("cannot wake the workers: %s", strerror(errno));
    uint64_t served = 0;
    for (unsigned i = 0; i < g.threads; i++) {
        pthread_join(g.workers[i].thread, NULL);
        served += g.workers[i].served;
        close(g.workers[i].epfd);
    }
    if (g.mode == MODE_QUEUE) {
        pthread_mutex_lock(&g.audit_lock);
        pthread_cond_signal(&g.audit_wake);
        pthread_mutex_unlock(&g.audit_lock);
        pthread_join(g.shipper, NULL);
        /* The events stay queued: a shutdown that cannot reach the collector keeps them for a retry that
         * never comes, so they are still reachable at exit. */
        fprintf(stderr, "gateway: %zu audit events still queued at exit\n", g.audit_pending);
    }
    pthread_mutex_lock(&g.cache_lock);
    cache_destroy();
    pthread_mutex_unlock(&g.cache_lock);
    close(g.listen_fd);
    close(g.stop_fd);
    printf("gateway: %s after %llu requests\n", strsignal(sig), (unsigned long long)served);
    return 0;
}
