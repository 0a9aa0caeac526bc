/* late.c — start and stop of a shim loaded into a running process (see late.h). */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "late.h"
#include "got.h"
#include "jvm.h"
#include "log.h"
#include "report_thread.h"
#include "signals.h"
#include "state.h"
#include "lifecycle.h"

#define LW_EXPORT __attribute__((visibility("default")))
#define MAX_SETTINGS 32

static struct {
    char text[4096];                 /* the attach file, lines split in place */
    const char *name[MAX_SETTINGS], *value[MAX_SETTINGS];
    unsigned n;
    int attached, detached;
} late;

/* "/tmp/leakwatch-<euid>" and "<pid>.attach": the default per-user directory, never LEAKWATCH_OUT, so
 * the tool and the shim agree on it before any setting is known. */
static void attach_paths(char *dir, size_t dir_cap, char *name, size_t name_cap)
{
    char num[24];
    struct out o;
    out_init(&o, -1, dir, dir_cap - 1);
    out_str(&o, "/tmp/leakwatch-");
    out_str(&o, log_num(num, (uint64_t)geteuid()));
    dir[o.len] = '\0';
    out_init(&o, -1, name, name_cap - 1);
    out_str(&o, log_num(num, (uint64_t)syscall(SYS_getpid)));
    out_str(&o, ".attach");
    name[o.len] = '\0';
}

/* Our user's and nobody else's to write: owned by the effective uid, no write bit for group or others. */
static int private_to_us(int fd, mode_t type)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_uid == geteuid() &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The tool writes "start=<the target's start time>" (field 22 of /proc/PID/stat, clock ticks since boot) as
 * the file's first line. A file whose attach never finished (the target died first) must not keep a later
 * process that happens to get the same pid from ever starting: such a file names another start time. */
static int meant_for_this_process(int fd)
{
    char head[64], own[32];
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    if (n <= 0)
        return 0;
    if (lw_stat_field("/proc/self/stat", 22, own, sizeof own) < 0)
        return 1;                    /* no /proc in this process's view (a bare chroot): cannot tell */
    head[n] = '\0';
    size_t len = strlen(own);
    return strncmp(head, "start=", 6) == 0 && strncmp(head + 6, own, len) == 0 && head[6 + len] == '\n';
}

/* Opens the attach file read-only, refusing symlinks and files or a directory others could have written. */
static int open_attach_file(void)
{
    char dir[64], name[64];
    attach_paths(dir, sizeof dir, name, sizeof name);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    int fd = -1;
    if (private_to_us(dirfd, S_IFDIR))
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 && !private_to_us(fd, S_IFREG)) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0 && !meant_for_this_process(fd)) {
        close(fd);
        fd = -1;
        unlinkat(dirfd, name, 0);    /* left by an attach to an earlier process with our pid */
    }
    close(dirfd);
    return fd;
}

int late_requested(void)
{
    int fd = open_attach_file();
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* Reads KEY=VALUE lines (LEAKWATCH_* settings only) and removes the file: it was meant for this start. */
static int read_settings(void)
{
    int fd = open_attach_file();
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, late.text, sizeof late.text - 1);
    close(fd);
    char dir[64], name[64], path[128];
    attach_paths(dir, sizeof dir, name, sizeof name);
    struct out o;
    out_init(&o, -1, path, sizeof path - 1);
    out_str(&o, dir);
    out_char(&o, '/');
    out_str(&o, name);
    path[o.len] = '\0';
    unlink(path);
    if (n < 0)
        return -1;
    late.text[n] = '\0';
    late.n = 0;
    for (char *line = late.text; *line && late.n < MAX_SETTINGS;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        char *eq = strchr(line, '=');
        if (eq && strncmp(line, "LEAKWATCH_", 10) == 0) {
            *eq = '\0';
            late.name[late.n] = line;
            late.value[late.n++] = eq + 1;
        }
        if (!end)
            break;
        line = end + 1;
    }
    return 0;
}

static const char *setting(const char *name)
{
    for (unsigned i = 0; i < late.n; i++)
        if (strcmp(late.name[i], name) == 0)
            return late.value[i];
    return NULL;
}

/* From the reporter thread on every tick: redirects modules loaded since the last look. */
static void late_tick(void)
{
    if (late.attached && !late.detached)
        got_redirect_new_modules();
}

/* Points the loaded libraries' allocation calls at the hooks: 1, attached; 0 when none could be rewritten
 * (then every rewritten entry is put back). */
static int take_over_calls(void)
{
    if (got_redirect() <= 0) {
        got_restore();
        return 0;
    }
    late.attached = 1;
    report_thread_on_tick(late_tick);
    return 1;
}

/* Nothing reaches the hooks: the program gets its signals back and the shim stops, reporter included. */
static void give_everything_back(void)
{
    signals_restore_program();
    atomic_store(&shim_state.status, LW_OFF);
    report_thread_withdraw();
}

/* Attached, detached, and now attached again: the library is loaded and its tables exist, so tracking
 * restarts from the new settings with every table emptied (what was tracked before the detach is stale:
 * its frees went past the hooks) and the entries are rewritten again. */
static int reattach(void)
{
    if (read_settings() < 0)
        return LATE_NO_SETTINGS;
    lw_restart_late(setting);
    if (!take_over_calls()) {
        give_everything_back();
        return LATE_NO_HOOKS;
    }
    late.detached = 0;
    return LATE_OK;
}

