/*
 * BITS jobs that run a program when they finish (a notify command line,
 * IBackgroundCopyJob2::SetNotifyCmdLine): BITS starts it as the job's owner
 * each time the job completes or fails, and a job can be made to never
 * finish, so it is a way back in that survives reboots (MITRE T1197).
 *
 * The queue is ProgramData/Microsoft/Network/Downloader/qmgr0.dat and
 * qmgr1.dat before Windows 10, qmgr.db (an ESE database, table Jobs, column
 * Blob) since. In both, a job's record starts with a 16-byte delimiter that
 * says the BITS version (four before Windows 10, six since), followed by the
 * job's control block:
 *
 *   u32 type (0 download, 1 upload, 2 upload-reply), u32 priority (0..3),
 *   u32 state (0..8), u32 unknown, 16-byte job id (a GUID),
 *   then five strings, each a u32 count of UTF-16LE code units (with the
 *   final NUL) and the units: name, description, command, arguments, owner SID
 *
 * That is the layout ANSSI's bits_parser and FireEye's BitsParser read (the
 * delimiters are theirs); like BitsParser's carving mode, the file's bytes
 * are searched for every delimiter rather than the ESE database being
 * opened, which also finds the records of deleted jobs still in free pages.
 * What this cannot find: a job record that ESE split across pages or
 * compressed (reading qmgr.db with libesedb would); the finding of a job is
 * what was found, not proof it is still queued.
 *
 * Each control block is checked before use: type, priority and state in
 * range, each count within the bytes left and at most BT_MAX_UNITS, each
 * string ending with its NUL. Only jobs with a command are entries. Bounds:
 * BT_MAX_HITS delimiters examined, BT_MAX_JOBS entries; input at most
 * BT_MAX_SIZE bytes (CR_EINPUT above). Strings are clean UTF-8.
 *
 * Pure function of the bytes: it can run in a sandboxed child as
 * hn_hive_autoruns does.
 */
#include "hunt/hunt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BT_MAX_SIZE (1024u << 20)
#define BT_MAX_UNITS 32768u /* code units of one string */
#define BT_MAX_HITS 100000u
#define BT_MAX_JOBS 1024u
#define BT_SHOW 4096u /* bytes of a command kept */

static const uint8_t bt_delims[][16] = {
    /* BITS 1.5 to 5 (qmgr0.dat, qmgr1.dat) */
    {0x93, 0x36, 0x20, 0x35, 0xa0, 0x0c, 0x10, 0x4a, 0x84, 0xf3, 0xb1, 0x7e, 0x7b, 0x49, 0x9c,
     0xd7},
    {0x10, 0x13, 0x70, 0xc8, 0x36, 0x53, 0xb3, 0x41, 0x83, 0xe5, 0x81, 0x55, 0x7f, 0x36, 0x1b,
     0x87},
    {0x8c, 0x93, 0xea, 0x64, 0x03, 0x0f, 0x68, 0x40, 0xb4, 0x6f, 0xf9, 0x7f, 0xe5, 0x1d, 0x4d,
     0xcd},
    {0xb3, 0x46, 0xed, 0x3d, 0x3b, 0x10, 0xf9, 0x44, 0xbc, 0x2f, 0xe8, 0x37, 0x8b, 0xd3, 0x19,
     0x86},
    /* Windows 10 and later (qmgr.db) */
    {0xa1, 0x56, 0x09, 0xe1, 0x43, 0xaf, 0xc9, 0x42, 0x92, 0xe6, 0x6f, 0x98, 0x56, 0xeb, 0xa7,
     0xf6},
    {0x9f, 0x95, 0xd4, 0x4c, 0x64, 0x70, 0xf2, 0x4b, 0x84, 0xd7, 0x47, 0x6a, 0x7e, 0x62, 0x69,
     0x9f},
    {0xf1, 0x19, 0x26, 0xa9, 0x32, 0x03, 0xbf, 0x4c, 0x94, 0x27, 0x89, 0x88, 0x18, 0x95, 0x88,
     0x31},
    {0xc1, 0x33, 0xbc, 0xdd, 0xfb, 0x5a, 0xaf, 0x4d, 0xb8, 0xa1, 0x22, 0x68, 0xb3, 0x9d, 0x01,
     0xad},
    {0xd0, 0x57, 0x56, 0x8f, 0x2c, 0x01, 0x3e, 0x4e, 0xad, 0x2c, 0xf4, 0xa5, 0xd7, 0x65, 0x6f,
     0xaf},
    {0x50, 0x67, 0x41, 0x94, 0x57, 0x03, 0x1d, 0x46, 0xa4, 0xcc, 0x5d, 0xd9, 0x99, 0x07, 0x06,
     0xe4},
};

