/*
 * Restore one disk of an image snapshot into an image file.
 *
 * The disk is stored as the file /<disk>/image of the snapshot's tree (4 MiB
 * extents, holes for unallocated or zero ranges), so the ordinary restore
 * brings it back: cr_restore of that one path into a fresh staging folder
 * gives a sparse raw file (holes stay holes, nothing is written for them).
 * Raw output is then only a rename. Every other format is written by
 * qemu-img from that raw file; we run it without a shell (the names come
 * from a technician and from a backup: nothing is ever interpreted), keep
 * the first lines of its error output for the message, and let it write
 * into a temporary folder beside the output, so the output only appears,
 * under its final name, once it is complete and synced. The staging folder
 * is removed whatever happens.
 *
 * Why a raw staging copy rather than a pipe into qemu-img: qemu-img cannot
 * read a stream (it needs random access and the allocation map to keep
 * holes), and a sparse raw file costs only the space of the allocated data.
 */
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* qemu-img's error output kept for the message (the rest is read and dropped). */
#define QEMU_ERR_MAX 4096
/* Lines of it shown. */
#define QEMU_ERR_LINES 4

/* The package that holds qemu-img on Debian. */
#define QEMU_PKG_HINT "apt-get install qemu-utils"

/* ------------------------------------------------------------ qemu-img */

/* Turn qemu-img's stderr into one line: first lines, "; " between them, no control bytes. */
static void err_summary(char *out, size_t outlen, const char *buf, size_t len)
{
    size_t o = 0, lines = 0;
    int at_start = 1;
    for (size_t i = 0; i < len && o + 4 < outlen && lines < QEMU_ERR_LINES; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n') {
            if (!at_start)
                lines++;
            at_start = 1;
            continue;
        }
        if (at_start && o > 0 && lines < QEMU_ERR_LINES) {
            out[o++] = ';';
            out[o++] = ' ';
        }
        at_start = 0;
        out[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[o] = '\0';
}

int im_qemu_img(const char *const *argv)
{
    cr_proc_result r;
    int err;
    char msg[QEMU_ERR_MAX + 64];
    const char *what;

    if (!argv || !argv[0]) {
        cr_error_set("qemu-img: no arguments");
        return CR_EINPUT;
    }
    what = argv[1] ? argv[1] : "";
    if ((err = cr_proc_run(&r, argv, CR_PROC_CAPTURE_STDERR, QEMU_ERR_MAX)) < 0)
        goto done;
    if (r.exec_errno) {
        if (r.exec_errno == ENOENT) {
            cr_error_set("qemu-img is not installed: " QEMU_PKG_HINT);
            err = CR_ENOTFOUND;
        } else {
            cr_error_set("cannot run qemu-img: %s", strerror(r.exec_errno));
            err = CR_ERROR;
        }
        goto done;
    }
    err_summary(msg, sizeof(msg), (const char *)r.output.ptr, r.output.len);
    if (r.signal) {
        cr_error_set("qemu-img %s was killed by signal %d%s%s", what, r.signal,
                     msg[0] ? ": " : "", msg);
        err = CR_ERROR;
    } else if (r.exit_code != 0) {
        int nospace = strstr(msg, "No space left") != NULL;
        cr_error_set("qemu-img %s failed (exit %d): %s", what, r.exit_code,
                     msg[0] ? msg : "no message");
        err = nospace ? CR_ENOSPACE : CR_ERROR;
    }
done:
    cr_proc_result_free(&r);
    return err;
}

/* ------------------------------------------------------------ file moves */

/* Rename without ever replacing an existing file. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL) {
        /* A filesystem without RENAME_NOREPLACE: link() never replaces either. */
        if (link(from, to) == 0) {
            unlink(from);
            return 0;
        }
        if (errno == EPERM || errno == EOPNOTSUPP || errno == EMLINK) {
            if (access(to, F_OK) == 0) {
                errno = EEXIST;
                return -1;
            }
            return rename(from, to);
        }
    }
    return -1;
}

/* dirname into out (PATH_MAX); "." for a bare name. */
static int split_path(char *dir, size_t dirlen, const char **base, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dirlen, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dirlen, "/");
        *base = slash + 1;
    } else {
        if ((size_t)(slash - path) >= dirlen) {
            cr_error_set("path too long: %s", path);
            return CR_EINPUT;
        }
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        *base = slash + 1;
    }
    if (!**base) {
        cr_error_set("%s: a file name is needed, not a folder", path);
        return CR_EINPUT;
    }
    return 0;
}

