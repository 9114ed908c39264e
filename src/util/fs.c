/*
 * Durable file writes (temp + fsync + rename + directory fsync, as Redis and
 * libgit2 do) and careful reads.
 */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

int cr_fs_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("write failed");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cr_fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("write failed");
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int cr_fs_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("read failed");
        }
        if (n == 0) {
            cr_error_set("file is shorter than expected (truncated)");
            return CR_ECORRUPT;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int cr_fs_fsync_dir(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cr_error_errno("cannot open folder %s", path);
    int rc = 0;
    if (fsync(fd) < 0 && errno != EINVAL)
        rc = cr_error_errno("cannot sync folder %s", path);
    close(fd);
    return rc;
}

static void split_dir(const char *name, char *dir, size_t dirlen, const char **base)
{
    const char *slash = strrchr(name, '/');
    if (!slash) {
        snprintf(dir, dirlen, ".");
        *base = name;
    } else if (slash == name) {
        snprintf(dir, dirlen, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dirlen, "%.*s", (int)(slash - name), name);
        *base = slash + 1;
    }
}

int cr_fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       int exclusive)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *base;
    int fd = -1, err = 0;
    uint8_t rnd[8];
    char rhex[17];

    split_dir(name, dir, sizeof(dir), &base);
    randombytes_buf(rnd, sizeof(rnd));
    cr_hex_encode(rhex, rnd, sizeof(rnd));
    if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%s", dir, rhex, base) >= (int)sizeof(tmp)) {
        cr_error_set("path too long: %s", name);
        return CR_EINPUT;
    }
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return cr_error_errno("cannot create %s", tmp);
    if ((err = cr_fs_write_all(fd, data, len)) < 0)
        goto fail;
    if (fsync(fd) < 0) {
        err = cr_error_errno("cannot sync %s", tmp);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        err = cr_error_errno("cannot close %s", tmp);
        goto fail;
    }
    fd = -1;
    if (exclusive) {
        /* link() fails if the name exists: never replace a stored file. */
        int rc = linkat(dirfd, tmp, dirfd, name, 0);
        if (rc < 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == EMLINK)) {
            /* No hard links (FAT/exFAT USB disks): rename without replacing. */
            rc = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
            if (rc < 0 && errno == EINVAL) {
                /* Filesystem without RENAME_NOREPLACE: names are content
                 * hashes, so a check-then-rename race can only put the
                 * same bytes in place. */
                if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                    errno = EEXIST;
                } else {
                    rc = renameat(dirfd, tmp, dirfd, name);
                }
            }
            if (rc == 0)
                return cr_fs_fsync_dir(dirfd, dir);
        }
        if (rc < 0) {
            if (errno == EEXIST) {
                err = CR_EEXISTS;
                cr_error_set("%s already exists", name);
            } else {
                err = cr_error_errno("cannot store %s", name);
            }
            goto fail;
        }
        unlinkat(dirfd, tmp, 0);
    } else if (renameat(dirfd, tmp, dirfd, name) < 0) {
        err = cr_error_errno("cannot rename %s to %s", tmp, name);
        goto fail;
    }
    return cr_fs_fsync_dir(dirfd, dir);
fail:
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    return err;
}

int cr_fs_read_all(cr_buf *out, int dirfd, const char *name, size_t max)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int err = 0;
    if (fd < 0)
        return cr_error_errno("cannot open %s", name);
    if (fstat(fd, &st) < 0) {
        err = cr_error_errno("cannot stat %s", name);
        goto done;
    }
    if ((uint64_t)st.st_size > max) {
        cr_error_set("%s is larger than the limit of %zu bytes", name, max);
        err = CR_ECORRUPT;
        goto done;
    }
    cr_buf_reset(out);
    if ((err = cr_buf_grow(out, (size_t)st.st_size + 1)) < 0)
        goto done;
    for (;;) {
        if (out->len == out->cap && (err = cr_buf_grow(out, 4096)) < 0)
            goto done;
        ssize_t n = read(fd, out->ptr + out->len, out->cap - out->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = cr_error_errno("cannot read %s", name);
            goto done;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > max) {
            cr_error_set("%s is larger than the limit of %zu bytes", name, max);
            err = CR_ECORRUPT;
            goto done;
        }
    }
done:
    close(fd);
    return err;
}

int cr_fs_mkdir_p(int dirfd, const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        cr_error_set("path too long: %s", path);
        return CR_EINPUT;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdirat(dirfd, buf, mode) < 0 && errno != EEXIST)
                return cr_error_errno("cannot create folder %s", buf);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}
