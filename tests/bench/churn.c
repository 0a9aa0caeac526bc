/* churn.c — the allocation-churn workload of `make bench`: threads allocate and free through call chains of
 * distinct frames, the way a gateway does, and print the mean time per allocator call. With --report-cost it
 * instead measures how long a leakwatch report over 100k live blocks holds allocating threads up.
 * Every result is one line "BENCH <name> key=value ..." on stdout, for tests/bench/run.sh to parse. */
#include <errno.h>
#include <leakwatch.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum op_kind { OP_MALLOC, OP_CALLOC, OP_MEMALIGN, OP_REALLOC };

/* One allocator call and the chain of frames it is made through: path[d] picks the function at depth d. */
struct call {
    enum op_kind kind;
    size_t size;
    void *old;
    unsigned depth;
    const uint8_t *path;
};

#define NHOP 16
#define MIN_DEPTH 5
#define MAX_DEPTH 30
#define NCHAIN 512
#define MIB (1024 * 1024)

/* The barrier after each call keeps the call from becoming a tail jump, so every hop keeps its frame and the
 * return address inside it tells which hop called which: sites differ as they do in real programs. noipa
 * keeps gcc from folding the identical hop functions into one. */
#define KEEP(p) __asm__ volatile("" : "+r"(p) : : "memory")

static __attribute__((noipa)) void *do_alloc(const struct call *c)
{
    void *p = NULL;
    switch (c->kind) {
    case OP_MALLOC:
        p = malloc(c->size);
        break;
    case OP_CALLOC:
        p = calloc(1, c->size);
        break;
    case OP_MEMALIGN:
        if (posix_memalign(&p, 64, c->size) != 0)
            p = NULL;
        break;
    case OP_REALLOC:
        p = realloc(c->old, c->size);
        break;
    }
    KEEP(p);
    return p;
}

#define HOP_DECL(n) static void *hop_##n(const struct call *c, unsigned d);
#define HOP_CASE(n) case n: r = hop_##n(c, d); break;
#define DISPATCH(c, d)                                                                                  \
    switch ((c)->path[d] & (NHOP - 1)) {                                                               \
        HOP_CASE(0) HOP_CASE(1) HOP_CASE(2) HOP_CASE(3) HOP_CASE(4) HOP_CASE(5) HOP_CASE(6) HOP_CASE(7)     \
        HOP_CASE(8) HOP_CASE(9) HOP_CASE(10) HOP_CASE(11) HOP_CASE(12) HOP_CASE(13) HOP_CASE(14)          \
        HOP_CASE(15)                                                                                   \
    }
#define HOP_DEF(n)                                                                                      \
    static __attribute__((noipa)) void *hop_##n(const struct call *c, unsigned d)                    \
    {                                                                                                  \
        void *r = NULL;                                                                                \
        if (d == 0) {                                                                                  \
            r = do_alloc(c);                                                                           \
        } else {                                                                                       \
            d--;                                                                                       \
            DISPATCH(c, d)                                                                             \
        }                                                                                              \
        KEEP(r);                                                                                       \
        return r;                                                                                      \
    }
#define HOPS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
HOPS(HOP_DECL)
HOPS(HOP_DEF)

