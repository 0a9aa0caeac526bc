/* ns.c — namespaces of other processes (see ns.h). */
#include "ns.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The last number of the NSpid line: the pid in the innermost namespace, the one the process sees. */
static int own_pid_of(int pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return pid;
    int own = pid;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "NSpid:", 6) != 0)
            continue;
        char *p = line + 6, *end;
        for (long v; (v = strtol(p, &end, 10)), end != p; p = end)
            if (v > 0)
                own = (int)v;
        break;
    }
    fclose(f);
    return own;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return true;              /* unreadable: assume ours, the paths then fail as they would */
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void ns_view_of(int pid, ns_view *v)
{
    v->host_pid = pid;
    v->own_pid = own_pid_of(pid);
    v->root[0] = '\0';
    char ns[64], root[64], path_pidns[64];
    snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", pid);
    snprintf(root, sizeof root, "/proc/%d/root/", pid);
    struct stat sb;
    snprintf(path_pidns, sizeof path_pidns, "/proc/%d/ns/pid", pid);
    v->pidns = stat(path_pidns, &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
    if (!same_file(ns, "/proc/self/ns/mnt") || !same_file(root, "/"))
        snprintf(v->root, sizeof v->root, "/proc/%d/root", pid);
}

bool ns_is_foreign(const ns_view *v)
{
    return v->own_pid != v->host_pid || v->root[0];
}

int ns_open_root(const ns_view *v)
{
    return open(v->root[0] ? v->root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}
