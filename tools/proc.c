/* proc.c — /proc readers (see proc.h). */
#include "proc.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields of /proc/PID/stat after the command name into buf (cap bytes), or NULL: the name may hold spaces
 * and ')', so fields start after the last ')'. The result begins with the space before field 3. */
static const char *stat_fields(int pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp ? rp + 1 : NULL;
}

/* State letter and parent (fields 3 and 4). */
static bool read_stat(int pid, char *state, int *ppid)
{
    char buf[1024];
    const char *p = stat_fields(pid, buf, sizeof buf);
    return p && sscanf(p, " %c %d", state, ppid) == 2;
}

bool proc_start_ticks(int pid, unsigned long long *ticks)
{
    char buf[1024];
    const char *p = stat_fields(pid, buf, sizeof buf);
    for (int field = 3; p && field < 22; field++)     /* p is at the space before field `field` */
        p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", ticks) == 1;
}

int proc_parent(int pid)
{
    char st;
    int ppid;
    return pid > 0 && read_stat(pid, &st, &ppid) ? ppid : 0;
}

proc_state proc_status(int pid)
{
    char st;
    int ppid;
    if (pid <= 0 || !read_stat(pid, &st, &ppid))
        return PROC_GONE;
    return st == 'Z' || st == 'X' ? PROC_ZOMBIE : PROC_ALIVE;
}

bool proc_uids(int pid, int *ruid, int *euid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = false;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %d %d", ruid, euid) == 2) {
            ok = true;
            break;
        }
    fclose(f);
    return ok;
}

int proc_tgid(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int tgid = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Tgid: %d", &tgid) == 1)
            break;
    fclose(f);
    return tgid;
}

bool proc_exe_name(int pid, char *buf, size_t len)
{
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        /* A replaced binary reads "/path (deleted)". */
        char *del = strstr(target, " (deleted)");
        if (del)
            *del = '\0';
        snprintf(buf, len, "%s", lw_basename(target));
        return true;
    }
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

int proc_has_shim(int pid, char *err, size_t errlen)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s (%s): run leakwatch as the user of PID %d, or as root", path,
                 strerror(errno), pid);
        return -1;
    }
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/libleakwatch.so") != NULL;
    fclose(f);
    return found;
}

size_t proc_descendants(int pid, int *out, size_t max)
{
    if (max == 0 || proc_status(pid) != PROC_ALIVE)
        return 0;
    /* One pass over /proc collects (pid, ppid); the tree is then grown breadth-first from pid. */
    size_t cap = 256, n = 0;
    int (*pairs)[2] = malloc(cap * sizeof *pairs);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && pairs && (e = readdir(d))) {
        long p;
        if (!lw_parse_count(e->d_name, &p))
            continue;
        char st;
        int pp;
        if (!read_stat((int)p, &st, &pp) || st == 'Z' || st == 'X')
            continue;
        if (n == cap) {
            int (*np)[2] = realloc(pairs, cap * 2 * sizeof *pairs);
            if (!np)
                break;
            pairs = np;
            cap *= 2;
        }
        pairs[n][0] = (int)p;
        pairs[n][1] = pp;
        n++;
    }
    if (d)
        closedir(d);
    size_t count = 0;
    out[count++] = pid;
    for (size_t head = 0; head < count; head++)
        for (size_t i = 0; i < n && count < max; i++)
            if (pairs[i][1] == out[head])
                out[count++] = pairs[i][0];
    free(pairs);
    return count;
}
