/*
 * Bytes as a file name, for the libraries that only open files (hivex,
 * liblnk): a memfd reached through /proc/self/fd/N, or, without memfd or
 * /proc, a private temporary file that the caller's hn_memfile_close unlinks
 * (open it first: it is unlinked at once after).
 *
 * `pad` zero bytes follow the data, for readers that may look a little past
 * what a record claims (hive.c's HV_PAD): reads stay inside the file.
 * In the parser sandbox's child, which may create no file, one scratch file
 * made before confinement (hn_memfile_scratch) is rewritten for each use.
 */
#include "hunt/hunt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int mf_scratch_fd = -1;
static const char *mf_scratch_path;

int hn_memfile_scratch(const char *path)
{
    /* Readable by the unprivileged user the child becomes; only ever holds the input. */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cr_error_errno("cannot create the parser's scratch file");
    mf_scratch_fd = fd;
    mf_scratch_path = path;
    return fd;
}

int hn_memfile_open(hn_memfile *m, const void *data, size_t len, size_t pad)
{
    int err = 0;
    m->tmp = NULL;
    if (mf_scratch_fd >= 0) {
        m->fd = -1; /* not ours to close */
        snprintf(m->path, sizeof(m->path), "%s", mf_scratch_path);
        if (ftruncate(mf_scratch_fd, 0) < 0 || cr_fs_pwrite_all(mf_scratch_fd, data, len, 0) < 0 ||
            ftruncate(mf_scratch_fd, (off_t)(len + pad)) < 0)
            return cr_error_errno("cannot prepare a file of the backup for reading");
        return 0;
    }
    m->fd = memfd_create("cleanroom-parse", MFD_CLOEXEC);
    if (m->fd >= 0 && access("/proc/self/fd", X_OK) == 0) {
        snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
    } else {
        const char *dir = getenv("TMPDIR");
        if (m->fd >= 0)
            close(m->fd);
        if (!(m->tmp = cr_sprintf("%s/cleanroom-parse-XXXXXX", dir && *dir ? dir : "/tmp")))
            return CR_ERROR;
        if ((m->fd = mkostemp(m->tmp, O_CLOEXEC)) < 0) {
            err = cr_error_errno("cannot create a temporary file to read a file of the backup");
            free(m->tmp);
            m->tmp = NULL;
            return err;
        }
        snprintf(m->path, sizeof(m->path), "%s", "");
    }
    if ((err = cr_fs_write_all(m->fd, data, len)) < 0)
        goto fail;
    if (pad && ftruncate(m->fd, (off_t)(len + pad)) < 0) {
        err = cr_error_errno("cannot prepare a file of the backup for reading");
        goto fail;
    }
    return 0;
fail:
    hn_memfile_close(m);
    return err;
}

const char *hn_memfile_path(const hn_memfile *m)
{
    return m->tmp ? m->tmp : m->path;
}

void hn_memfile_close(hn_memfile *m)
{
    if (m->tmp) {
        unlink(m->tmp);
        free(m->tmp);
        m->tmp = NULL;
    }
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}
