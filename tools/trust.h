/* trust.h — opening files that other users may have planted or swapped, as root reads them for `dump` and
 * the live gate: every directory on the way is opened with O_NOFOLLOW relative to the one before and checked
 * with fstat (owned by root or a trusted uid; the last one writable by nobody else, the ones above it only
 * when sticky), and a file is opened with O_NOFOLLOW|O_NONBLOCK relative to the checked directory and must be
 * a regular file with one link, owned by a trusted uid and writable by nobody else. Stateless; not meant for
 * signal handlers. */
#ifndef LW_TRUST_H
#define LW_TRUST_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The uids whose files are trusted: root and the target process's real and effective uid. */
typedef struct {
    uid_t uid[3];
} trust_owners;

trust_owners trust_owners_of(uid_t ruid, uid_t euid);

/* A directory fd for the absolute path, or -1 with one line in err naming the path and what is wrong with
 * it. A missing directory sets errno to ENOENT (err says so too). */
int trust_open_dir(const char *path, const trust_owners *ok, char *err, size_t errlen);

/* The same for in_root (absolute) below the directory rootfd (-1: "/"), such as a container's root
 * opened through /proc/PID/root; messages name the path as root + in_root. */
int trust_open_dir_in(int rootfd, const char *root, const char *in_root, const trust_owners *ok, char *err,
                      size_t errlen);

/* A read-only fd for name inside dirfd, or -1 with one line in err. */
int trust_open_file(int dirfd, const char *dir_for_messages, const char *name, const trust_owners *ok, char *err,
                    size_t errlen);

#endif
