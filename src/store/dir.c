/*
 * The dir backend: a vault in a local folder (or a mounted network share).
 *
 * put writes a temporary ".tmp-<random>-<name>" file, syncs it, then links it
 * to its name (never replacing one) and syncs the folder: cr_fs_write_atomic.
 * Sealed objects are read-only (0444; key files 0400), lock files 0644.
 * Folders are made on first use, so a vault made by an older cleanroom,
 * without hunt/ or forget/, is read as it is.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct dir_store {
    int fd;        /* the vault's folder */
    atomic_int immutable; /* CR_STORE_IMMUTABLE: 1 to try, 0 off or not supported here
                             (the server's threads share the store) */
} dir_store;

typedef struct dir_obj {
    cr_store_obj base;
    int fd;
} dir_obj;

#define DFD(s) (((dir_store *)(s)->impl)->fd)

/* "where/name" of an object for messages: the vault's path and the name. */
static const char *where(cr_store *s)
{
    return s->location;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* 0 if the folder `path` is empty (lost+found aside), CR_EEXISTS with the message otherwise. */
static int check_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int is_vault = 0, other = 0;
    if (!d)
        return cr_error_errno("cannot open folder %s", path);
    while ((e = readdir(d))) {
        /* lost+found: the root of a freshly formatted disk is still "empty". */
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "lost+found"))
            continue;
        if (!strcmp(e->d_name, "config"))
            is_vault = 1;
        else
            other = 1;
    }
    closedir(d);
    if (is_vault) {
        cr_error_set("a vault (or something with a config file) already exists at %s: nothing "
                     "was changed",
                     path);
        return CR_EEXISTS;
    }
    if (other) {
        cr_error_set("%s is not empty: a vault is created in a new or empty folder; nothing was "
                     "changed",
                     path);
        return CR_EEXISTS;
    }
    return 0;
}

/*
 * The Linux immutable flag (chattr +i): not even root can remove, rename or
 * change the file until a process with CAP_LINUX_IMMUTABLE clears it (the
 * vault server's own retention step, dir_del). Best effort: on a filesystem
 * without the flag (tmpfs, NFS), or in a process without the capability, the
 * first failure stops the trying and files stay read-only only
 * (docs/security.md).
 */
static int set_immutable(int dirfd, const char *name, int on)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int attr = 0, rc = -1;
    if (fd < 0)
        return -1;
    if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
        attr = on ? (attr | FS_IMMUTABLE_FL) : (attr & ~FS_IMMUTABLE_FL);
        rc = ioctl(fd, FS_IOC_SETFLAGS, &attr);
    }
    close(fd);
    return rc;
}

/* The folder of object `name` into dir ("." for one at the top). */
static const char *parent_of(char dir[CR_STORE_MAX_NAME + 1], const char *name)
{
    const char *slash = strrchr(name, '/');
    snprintf(dir, CR_STORE_MAX_NAME + 1, "%.*s", slash ? (int)(slash - name) : 1,
             slash ? name : ".");
    return dir;
}

static int dir_put(cr_store *s, const char *name, const void *data, size_t len, unsigned flags)
{
    mode_t mode = (flags & CR_STORE_MUTABLE) ? 0644 : (flags & CR_STORE_PRIVATE) ? 0400 : 0444;
    char dir[CR_STORE_MAX_NAME + 1];
    int err = cr_fs_write_atomic(DFD(s), name, data, len, mode, 1);
    if (err == CR_ENOTFOUND && strchr(name, '/')) {
        /* Its folder is not there yet (made on first use). */
        if ((err = cr_fs_mkdir_p(DFD(s), parent_of(dir, name), 0755)) < 0)
            return err;
        err = cr_fs_write_atomic(DFD(s), name, data, len, mode, 1);
    }
    dir_store *d = s->impl;
    if (err == 0 && atomic_load(&d->immutable) && !(flags & CR_STORE_MUTABLE) &&
        set_immutable(DFD(s), name, 1) < 0)
        atomic_store(&d->immutable, 0); /* not supported here, or no CAP_LINUX_IMMUTABLE */
    if (err != CR_EEXISTS)
        return err;
    /* The name is taken: the same bytes are a repeat (a retried write), other
     * bytes are damage or an attack, and are never treated as stored. */
    cr_buf have = CR_BUF_INIT;
    int r = cr_fs_read_all(&have, DFD(s), name, len + 1);
    int same = r == 0 && have.len == len && (len == 0 || memcmp(have.ptr, data, len) == 0);
    cr_buf_free(&have);
    if (same)
        return 0;
    cr_error_set("%s/%s already exists with other content: it was not replaced (the vault is "
                 "damaged, or someone planted that file); run 'cleanroom verify'",
                 where(s), name);
    return CR_EEXISTS;
}

