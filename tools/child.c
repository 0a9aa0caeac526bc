/* child.c — bounded child processes (see child.h). */
#include "child.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t child_spawn(char *const argv[], const child_opts *o, char *err, size_t errlen)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot start %s (fork: %s)", argv[0], strerror(errno));
        return -1;
    }
    if (pid > 0) {
        if (o->new_group)
            setpgid(pid, pid); /* also in the child: whichever runs first wins the race */
        return pid;
    }
    if (o->new_group)
        setpgid(0, 0);
    if (o->quiet) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    } else if (o->stdout_to_stderr) {
        dup2(2, 1);
    }
    if (o->prepare)
        o->prepare(o->ctx);
    execvp(argv[0], argv);
    lw_err("cannot run %s (%s): check the command name and PATH", argv[0], strerror(errno));
    _exit(127);
}

bool child_wait(pid_t pid, long long deadline_ms, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR) {
            *status = 0;
            return true;
        }
        if (lw_now_ms() >= deadline_ms)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void child_stop(pid_t pid, bool group, long long grace_ms)
{
    int status;
    kill(group ? -pid : pid, SIGTERM);
    if (group)
        kill(pid, SIGTERM);
    if (child_wait(pid, lw_now_ms() + grace_ms, &status))
        return;
    kill(group ? -pid : pid, SIGKILL);
    if (group)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

const char *child_status_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by %s", strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "stopped (status 0x%x)", status);
    return buf;
}
