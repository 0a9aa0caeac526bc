/* hotspot.c — HotSpot's attach protocol (see hotspot.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "hotspot.h"
#include "proc.h"
#include "util.h"

bool hotspot_is_jvm(int pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, "/libjvm.so") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The pid the JVM knows itself by (its own PID namespace) and whether it catches SIGQUIT. */
static bool jvm_status(int pid, int *nspid, bool *catches_quit)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    *nspid = pid;
    *catches_quit = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long mask;
        if (sscanf(line, "SigCgt: %llx", &mask) == 1)
            *catches_quit = (mask >> (SIGQUIT - 1)) & 1;
        if (strncmp(line, "NSpid:", 6) == 0) {
            char *p = line + 6, *end;
            for (long v; (v = strtol(p, &end, 10)), end != p; p = end)
                *nspid = (int)v;
        }
    }
    fclose(f);
    return true;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Asks the JVM to start its attach listener, as the JDK's own tools do, and waits for its socket. */
static bool start_listener(int pid, int nspid, const char *sock, long long deadline_ms, char *err, size_t errlen)
{
    struct stat st;
    if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
        return true;
    bool catches_quit;
    if (!jvm_status(pid, &nspid, &catches_quit)) {
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", pid);
        return false;
    }
    if (!catches_quit) {
        snprintf(err, errlen, "JVM %d does not handle SIGQUIT (started with -Xrs?), so its attach listener cannot "
                 "be woken without killing it: start it under leakwatch run instead", pid);
        return false;
    }
    char trigger[128];
    snprintf(trigger, sizeof trigger, "/proc/%d/cwd/.attach_pid%d", pid, nspid);
    int fd = open(trigger, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(trigger, sizeof trigger, "/proc/%d/root/tmp/.attach_pid%d", pid, nspid);
        fd = open(trigger, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd >= 0)
        close(fd);
    bool ok = kill(pid, SIGQUIT) == 0;
    while (ok && lw_now_ms() < deadline_ms) {
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
            break;
        if (proc_status(pid) != PROC_ALIVE) {
            ok = false;
            break;
        }
        nap_ms(20);
    }
    if (fd >= 0)
        unlink(trigger);
    if (ok && stat(sock, &st) == 0)
        return true;
    if (proc_status(pid) != PROC_ALIVE)
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", pid);
    else
        snprintf(err, errlen, "JVM %d did not start its attach listener (%s) in time: it may run with "
                 "-XX:+DisableAttachMechanism, or still be starting; try again, or with a longer --timeout", pid, sock);
    return false;
}

static bool send_all(int fd, const char *s)
{
    size_t len = strlen(s) + 1, done = 0;
    while (done < len) {
        ssize_t n = write(fd, s + done, len - done);
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

bool hotspot_load_agent(int pid, const char *agent, const char *options, long long deadline_ms, int *agent_rc,
                        char *err, size_t errlen)
{
    int nspid;
    bool catches_quit;
    if (!jvm_status(pid, &nspid, &catches_quit)) {
        snprintf(err, errlen, "no running process has PID %d", pid);
        return false;
    }
    char sock[128];
    snprintf(sock, sizeof sock, "/proc/%d/root/tmp/.java_pid%d", pid, nspid);
    if (!start_listener(pid, nspid, sock, deadline_ms, err, errlen))
        return false;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    memcpy(addr.sun_path, sock, strlen(sock) + 1);     /* at most 60 bytes: /proc/N/root/tmp/.java_pidN */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        snprintf(err, errlen, "cannot connect to the attach listener of JVM %d (%s): %s", pid, sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct timeval tv = { 30, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* protocol 1: version, command, then exactly three arguments, each NUL-terminated */
    bool ok = send_all(fd, "1") && send_all(fd, "load") && send_all(fd, agent) && send_all(fd, "true") &&
              send_all(fd, options ? options : "");
    char reply[2048];
    size_t got = 0;
    ssize_t n;
    while (ok && got < sizeof reply - 1 && (n = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    reply[got] = '\0';
    for (char *p = reply; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n')
            *p = '?';
    int status = -1;
    const char *rc = strstr(reply, "return code: ");
    if (!ok || sscanf(reply, "%d", &status) != 1 || status != 0 || !rc) {
        char *nl = strchr(reply, '\n');
        const char *why = nl ? nl + 1 : reply;
        snprintf(err, errlen, "JVM %d refused to load %s: %.300s", pid, agent, *why ? why : "no answer");
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        return false;
    }
    *agent_rc = atoi(rc + 13);
    return true;
}
