/* gate_outdir.c — the live gate's own report directory (see gate_outdir.h). */
#include "gate_outdir.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "proc.h"

static char made_dir[PATH_MAX];   /* empty until gate_outdir_make succeeded */
static bool opened_to_others;

bool gate_outdir_make(const char *tmp_parent, char *template, size_t len, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/leakwatch-gate.XXXXXX", tmp_parent);
    if (!mkdtemp(dir)) {   /* mode 0700, ours: nobody else can add or remove anything in it */
        snprintf(err, errlen, "cannot create a report directory in %s (%s): pass --out DIR", tmp_parent,
                 strerror(errno));
        return false;
    }
    snprintf(made_dir, sizeof made_dir, "%s", dir);
    snprintf(template, len, "%s/%%u", dir);
    return true;
}

void gate_outdir_admit(int pid)
{
    int ruid, euid;
    if (!made_dir[0] || !proc_uids(pid, &ruid, &euid) || (uid_t)euid == geteuid() || geteuid() != 0)
        return;
    /* The shim writes as its effective uid into "<dir>/<uid>", which must be its own and private. */
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/%d", made_dir, euid);
    if (mkdir(sub, 0700) == 0 && chown(sub, (uid_t)euid, (gid_t)-1) != 0)
        rmdir(sub);
    if (!opened_to_others && chmod(made_dir, 0711) == 0)
        opened_to_others = true;
}

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Empties the directory open as fd, depth levels down at most (the gate's tree is dir/uid/file). */
static void empty_dir(int fd, int depth)
{
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0)
            return;
        bool removed = false;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
            off += e->d_reclen;
            const char *name = e->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (unlinkat(fd, name, 0) == 0) {
                removed = true;
                continue;
            }
            if (depth <= 0)
                continue;
            int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            empty_dir(sub, depth - 1);
            close(sub);
            if (unlinkat(fd, name, AT_REMOVEDIR) == 0)
                removed = true;
        }
        if (removed)
            lseek(fd, 0, SEEK_SET);   /* entries removed while listing: start over, so none is missed */
    }
}

void gate_outdir_remove(void)
{
    if (!made_dir[0])
        return;
    int fd = open(made_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        empty_dir(fd, 3);
        close(fd);
    }
    rmdir(made_dir);
}
