/* config.c — parsing and validation of LEAKWATCH_* settings (see config.h). */
#include <signal.h>
#include <string.h>
#include <strings.h>
#include "config.h"
#include "log.h"
#include "out.h"

int config_parse_uint(const char *text, unsigned min, unsigned max, unsigned *value)
{
    uint64_t v = 0;
    if (!*text)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *value = (unsigned)v;
    return 0;
}

int config_parse_duration(const char *text, uint64_t *ms)
{
    uint64_t whole = 0, frac = 0, frac_scale = 1;
    const char *p = text;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > 1000000000ull)
            return -1;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (frac_scale < 1000000) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_scale *= 10;
            }
        }
    }
    if (digits == 0)
        return -1;
    uint64_t unit_ms;
    if (*p == '\0' || strcmp(p, "s") == 0)
        unit_ms = 1000;
    else if (strcmp(p, "ms") == 0)
        unit_ms = 1;
    else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
        unit_ms = 60000;
    else if (strcmp(p, "h") == 0)
        unit_ms = 3600000;
    else
        return -1;
    *ms = whole * unit_ms + frac * unit_ms / frac_scale;
    return 0;
}

int config_parse_size(const char *text, uint64_t max, uint64_t *bytes)
{
    uint64_t v = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    if (p == text)
        return -1;
    uint64_t unit = 1;
    if (*p == 'k' || *p == 'K')
        unit = 1024, p++;
    else if (*p == 'm' || *p == 'M')
        unit = 1024 * 1024, p++;
    else if (*p == 'g' || *p == 'G')
        unit = 1024 * 1024 * 1024, p++;
    if (*p || v == 0 || v > max / unit)
        return -1;
    *bytes = v * unit;
    return 0;
}

int config_parse_bool(const char *text, int *value)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off", "" };
    for (unsigned i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(text, yes[i]) == 0)
            return *value = 1, 0;
    for (unsigned i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(text, no[i]) == 0)
            return *value = 0, 0;
    return -1;
}