/* Makes the call through c->depth hop frames. */
static __attribute__((noipa)) void *via_chain(const struct call *c)
{
    void *r = NULL;
    unsigned d = c->depth - 1;
    DISPATCH(c, d)
    KEEP(r);
    return r;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* A call chain and the sizes its allocations ask for: like a real site, each allocates a few sizes only. */
struct chain {
    unsigned depth;
    uint8_t path[MAX_DEPTH];
    size_t small_size, medium_size;
};

/* Live blocks of one size class, replaced oldest first: each block lives for one turn of the ring. */
struct ring {
    void **slot;
    size_t *size;
    uint8_t *leak;
    size_t n, pos;
};

#define BUCKET_NS 100000u
#define MAX_BUCKETS 200000u
#define SLOW_NS 20000u
#define QUIET_NS 300000000u
#define MAX_SLOW 65536u

struct slow_op {
    uint64_t start, end;
};

struct worker {
    pthread_t tid;
    uint64_t rng;
    struct ring small, medium;
    uint64_t ops, leaked, leaked_bytes, elapsed_ns, cpu_ns;
    /* --report-cost only: completions per BUCKET_NS since the common start, and the ops slower than SLOW_NS. */
    uint32_t *bucket;
    struct slow_op *slow;
    size_t nslow;
};

static struct {
    unsigned threads;
    uint64_t ops;
    size_t window;
    int window_set;
    uint64_t seed;
    int report_cost;
    size_t blocks, sites;
    unsigned reports;
    int via_signal;
    struct chain chain[NCHAIN];
    pthread_barrier_t start;
    uint64_t t_start;
    atomic_int stop;
} g = { .threads = 2, .ops = 1000000, .window = 50000, .seed = 1, .blocks = 100000, .sites = 10000,
        .reports = 2 };

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        perror("churn: calloc");
        exit(2);
    }
    return p;
}

static void ring_init(struct ring *r, size_t n)
{
    r->n = n;
    r->pos = 0;
    r->slot = xcalloc(n, sizeof *r->slot);
    r->size = xcalloc(n, sizeof *r->size);
    r->leak = xcalloc(n, 1);
}

static void touch(void *p, size_t size)
{
    memset(p, 0xa5, size < 64 ? size : 64);
}

/* Allocates a block in a size class: 0.05% 1 MiB (freed at once, like a temporary buffer), 10% 4-64 KiB,
 * the rest 16-512 B, the size within the class set by the chain (so the number of distinct (size, stack) pairs
 * stays that of a real program: heaptrack 1.4's interpreter runs out of memory past ~48k of them). Replaces the oldest block of its ring: 5% of the time by growing it with
 * realloc, else by freeing it (0.1% of small blocks are never freed) and allocating a new one. */
static uint64_t churn_step(struct worker *w)
{
    uint64_t r = rng_next(&w->rng);
    unsigned roll = (unsigned)(r % 10000);
    /* Skewed towards low chain numbers: some sites are much busier than others. */
    const struct chain *ch = &g.chain[(r >> 14) % (1 + ((r >> 24) % NCHAIN))];
    struct call c = { .kind = OP_MALLOC, .depth = ch->depth, .path = ch->path };
    unsigned kind_roll = (unsigned)((r >> 34) % 100);
    uint64_t ops = 0;

    c.kind = kind_roll < 85 ? OP_MALLOC : kind_roll < 93 ? OP_CALLOC : OP_MEMALIGN;
    if (roll < 5) {
        c.size = MIB;
        void *p = via_chain(&c);
        if (!p)
            return 1;
        touch(p, c.size);
        free(p);
        return 2;
    }
    int small = roll >= 1000;
    struct ring *rg = small ? &w->small : &w->medium;
    size_t i = rg->pos;
    rg->pos = (i + 1) % rg->n;
    if (rg->slot[i]) {
        if ((r >> 44) % 100 < 5) {
            /* Grown to the next power of two, at least 1.5x: a buffer doubling as it fills. */
            size_t cap = small ? 4096 : 128 * 1024, grown = 64;
            while (grown < rg->size[i] + rg->size[i] / 2)
                grown *= 2;
            c.kind = OP_REALLOC;
            c.old = rg->slot[i];
            c.size = grown < cap ? grown : cap;
            void *p = via_chain(&c);
            if (p) {
                rg->slot[i] = p;
                rg->size[i] = c.size;
                touch(p, c.size);
            }
            return 1;
        }
        if (rg->leak[i]) {
            w->leaked++;
            w->leaked_bytes += rg->size[i];
        } else {
            free(rg->slot[i]);
            ops++;
        }
        rg->slot[i] = NULL;
    }
    c.size = (small ? ch->small_size : ch->medium_size) + (size_t)((r >> 50) % 4) * 8;
    void *p = via_chain(&c);
    ops++;
    if (!p)
        return ops;
    touch(p, c.size);
    rg->slot[i] = p;
    rg->size[i] = c.size;
    rg->leak[i] = small && rng_next(&w->rng) % 1000 == 0;
    return ops;
}

