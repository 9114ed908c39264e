/*
 * Windows shortcuts (.lnk, MS-SHLLINK) found in Startup folders: what they
 * start. Read with libyal's liblnk, the library DFIR tools use (plaso,
 * lnkinfo), through a memfd (liblnk, like hivex, opens files).
 *
 * A shortcut is bytes from a vault, so hostile. Before liblnk sees them, the
 * fixed header is checked here (size 0x4C, the shell link CLSID, at most
 * LK_MAX_SIZE bytes): anything else is CR_ECORRUPT with a message. liblnk
 * then reads the optional structures the header's flags announce, each with
 * its own size checks; what it cannot read is CR_ECORRUPT too. Every string
 * handed out is valid UTF-8 without control characters and at most
 * LK_MAX_TEXT bytes.
 *
 * What a shortcut starts (the target), in the order Windows resolves it:
 * LinkInfo's local path (LocalBasePath + CommonPathSuffix), its network path,
 * the environment-variable path of the EnvironmentVariableDataBlock
 * ("%COMSPEC%", used by shortcuts that hide their target), then the relative
 * path of StringData. A shortcut made only of a shell item list (the target
 * as an ID list, no LinkInfo) has no target here: liblnk gives the list's
 * bytes, not a path, and the finding says the target was not read.
 * Arguments and working folder come from StringData.
 *
 * Pure function of the bytes: it opens nothing of the vault and can run in a
 * sandboxed child as hn_hive_autoruns does.
 */
#include "hunt/hunt.h"

#include <liblnk.h>
#include <stdlib.h>
#include <string.h>

#define LK_MAX_SIZE (1u << 20) /* no shortcut is near: they are a few KiB */
#define LK_MAX_TEXT 4096u      /* bytes of one string kept */

static const uint8_t lk_clsid[16] = {0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46};

typedef int (*lk_size_fn)(liblnk_file_t *, size_t *, liblnk_error_t **);
typedef int (*lk_get_fn)(liblnk_file_t *, uint8_t *, size_t, liblnk_error_t **);

/* One string of the shortcut: 1 with *out (clean, owned), 0 absent, CR_ERROR out of memory.
 * A string liblnk cannot give is absent: the rest of the shortcut still counts. */
static int lk_string(liblnk_file_t *f, lk_size_fn size_fn, lk_get_fn get_fn, char **out)
{
    liblnk_error_t *e = NULL;
    size_t n = 0;
    uint8_t *raw;
    *out = NULL;
    if (size_fn(f, &n, &e) != 1 || n <= 1) {
        liblnk_error_free(&e);
        return 0;
    }
    if (n > 64u * 1024 || !(raw = cr_malloc(n + 1)))
        return n > 64u * 1024 ? 0 : CR_ERROR;
    if (get_fn(f, raw, n, &e) != 1) {
        liblnk_error_free(&e);
        free(raw);
        return 0;
    }
    raw[n] = '\0';
    size_t k = strnlen((char *)raw, n);
    if (k > LK_MAX_TEXT)
        k = LK_MAX_TEXT;
    *out = hn_utf8_clean(raw, k);
    free(raw);
    if (!*out)
        return CR_ERROR;
    if (!**out) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

void hn_lnk_clear(hn_lnk *l)
{
    free(l->target);
    free(l->args);
    free(l->workdir);
    memset(l, 0, sizeof(*l));
}

int hn_lnk_read(hn_lnk *out, const void *data, size_t len)
{
    const uint8_t *d = data;
    liblnk_file_t *f = NULL;
    liblnk_error_t *e = NULL;
    hn_memfile m = {.fd = -1};
    int err = 0, opened = 0, rc;

    memset(out, 0, sizeof(*out));
    if (len > LK_MAX_SIZE) {
        cr_error_set("shortcut too large to be one (%zu bytes)", len);
        return CR_ECORRUPT;
    }
    if (len < 0x4c || d[0] != 0x4c || d[1] || d[2] || d[3] || memcmp(d + 4, lk_clsid, 16) != 0) {
        cr_error_set("not a Windows shortcut (no shell link header)");
        return CR_ECORRUPT;
    }
    if ((err = hn_memfile_open(&m, data, len, 0)) < 0)
        return err;
    if (liblnk_file_initialize(&f, &e) != 1) {
        cr_error_set("out of memory while reading a shortcut");
        err = CR_ERROR;
        goto done;
    }
    if (liblnk_file_open(f, hn_memfile_path(&m), LIBLNK_OPEN_READ, &e) != 1) {
        char why[256] = "";
        if (e)
            liblnk_error_sprint(e, why, sizeof(why));
        char *clean = hn_utf8_clean(why, strlen(why));
        cr_error_set("the shortcut is damaged (liblnk: %s)", clean ? clean : "unreadable");
        free(clean);
        err = CR_ECORRUPT;
        goto done;
    }
    opened = 1;
    static const struct {
        lk_size_fn size;
        lk_get_fn get;
    } targets[] = {
        {liblnk_file_get_utf8_local_path_size, liblnk_file_get_utf8_local_path},
        {liblnk_file_get_utf8_network_path_size, liblnk_file_get_utf8_network_path},
        {liblnk_file_get_utf8_environment_variables_location_size,
         liblnk_file_get_utf8_environment_variables_location},
        {liblnk_file_get_utf8_relative_path_size, liblnk_file_get_utf8_relative_path},
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]) && !out->target; i++)
        if ((rc = lk_string(f, targets[i].size, targets[i].get, &out->target)) < 0) {
            err = rc;
            goto done;
        }
    if ((rc = lk_string(f, liblnk_file_get_utf8_command_line_arguments_size,
                        liblnk_file_get_utf8_command_line_arguments, &out->args)) < 0 ||
        (rc = lk_string(f, liblnk_file_get_utf8_working_directory_size,
                        liblnk_file_get_utf8_working_directory, &out->workdir)) < 0) {
        err = rc;
        goto done;
    }
done:
    liblnk_error_free(&e);
    if (opened)
        liblnk_file_close(f, NULL);
    if (f)
        liblnk_file_free(&f, NULL);
    hn_memfile_close(&m);
    if (err < 0)
        hn_lnk_clear(out);
    return err;
}