/*
 * Remove what we created under `name` in dirfd (a staging or temporary
 * folder): never follows symlinks, gives folders back their write bit first
 * (a restored folder may be read-only). Best effort.
 */
static void remove_tree_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return;
    if (depth > 32)
        return;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    fchmod(fd, 0700);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        remove_tree_at(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path, 0);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cr_error_errno("cannot open %s", path);
    int rc = fsync(fd);
    close(fd);
    if (rc < 0)
        return cr_error_errno("cannot sync %s", path);
    return 0;
}

/*
 * The extent file qemu-img writes beside a monolithicFlat VMDK descriptor:
 * "disk.vmdk" -> "disk-flat.vmdk" (the name is cut at its last dot).
 */
static char *flat_extent_path(const char *out)
{
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    const char *dot = strrchr(base, '.');
    size_t pre = dot ? (size_t)(dot - out) : strlen(out);
    return cr_sprintf("%.*s-flat%s", (int)pre, out, dot ? dot : "");
}

static const char *qemu_format(cr_image_format fmt, const char **options)
{
    *options = NULL;
    switch (fmt) {
    case CR_IMAGE_QCOW2:
        return "qcow2";
    case CR_IMAGE_VMDK:
        *options = "subformat=streamOptimized";
        return "vmdk";
    case CR_IMAGE_VMDK_FLAT:
        *options = "subformat=monolithicFlat";
        return "vmdk";
    case CR_IMAGE_VHDX:
        *options = "subformat=dynamic";
        return "vhdx";
    /* force_size: the virtual size is exactly the disk's, not rounded to a CHS geometry. */
    case CR_IMAGE_VHD:
        *options = "subformat=dynamic,force_size=on";
        return "vpc";
    case CR_IMAGE_AUTO:
    case CR_IMAGE_RAW:
        break;
    }
    return NULL;
}