/* The measured loop, kept in a function of its own so that callgrind can count just it
 * (--toggle-collect=churn_loop). */
static __attribute__((noipa)) uint64_t churn_loop(struct worker *w, uint64_t target)
{
    uint64_t ops = 0;
    while (ops < target)
        ops += churn_step(w);
    return ops;
}

static void record_op(struct worker *w, uint64_t prev, uint64_t t)
{
    uint64_t b = (t - g.t_start) / BUCKET_NS;
    if (b < MAX_BUCKETS)
        w->bucket[b]++;
    if (t - prev > SLOW_NS && w->nslow < MAX_SLOW)
        w->slow[w->nslow++] = (struct slow_op){ prev, t };
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    size_t fill = w->small.n + w->medium.n;

    /* Fill the rings first: the steady state, not the ramp-up, is what is measured. */
    for (size_t i = 0; i < fill; i++)
        churn_step(w);
    pthread_barrier_wait(&g.start);
    if (!g.report_cost) {
        uint64_t t0 = now_ns(), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        w->ops = churn_loop(w, g.ops);
        w->elapsed_ns = now_ns() - t0;
        w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        return NULL;
    }
    uint64_t prev = now_ns();
    while (!atomic_load_explicit(&g.stop, memory_order_relaxed)) {
        w->ops += churn_step(w);
        uint64_t t = now_ns();
        record_op(w, prev, t);
        prev = t;
    }
    return NULL;
}

static void make_chains(void)
{
    uint64_t s = g.seed * 0x9E3779B97F4A7C15ULL + 1;
    for (unsigned i = 0; i < NCHAIN; i++) {
        struct chain *ch = &g.chain[i];
        ch->depth = MIN_DEPTH + (unsigned)(rng_next(&s) % (MAX_DEPTH - MIN_DEPTH + 1));
        for (unsigned d = 0; d < MAX_DEPTH; d++)
            ch->path[d] = (uint8_t)(rng_next(&s) % NHOP);
        ch->small_size = 16 + (size_t)(rng_next(&s) % (512 - 16 - 24 + 1));
        ch->medium_size = 4096 + (size_t)(rng_next(&s) % (60 * 1024 - 24 + 1));
    }
}

static struct worker *start_workers(size_t small_window)
{
    struct worker *w = xcalloc(g.threads, sizeof *w);
    pthread_barrier_init(&g.start, NULL, g.threads + 1);
    for (unsigned t = 0; t < g.threads; t++) {
        w[t].rng = (g.seed + 1) * 0xD1B54A32D192ED03ULL + t * 0x8CB92BA72F3D8DD7ULL + 1;
        ring_init(&w[t].small, small_window);
        ring_init(&w[t].medium, small_window / 100 > 16 ? small_window / 100 : 16);
        if (g.report_cost) {
            w[t].bucket = xcalloc(MAX_BUCKETS, sizeof *w[t].bucket);
            w[t].slow = xcalloc(MAX_SLOW, sizeof *w[t].slow);
        }
        int err = pthread_create(&w[t].tid, NULL, worker_main, &w[t]);
        if (err) {
            fprintf(stderr, "churn: pthread_create: %s\n", strerror(err));
            exit(2);
        }
    }
    return w;
}

static void free_ring(struct ring *r, uint64_t *blocks, uint64_t *bytes, int release)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!r->slot[i])
            continue;
        (*blocks)++;
        *bytes += r->size[i];
        if (release && !r->leak[i])
            free(r->slot[i]);
    }
    if (release) {
        free(r->slot);
        free(r->size);
        free(r->leak);
    }
}

