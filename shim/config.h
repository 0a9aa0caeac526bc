/* config.h — the LEAKWATCH_* settings, read once at start-up (nginx later overwrites its environment
 * with the process title). A bad value is reported in one line naming the variable, the value and the
 * default used, and the default applies. Parsing functions and limits are pure and shared with the
 * leakwatch command, so `run` and `gate` refuse up front what the shim would refuse. */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stdint.h>

#define CONFIG_MAX_SITE_DEPTH 24
#define CONFIG_MAX_DEPTH 256
#define CONFIG_MAX_RECORDS 16
#define CONFIG_MAX_TOP 1000000
#define CONFIG_MAX_SAMPLE (1u << 30)
#define CONFIG_MIN_INTERVAL_MS 100    /* a shorter LEAKWATCH_INTERVAL is raised to this */
#define CONFIG_MAX_JAVA_HEAP_SAMPLE (1ull << 30)
#define CONFIG_MAX_JAVA_HELD_BY_MS 60000u

/* Where the shim publishes <pid>.state (and writes reports under the default LEAKWATCH_OUT), "%u" being the
 * effective uid: the first it can create or that is already its own and private. Another user can squat
 * /tmp/leakwatch-<uid>; nobody but the user (and root) can create the others. `leakwatch dump` looks in
 * the same places. */
#define CONFIG_DEFAULT_OUT "/tmp/leakwatch-%u"
#define CONFIG_STATE_DIRS { "/tmp/leakwatch-%u", "/run/user/%u/leakwatch", "/run/leakwatch-%u" }

struct lw_config {
    char out[512];            /* report directory; "%u" is replaced by the uid at report time */
    int signal;               /* 0: none */
    char signal_name[24];
    uint64_t interval_ms;     /* 0: no periodic reports */
    uint64_t min_age_ms;
    unsigned top;
    unsigned depth;           /* frames of a full creation stack */
    unsigned records;         /* access records kept per block */
    unsigned site_depth;      /* return addresses that identify a site */
    unsigned sample;          /* one allocation in `sample` gets its own full stack; 0: none */
    int mmap_all;             /* track file-backed mappings too */
    int quiet;
    char http[108];           /* LEAKWATCH_HTTP as given ("" off): host:port, or a socket path (%p: pid) */
    int java_frames;          /* in a JVM: name Java frames (jvm.c) */
    int java_heap;            /* in a JVM: Java-heap sites (jheap.c) */
    uint64_t java_heap_sample;    /* the JVM's heap-sampling interval, bytes */
    unsigned java_held_by_ms;     /* bound on the "Held by" walk; 0: no walk */
    unsigned java_count_ms;       /* bound on a report's exact count per class; 0: no count */
};

/* Fills c from getenv-like `get` (NULL means unset), logging one line per bad value. Also warns
 * about LEAKWATCH_* names in `env` (may be NULL) that it does not know, which are usually typos. */
void config_load(struct lw_config *c, const char *(*get)(const char *name), char *const *env);

/* Pure parsers: return 0 on success, -1 if the text is not acceptable. */
int config_parse_duration(const char *text, uint64_t *ms);   /* 10s 500ms 2m 1h 1.5s; bare number: seconds */
int config_parse_uint(const char *text, unsigned min, unsigned max, unsigned *value);
int config_parse_signal(const char *text, int *sig, char *name, unsigned name_size); /* "none" gives 0 */
int config_parse_bool(const char *text, int *value);
int config_parse_size(const char *text, uint64_t max, uint64_t *bytes);  /* 4096 512k 1m 1G: from 1 to max */
/* host:port (IPv4, [IPv6] or localhost; port 0-65535) or an absolute socket path short enough for
 * sun_path once %p is replaced by a pid. */
int config_parse_http(const char *text);
/* 1 when sig may be the report signal: one whose default action nobody relies on (SIGUSR1, SIGUSR2,
 * SIGRTMIN..SIGRTMAX, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGWINCH, SIGURG). */
int config_signal_usable(int sig);

#endif
