/* trust.c — opening planted-file-proof paths (see trust.h). */
#include "trust.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

trust_owners trust_owners_of(uid_t ruid, uid_t euid)
{
    return (trust_owners){{0, ruid, euid}};
}

static bool owner_ok(const trust_owners *ok, uid_t uid)
{
    for (int i = 0; i < 3; i++)
        if (ok->uid[i] == uid)
            return true;
    return false;
}

/* Why a directory is not to be trusted, or NULL. Directories above the last may be shared like /tmp
 * (sticky: nobody can rename or remove another's entries). */
static const char *dir_problem(const struct stat *sb, const trust_owners *ok, bool last)
{
    if (!S_ISDIR(sb->st_mode))
        return "not a directory";
    if (!owner_ok(ok, sb->st_uid))
        return "owned by a user other than root and the process's user";
    if ((sb->st_mode & 022) && (last || !(sb->st_mode & S_ISVTX)))
        return "writable by other users";
    return NULL;
}

int trust_open_dir(const char *path, const trust_owners *ok, char *err, size_t errlen)
{
    return trust_open_dir_in(-1, "", path, ok, err, errlen);
}

int trust_open_dir_in(int rootfd, const char *root, const char *in_root, const trust_owners *ok, char *err,
                      size_t errlen)
{
    char path[PATH_MAX];            /* for messages: the path as the caller sees it */
    snprintf(path, sizeof path, "%s%s", root, in_root);
    if (in_root[0] != '/') {
        snprintf(err, errlen, "%s: not an absolute path", path);
        errno = EINVAL;
        return -1;
    }
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", in_root) >= (int)sizeof copy) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = rootfd >= 0 ? fcntl(rootfd, F_DUPFD_CLOEXEC, 0) : open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *save = NULL;
    const char *part = strtok_r(copy, "/", &save);
    for (;;) {
        struct stat sb;
        const char *next = part ? strtok_r(NULL, "/", &save) : NULL;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            int e = errno;
            snprintf(err, errlen, "cannot open %s (%s)", path, strerror(e));
            if (fd >= 0)
                close(fd);
            errno = e;
            return -1;
        }
        const char *why = dir_problem(&sb, ok, part == NULL);
        if (why) {
            snprintf(err, errlen, "refusing %s: %s (a directory on the way is %s, uid %u, mode %04o)", path, why,
                     part ? "not safe" : "this one", (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
            close(fd);
            errno = EPERM;
            return -1;
        }
        if (!part)
            return fd;
        int sub = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (sub < 0) {
            if (e == ELOOP || e == ENOTDIR)
                snprintf(err, errlen, "refusing %s: %s is a symlink or not a directory", path, part);
            else
                snprintf(err, errlen, "cannot open %s (%s)", path, strerror(e));
            errno = e == ENOTDIR ? ELOOP : e;
            return -1;
        }
        fd = sub;
        part = next;
    }
}

int trust_open_file(int dirfd, const char *dir_for_messages, const char *name, const trust_owners *ok, char *err,
                    size_t errlen)
{
    if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        snprintf(err, errlen, "refusing %s/%s: not a plain file name", dir_for_messages, name);
        errno = EINVAL;
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            snprintf(err, errlen, "refusing %s/%s: it is a symlink", dir_for_messages, name);
        else
            snprintf(err, errlen, "cannot open %s/%s (%s)", dir_for_messages, name, strerror(e));
        errno = e;
        return -1;
    }
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = "not a regular file";
    else if (sb.st_nlink != 1)
        why = "it has other hard links";
    else if (!owner_ok(ok, sb.st_uid))
        why = "owned by a user other than root and the process's user";
    else if (sb.st_mode & 022)
        why = "writable by other users";
    if (why) {
        snprintf(err, errlen, "refusing %s/%s: %s", dir_for_messages, name, why);
        close(fd);
        errno = EPERM;
        return -1;
    }
    /* Reads must block normally from here on (it is a regular file, so this changes nothing but clarity). */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}
