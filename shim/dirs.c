/* dirs.c — private directories for reports and state (see dirs.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "dirs.h"
#include "log.h"
#include "out.h"

void dirs_expand(const char *template, char *dst, size_t cap, uid_t uid)
{
    struct out o;
    out_init(&o, -1, dst, cap - 1);
    for (const char *p = template; *p; p++) {
        if (p[0] == '%' && p[1] == 'u') {
            out_u64(&o, uid);
            p++;
        } else {
            out_char(&o, *p);
        }
    }
    dst[o.len] = '\0';
}

int dirs_open_private(const char *path, int is_default, dirs_log_fn say)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        say("cannot create the report directory ", path, ": ", strerror(errno),
            is_default ? "" : " (set LEAKWATCH_OUT to a directory you can write)");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        say("cannot open the report directory ", path, ": ",
            errno == ELOOP || errno == ENOTDIR ? "it is a symlink or not a directory; refusing to write there"
                                              : strerror(errno), "");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & (is_default ? 077 : 022))) {
        char uid[24];
        say("refusing the report directory ", path,
            st.st_uid != geteuid() ? ": it belongs to another user (uid " : ": others can write to it (uid ",
            log_num(uid, st.st_uid), is_default ? "); remove it or set LEAKWATCH_OUT"
                                                : "); use a directory only you can write to");
        close(fd);
        return -1;
    }
    return fd;
}

/* Keeps the first refusal's words, so the fallback can say what was wrong with the usual place. */
static char first_refusal[600];

static void keep_first(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    if (first_refusal[0])
        return;
    struct out o;
    out_init(&o, -1, first_refusal, sizeof first_refusal - 1);
    const char *parts[] = { a, b, c, d, e };
    for (unsigned i = 0; i < 5; i++)
        if (parts[i])
            out_str(&o, parts[i]);
    first_refusal[o.len] = '\0';
}

static void ignore(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    (void)a, (void)b, (void)c, (void)d, (void)e;
}

int dirs_open_state(char *path, size_t cap, const char **template, dirs_log_fn say)
{
    static const char *const candidates[] = CONFIG_STATE_DIRS;
    static int told;
    first_refusal[0] = '\0';
    uid_t uid = geteuid();
    for (unsigned i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        dirs_expand(candidates[i], path, cap, uid);
        int fd = dirs_open_private(path, 1, i == 0 ? keep_first : ignore);
        if (fd < 0)
            continue;
        *template = candidates[i];
        if (i > 0 && !told) {
            told = 1;
            say(first_refusal, "; using ", path, " instead for this process's state and default reports", NULL);
        }
        return fd;
    }
    if (!told) {
        told = 1;
        char usual[64];
        dirs_expand(candidates[0], usual, sizeof usual, uid);
        say(first_refusal, "; no other private place (", usual, " or /run) was usable either: `leakwatch dump`"
            " cannot reach this process, reports come at exit and from leakwatch_dump() if LEAKWATCH_OUT is set",
            NULL);
    }
    return -1;
}