static long rss_kb(void)
{
    long pages_total = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld", &pages_total, &pages_rss);
    fclose(f);
    return n == 2 ? pages_rss * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static long maxrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int run_churn(void)
{
    struct worker *w = start_workers(g.window);
    uint64_t t0 = now_ns();
    pthread_barrier_wait(&g.start);
    for (unsigned t = 0; t < g.threads; t++)
        pthread_join(w[t].tid, NULL);
    uint64_t wall = now_ns() - t0;

    /* RSS is read while every block is still live, so that with and without the shim it differs by the
     * shim's own memory. */
    long rss = rss_kb(), maxrss = maxrss_kb();
    uint64_t ops = 0, live = 0, bytes = 0;
    double ns = 0, cpu = 0;
    for (unsigned t = 0; t < g.threads; t++) {
        ops += w[t].ops;
        ns += (double)w[t].elapsed_ns / (double)w[t].ops;
        cpu += (double)w[t].cpu_ns / (double)w[t].ops;
        live += w[t].leaked;
        bytes += w[t].leaked_bytes;
        free_ring(&w[t].small, &live, &bytes, 0);
        free_ring(&w[t].medium, &live, &bytes, 0);
    }
    printf("BENCH churn threads=%u ops=%llu ns_per_op=%.1f cpu_ns_per_op=%.1f wall_ms=%.1f live_blocks=%llu "
           "live_bytes=%llu rss_kb=%ld maxrss_kb=%ld\n",
           g.threads, (unsigned long long)ops, ns / g.threads, cpu / g.threads, wall / 1e6, (unsigned long long)live,
           (unsigned long long)bytes, rss, maxrss);
    for (unsigned t = 0; t < g.threads; t++) {
        uint64_t dummy_blocks = 0, dummy_bytes = 0;
        free_ring(&w[t].small, &dummy_blocks, &dummy_bytes, 1);
        free_ring(&w[t].medium, &dummy_blocks, &dummy_bytes, 1);
    }
    free(w);
    return fflush(stdout) == 0 ? 0 : 2;
}

/* The live blocks a report has to cover: g.blocks blocks spread evenly over g.sites sites. A site is the
 * allocation kind and the last three hops before do_alloc, so site i uses path[0..2] = the base-16 digits of
 * i / 3 and kind i % 3; the deeper frames only vary the stack length. */
static void **build_live_set(void)
{
    void **blocks = xcalloc(g.blocks, sizeof *blocks);
    uint8_t(*paths)[MAX_DEPTH] = xcalloc(g.sites, MAX_DEPTH);
    uint64_t s = g.seed + 7;

    for (size_t i = 0; i < g.sites; i++) {
        size_t key = i / 3;
        paths[i][0] = (uint8_t)(key % NHOP);
        paths[i][1] = (uint8_t)(key / NHOP % NHOP);
        paths[i][2] = (uint8_t)(key / (NHOP * NHOP) % NHOP);
        for (unsigned d = 3; d < MAX_DEPTH; d++)
            paths[i][d] = (uint8_t)(rng_next(&s) % NHOP);
    }
    for (size_t i = 0; i < g.blocks; i++) {
        size_t site = i % g.sites;
        struct call c = { .kind = (enum op_kind)(site % 3), .size = 16 + i * 37 % 497,
                          .depth = MIN_DEPTH + (unsigned)(site * 7 % (MAX_DEPTH - MIN_DEPTH + 1)),
                          .path = paths[site] };
        blocks[i] = via_chain(&c);
        if (!blocks[i]) {
            fprintf(stderr, "churn: out of memory building the live set\n");
            exit(2);
        }
    }
    free(paths);
    return blocks;
}

static const char *program_name(void)
{
    static char name[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", name, sizeof name - 1);
    if (n <= 0)
        return "churn";
    name[n] = '\0';
    char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

/* The report directory as the contract defines it: LEAKWATCH_OUT with %u for the uid, else /tmp/leakwatch-<uid>. */
static void report_dir(char *buf, size_t len)
{
    const char *out = getenv("LEAKWATCH_OUT");
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    if (!out || !*out) {
        snprintf(buf, len, "/tmp/leakwatch-%s", uid);
        return;
    }
    size_t o = 0;
    for (const char *p = out; *p && o + 1 < len; p++) {
        if (p[0] == '%' && p[1] == 'u') {
            o += (size_t)snprintf(buf + o, len - o, "%s", uid);
            p++;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o < len ? o : len - 1] = '\0';
}

/* Asks for report number seq by SIGUSR2 sent from another process (as `leakwatch dump` does) and waits
 * until its JSON file appears. */
static int report_by_signal(unsigned seq)
{
    char pid[32], dir[PATH_MAX], path[2 * PATH_MAX + 64];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    report_dir(dir, sizeof dir);
    if ((size_t)snprintf(path, sizeof path, "%s/%s.%s.%u.json", dir, program_name(), pid, seq) >= sizeof path)
        return -1;
    char *argv[] = { "kill", "-USR2", pid, NULL };
    pid_t child;
    int err = posix_spawnp(&child, "kill", NULL, NULL, argv, environ);
    if (err) {
        fprintf(stderr, "churn: cannot run kill: %s\n", strerror(err));
        return -1;
    }
    uint64_t deadline = now_ns() + 30000000000ull;
    struct stat st;
    while (stat(path, &st) != 0) {
        if (now_ns() > deadline) {
            fprintf(stderr, "churn: no report %s after 30 s\n", path);
            return -1;
        }
        struct timespec nap = { 0, 1000000 };
        nanosleep(&nap, NULL);
    }
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* How one thread fared while a report was written between t0 and t1 (ns since g.t_start): the longest
 * stall overlapping it, the time stalled longer than SLOW_NS, and the extra time taken compared with the
 * thread's own speed in the QUIET_NS just before the report. */
static void holdup(const struct worker *w, uint64_t t0, uint64_t t1, double *max_gap, double *stalled,
                   double *extra)
{
    uint64_t quiet_ops = 0, ops = 0;
    uint64_t from = t0, to = t1;
    *max_gap = *stalled = 0;
    for (size_t i = 0; i < w->nslow; i++) {
        uint64_t s = w->slow[i].start - g.t_start, e = w->slow[i].end - g.t_start;
        if (e < t0 || s > t1)
            continue;
        double gap = (double)(e - s);
        *max_gap = gap > *max_gap ? gap : *max_gap;
        *stalled += gap;
        from = s < from ? s : from;
        to = e > to ? e : to;
    }
    uint64_t q1 = t0 / BUCKET_NS, q0 = q1 - QUIET_NS / BUCKET_NS;
    for (uint64_t b = q0; b < q1 && b < MAX_BUCKETS; b++)
        quiet_ops += w->bucket[b];
    uint64_t b0 = from / BUCKET_NS, b1 = to / BUCKET_NS;
    for (uint64_t b = b0; b <= b1 && b < MAX_BUCKETS; b++)
        ops += w->bucket[b];
    double per_op = quiet_ops ? (double)QUIET_NS / (double)quiet_ops : 0;
    double span = (double)((b1 + 1 - b0) * BUCKET_NS);
    *extra = span - (double)ops * per_op;
    if (*extra < 0)
        *extra = 0;
}

static int run_report_cost(void)
{
    if (!leakwatch_dump) {
        printf("BENCH report unavailable=1 reason=no-leakwatch\n");
        return 0;
    }
    uint64_t b0 = now_ns();
    void **blocks = build_live_set();
    double build_ms = (now_ns() - b0) / 1e6;

    struct worker *w = start_workers(g.window_set ? g.window : 1000);
    g.t_start = now_ns();
    pthread_barrier_wait(&g.start);
    /* gap_ms leaves each report a quiet QUIET_NS before it to compare with. */
    const unsigned warm_ms = 1000, gap_ms = 500;
    sleep_ms(warm_ms);
    /* Report 0 is a control: the same measurement over a quiet 300 ms with no report, the noise floor. */
    uint64_t t0[17], t1[17];
    int ok[17];
    unsigned n = 1 + (g.reports < 16 ? g.reports : 16);
    for (unsigned k = 0; k < n; k++) {
        t0[k] = now_ns() - g.t_start;
        if (k == 0) {
            sleep_ms(300);
            ok[k] = 1;
        } else {
            ok[k] = g.via_signal ? report_by_signal(k) == 0 : leakwatch_dump() == 0;
        }
        t1[k] = now_ns() - g.t_start;
        sleep_ms(gap_ms);
    }
    atomic_store(&g.stop, 1);
    for (unsigned t = 0; t < g.threads; t++)
        pthread_join(w[t].tid, NULL);

    for (unsigned k = 0; k < n; k++) {
        double worst_gap = 0, worst_stall = 0, worst_extra = 0;
        for (unsigned t = 0; t < g.threads; t++) {
            double gap, stalled, extra;
            holdup(&w[t], t0[k], t1[k], &gap, &stalled, &extra);
            worst_gap = gap > worst_gap ? gap : worst_gap;
            worst_stall = stalled > worst_stall ? stalled : worst_stall;
            worst_extra = extra > worst_extra ? extra : worst_extra;
        }
        printf("BENCH report seq=%u via=%s ok=%d live_blocks=%zu sites=%zu threads=%u build_ms=%.1f "
               "write_ms=%.2f max_gap_ms=%.3f stalled_ms=%.3f extra_ms=%.3f\n",
               k, k == 0 ? "none" : g.via_signal ? "signal" : "api", ok[k], g.blocks, g.sites, g.threads, build_ms,
               (t1[k] - t0[k]) / 1e6, worst_gap / 1e6, worst_stall / 1e6, worst_extra / 1e6);
    }
    for (size_t i = 0; i < g.blocks; i++)
        free(blocks[i]);
    free(blocks);
    return fflush(stdout) == 0 ? 0 : 2;
}

static int usage(void)
{
    fprintf(stderr, "usage: churn [--threads N] [--ops N] [--window N] [--seed N]\n"
                    "       churn --report-cost [--threads N] [--window N] [--blocks N] [--sites N]\n"
                    "             [--reports N] [--via api|signal]\n"
                    "--ops is allocator calls per thread; --window is live small blocks per thread.\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v = 0;
        if (!strcmp(a, "--report-cost")) {
            g.report_cost = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        const char *val = argv[++i];
        if (!strcmp(a, "--via")) {
            if (strcmp(val, "api") && strcmp(val, "signal"))
                return usage();
            g.via_signal = !strcmp(val, "signal");
            continue;
        }
        if (parse_u64(val, &v) != 0)
            return usage();
        if (!strcmp(a, "--threads") && v >= 1 && v <= 64)
            g.threads = (unsigned)v;
        else if (!strcmp(a, "--ops") && v >= 1)
            g.ops = v;
        else if (!strcmp(a, "--window") && v >= 16)
            g.window = (size_t)v, g.window_set = 1;
        else if (!strcmp(a, "--seed"))
            g.seed = v;
        else if (!strcmp(a, "--blocks") && v >= 1)
            g.blocks = (size_t)v;
        else if (!strcmp(a, "--sites") && v >= 1 && v <= 3 * NHOP * NHOP * NHOP)
            g.sites = (size_t)v;
        else if (!strcmp(a, "--reports") && v >= 1 && v <= 16)
            g.reports = (unsigned)v;
        else
            return usage();
    }
    make_chains();
    return g.report_cost ? run_report_cost() : run_churn();
}