LW_EXPORT int leakwatch_attach(void)
{
    if (late.detached && late.attached) {
        int saved_guard = lw_guard;
        lw_guard = 1;
        int result = reattach();
        lw_guard = saved_guard;
        return result;
    }
    if (late.detached)
        return LATE_DETACHED;
    if (late.attached || atomic_load(&shim_state.status) != LW_UNINIT)
        return LATE_ALREADY;
    int saved_guard = lw_guard;
    lw_guard = 1;
    int result = LATE_OK;
    if (read_settings() < 0) {
        result = LATE_NO_SETTINGS;
    } else {
        if (lw_init_late(setting, NULL) != LW_ON) {
            result = LATE_CANNOT_TRACK;
        } else {
            jvm_start_now(5000);
            lw_start();
            /* none rewritten (mprotect refused, a program without a GOT entry for malloc): nothing would
             * ever be tracked, so give everything back rather than pretend */
            if (!take_over_calls()) {
                give_everything_back();
                late.detached = 1;
                result = LATE_NO_HOOKS;
            }
        }
    }
    lw_guard = saved_guard;
    return result;
}

/* The agent's options, "key=value,key=value": each as "LEAKWATCH_KEY=value" in agent_env (listed in agent_named,
 * which config_load checks for names that are no setting) and split into name and value in late.text, where
 * setting() finds them. Returns 0, or -1 when they do not fit. */
static char agent_env[2048];
static char *agent_named[MAX_SETTINGS + 1];

static int read_agent_options(const char *options)
{
    size_t used = 0;
    late.n = 0;
    agent_named[0] = NULL;
    for (const char *p = options; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len && eq != p) {         /* a bare word ("start") is a name with no value: config_load says it */
            size_t key = eq ? (size_t)(eq - p) : len, value = eq ? len - key - 1 : 0;
            if (late.n == MAX_SETTINGS || used + 10 + key + 1 + value + 1 > sizeof agent_env)
                return -1;
            char *entry = agent_env + used;
            memcpy(entry, "LEAKWATCH_", 10);
            for (size_t i = 0; i < key; i++)
                entry[10 + i] = p[i] >= 'a' && p[i] <= 'z' ? (char)(p[i] - 'a' + 'A') : p[i] == '-' ? '_' : p[i];
            entry[10 + key] = '=';
            memcpy(entry + 10 + key + 1, eq ? eq + 1 : "", value);
            entry[10 + key + 1 + value] = '\0';
            agent_named[late.n++] = entry;
            used += 10 + key + 1 + value + 1;
        }
        p = end ? end + 1 : p + len;
    }
    agent_named[late.n] = NULL;
    memcpy(late.text, agent_env, used);
    for (unsigned i = 0; i < late.n; i++) {
        char *name = late.text + (agent_named[i] - agent_env), *eq = strchr(name, '=');
        *eq = '\0';
        late.name[i] = name;
        late.value[i] = eq + 1;
    }
    return 0;
}

/* An agent's setting: its option, else the environment's variable. */
static const char *agent_setting(const char *name)
{
    const char *v = setting(name);
    return v ? v : getenv(name);
}

int late_loaded_locally(void)
{
    int saved_guard = lw_guard;
    lw_guard = 1;                    /* what the loader allocates for this question is not the program's */
    /* the program's handle searches the global scope alone (RTLD_DEFAULT from here would also search ours) */
    void *program = dlopen(NULL, RTLD_LAZY);
    void *global = program ? dlsym(program, "leakwatch_attach") : NULL;
    if (program)
        dlclose(program);
    Dl_info mine, found;
    /* no answer at all counts as global: a preloaded shim must never stay idle for want of one */
    int local = program && (!global || (dladdr((void *)late_loaded_locally, &mine) && dladdr(global, &found) &&
                                        mine.dli_fbase != found.dli_fbase));
    lw_guard = saved_guard;
    return local;
}

/* Started as a JVM agent (see late.h): as leakwatch_attach, with the agent's options for the attach file. */
int late_start_as_agent(const char *options, int *bad_options)
{
    *bad_options = 0;
    if (late.attached || late.detached || atomic_load(&shim_state.status) != LW_UNINIT)
        return LATE_ALREADY;
    int saved_guard = lw_guard;
    lw_guard = 1;
    if (read_agent_options(options) < 0) {
        *bad_options = 1;            /* none is used: half of them could be worse than none */
        late.n = 0;
        agent_named[0] = NULL;
    }
    int result = LATE_OK;
    if (lw_init_late(agent_setting, agent_named) != LW_ON) {
        result = LATE_CANNOT_TRACK;
    } else {
        lw_start();
        if (!take_over_calls())
            result = LATE_NO_HOOKS;  /* nothing reaches the hooks; the reporter goes on for Java-heap sites */
    }
    lw_guard = saved_guard;
    return result;
}

LW_EXPORT int leakwatch_detach(void)
{
    if (late.detached)
        return LATE_DETACHED;
    if (!late.attached)
        return LATE_NOT_ATTACHED;
    int saved_guard = lw_guard;
    lw_guard = 1;
    got_restore();
    signals_restore_program();
    atomic_store(&shim_state.status, LW_OFF);
    report_thread_withdraw();
    late.detached = 1;
    lw_guard = saved_guard;
    return LATE_OK;
}