int im_convert(const char *raw, const char *out, cr_image_format fmt)
{
    char dir[PATH_MAX], tmpdir[PATH_MAX], *dst = NULL, *main_out = NULL;
    char **moved = NULL;
    size_t nmoved = 0;
    const char *base, *qfmt, *qopts;
    DIR *d = NULL;
    int err, have_tmp = 0;

    if (fmt == CR_IMAGE_AUTO)
        fmt = CR_IMAGE_RAW;
    if ((err = split_path(dir, sizeof(dir), &base, out)) < 0)
        return err;
    if (fmt == CR_IMAGE_RAW) {
        if (chmod(raw, 0600) < 0)
            return cr_error_errno("cannot set the mode of %s", raw);
        if ((err = fsync_path(raw)) < 0)
            return err;
        if (rename_noreplace(raw, out) < 0) {
            if (errno == EEXIST) {
                cr_error_set("%s already exists: not replaced", out);
                return CR_EEXISTS;
            }
            if (errno == EXDEV) {
                cr_error_set("cannot move %s to %s: not on the same filesystem", raw, out);
                return CR_ERROR;
            }
            return cr_error_errno("cannot rename %s to %s", raw, out);
        }
        return cr_fs_fsync_dir(AT_FDCWD, dir);
    }
    if (!(qfmt = qemu_format(fmt, &qopts))) {
        cr_error_set("cannot write disk images of format %d", (int)fmt);
        return CR_EINPUT;
    }

    /* qemu-img writes into a folder of our own beside the output; the files
     * are moved to their final names only once complete and synced. */
    if (snprintf(tmpdir, sizeof(tmpdir), "%s/.cleanroom-convert-XXXXXX", dir) >=
        (int)sizeof(tmpdir)) {
        cr_error_set("path too long: %s", out);
        return CR_EINPUT;
    }
    if (!mkdtemp(tmpdir))
        return cr_error_errno("cannot create a temporary folder in %s", dir);
    have_tmp = 1;
    if (!(dst = cr_sprintf("%s/%s", tmpdir, base))) {
        err = CR_ERROR;
        goto done;
    }
    {
        const char *argv[16];
        int n = 0;
        argv[n++] = "qemu-img";
        argv[n++] = "convert";
        argv[n++] = "-q";
        argv[n++] = "-f";
        argv[n++] = "raw";
        argv[n++] = "-O";
        argv[n++] = qfmt;
        if (qopts) {
            argv[n++] = "-o";
            argv[n++] = qopts;
        }
        argv[n++] = raw;
        argv[n++] = dst;
        argv[n] = NULL;
        if ((err = im_qemu_img(argv)) < 0)
            goto done;
    }

    /* Every file qemu-img wrote (the image, and a VMDK's -flat extent), the image last. */
    if (!(d = opendir(tmpdir))) {
        err = cr_error_errno("cannot read %s", tmpdir);
        goto done;
    }
    struct dirent *e;
    char **names = NULL;
    size_t nnames = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char **nn = cr_realloc(names, (nnames + 1) * sizeof(*names));
        if (!nn || !(nn[nnames] = cr_strdup(e->d_name))) {
            if (nn)
                names = nn;
            err = CR_ERROR;
            break;
        }
        names = nn;
        nnames++;
    }
    closedir(d);
    d = NULL;
    if (err == 0 && !(moved = cr_calloc(nnames + 1, sizeof(*moved))))
        err = CR_ERROR;
    for (int pass = 0; pass < 2 && err == 0; pass++) {
        for (size_t i = 0; i < nnames && err == 0; i++) {
            int is_main = strcmp(names[i], base) == 0;
            if (is_main != pass)
                continue;
            char *from = cr_sprintf("%s/%s", tmpdir, names[i]);
            char *to = cr_sprintf("%s/%s", dir, names[i]);
            if (!from || !to) {
                err = CR_ERROR;
            } else if (chmod(from, 0600) < 0) {
                err = cr_error_errno("cannot set the mode of %s", from);
            } else if ((err = fsync_path(from)) < 0) {
            } else if (rename_noreplace(from, to) < 0) {
                if (errno == EEXIST) {
                    cr_error_set("%s already exists: not replaced", to);
                    err = CR_EEXISTS;
                } else {
                    err = cr_error_errno("cannot rename %s to %s", from, to);
                }
            } else {
                moved[nmoved++] = to;
                to = NULL;
                if (is_main) {
                    main_out = moved[nmoved - 1];
                }
            }
            free(from);
            free(to);
        }
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (err == 0 && !main_out) {
        cr_error_set("qemu-img convert did not write %s", out);
        err = CR_ERROR;
    }
    if (err == 0)
        err = cr_fs_fsync_dir(AT_FDCWD, dir);
done:
    if (err < 0) /* never leave half an output (a -flat extent without its descriptor) */
        for (size_t i = 0; i < nmoved; i++)
            unlink(moved[i]);
    for (size_t i = 0; i < nmoved; i++)
        free(moved[i]);
    free(moved);
    if (d)
        closedir(d);
    if (have_tmp)
        remove_tree(tmpdir);
    free(dst);
    return err;
}

/*
 * The vault stores a disk in 4 MiB chunks, so a chunk holding a little data
 * comes back with its zeros written. Give the zero blocks of a raw output
 * back to the filesystem (holes, as in the original disk). Best effort: a
 * filesystem that cannot punch holes keeps the zeros.
 */
#define SPARSE_BLOCK 4096
static int punch_zeros(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), err = 0;
    uint8_t *buf = NULL;
    struct stat st;
    if (fd < 0)
        return cr_error_errno("cannot open %s", path);
    if (fstat(fd, &st) < 0 || !(buf = cr_malloc(1 << 20))) {
        err = buf ? cr_error_errno("cannot read %s", path) : CR_ERROR;
        goto done;
    }
    off_t off = 0, end = st.st_size;
    while (off < end) {
        off_t data = lseek(fd, off, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: no data after off; EINVAL: no SEEK_DATA here */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            hole = end;
        for (off_t p = data; p < hole;) {
            size_t n = (size_t)(hole - p < (1 << 20) ? hole - p : (1 << 20));
            if ((err = cr_fs_pread_all(fd, buf, n, (uint64_t)p)) < 0)
                goto done;
            off_t zstart = -1;
            for (size_t i = 0; i < n; i += SPARSE_BLOCK) {
                size_t l = n - i < SPARSE_BLOCK ? n - i : SPARSE_BLOCK;
                int zero = l == SPARSE_BLOCK && buf[i] == 0 && !memcmp(buf + i, buf + i + 1, l - 1);
                if (zero && zstart < 0)
                    zstart = p + (off_t)i;
                if ((!zero || i + l >= n) && zstart >= 0) {
                    off_t zend = zero ? p + (off_t)(i + l) : p + (off_t)i;
                    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, zstart,
                                  zend - zstart) < 0) {
                        if (errno != EOPNOTSUPP && errno != ENOSYS)
                            err = cr_error_errno("cannot free the zero blocks of %s", path);
                        goto done;
                    }
                    zstart = -1;
                }
            }
            p += (off_t)n;
        }
        off = hole;
    }