static const struct { const char *name; int sig; } signal_names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
    { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
    { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
    { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

static void signal_display_name(int sig, char *name, unsigned name_size)
{
    struct out o;
    out_init(&o, -1, name, name_size - 1);
    for (unsigned i = 0; i < sizeof signal_names / sizeof *signal_names; i++) {
        if (signal_names[i].sig == sig) {
            out_str(&o, "SIG");
            out_str(&o, signal_names[i].name);
            name[o.len] = '\0';
            return;
        }
    }
    out_str(&o, "SIGRTMIN+");
    out_u64(&o, (uint64_t)(sig - SIGRTMIN));
    name[o.len] = '\0';
}

int config_signal_usable(int sig)
{
    /* Signals whose default action matters cannot carry requests: faults and SIGSYS (the kernel's), SIGKILL
     * and SIGSTOP (cannot be caught), job control (SIGCHLD, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU), the kernel's
     * SIGPIPE, SIGXCPU and SIGXFSZ, the ones people and supervisors stop programs with (SIGHUP, SIGINT,
     * SIGQUIT, SIGTERM: a `kill PID` must still stop the program), and those glibc reserves below SIGRTMIN. */
    static const int refused[] = {
        SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS, SIGCHLD, SIGCONT,
        SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGXCPU, SIGXFSZ, SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    };
    if (sig <= 0 || sig > SIGRTMAX || (sig > SIGSYS && sig < SIGRTMIN))
        return 0;
    for (unsigned i = 0; i < sizeof refused / sizeof *refused; i++)
        if (sig == refused[i])
            return 0;
    return 1;
}

int config_parse_signal(const char *text, int *sig, char *name, unsigned name_size)
{
    if (strcasecmp(text, "none") == 0 || strcmp(text, "0") == 0) {
        *sig = 0;
        strncpy(name, "none", name_size - 1);
        name[name_size - 1] = '\0';
        return 0;
    }
    int found = -1;
    unsigned number;
    if (config_parse_uint(text, 1, (unsigned)SIGRTMAX, &number) == 0) {
        found = (int)number;
    } else {
        const char *p = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
        for (unsigned i = 0; i < sizeof signal_names / sizeof *signal_names; i++)
            if (strcasecmp(p, signal_names[i].name) == 0)
                found = signal_names[i].sig;
        if (strncasecmp(p, "RTMIN", 5) == 0) {
            unsigned offset = 0;
            if (p[5] == '\0')
                found = SIGRTMIN;
            else if (p[5] == '+' && config_parse_uint(p + 6, 0, (unsigned)(SIGRTMAX - SIGRTMIN), &offset) == 0)
                found = SIGRTMIN + (int)offset;
        }
    }
    if (found <= 0 || !config_signal_usable(found))
        return -1;
    *sig = found;
    signal_display_name(found, name, name_size);
    return 0;
}

int config_parse_http(const char *text)
{
    size_t len = strlen(text);
    if (text[0] == '/') {
        size_t percent_p = 0;
        for (const char *p = text; (p = strstr(p, "%p")) != NULL; p += 2)
            percent_p++;
        return len + percent_p * 8 < 108 ? 0 : -1;   /* a pid has at most 10 digits: 8 more than "%p" */
    }
    const char *colon = strrchr(text, ':');
    unsigned port;
    if (!colon || colon == text || len >= 108 || config_parse_uint(colon + 1, 0, 65535, &port) < 0)
        return -1;
    return 0;   /* the host part is checked when the address is made (http.c) */
}

static void bad_value(const char *var, const char *value, const char *why, const char *fallback)
{
    lw_log(var, "=", value, why, fallback);
}

static const char *const known_names[] = {
    "LEAKWATCH_OUT", "LEAKWATCH_SIGNAL", "LEAKWATCH_INTERVAL", "LEAKWATCH_MIN_AGE", "LEAKWATCH_TOP",
    "LEAKWATCH_DEPTH", "LEAKWATCH_RECORDS", "LEAKWATCH_SITE_DEPTH", "LEAKWATCH_SAMPLE", "LEAKWATCH_MMAP",
    "LEAKWATCH_QUIET", "LEAKWATCH_HTTP", "LEAKWATCH_JAVA_FRAMES",
    "LEAKWATCH_JAVA_HEAP", "LEAKWATCH_JAVA_HEAP_SAMPLE", "LEAKWATCH_JAVA_HELD_BY_MS", "LEAKWATCH_JAVA_COUNT_MS",
    "LEAKWATCH_BUILD",   /* not a setting: where leakwatch's own test suite finds the build */
};

static void warn_unknown(char *const *env)
{
    for (; env && *env; env++) {
        if (strncmp(*env, "LEAKWATCH_", 10) != 0)
            continue;
        size_t len = strcspn(*env, "=");
        int known = 0;
        for (unsigned i = 0; i < sizeof known_names / sizeof *known_names; i++)
            if (strlen(known_names[i]) == len && strncmp(known_names[i], *env, len) == 0)
                known = 1;
        if (!known) {
            char name[64];
            size_t n = len < sizeof name - 1 ? len : sizeof name - 1;
            memcpy(name, *env, n);
            name[n] = '\0';
            lw_log(name, " is not a leakwatch setting and is ignored (see leakwatch(1) for the list)",
                   NULL, NULL, NULL);
        }
    }
}

static void load_uint(const char *(*get)(const char *), const char *var, unsigned min, unsigned max,
                      unsigned *value)
{
    const char *text = get(var);
    if (!text)
        return;
    if (config_parse_uint(text, min, max, value) < 0) {
        char dmin[24], dmax[24], ddef[24], why[128];
        struct out o;
        out_init(&o, -1, why, sizeof why - 1);
        out_str(&o, " is not a whole number from ");
        out_str(&o, log_num(dmin, min));
        out_str(&o, " to ");
        out_str(&o, log_num(dmax, max));
        out_str(&o, "; using the default ");
        why[o.len] = '\0';
        bad_value(var, text, why, log_num(ddef, *value));
    }
}

static void load_duration(const char *(*get)(const char *), const char *var, const char *default_text,
                          uint64_t *ms)
{
    const char *text = get(var);
    if (text && config_parse_duration(text, ms) < 0)
        bad_value(var, text, " is not a duration (like 10s, 500ms, 2m); using the default ", default_text);
}

void config_load(struct lw_config *c, const char *(*get)(const char *name), char *const *env)
{
    memset(c, 0, sizeof *c);
    strcpy(c->out, CONFIG_DEFAULT_OUT);
    c->signal = SIGUSR2;
    strcpy(c->signal_name, "SIGUSR2");
    c->min_age_ms = 10000;
    c->top = 20;
    c->depth = 64;
    c->records = 4;
    c->site_depth = 4;
    c->sample = 256;
    c->java_frames = 1;
    c->java_heap = 1;
    c->java_heap_sample = 512 * 1024;     /* HotSpot's own default: about two samples per MiB allocated */
    c->java_held_by_ms = 2000;
    c->java_count_ms = 500;

    const char *text = get("LEAKWATCH_OUT");
    if (text) {
        if (text[0] != '/' || strlen(text) >= sizeof c->out - 16)
            bad_value("LEAKWATCH_OUT", text, " is not an absolute directory path of reasonable length;",
                      " using the default /tmp/leakwatch-<uid>");
        else
            strcpy(c->out, text);
    }
    text = get("LEAKWATCH_SIGNAL");
    if (text && config_parse_signal(text, &c->signal, c->signal_name, sizeof c->signal_name) < 0)
        bad_value("LEAKWATCH_SIGNAL", text,
                  " is not a signal leakwatch can use (try SIGUSR1, SIGUSR2, SIGRTMIN+3 or none);",
                  " using the default SIGUSR2");
    load_duration(get, "LEAKWATCH_INTERVAL", "0 (off)", &c->interval_ms);
    if (c->interval_ms > 0 && c->interval_ms < CONFIG_MIN_INTERVAL_MS) {
        bad_value("LEAKWATCH_INTERVAL", get("LEAKWATCH_INTERVAL"), " is shorter than 100ms;",
                  " using 100ms");
        c->interval_ms = 100;
    }
    load_duration(get, "LEAKWATCH_MIN_AGE", "10s", &c->min_age_ms);
    load_uint(get, "LEAKWATCH_TOP", 1, CONFIG_MAX_TOP, &c->top);
    load_uint(get, "LEAKWATCH_DEPTH", 1, CONFIG_MAX_DEPTH, &c->depth);
    load_uint(get, "LEAKWATCH_RECORDS", 0, CONFIG_MAX_RECORDS, &c->records);
    load_uint(get, "LEAKWATCH_SITE_DEPTH", 1, CONFIG_MAX_SITE_DEPTH, &c->site_depth);
    load_uint(get, "LEAKWATCH_SAMPLE", 0, CONFIG_MAX_SAMPLE, &c->sample);
    text = get("LEAKWATCH_MMAP");
    if (text) {
        if (strcmp(text, "all") == 0)
            c->mmap_all = 1;
        else if (strcmp(text, "anon") != 0)
            bad_value("LEAKWATCH_MMAP", text, " is neither anon nor all;", " using the default anon");
    }
    text = get("LEAKWATCH_QUIET");
    if (text && config_parse_bool(text, &c->quiet) < 0)
        bad_value("LEAKWATCH_QUIET", text, " is not 0 or 1;", " using the default 0");
    text = get("LEAKWATCH_HTTP");
    if (text && *text) {
        if (config_parse_http(text) < 0)
            bad_value("LEAKWATCH_HTTP", text, " is neither host:port (like 127.0.0.1:6061) nor an absolute",
                      " socket path (like /tmp/app.%p.sock); the live endpoint stays off");
        else
            strcpy(c->http, text);
    }
    text = get("LEAKWATCH_JAVA_FRAMES");
    if (text && config_parse_bool(text, &c->java_frames) < 0)
        bad_value("LEAKWATCH_JAVA_FRAMES", text, " is not 0 or 1;", " using the default 1");
    text = get("LEAKWATCH_JAVA_HEAP");
    if (text && config_parse_bool(text, &c->java_heap) < 0)
        bad_value("LEAKWATCH_JAVA_HEAP", text, " is not 0 or 1;", " using the default 1");
    text = get("LEAKWATCH_JAVA_HEAP_SAMPLE");
    if (text && config_parse_size(text, CONFIG_MAX_JAVA_HEAP_SAMPLE, &c->java_heap_sample) < 0)
        bad_value("LEAKWATCH_JAVA_HEAP_SAMPLE", text, " is not a size from 1 to 1G (like 512k);",
                  " using the default 512k");
    load_uint(get, "LEAKWATCH_JAVA_HELD_BY_MS", 0, CONFIG_MAX_JAVA_HELD_BY_MS, &c->java_held_by_ms);
    load_uint(get, "LEAKWATCH_JAVA_COUNT_MS", 0, CONFIG_MAX_JAVA_HELD_BY_MS, &c->java_count_ms);
    warn_unknown(env);
}
