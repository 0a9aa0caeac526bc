/* state.c — the definitions of the process-wide state (see state.h): a leaf, so that every module can
 * read the settings and the real functions without depending on the modules that start the shim. */
#include "state.h"
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "out.h"

struct lw_state shim_state;
__thread int lw_guard __attribute__((tls_model("initial-exec")));
__thread int *lw_errno_at __attribute__((tls_model("initial-exec")));

void lw_disable(const char *why)
{
    int expected = LW_ON;
    if (atomic_compare_exchange_strong(&shim_state.status, &expected, LW_OFF))
        lw_log("tracking is off from now on: ", why, "; the program runs on unaffected", NULL, NULL);
}

const char *lw_proc_path(const char *entry, char *buf, unsigned cap)
{
    struct out o;
    out_init(&o, -1, buf, cap - 1);
    out_str(&o, access("/proc/thread-self", F_OK) == 0 ? "/proc/thread-self/" : "/proc/self/");
    out_str(&o, entry);
    buf[o.len] = '\0';
    return buf;
}

int lw_stat_field(const char *path, int field, char *text, unsigned cap)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int f = 2; p && f < field; f++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    unsigned len = (unsigned)strcspn(++p, " ");
    if (len >= cap)
        len = cap - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    return 0;
}