static int dir_get(cr_store *s, const char *name, cr_buf *out, size_t max)
{
    int err = cr_fs_read_all(out, DFD(s), name, max);
    if (err == CR_ENOTFOUND)
        cr_error_set("%s/%s is missing", where(s), name);
    return err;
}

static int dir_stat(cr_store *s, const char *name, cr_store_info *out)
{
    struct stat st;
    if (fstatat(DFD(s), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        int err = cr_error_errno("cannot read %s/%s", where(s), name);
        return err;
    }
    if (!S_ISREG(st.st_mode)) {
        cr_error_set("%s/%s is not a regular file", where(s), name);
        return CR_ECORRUPT;
    }
    out->size = (uint64_t)st.st_size;
    out->mtime_ns = mtime_ns(&st);
    return 0;
}

/* Walk folder `dir`: regular files, temporary ones (temp = 1, older than cutoff) or the others. */
static int walk(cr_store *s, const char *dir, int must_exist, int temp, time_t cutoff,
                cr_store_list_cb cb, void *payload)
{
    int fd = openat(DFD(s), dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *e;
    int err = 0;
    if (fd < 0) {
        if (errno == ENOENT && !must_exist)
            return 0;
        return cr_error_errno("cannot read folder %s/%s", where(s), dir);
    }
    if (!(d = fdopendir(fd))) {
        close(fd);
        return cr_error_errno("cannot read folder %s/%s", where(s), dir);
    }
    errno = 0;
    while ((e = readdir(d))) {
        struct stat st;
        int is_temp = !strncmp(e->d_name, ".tmp-", 5);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_temp != temp)
            goto next;
        if (!temp && !cr_store_name_ok(e->d_name))
            goto next; /* not a name we write: not ours to list */
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                goto next; /* removed meanwhile (a lock released) */
            err = cr_error_errno("cannot read %s/%s/%s", where(s), dir, e->d_name);
            break;
        }
        if (temp && (!S_ISREG(st.st_mode) || st.st_mtime >= cutoff))
            goto next;
        cr_store_info info = {(uint64_t)st.st_size, mtime_ns(&st), 0};
        if (S_ISDIR(st.st_mode))
            info.size = 0;
        if (temp) {
            char full[CR_STORE_MAX_NAME + 300];
            snprintf(full, sizeof(full), "%s%s%s", dir, dir[0] ? "/" : "", e->d_name);
            err = cb(full, &info, payload);
        } else {
            err = cb(e->d_name, &info, payload);
        }
        if (err)
            break;
    next:
        errno = 0;
    }
    if (!err && errno != 0)
        err = cr_error_errno("cannot read folder %s/%s", where(s), dir);
    closedir(d);
    return err;
}

static int dir_list(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb,
                    void *payload)
{
    return walk(s, dir, must_exist, 0, 0, cb, payload);
}

static int dir_list_temp(cr_store *s, const char *dir, int64_t min_age_s, cr_store_list_cb cb,
                         void *payload)
{
    return walk(s, dir, 0, 1, time(NULL) - (time_t)min_age_s, cb, payload);
}