done:
    free(buf);
    close(fd);
    return err;
}

/* ---------------------------------------------------------- restore image */

static void quiet_notice(const char *path, const char *message, void *payload)
{
    /* Owner, mode or times of the staging copy: irrelevant to the image. */
    (void)path;
    (void)message;
    (void)payload;
}

/* A disk name from the snapshot is used as a path component: it must be one. */
static int disk_name_ok(const char *n)
{
    if (!n || !*n || !strcmp(n, ".") || !strcmp(n, "..") || strlen(n) > 64)
        return 0;
    for (const char *p = n; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static char *disk_list(const cr_snapshot *snap)
{
    cr_buf b = CR_BUF_INIT;
    for (size_t i = 0; i < snap->ndisks; i++) {
        const char *n = snap->disks[i].name ? snap->disks[i].name : "?";
        if ((i && cr_buf_put(&b, ", ", 2) < 0) || cr_buf_put(&b, n, strlen(n)) < 0) {
            cr_buf_free(&b);
            return NULL;
        }
    }
    if (cr_buf_put_u8(&b, 0) < 0) {
        cr_buf_free(&b);
        return NULL;
    }
    return (char *)b.ptr;
}

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

int cr_restore_image(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
                     const cr_image_restore_options *opts)
{
    char sid[CR_ID_HEX_LEN + 1], dir[PATH_MAX], staging[PATH_MAX];
    char *incl = NULL, *staged = NULL, *flat = NULL;
    const cr_image_disk *disk = NULL;
    const char *base, *stage_in;
    cr_image_format fmt;
    cr_restore_stats st;
    int err = 0, have_staging = 0;
    struct stat sb;

    memset(&st, 0, sizeof(st));
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (!repo || !snap || !opts || !opts->output || !*opts->output) {
        cr_error_set("restore of a disk image: the output file is required");
        return CR_EINPUT;
    }
    cr_id_to_hex(sid, &snap->id);
    sid[8] = '\0';
    if (snap->kind != CR_SNAPSHOT_IMAGE) {
        cr_error_set("snapshot %s is a file snapshot, not disk images: restore it into a folder "
                     "(restore --target)",
                     sid);
        return CR_EINPUT;
    }
    if (snap->ndisks == 0) {
        cr_error_set("snapshot %s holds no disk", sid);
        return CR_EINPUT;
    }
    if (opts->disk) {
        for (size_t i = 0; i < snap->ndisks && !disk; i++)
            if (snap->disks[i].name && !strcmp(snap->disks[i].name, opts->disk))
                disk = &snap->disks[i];
        if (!disk) {
            char *l = disk_list(snap);
            cr_error_set("snapshot %s has no disk '%s'; its disks: %s", sid, opts->disk,
                         l ? l : "?");
            free(l);
            return CR_EINPUT;
        }
    } else if (snap->ndisks == 1) {
        disk = &snap->disks[0];
    } else {
        char *l = disk_list(snap);
        cr_error_set("snapshot %s holds %zu disks (%s): say which one to restore (--disk)", sid,
                     snap->ndisks, l ? l : "?");
        free(l);
        return CR_EINPUT;
    }
    if (!disk_name_ok(disk->name)) {
        cr_error_set("snapshot %s: the name of a disk is not a plain name; the snapshot is "
                     "damaged",
                     sid);
        return CR_ECORRUPT;
    }
    fmt = opts->format == CR_IMAGE_AUTO ? CR_IMAGE_RAW : opts->format;
    {
        const char *o;
        if (fmt != CR_IMAGE_RAW && !qemu_format(fmt, &o)) {
            cr_error_set("unknown disk image format %d", (int)opts->format);
            return CR_EINPUT;
        }
    }

    /* The output: never replaced, its folder must exist. */
    if ((err = split_path(dir, sizeof(dir), &base, opts->output)) < 0)
        return err;
    if (path_exists(opts->output)) {
        cr_error_set("%s already exists: not overwritten; choose another name or remove it first",
                     opts->output);
        return CR_EEXISTS;
    }
    if (fmt == CR_IMAGE_VMDK_FLAT) {
        if (!(flat = flat_extent_path(opts->output)))
            return CR_ERROR;
        if (path_exists(flat)) {
            cr_error_set("%s already exists (the data file of a vmdk-flat %s): not overwritten",
                         flat, opts->output);
            err = CR_EEXISTS;
            goto done;
        }
    }
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        cr_error_set("cannot write %s: the folder %s does not exist", opts->output, dir);
        err = CR_ENOTFOUND;
        goto done;
    }

    /* Raw: staged beside the output so that the rename stays on one filesystem. */
    stage_in = fmt != CR_IMAGE_RAW && opts->scratch && *opts->scratch ? opts->scratch : dir;
    if (stat(stage_in, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        cr_error_set("the scratch folder %s does not exist", stage_in);
        err = CR_ENOTFOUND;
        goto done;
    }
    if (snprintf(staging, sizeof(staging), "%s/.cleanroom-staging-XXXXXX", stage_in) >=
        (int)sizeof(staging)) {
        cr_error_set("path too long: %s", stage_in);
        err = CR_EINPUT;
        goto done;
    }
    if (!mkdtemp(staging)) {
        err = cr_error_errno("cannot create a staging folder in %s", stage_in);
        goto done;
    }
    have_staging = 1;

    if (!(incl = cr_sprintf("/%s/image", disk->name)) ||
        !(staged = cr_sprintf("%s/%s/image", staging, disk->name))) {
        err = CR_ERROR;
        goto done;
    }
    {
        const char *includes[1] = {incl};
        cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
        ro.target = staging;
        ro.includes = includes;
        ro.nincludes = 1;
        ro.no_owner = 1;
        ro.threads = opts->threads;
        ro.progress = opts->progress;
        ro.warning = opts->warning;
        ro.payload = opts->payload;
        ro.notice = quiet_notice;
        err = cr_restore_salvage(&st, repo, snap, &ro);
        if (err == CR_ENOTFOUND && !path_exists(staged)) {
            cr_error_set("snapshot %s has no %s: the snapshot is damaged or incomplete", sid, incl);
            err = CR_ECORRUPT;
        }
        if (err == CR_EPARTIAL && st.failed == 0)
            err = 0; /* only metadata of the staging copy */
        if (err < 0 && err != CR_EPARTIAL)
            goto done;
    }
    if (lstat(staged, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        cr_error_set("snapshot %s: %s is not a disk image (not a regular file); the snapshot is "
                     "damaged",
                     sid, incl);
        err = CR_ECORRUPT;
        goto done;
    }
    if (disk->virtual_size && (uint64_t)sb.st_size != disk->virtual_size) {
        cr_error_set("snapshot %s: %s holds %llu bytes but the disk has %llu; the snapshot is "
                     "damaged",
                     sid, incl, (unsigned long long)sb.st_size,
                     (unsigned long long)disk->virtual_size);
        err = CR_ECORRUPT;
        goto done;
    }
    if (fmt != CR_IMAGE_RAW && opts->progress) {
        cr_progress p;
        memset(&p, 0, sizeof(p));
        p.files_done = p.files_total = 1;
        p.bytes_done = p.bytes_total = st.bytes;
        p.current = cr_image_format_name(fmt);
        opts->progress(&p, opts->payload);
    }
    {
        int partial = err == CR_EPARTIAL;
        if (fmt == CR_IMAGE_RAW && (err = punch_zeros(staged)) < 0)
            goto done;
        if ((err = im_convert(staged, opts->output, fmt)) < 0)
            goto done;
        if (partial) {
            cr_error_set("%s written, but %llu part(s) of the disk could not be restored (zeros "
                         "there)",
                         opts->output, (unsigned long long)st.failed);
            err = CR_EPARTIAL;
        }
    }
done:
    if (have_staging)
        remove_tree(staging);
    if (stats)
        *stats = st;
    free(incl);
    free(staged);
    free(flat);
    return err;
}
