/*
 * links.c - which file the store is: a symbolic link where the store or
 * its -wal, -shm or -journal file go is followed only when root or the
 * user running qpstat owns it (the kernel's protected_symlinks rule for
 * sticky directories). In the README's set-up root imports into a
 * directory the qpsmtpd user can write; a link of that user's making
 * would otherwise have root turn any file it points to into SQLite, or
 * write its journal there. A link the admin made (root's) is followed.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

qps_status store_check_links(qps_store *s, const char *path, bool *nofollow)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    uid_t me = geteuid();
    *nofollow = false;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char name[4200];
        if ((size_t)snprintf(name, sizeof name, "%s%s", path, suffix[i]) >= sizeof name)
            return qps_store_set_error(s, QPS_EINVAL, "the store's name is too long");
        struct stat st;
        bool link = lstat(name, &st) == 0 && S_ISLNK(st.st_mode);
        if (i == 0)
            *nofollow = !link; /* and stays so: a link put there meanwhile is refused by SQLite */
        if (link && st.st_uid != me && st.st_uid != 0)
            return qps_store_set_error(s, QPS_EIO,
                                       "%s is a symbolic link owned by another user (uid %lu): not followed "
                                       "(name the file itself)",
                                       i == 0 ? "the store" : name, (unsigned long)st.st_uid);
    }
    return QPS_OK;
}

bool store_has_wal(const char *path)
{
    char name[4200];
    struct stat st;
    return (size_t)snprintf(name, sizeof name, "%s-wal", path) >= sizeof name ||
           (stat(name, &st) == 0 && st.st_size > 0);
}