static int dir_del(cr_store *s, const char *name)
{
    /* Leftovers of interrupted writes (".tmp-*", listed by dir_list_temp) are
     * valid names too, and are removed here like any object. */
    int rc = unlinkat(DFD(s), name, 0);
    if (rc < 0 && errno == EPERM) {
        /* Immutable (a vault served by 'cleanroom server'): retention clears the flag first. */
        if (set_immutable(DFD(s), name, 0) == 0)
            rc = unlinkat(DFD(s), name, 0);
        else
            errno = EPERM;
    }
    if (rc < 0)
        return cr_error_errno("cannot remove %s/%s", where(s), name);
    char dir[CR_STORE_MAX_NAME + 1];
    cr_fs_fsync_dir(DFD(s), parent_of(dir, name)); /* best effort: the removal is done anyway */
    return 0;
}

static int obj_read(cr_store_obj *o, void *buf, size_t len, uint64_t off)
{
    return cr_fs_pread_all(((dir_obj *)o)->fd, buf, len, off);
}

static void obj_close(cr_store_obj *o)
{
    close(((dir_obj *)o)->fd);
    free(o);
}

static int dir_obj_open(cr_store_obj **out, cr_store *s, const char *name)
{
    struct stat st;
    dir_obj *o;
    int fd = openat(DFD(s), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cr_error_errno("cannot open %s/%s", where(s), name);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int err = S_ISREG(st.st_mode) ? cr_error_errno("cannot read %s/%s", where(s), name)
                                      : (cr_error_set("%s/%s is not a regular file", where(s),
                                                      name),
                                         CR_ECORRUPT);
        close(fd);
        return err;
    }
    if (!(o = cr_calloc(1, sizeof(*o)))) {
        close(fd);
        return CR_ERROR;
    }
    o->base.size = (uint64_t)st.st_size;
    o->base.read = obj_read;
    o->base.close = obj_close;
    o->fd = fd;
    *out = &o->base;
    return 0;
}

static int dir_make_dirs(cr_store *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (mkdirat(DFD(s), names[i], 0755) < 0 && errno != EEXIST)
            return cr_error_errno("cannot create %s/%s", where(s), names[i]);
    /* Durable before anything refers to them: each parent once (names come grouped). */
    char dir[CR_STORE_MAX_NAME + 1], prev[CR_STORE_MAX_NAME + 1] = "";
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(parent_of(dir, names[i]), prev))
            continue;
        memcpy(prev, dir, sizeof(prev));
        int err = cr_fs_fsync_dir(DFD(s), dir);
        if (err < 0)
            return err;
    }
    return 0;
}

static void dir_free(cr_store *s)
{
    dir_store *d = s->impl;
    if (d && d->fd >= 0)
        close(d->fd);
    free(d);
}

static const cr_store_ops dir_ops = {
    .scheme = "dir",
    .put = dir_put,
    .get = dir_get,
    .stat = dir_stat,
    .list = dir_list,
    .del = dir_del,
    .list_temp = dir_list_temp,
    .obj_open = dir_obj_open,
    .retain = NULL,
    .make_dirs = dir_make_dirs,
    .free = dir_free,
};

int cr_store_dir_open(cr_store *s, const char *path, unsigned flags)
{
    dir_store *d;
    struct stat st;
    int err;

    if (flags & CR_STORE_CREATE) {
        if (stat(path, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                cr_error_set("%s exists and is not a folder: nothing was changed", path);
                return CR_EEXISTS;
            }
            if ((err = check_empty(path)) < 0)
                return err;
        } else if (errno != ENOENT) {
            return cr_error_errno("cannot use %s", path);
        } else if ((err = cr_fs_mkdir_p(AT_FDCWD, path, 0755)) < 0) {
            return err;
        }
    }
    if (!(d = cr_calloc(1, sizeof(*d))))
        return CR_ERROR;
    d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            cr_error_set("no cleanroom vault at %s (no such folder)", path);
            err = CR_ENOTFOUND;
        } else {
            err = cr_error_errno("cannot open the vault folder %s", path);
        }
        free(d);
        return err;
    }
    atomic_init(&d->immutable, (flags & CR_STORE_IMMUTABLE) != 0);
    s->ops = &dir_ops;
    s->impl = d;
    return 0;
}