static uint32_t bt_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One counted UTF-16 string at *off: 1 with *out (clean UTF-8, owned; cut at BT_SHOW), 0 when
 * the bytes are not one, CR_ERROR out of memory. */
static int bt_string(const uint8_t *d, size_t len, size_t *off, char **out)
{
    *out = NULL;
    if (len - *off < 4)
        return 0;
    uint32_t units = bt_le32(d + *off);
    size_t at = *off + 4;
    if (units > BT_MAX_UNITS || (size_t)units * 2 > len - at)
        return 0;
    if (units && (d[at + 2 * units - 2] || d[at + 2 * units - 1]))
        return 0; /* not NUL-terminated: not a string of a job */
    size_t bytes = units ? 2 * (size_t)(units - 1) : 0;
    if (bytes > 2 * BT_SHOW)
        bytes = 2 * BT_SHOW;
    if (!(*out = hn_utf16_to_utf8(d + at, bytes)))
        return CR_ERROR;
    *off = at + 2 * (size_t)units;
    return 1;
}

static void bt_guid(char out[39], const uint8_t *g)
{
    snprintf(out, 39, "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}", bt_le32(g),
             (unsigned)(g[4] | g[5] << 8), (unsigned)(g[6] | g[7] << 8), g[8], g[9], g[10], g[11],
             g[12], g[13], g[14], g[15]);
}

/* The job whose control block starts at off, added when it has a command. */
static int bt_job(hn_autorun **a, size_t *n, const uint8_t *d, size_t len, size_t off)
{
    char *s[5] = {NULL, NULL, NULL, NULL, NULL}, guid[39];
    int err = 0, rc;
    if (len - off < 32 || bt_le32(d + off) > 2 || bt_le32(d + off + 4) > 3 ||
        bt_le32(d + off + 8) > 8)
        return 0;
    bt_guid(guid, d + off + 16);
    size_t at = off + 32;
    for (size_t i = 0; i < 5; i++)
        if ((rc = bt_string(d, len, &at, &s[i])) <= 0) {
            err = rc;
            goto done;
        }
    if (!*s[2])
        goto done; /* no command: a transfer, not persistence */
    char *key = cr_sprintf("BITS\\%s", guid);
    char *name = cr_strdup(*s[0] ? s[0] : "(no name)");
    char *data =
        cr_sprintf("%s%s%s (owner %s)", s[2], *s[3] ? " " : "", s[3], *s[4] ? s[4] : "unknown");
    /* The same job seen twice (a copy in a free page): once. */
    for (size_t i = 0; key && data && i < *n; i++)
        if (!strcmp((*a)[i].key, key) && !strcmp((*a)[i].data, data)) {
            free(key);
            free(name);
            free(data);
            goto done;
        }
    hn_autorun *na = key && name && data ? cr_realloc(*a, (*n + 1) * sizeof(**a)) : NULL;
    if (!na) {
        free(key);
        free(name);
        free(data);
        err = CR_ERROR;
        goto done;
    }
    *a = na;
    na[*n].key = key;
    na[*n].name = name;
    na[*n].data = data;
    na[*n].kind = HN_AUTORUN_BITS;
    (*n)++;
done:
    for (size_t i = 0; i < 5; i++)
        free(s[i]);
    return err;
}

int hn_bits_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    const uint8_t *d = data;
    hn_autorun *a = NULL;
    size_t n = 0, hits = 0;
    int err = 0;

    *out = NULL;
    *count = 0;
    if (len > BT_MAX_SIZE) {
        cr_error_set("BITS queue too large to examine (%zu bytes, at most %u)", len, BT_MAX_SIZE);
        return CR_EINPUT;
    }
    for (size_t k = 0; k < sizeof(bt_delims) / sizeof(bt_delims[0]) && !err; k++) {
        for (size_t p = 0; p + 16 <= len && !err && n < BT_MAX_JOBS;) {
            const uint8_t *hit = memmem(d + p, len - p, bt_delims[k], 16);
            if (!hit || ++hits > BT_MAX_HITS)
                break;
            p = (size_t)(hit - d) + 16;
            err = bt_job(&a, &n, d, len, p);
        }
    }
    if (err < 0) {
        hn_autoruns_free(a, n);
        return err;
    }
    *out = a;
    *count = n;
    return 0;
}
