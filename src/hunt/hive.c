/*
 * Autostart entries of Windows registry hives (SOFTWARE, SYSTEM, NTUSER.DAT),
 * read with hivex.
 *
 * A hive here is bytes from a vault, so hostile. hivex (1.3.23) checks the
 * base block's signature, version and checksum, walks every hive bin and cell
 * once, follows an offset only to the start of a cell in use with the right
 * signature, and checks the counts of lists against their cell's size. But it
 * reads the fixed part of a key or value record at a cell start without
 * checking that the cell is that large: a tiny cell at the end of the file
 * makes it read past the end of the mapped file (seen: it reads whatever
 * memory follows). So, before hivex sees the bytes, hv_check walks the base
 * block and the bins itself: every bin must be whole and in place, every cell
 * inside its bin, the bins must reach exactly the size the base block
 * announces (a hive cut short is damaged, not read in part), and the root must
 * be a key. Then the bytes are handed to hivex (which only opens files)
 * through a memfd, /proc/self/fd/N, or a private temporary file unlinked at
 * once when there is no memfd or /proc, followed by HV_PAD zero bytes: whatever
 * a record or count claims, every read hivex makes from a cell start stays
 * inside the mapping (the largest possible is 8 + 65535 * 8 bytes, an lf list).
 * hivex stops reading bins at the size in the base block, so the padding is
 * never parsed.
 *
 * Only the keys that start programs are visited, each found by name
 * (case-insensitive, as Windows does) among the subkeys of its parent:
 *
 *   SOFTWARE and NTUSER.DAT (the same keys under "Software\" in NTUSER.DAT)
 *     Microsoft\Windows\CurrentVersion\Run, RunOnce, RunServices,
 *     RunServicesOnce, Policies\Explorer\Run, the same under Wow6432Node:
 *     every string value                                      HN_AUTORUN_RUN(ONCE)
 *     Microsoft\Windows NT\CurrentVersion\Winlogon: Shell, Userinit,
 *       Taskman, AppSetup, GinaDLL, VMApplet; Winlogon\Notify\*: DllName   _WINLOGON
 *     Microsoft\Windows\CurrentVersion\RunOnceEx\*: every string value _RUNONCE
 *     Microsoft\Windows NT\CurrentVersion\Windows: AppInit_DLLs,
 *       LoadAppInit_DLLs                                          _APPINIT
 *     Microsoft\Windows NT\CurrentVersion\Image File Execution Options\*:
 *       Debugger, GlobalFlag; ...\SilentProcessExit\*: MonitorProcess,
 *       ReportingMode                                             _IFEO
 *     (RunOnceEx, Windows and IFEO under Wow6432Node too)
 *   UsrClass.dat (a user's HKCU\Software\Classes; also Software\Classes in
 *   NTUSER.DAT, where older Windows kept it)
 *     CLSID\{...}\InprocServer32 and LocalServer32: the default value, the
 *     DLL or program that serves the COM object (Wow6432Node\CLSID too).
 *     A user's registration shadows the machine's one of the same CLSID:
 *     the COM hijack of MITRE T1546.015                          _COM
 *   SYSTEM
 *     ControlSetNNN\Services\<name>: ImagePath, with Parameters\ServiceDll
 *     appended as " (ServiceDll: ...)" when there is one      _SERVICE
 *     ControlSetNNN\Control\Lsa: Security, Authentication and Notification
 *       Packages (REG_MULTI_SZ, joined by "; ")                   _LSA
 *     ControlSetNNN\Control\Print\Monitors\*: Driver            _PRINTMON
 * Values read by name may also be REG_MULTI_SZ or REG_DWORD ("0x00000200").
 *
 * Which hive it is does not matter: every path is tried, a missing key is not
 * an error. The start type of a service is not part of its entry, so enabling
 * or disabling a service does not make it a new one; its command is what
 * matters. A key or value on those paths that hivex cannot read makes the
 * whole hive CR_ECORRUPT (a damaged hive is reported, not half read).
 *
 * Strings: REG_SZ and REG_EXPAND_SZ data are UTF-16LE, decoded here rather
 * than with hivex_value_string, which returns NULL (EILSEQ from iconv) for an
 * unpaired surrogate, so that one odd character would hide a Run entry: data
 * up to the first NUL character, an odd last byte dropped, unpaired
 * surrogates become U+FFFD. Names come from hivex as UTF-8.
 * Every string handed out is valid UTF-8 without control characters (those,
 * C1 included, become '?'), since it ends up in findings, JSON and terminals.
 * Values of other types, and values longer than HV_MAX_VALUE bytes (no command
 * line is: Windows allows 32767 characters), are skipped.
 *
 * Bounds besides hivex's own: HV_MAX_KEYS subkeys examined, HV_MAX_ENTRIES
 * entries and HV_MAX_BYTES bytes of strings handed out (many values may share
 * one data cell, so the hive's size alone does not bound that). Crossing one
 * is CR_ECORRUPT: no real hive comes near.
 */
#include "hunt/hunt.h"
#include "util/sandbox.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <hivex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HV_MIN_SIZE 0x2000u       /* base block + one bin, as hivex requires */
#define HV_MAX_SIZE (1024u << 20) /* beyond: not read at all */
#define HV_BIN 0x1000u
#define HV_PAD (1024u * 1024)     /* zero bytes after the hive for hivex's reads */
#define HV_MAX_VALUE (64u * 1024) /* bytes of one value's data */
#define HV_MAX_KEYS 200000u       /* subkeys examined */
#define HV_MAX_ENTRIES 100000u
#define HV_MAX_BYTES (16u << 20) /* bytes of strings handed out */

#define HV_REG_SZ 1
#define HV_REG_EXPAND_SZ 2
#define HV_REG_DWORD 4
#define HV_REG_MULTI_SZ 7

typedef struct hv {
    hive_h *h;
    hn_autorun *a;
    size_t n, cap;
    size_t keys;  /* subkeys examined */
    size_t bytes; /* bytes of strings in a */
} hv;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------ structure */

/* The base block and every bin and cell; 0 or CR_ECORRUPT with a message. */
static int hv_check(const uint8_t *d, size_t len)
{
    uint32_t sum = 0;
    size_t end, off, root;
    int root_ok = 0;

    if (len < HV_MIN_SIZE) {
        cr_error_set("too small to be a registry hive (%zu bytes)", len);
        return CR_ECORRUPT;
    }
    if (memcmp(d, "regf", 4) != 0) {
        cr_error_set("not a registry hive (no \"regf\" signature)");
        return CR_ECORRUPT;
    }
    if (le32(d + 0x14) != 1) {
        cr_error_set("registry hive of an unknown format version %u", le32(d + 0x14));
        return CR_ECORRUPT;
    }
    for (size_t i = 0; i < 0x1fc; i += 4)
        sum ^= le32(d + i);
    if (sum != le32(d + 0x1fc)) {
        cr_error_set("the registry hive's header is damaged (checksum mismatch)");
        return CR_ECORRUPT;
    }
    end = (size_t)HV_BIN + le32(d + 0x28);
    if (end > len) {
        cr_error_set("the registry hive is cut short: its header announces %zu bytes, "
                     "the file has %zu",
                     end, len);
        return CR_ECORRUPT;
    }
    if (end <= HV_BIN) {
        cr_error_set("the registry hive holds no data (empty hive bins area)");
        return CR_ECORRUPT;
    }
    root = (size_t)HV_BIN + le32(d + 0x24);
    for (off = HV_BIN; off < end;) {
        const uint8_t *b = d + off;
        size_t size;
        if (end - off < 0x20 || memcmp(b, "hbin", 4) != 0 || le32(b + 4) != off - HV_BIN) {
            cr_error_set("the registry hive is damaged: no valid hive bin at offset %zu", off);
            return CR_ECORRUPT;
        }
        size = le32(b + 8);
        if (size < HV_BIN || size % HV_BIN != 0 || size > end - off) {
            cr_error_set("the registry hive is damaged: hive bin at offset %zu has an "
                         "impossible size (%zu)",
                         off, size);
            return CR_ECORRUPT;
        }
        for (size_t c = off + 0x20; c < off + size;) {
            int32_t raw = (int32_t)le32(d + c);
            size_t csize = raw < 0 ? (size_t)(-(int64_t)raw) : (size_t)raw;
            if (csize < 8 || csize % 4 != 0 || csize > off + size - c) {
                cr_error_set("the registry hive is damaged: cell at offset %zu has an "
                             "impossible size",
                             c);
                return CR_ECORRUPT;
            }
            if (c == root)
                root_ok = raw < 0 && d[c + 4] == 'n' && d[c + 5] == 'k';
            c += csize;
        }
        off += size;
    }
    if (!root_ok) {
        cr_error_set("the registry hive is damaged: its root key is missing");
        return CR_ECORRUPT;
    }
    return 0;
}

/* Open the bytes with hivex through a file holding them and HV_PAD zeros. */
static int hv_open(hive_h **out, const void *data, size_t len)
{
    hn_memfile m;
    int err = 0, e;
    hive_h *h;

    *out = NULL;
    if ((err = hn_memfile_open(&m, data, len, HV_PAD)) < 0)
        return err;
    h = hivex_open(hn_memfile_path(&m), 0);
    e = errno;
    if (!h) {
        if (e == ENOMEM) {
            cr_error_set("out of memory while opening a registry hive");
            err = CR_ERROR;
        } else {
            cr_error_set("the registry hive is damaged (hivex: %s)", strerror(e));
            err = CR_ECORRUPT;
        }
        goto done;
    }
    *out = h;
done:
    hn_memfile_close(&m);
    return err;
}

/* ------------------------------------------------------------ strings */

static void put_utf8(char **p, uint32_t cp)
{
    unsigned char *q = (unsigned char *)*p;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        cp = '?';
    if (cp < 0x80) {
        *q++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *q++ = (unsigned char)(0xc0 | cp >> 6);
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (unsigned char)(0xe0 | cp >> 12);
        *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (unsigned char)(0xf0 | cp >> 18);
        *q++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *p = (char *)q;
}

char *hn_utf16_to_utf8(const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t units = len / 2;
    char *out = cr_malloc(units * 3 + 1), *q = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < units; i++) {
        uint32_t u = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
        if (u == 0)
            break;
        if (u >= 0xd800 && u < 0xdc00 && i + 1 < units) {
            uint32_t l = (uint32_t)p[2 * i + 2] | (uint32_t)p[2 * i + 3] << 8;
            if (l >= 0xdc00 && l < 0xe000) {
                put_utf8(&q, 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00));
                i++;
                continue;
            }
        }
        put_utf8(&q, u >= 0xd800 && u < 0xe000 ? 0xfffd : u);
    }
    *q = '\0';
    return out;
}

char *hn_utf8_clean(const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    char *out = cr_malloc(len + 1), *q = out;
    if (!out)
        return NULL;
    while (p < end && *p) {
        size_t left = (size_t)(end - p), k = 1;
        uint32_t cp = '?';
        if (p[0] < 0x80) {
            cp = p[0];
        } else if (p[0] >= 0xc2 && p[0] < 0xe0 && left >= 2 && (p[1] & 0xc0) == 0x80) {
            cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
            k = 2;
        } else if (p[0] >= 0xe0 && p[0] < 0xf0 && left >= 3 && (p[1] & 0xc0) == 0x80 &&
                   (p[2] & 0xc0) == 0x80) {
            cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
            k = 3;
            if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))
                cp = '?';
        } else if (p[0] >= 0xf0 && p[0] < 0xf5 && left >= 4 && (p[1] & 0xc0) == 0x80 &&
                   (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
            cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                 (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
            k = 4;
            if (cp < 0x10000 || cp > 0x10ffff)
                cp = '?';
        }
        /* Every accepted sequence is as long as its encoding; '?' is one byte. */
        put_utf8(&q, cp);
        p += k;
    }
    *q = '\0';
    return out;
}

static char *hv_clean(const char *s)
{
    return hn_utf8_clean(s, strlen(s));
}

/* ------------------------------------------------------------ hivex access */

static int hv_fail(const char *what)
{
    int e = errno;
    if (e == ENOMEM) {
        cr_error_set("out of memory while reading a registry hive");
        return CR_ERROR;
    }
    cr_error_set("the registry hive is damaged: %s cannot be read (%s)", what,
                 e ? strerror(e) : "invalid");
    return CR_ECORRUPT;
}

/* The subkey `name` of node (case-insensitive), or *out = 0 when there is none. */
static int hv_child(hv *v, hive_node_h node, const char *name, hive_node_h *out)
{
    hive_node_h *kids;
    int err = 0;

    *out = 0;
    errno = 0;
    if (!(kids = hivex_node_children(v->h, node)))
        return hv_fail("a key's list of subkeys");
    for (size_t i = 0; kids[i]; i++) {
        char *kn;
        if (++v->keys > HV_MAX_KEYS) {
            cr_error_set("the registry hive holds implausibly many keys on the paths read");
            err = CR_ECORRUPT;
            break;
        }
        errno = 0;
        if (!(kn = hivex_node_name(v->h, kids[i]))) {
            err = hv_fail("the name of a key");
            break;
        }
        int eq = strcasecmp(kn, name) == 0;
        free(kn);
        if (eq) {
            *out = kids[i];
            break;
        }
    }
    free(kids);
    return err;
}

/* The key at a backslash-separated path below node, or *out = 0. */
static int hv_path(hv *v, hive_node_h node, const char *path, hive_node_h *out)
{
    char part[64];
    const char *p = path;
    int err;

    *out = node;
    while (*p && *out) {
        size_t k = strcspn(p, "\\");
        if (k >= sizeof(part))
            k = sizeof(part) - 1; /* the paths are ours: never */
        memcpy(part, p, k);
        part[k] = '\0';
        if ((err = hv_child(v, *out, part, out)) < 0)
            return err;
        p += k;
        if (*p == '\\')
            p++;
    }
    return 0;
}

/*
 * The string data of a value: 1 with *out (UTF-8, owned) for REG_SZ and
 * REG_EXPAND_SZ of at most HV_MAX_VALUE bytes; 0 for other values; <0 error.
 */
static int hv_string(hv *v, hive_value_h val, char **out)
{
    hive_type t;
    size_t len;
    char *raw;

    *out = NULL;
    errno = 0;
    if (hivex_value_type(v->h, val, &t, &len) < 0)
        return hv_fail("a value's type");
    if ((t != HV_REG_SZ && t != HV_REG_EXPAND_SZ) || len > HV_MAX_VALUE)
        return 0;
    errno = 0;
    if (!(raw = hivex_value_value(v->h, val, &t, &len)))
        return hv_fail("a value's data");
    /* Big data may yield less than announced; never more than was allocated. */
    *out = hn_utf16_to_utf8(raw, len > HV_MAX_VALUE ? HV_MAX_VALUE : len);
    free(raw);
    return *out ? 1 : CR_ERROR;
}

/*
 * The data of a value of any of the types autostart settings use: REG_SZ and
 * REG_EXPAND_SZ as hv_string; REG_MULTI_SZ as its strings joined by "; ";
 * REG_DWORD as "0x%08x". @return 1 with *out (owned), 0 for other types, <0.
 */
static int hv_typed(hv *v, hive_value_h val, char **out)
{
    hive_type t;
    size_t len;
    char *raw;
    int err;

    *out = NULL;
    if ((err = hv_string(v, val, out)) != 0)
        return err;
    errno = 0;
    if (hivex_value_type(v->h, val, &t, &len) < 0)
        return hv_fail("a value's type");
    if ((t != HV_REG_MULTI_SZ && t != HV_REG_DWORD) || len > HV_MAX_VALUE)
        return 0;
    errno = 0;
    if (!(raw = hivex_value_value(v->h, val, &t, &len)))
        return hv_fail("a value's data");
    if (len > HV_MAX_VALUE)
        len = HV_MAX_VALUE;
    if (t == HV_REG_DWORD) {
        uint32_t d = 0;
        for (size_t i = 0; i < 4 && i < len; i++)
            d |= (uint32_t)(uint8_t)raw[i] << (8 * i);
        free(raw);
        *out = cr_sprintf("0x%08x", d);
        return *out ? 1 : CR_ERROR;
    }
    cr_buf b = CR_BUF_INIT;
    size_t i = 0;
    err = 0;
    while (i + 1 < len && !err) {
        size_t j = i;
        while (j + 1 < len && (raw[j] || raw[j + 1]))
            j += 2;
        if (j == i)
            break; /* the empty string that ends the list */
        char *item = hn_utf16_to_utf8(raw + i, j - i);
        if (!item || (b.len && cr_buf_put(&b, "; ", 2) < 0) ||
            cr_buf_put(&b, item, strlen(item)) < 0)
            err = CR_ERROR;
        free(item);
        i = j + 2;
    }
    free(raw);
    if (!err && cr_buf_put(&b, "", 1) < 0)
        err = CR_ERROR;
    if (err) {
        cr_buf_free(&b);
        return CR_ERROR;
    }
    *out = (char *)b.ptr;
    return 1;
}

/* The name of a value (UTF-8, owned); "(Default)" for the unnamed one. */
static int hv_value_name(hv *v, hive_value_h val, char **out)
{
    char *raw;

    errno = 0;
    *out = NULL;
    if (!(raw = hivex_value_key(v->h, val))) {
        if (errno == ENOMEM)
            return hv_fail("a value's name");
        /* A name hivex cannot convert (bad UTF-16): keep the value. */
        *out = cr_strdup("(unreadable name)");
        return *out ? 0 : CR_ERROR;
    }
    *out = hv_clean(*raw ? raw : "(Default)");
    free(raw);
    return *out ? 0 : CR_ERROR;
}

/* Take key/name/data (owned) into the list. */
static int hv_add(hv *v, int kind, char *key, char *name, char *data)
{
    size_t bytes = strlen(key) + strlen(name) + strlen(data) + 3;
    int err = 0;

    if (v->n >= HV_MAX_ENTRIES || bytes > HV_MAX_BYTES - v->bytes) {
        cr_error_set("the registry hive holds implausibly many or large autostart entries");
        err = CR_ECORRUPT;
        goto fail;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        hn_autorun *a = cr_realloc(v->a, cap * sizeof(*a));
        if (!a) {
            err = CR_ERROR;
            goto fail;
        }
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n].key = key;
    v->a[v->n].name = name;
    v->a[v->n].data = data;
    v->a[v->n].kind = kind;
    v->n++;
    v->bytes += bytes;
    return 0;
fail:
    free(key);
    free(name);
    free(data);
    return err;
}

/* ------------------------------------------------------------ the keys */

static const struct {
    const char *path;
    int kind;
} hv_run_keys[] = {
    {"Microsoft\\Windows\\CurrentVersion\\Run", HN_AUTORUN_RUN},
    {"Microsoft\\Windows\\CurrentVersion\\RunOnce", HN_AUTORUN_RUNONCE},
    {"Microsoft\\Windows\\CurrentVersion\\RunServices", HN_AUTORUN_RUN},
    {"Microsoft\\Windows\\CurrentVersion\\RunServicesOnce", HN_AUTORUN_RUNONCE},
    {"Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run", HN_AUTORUN_RUN},
    {"Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Run", HN_AUTORUN_RUN},
    {"Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce", HN_AUTORUN_RUNONCE},
    {"Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run", HN_AUTORUN_RUN},
};

#define HV_WINLOGON "Microsoft\\Windows NT\\CurrentVersion\\Winlogon"

/* Every string value of the key at prefix+path. */
static int hv_run_key(hv *v, hive_node_h root, const char *prefix, const char *path, int kind)
{
    char full[160];
    hive_node_h node;
    hive_value_h *vals = NULL;
    int err;

    snprintf(full, sizeof(full), "%s%s", prefix, path);
    if ((err = hv_path(v, root, full, &node)) < 0 || !node)
        return err;
    errno = 0;
    if (!(vals = hivex_node_values(v->h, node)))
        return hv_fail("the list of values of a Run key");
    for (size_t i = 0; vals[i]; i++) {
        char *data = NULL, *name = NULL, *key = NULL;
        if ((err = hv_string(v, vals[i], &data)) < 0)
            break;
        if (err == 0)
            continue;
        if ((err = hv_value_name(v, vals[i], &name)) < 0 || !(key = cr_strdup(full))) {
            free(data);
            free(name);
            err = err < 0 ? err : CR_ERROR;
            break;
        }
        if ((err = hv_add(v, kind, key, name, data)) < 0)
            break;
    }
    free(vals);
    return err < 0 ? err : 0;
}

/* The value `name` of node (case-insensitive), or *out = 0. */
static int hv_value(hv *v, hive_node_h node, const char *name, hive_value_h *out)
{
    hive_value_h *vals;
    int err = 0;

    *out = 0;
    errno = 0;
    if (!(vals = hivex_node_values(v->h, node)))
        return hv_fail("a key's list of values");
    for (size_t i = 0; vals[i]; i++) {
        char *vn;
        errno = 0;
        if (!(vn = hivex_value_key(v->h, vals[i]))) {
            if (errno == ENOMEM) {
                err = hv_fail("a value's name");
                break;
            }
            continue; /* not the name we look for */
        }
        int eq = strcasecmp(vn, name) == 0;
        free(vn);
        if (eq) {
            *out = vals[i];
            break;
        }
    }
    free(vals);
    return err;
}

/* The values `names` (any type hv_typed reads) of the key at `full`, as entries of `kind`. */
static int hv_named(hv *v, hive_node_h root, const char *full, const char *const *names, size_t n,
                    int kind)
{
    hive_node_h node;
    int err;
    if ((err = hv_path(v, root, full, &node)) < 0 || !node)
        return err;
    for (size_t i = 0; i < n; i++) {
        hive_value_h val;
        char *data = NULL, *key, *name;
        if ((err = hv_value(v, node, names[i], &val)) < 0)
            return err;
        if (!val)
            continue;
        if ((err = hv_typed(v, val, &data)) < 0)
            return err;
        if (err == 0)
            continue;
        key = cr_strdup(full);
        name = cr_strdup(names[i]);
        if (!key || !name) {
            free(key);
            free(name);
            free(data);
            return CR_ERROR;
        }
        if ((err = hv_add(v, kind, key, name, data)) < 0)
            return err;
    }
    return 0;
}

/* Winlogon's Shell and Userinit under prefix. */
static int hv_winlogon(hv *v, hive_node_h root, const char *prefix)
{
    static const char *const names[] = {"Shell", "Userinit"};
    char full[160];
    snprintf(full, sizeof(full), "%s%s", prefix, HV_WINLOGON);
    return hv_named(v, root, full, names, 2, HN_AUTORUN_WINLOGON);
}

/* For each subkey of the key at `full`: the values `names` (NULL: every string value),
 * as entries of `kind` whose key is "full\subkey". */
static int hv_subkeys(hv *v, hive_node_h root, const char *full, const char *const *names,
                      size_t n, int kind)
{
    hive_node_h node, *kids = NULL;
    int err;
    if ((err = hv_path(v, root, full, &node)) < 0 || !node)
        return err;
    errno = 0;
    if (!(kids = hivex_node_children(v->h, node)))
        return hv_fail("the list of subkeys of an autostart key");
    for (size_t i = 0; kids[i] && !err; i++) {
        char *raw, *clean, *sub;
        if (++v->keys > HV_MAX_KEYS) {
            cr_error_set("the registry hive holds implausibly many keys on the paths read");
            err = CR_ECORRUPT;
            break;
        }
        errno = 0;
        if (!(raw = hivex_node_name(v->h, kids[i]))) {
            err = hv_fail("the name of a key");
            break;
        }
        clean = hv_clean(raw);
        free(raw);
        sub = clean ? cr_sprintf("%s\\%s", full, clean) : NULL;
        free(clean);
        if (!sub || strlen(sub) >= 1024) {
            free(sub);
            err = sub ? 0 : CR_ERROR;
            continue;
        }
        if (names) {
            err = hv_named(v, root, sub, names, n, kind);
        } else {
            hive_value_h *vals;
            errno = 0;
            if (!(vals = hivex_node_values(v->h, kids[i]))) {
                free(sub);
                err = hv_fail("the list of values of an autostart key");
                break;
            }
            for (size_t k = 0; vals[k] && !err; k++) {
                char *data = NULL, *name = NULL, *key = NULL;
                if ((err = hv_string(v, vals[k], &data)) <= 0)
                    continue;
                err = 0;
                if ((err = hv_value_name(v, vals[k], &name)) < 0 || !(key = cr_strdup(sub))) {
                    free(data);
                    free(name);
                    err = err < 0 ? err : CR_ERROR;
                    break;
                }
                err = hv_add(v, kind, key, name, data);
            }
            free(vals);
        }
        free(sub);
    }
    free(kids);
    return err;
}

/* The autostart places of SOFTWARE (and of NTUSER.DAT's Software) added to Run and
 * Winlogon's Shell/Userinit: RunOnceEx, Winlogon's other programs and Notify DLLs,
 * AppInit_DLLs, Image File Execution Options debuggers and silent-exit monitors. */
static int hv_software_more(hv *v, hive_node_h root, const char *prefix)
{
    static const char *const winlogon_more[] = {"Taskman", "AppSetup", "GinaDLL", "VMApplet"};
    static const char *const appinit[] = {"AppInit_DLLs", "LoadAppInit_DLLs"};
    static const char *const ifeo[] = {"Debugger", "GlobalFlag"};
    static const char *const monitor[] = {"MonitorProcess", "ReportingMode"};
    static const char *const dll[] = {"DllName"};
    static const char *const wow[] = {"", "Wow6432Node\\"};
    char full[256];
    int err = 0;
    for (size_t w = 0; w < 2 && !err; w++) {
        snprintf(full, sizeof(full), "%s%sMicrosoft\\Windows\\CurrentVersion\\RunOnceEx", prefix,
                 wow[w]);
        if ((err = hv_subkeys(v, root, full, NULL, 0, HN_AUTORUN_RUNONCE)) < 0)
            break;
        snprintf(full, sizeof(full), "%s%sMicrosoft\\Windows NT\\CurrentVersion\\Windows",
                 prefix, wow[w]);
        if ((err = hv_named(v, root, full, appinit, 2, HN_AUTORUN_APPINIT)) < 0)
            break;
        snprintf(full, sizeof(full),
                 "%s%sMicrosoft\\Windows NT\\CurrentVersion\\Image File Execution Options", prefix,
                 wow[w]);
        if ((err = hv_subkeys(v, root, full, ifeo, 2, HN_AUTORUN_IFEO)) < 0)
            break;
    }
    if (err < 0)
        return err;
    snprintf(full, sizeof(full), "%sMicrosoft\\Windows NT\\CurrentVersion\\SilentProcessExit",
             prefix);
    if ((err = hv_subkeys(v, root, full, monitor, 2, HN_AUTORUN_IFEO)) < 0)
        return err;
    snprintf(full, sizeof(full), "%s%s", prefix, HV_WINLOGON);
    if ((err = hv_named(v, root, full, winlogon_more, 4, HN_AUTORUN_WINLOGON)) < 0)
        return err;
    snprintf(full, sizeof(full), "%s%s\\Notify", prefix, HV_WINLOGON);
    return hv_subkeys(v, root, full, dll, 1, HN_AUTORUN_WINLOGON);
}

/* SYSTEM, per ControlSetNNN: LSA packages and print monitors. */
static int hv_control_more(hv *v, hive_node_h root, const char *set)
{
    static const char *const lsa[] = {"Security Packages", "Authentication Packages",
                                      "Notification Packages"};
    static const char *const driver[] = {"Driver"};
    char full[128];
    int err;
    snprintf(full, sizeof(full), "%s\\Control\\Lsa", set);
    if ((err = hv_named(v, root, full, lsa, 3, HN_AUTORUN_LSA)) < 0)
        return err;
    snprintf(full, sizeof(full), "%s\\Control\\Print\\Monitors", set);
    return hv_subkeys(v, root, full, driver, 1, HN_AUTORUN_PRINTMON);
}

/* One service: its ImagePath (and Parameters\ServiceDll). */
static int hv_service(hv *v, hive_node_h svc, const char *set)
{
    hive_value_h val;
    hive_node_h params;
    char *image = NULL, *dll = NULL, *raw = NULL, *name = NULL, *key = NULL, *data = NULL;
    int err;

    if ((err = hv_value(v, svc, "ImagePath", &val)) < 0 || !val)
        goto done;
    if ((err = hv_string(v, val, &image)) <= 0)
        goto done;
    if ((err = hv_child(v, svc, "Parameters", &params)) < 0)
        goto done;
    if (params) {
        if ((err = hv_value(v, params, "ServiceDll", &val)) < 0)
            goto done;
        if (val && (err = hv_string(v, val, &dll)) < 0)
            goto done;
    }
    errno = 0;
    if (!(raw = hivex_node_name(v->h, svc))) {
        err = hv_fail("the name of a service");
        goto done;
    }
    if (!(name = hv_clean(raw)) || !(key = cr_sprintf("%s\\Services\\%s", set, name)) ||
        !(data = dll ? cr_sprintf("%s (ServiceDll: %s)", image, dll) : cr_strdup(image))) {
        err = CR_ERROR;
        goto done;
    }
    err = hv_add(v, HN_AUTORUN_SERVICE, key, name, data);
    key = name = data = NULL;
done:
    free(image);
    free(dll);
    free(raw);
    free(name);
    free(key);
    free(data);
    return err < 0 ? err : 0;
}

/* "ControlSet" followed by three digits. */
static int is_control_set(const char *s)
{
    return strlen(s) == 13 && !strncasecmp(s, "ControlSet", 10) && s[10] >= '0' && s[10] <= '9' &&
           s[11] >= '0' && s[11] <= '9' && s[12] >= '0' && s[12] <= '9';
}

/* Every service of every ControlSetNNN. */
static int hv_services(hv *v, hive_node_h root)
{
    hive_node_h *sets = NULL, *svcs = NULL;
    char *set = NULL;
    int err = 0;

    errno = 0;
    if (!(sets = hivex_node_children(v->h, root)))
        return hv_fail("the list of keys of the hive");
    for (size_t i = 0; sets[i] && !err; i++) {
        hive_node_h services;
        if (++v->keys > HV_MAX_KEYS) {
            cr_error_set("the registry hive holds implausibly many keys on the paths read");
            err = CR_ECORRUPT;
            break;
        }
        errno = 0;
        if (!(set = hivex_node_name(v->h, sets[i]))) {
            err = hv_fail("the name of a key");
            break;
        }
        if (!is_control_set(set)) {
            free(set);
            set = NULL;
            continue;
        }
        {
            char *cs = hv_clean(set);
            err = cs ? hv_control_more(v, root, cs) : CR_ERROR;
            free(cs);
            if (err < 0)
                break;
        }
        if ((err = hv_child(v, sets[i], "Services", &services)) < 0 || !services) {
            free(set);
            set = NULL;
            continue;
        }
        errno = 0;
        if (!(svcs = hivex_node_children(v->h, services))) {
            err = hv_fail("the list of services");
            break;
        }
        for (size_t k = 0; svcs[k]; k++) {
            if (++v->keys > HV_MAX_KEYS) {
                cr_error_set("the registry hive holds implausibly many services");
                err = CR_ECORRUPT;
                break;
            }
            if ((err = hv_service(v, svcs[k], set)) < 0)
                break;
        }
        free(svcs);
        svcs = NULL;
        free(set);
        set = NULL;
    }
    free(set);
    free(sets);
    return err;
}

/* A user's COM servers: CLSID\<clsid>\InprocServer32 and LocalServer32, default value,
 * under `prefix` ("" in UsrClass.dat, "Software\Classes\" in NTUSER.DAT). */
static int hv_com(hv *v, hive_node_h root, const char *prefix)
{
    static const char *const wow[] = {"", "Wow6432Node\\"};
    static const char *const servers[] = {"InprocServer32", "LocalServer32"};
    char full[128];
    int err = 0;
    for (size_t w = 0; w < 2 && !err; w++) {
        hive_node_h node, *kids = NULL;
        snprintf(full, sizeof(full), "%s%sCLSID", prefix, wow[w]);
        if ((err = hv_path(v, root, full, &node)) < 0 || !node)
            continue;
        errno = 0;
        if (!(kids = hivex_node_children(v->h, node)))
            return hv_fail("the list of COM classes");
        for (size_t i = 0; kids[i] && !err; i++) {
            char *raw = NULL, *clsid = NULL;
            if (++v->keys > HV_MAX_KEYS) {
                cr_error_set("the registry hive holds implausibly many keys on the paths read");
                err = CR_ECORRUPT;
                break;
            }
            for (size_t s = 0; s < 2 && !err; s++) {
                hive_node_h srv;
                hive_value_h val;
                char *data = NULL, *key = NULL, *name = NULL;
                if ((err = hv_child(v, kids[i], servers[s], &srv)) < 0 || !srv)
                    continue;
                if ((err = hv_value(v, srv, "", &val)) < 0 || !val)
                    continue;
                if ((err = hv_string(v, val, &data)) <= 0)
                    continue;
                err = 0;
                if (!clsid) {
                    errno = 0;
                    if (!(raw = hivex_node_name(v->h, kids[i]))) {
                        free(data);
                        err = hv_fail("the name of a COM class");
                        break;
                    }
                    if (!(clsid = hv_clean(raw))) {
                        free(data);
                        err = CR_ERROR;
                        break;
                    }
                }
                if (!(key = cr_sprintf("%s\\%s\\%s", full, clsid, servers[s])) ||
                    !(name = cr_strdup("(Default)"))) {
                    free(data);
                    free(key);
                    err = CR_ERROR;
                    break;
                }
                err = hv_add(v, HN_AUTORUN_COM, key, name, data);
            }
            free(raw);
            free(clsid);
        }
        free(kids);
    }
    return err < 0 ? err : 0;
}

/* ------------------------------------------------------------ entry points */

void hn_autoruns_free(hn_autorun *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        free(a[i].name);
        free(a[i].data);
    }
    free(a);
}

/* Open a hive's bytes for reading (checked first) and find its root; hv_end closes it. */
static int hv_begin(hv *v, const void *data, size_t len, hive_node_h *root)
{
    int err;
    memset(v, 0, sizeof(*v));
    if (len > HV_MAX_SIZE) {
        cr_error_set("registry hive too large to examine (%zu bytes, at most %u)", len,
                     HV_MAX_SIZE);
        return CR_EINPUT;
    }
    if ((err = hv_check(data, len)) < 0 || (err = hv_open(&v->h, data, len)) < 0)
        return err;
    errno = 0;
    if (!(*root = hivex_root(v->h)))
        return hv_fail("the root key");
    return 0;
}

/* Close the hive; on success (err 0) its entries become the caller's. @return err. */
static int hv_end(hv *v, int err, hn_autorun **out, size_t *count)
{
    if (err == 0) {
        *out = v->a;
        *count = v->n;
        v->a = NULL;
        v->n = 0;
    }
    if (v->h)
        hivex_close(v->h);
    hn_autoruns_free(v->a, v->n);
    return err;
}

int hn_hive_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    static const char *const prefixes[] = {"", "Software\\"};
    hv v;
    hive_node_h root;
    int err;

    *out = NULL;
    *count = 0;
    if ((err = hv_begin(&v, data, len, &root)) < 0)
        goto done;
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        for (size_t k = 0; k < sizeof(hv_run_keys) / sizeof(hv_run_keys[0]); k++)
            if ((err = hv_run_key(&v, root, prefixes[p], hv_run_keys[k].path,
                                  hv_run_keys[k].kind)) < 0)
                goto done;
        if ((err = hv_winlogon(&v, root, prefixes[p])) < 0 ||
            (err = hv_software_more(&v, root, prefixes[p])) < 0)
            goto done;
    }
    if ((err = hv_com(&v, root, "")) < 0 || (err = hv_com(&v, root, "Software\\Classes\\")) < 0)
        goto done;
    err = hv_services(&v, root);
done:
    return hv_end(&v, err, out, count);
}

/*
 * What is installed, for the reconnection checks (src/reconnect/inventory.c):
 * from SOFTWARE, the programs of the Uninstall keys, 64-bit and 32-bit views
 *   Microsoft\Windows\CurrentVersion\Uninstall\*: DisplayName, DisplayVersion,
 *   Publisher (one entry per value, key = the program's subkey)   HN_SOFTWARE_APP
 *   (and the same under Wow6432Node\)
 * and the build of Windows
 *   Microsoft\Windows NT\CurrentVersion: ProductName, DisplayVersion,
 *   CurrentBuild, CurrentBuildNumber, UBR (a DWORD, as "0x%08x")  HN_SOFTWARE_OS
 * Same bounds and same answer format as the autostart entries.
 */
int hn_hive_software(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    static const char *const app[] = {"DisplayName", "DisplayVersion", "Publisher"};
    static const char *const os[] = {"ProductName", "DisplayVersion", "CurrentBuild",
                                     "CurrentBuildNumber", "UBR"};
    hv v;
    hive_node_h root;
    int err;

    *out = NULL;
    *count = 0;
    if ((err = hv_begin(&v, data, len, &root)) < 0)
        goto done;
    if ((err = hv_subkeys(&v, root, "Microsoft\\Windows\\CurrentVersion\\Uninstall", app, 3,
                          HN_SOFTWARE_APP)) < 0 ||
        (err = hv_subkeys(&v, root, "Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
                          app, 3, HN_SOFTWARE_APP)) < 0 ||
        (err = hv_named(&v, root, "Microsoft\\Windows NT\\CurrentVersion", os, 5,
                        HN_SOFTWARE_OS)) < 0)
        goto done;
done:
    return hv_end(&v, err, out, count);
}

/* ------------------------------------------------------------ in the sandbox */

/*
 * The readers of the hunt's hostile files run in a "files" child of the
 * parser sandbox (src/util/sandbox.h): hivex (registry hives), liblnk
 * (shortcuts), libarchive (.deb packages of the trust anchors), libxml2
 * (Group Policy files, gpo.c), libtdb and libldb (directory databases,
 * samdb.c) and cleanroom's own WMI, BITS and PE-version readers and text
 * parsers (persist.c: crontabs, sshd, PAM, shell files...). The parent sends the
 * bytes; the child answers with what it read, which the parent decodes as
 * untrusted input (hn_autoruns_decode, hn_lnk_decode, hn_pe_version_decode,
 * hn_deb_decode; fuzz/fuzz_sandbox.c). One child serves the requests
 * one after the other (hn_parsers_release stops it); a child that fails is
 * stopped, and the next request gets a new one.
 */
enum {
    HV_REQ_AUTORUNS = 1,
    HV_REQ_WMI = 2,
    HV_REQ_BITS = 3,
    HV_REQ_LNK = 4,
    HV_REQ_PEVER = 5,
    HV_REQ_DEB = 6,
    HV_REQ_GPO = 7,
    HV_REQ_SOFTWARE = 8, /* installed software and build of a SOFTWARE hive */
    HV_REQ_TEXT = 9,     /* persist.c's text parsers: hn_persist_text_serve */
    HV_REQ_SAMDB = 10,   /* a directory database partition: samdb.c */
};
#define HV_SBX_MAX_DEB_FILES 200000u
#define HV_SBX_MAX_PATH 4096u
#define HV_SBX_MAX_ENTRIES 200000u
#define HV_SBX_MAX_TEXT 65536u
/* hivex and liblnk open files by name: in the child, this scratch file of its own root. */
#define HV_SCRATCH "/scratch"
#define HV_LDB_MODULES "/ldb-modules"

static int hv_child_init(cr_sbx_child *ch, cr_rd *setup, void **state)
{
    (void)setup;
    (void)state;
    int fd = hn_memfile_scratch(HV_SCRATCH);
    if (fd < 0)
        return fd;
    /* libldb's context starts a tevent loop (epoll), which the confined child may not; it
     * also loads modules from a folder that must exist: an empty one of the child's root
     * (records are only unpacked, no module is needed). Should that fail, only directory
     * databases go unread (hn_samdb_autoruns says why), not the other files; it is tried
     * here in any case, never once confined. */
    if (mkdir(HV_LDB_MODULES, 0755) == 0 || errno == EEXIST)
        setenv("LDB_MODULES_PATH", HV_LDB_MODULES, 1);
    hn_samdb_prepare();
    cr_error_clear();
    return cr_sbx_child_keep_fd(ch, fd);
}

static int hv_put_text(cr_buf *reply, const char *t)
{
    if (cr_buf_put_u8(reply, t != NULL) < 0)
        return CR_ERROR;
    return t ? cr_buf_put_str(reply, t) : 0;
}

static int hv_child_serve(cr_sbx_child *ch, void *state, uint16_t type, cr_rd *req, cr_buf *reply)
{
    hn_autorun *a = NULL;
    size_t n = 0, len = cr_rd_left(req);
    const uint8_t *data;
    int err = 0;
    (void)state;
    if (type < HV_REQ_AUTORUNS || type > HV_REQ_SAMDB || cr_rd_raw(req, &data, len) < 0) {
        cr_error_set("unknown request");
        return CR_EINPUT;
    }
    cr_sbx_child_test_input(ch, data, len);
    if (type == HV_REQ_TEXT)
        return hn_persist_text_serve(data, len, reply);
    if (type == HV_REQ_LNK) {
        hn_lnk l;
        if ((err = hn_lnk_read(&l, data, len)) < 0)
            return err;
        if (hv_put_text(reply, l.target) < 0 || hv_put_text(reply, l.args) < 0 ||
            hv_put_text(reply, l.workdir) < 0)
            err = CR_ERROR;
        hn_lnk_clear(&l);
        return err;
    }
    if (type == HV_REQ_DEB) {
        hn_deb deb;
        if ((err = hn_deb_read(&deb, data, len)) < 0)
            return err;
        if (cr_buf_put_str(reply, deb.package) < 0 || cr_buf_put_str(reply, deb.version) < 0 ||
            cr_buf_put_varint(reply, deb.n) < 0)
            err = CR_ERROR;
        for (size_t i = 0; i < deb.n && err == 0; i++)
            if (cr_buf_put_str(reply, deb.paths[i]) < 0 || cr_buf_put(reply, deb.md5[i], 16) < 0)
                err = CR_ERROR;
        hn_deb_clear(&deb);
        return err;
    }
    if (type == HV_REQ_PEVER) {
        hn_pe_ver v;
        memset(&v, 0, sizeof(v));
        int found = hn_pe_version(&v, data, len) > 0;
        if (cr_buf_put_u8(reply, (uint8_t)found) < 0 || cr_buf_put_u64(reply, v.file) < 0 ||
            cr_buf_put_u64(reply, v.product) < 0)
            return CR_ERROR;
        return 0;
    }
    err = type == HV_REQ_WMI    ? hn_wmi_autoruns(&a, &n, data, len)
          : type == HV_REQ_BITS ? hn_bits_autoruns(&a, &n, data, len)
          : type == HV_REQ_GPO  ? hn_gpo_autoruns(&a, &n, data, len)
          : type == HV_REQ_SOFTWARE ? hn_hive_software(&a, &n, data, len)
          : type == HV_REQ_SAMDB ? hn_samdb_autoruns(&a, &n, data, len)
                                : hn_hive_autoruns(&a, &n, data, len);
    if (err < 0)
        return err;
    err = cr_buf_put_varint(reply, n);
    for (size_t i = 0; i < n && err == 0; i++)
        if ((err = cr_buf_put_u8(reply, (uint8_t)a[i].kind)) < 0 ||
            (err = cr_buf_put_str(reply, a[i].key)) < 0 ||
            (err = cr_buf_put_str(reply, a[i].name)) < 0 ||
            (err = cr_buf_put_str(reply, a[i].data)) < 0)
            break;
    hn_autoruns_free(a, n);
    return err;
}

static const cr_sbx_service hv_sbx_service = {"files", CR_SBX_OPEN_READ, hv_child_init,
                                              hv_child_serve};
CR_SBX_SERVICE(hv_sbx_service)

int hn_autoruns_decode(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    cr_rd rd;
    uint64_t n;
    hn_autorun *a = NULL;
    size_t got = 0;
    int err = CR_EHOSTILE;

    *out = NULL;
    *count = 0;
    cr_rd_init(&rd, data, len);
    if (cr_rd_varint(&rd, &n) < 0 || n > HV_SBX_MAX_ENTRIES || n > cr_rd_left(&rd) / 4)
        goto bad;
    if (n && !(a = cr_calloc((size_t)n, sizeof(*a)))) {
        err = CR_ERROR;
        goto done;
    }
    for (; got < n; got++) {
        uint8_t kind;
        const uint8_t *t[3];
        size_t tl[3];
        if (cr_rd_u8(&rd, &kind) < 0 || kind == 0 || kind > 63)
            goto bad;
        for (int k = 0; k < 3; k++)
            if (cr_rd_bytes(&rd, &t[k], &tl[k], HV_SBX_MAX_TEXT) < 0)
                goto bad;
        a[got].kind = kind;
        /* Whatever the child says is text to show: made valid UTF-8 without controls. */
        if (!(a[got].key = hn_utf8_clean(t[0], tl[0])) || !(a[got].name = hn_utf8_clean(t[1], tl[1])) ||
            !(a[got].data = hn_utf8_clean(t[2], tl[2]))) {
            got++;
            err = CR_ERROR;
            goto done;
        }
    }
    if (cr_rd_left(&rd) != 0)
        goto bad;
    *out = a;
    *count = got;
    return 0;
bad:
    cr_error_set("a malformed answer about a Windows system file");
    err = CR_EHOSTILE;
done:
    hn_autoruns_free(a, got);
    return err;
}

int hn_lnk_decode(hn_lnk *out, const void *data, size_t len)
{
    char **field[3] = {&out->target, &out->args, &out->workdir};
    cr_rd rd;
    memset(out, 0, sizeof(*out));
    cr_rd_init(&rd, data, len);
    for (int k = 0; k < 3; k++) {
        uint8_t present;
        const uint8_t *t;
        size_t tl;
        if (cr_rd_u8(&rd, &present) < 0 || present > 1)
            goto bad;
        if (!present)
            continue;
        if (cr_rd_bytes(&rd, &t, &tl, HV_SBX_MAX_TEXT) < 0)
            goto bad;
        if (!(*field[k] = hn_utf8_clean(t, tl))) {
            hn_lnk_clear(out);
            return CR_ERROR;
        }
    }
    if (cr_rd_left(&rd) != 0)
        goto bad;
    return 0;
bad:
    hn_lnk_clear(out);
    cr_error_set("a malformed answer about a Windows shortcut");
    return CR_EHOSTILE;
}

int hn_pe_version_decode(hn_pe_ver *out, const void *data, size_t len)
{
    cr_rd rd;
    uint8_t found;
    memset(out, 0, sizeof(*out));
    cr_rd_init(&rd, data, len);
    if (cr_rd_u8(&rd, &found) < 0 || found > 1 || cr_rd_u64(&rd, &out->file) < 0 ||
        cr_rd_u64(&rd, &out->product) < 0 || cr_rd_left(&rd) != 0) {
        memset(out, 0, sizeof(*out));
        cr_error_set("a malformed answer about a program's version");
        return CR_EHOSTILE;
    }
    if (!found)
        memset(out, 0, sizeof(*out));
    return found;
}

int hn_deb_decode(hn_deb *out, const void *data, size_t len)
{
    cr_rd rd;
    uint64_t n;
    int err = CR_EHOSTILE;
    memset(out, 0, sizeof(*out));
    cr_rd_init(&rd, data, len);
    /* As hn_deb_read gives them: non-empty names, paths as bytes (matched against dpkg's). */
    if (cr_rd_str(&rd, &out->package, 256) < 0 || !out->package ||
        cr_rd_str(&rd, &out->version, 256) < 0 || !out->version || cr_rd_varint(&rd, &n) < 0 ||
        n > HV_SBX_MAX_DEB_FILES || n > cr_rd_left(&rd) / 18)
        goto bad;
    if (n && (!(out->paths = cr_calloc((size_t)n, sizeof(char *))) ||
              !(out->md5 = cr_calloc((size_t)n, 16)))) {
        err = CR_ERROR;
        goto fail;
    }
    out->cap = (size_t)n;
    for (; out->n < n; out->n++) {
        const uint8_t *m;
        if (cr_rd_str(&rd, &out->paths[out->n], HV_SBX_MAX_PATH) < 0 || !out->paths[out->n] ||
            cr_rd_raw(&rd, &m, 16) < 0) {
            if (out->paths[out->n])
                out->n++;
            goto bad;
        }
        memcpy(out->md5[out->n], m, 16);
    }
    if (cr_rd_left(&rd) != 0)
        goto bad;
    return 0;
bad:
    cr_error_set("a malformed answer about a .deb package");
fail:
    hn_deb_clear(out);
    return err;
}

/* The child between two requests (at most one kept). */
static pthread_mutex_t hv_mu = PTHREAD_MUTEX_INITIALIZER;
static cr_sbx *hv_idle;

/* One request to the readers' child; its answer in `reply` (for the caller's decoder). */
static int hv_ask(uint16_t type, const void *data, size_t len, cr_buf *reply)
{
    cr_sbx *s;
    int err;
    if (len > CR_SBX_MAX_DATA) {
        cr_error_set("file too large to examine (%zu bytes)", len);
        return CR_EINPUT;
    }
    pthread_mutex_lock(&hv_mu);
    s = hv_idle;
    hv_idle = NULL;
    pthread_mutex_unlock(&hv_mu);
    if (!s) {
        cr_sbx_opts o;
        memset(&o, 0, sizeof(o));
        o.service = "files";
        o.what = "a system file";
        o.max_reply = 64u << 20;
        o.idle_seconds = 120;
        if ((err = cr_sbx_start(&s, &o)) < 0)
            return err;
    }
    err = cr_sbx_call(s, type, data, len, reply, NULL, NULL);
    if (cr_sbx_alive(s)) {
        pthread_mutex_lock(&hv_mu);
        if (!hv_idle) {
            hv_idle = s;
            s = NULL;
        }
        pthread_mutex_unlock(&hv_mu);
    }
    cr_sbx_stop(s);
    return err;
}

void hn_parsers_release(void)
{
    pthread_mutex_lock(&hv_mu);
    cr_sbx *s = hv_idle;
    hv_idle = NULL;
    pthread_mutex_unlock(&hv_mu);
    cr_sbx_stop(s);
}

/* A reader of autostart entries, sandboxed; a malformed answer says what it was about. */
static int hv_examine(uint16_t type, hn_autorun **out, size_t *count, const void *data, size_t len)
{
    cr_buf reply = CR_BUF_INIT;
    int err;
    *out = NULL;
    *count = 0;
    if ((err = hv_ask(type, data, len, &reply)) == 0)
        err = hn_autoruns_decode(out, count, reply.ptr, reply.len);
    cr_buf_free(&reply);
    return err;
}

int hn_hive_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_hive_autoruns(out, count, data, len);
    if (len > HV_MAX_SIZE) {
        *out = NULL;
        *count = 0;
        cr_error_set("registry hive too large to examine (%zu bytes, at most %u)", len,
                     HV_MAX_SIZE);
        return CR_EINPUT;
    }
    return hv_examine(HV_REQ_AUTORUNS, out, count, data, len);
}

int hn_software_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_hive_software(out, count, data, len);
    if (len > HV_MAX_SIZE) {
        *out = NULL;
        *count = 0;
        cr_error_set("registry hive too large to examine (%zu bytes, at most %u)", len,
                     HV_MAX_SIZE);
        return CR_EINPUT;
    }
    return hv_examine(HV_REQ_SOFTWARE, out, count, data, len);
}

int hn_wmi_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_wmi_autoruns(out, count, data, len);
    return hv_examine(HV_REQ_WMI, out, count, data, len);
}

int hn_gpo_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_gpo_autoruns(out, count, data, len);
    return hv_examine(HV_REQ_GPO, out, count, data, len);
}

int hn_samdb_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_samdb_autoruns(out, count, data, len);
    return hv_examine(HV_REQ_SAMDB, out, count, data, len);
}

int hn_bits_examine(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    if (!cr_sbx_enabled())
        return hn_bits_autoruns(out, count, data, len);
    return hv_examine(HV_REQ_BITS, out, count, data, len);
}

int hn_text_examine(const void *req, size_t len, cr_buf *reply)
{
    return hv_ask(HV_REQ_TEXT, req, len, reply);
}

int hn_lnk_examine(hn_lnk *out, const void *data, size_t len)
{
    cr_buf reply = CR_BUF_INIT;
    int err;
    memset(out, 0, sizeof(*out));
    if (!cr_sbx_enabled())
        return hn_lnk_read(out, data, len);
    if ((err = hv_ask(HV_REQ_LNK, data, len, &reply)) == 0)
        err = hn_lnk_decode(out, reply.ptr, reply.len);
    cr_buf_free(&reply);
    return err;
}

int hn_deb_examine(hn_deb *out, const void *data, size_t len)
{
    cr_buf reply = CR_BUF_INIT;
    int err;
    memset(out, 0, sizeof(*out));
    if (!cr_sbx_enabled())
        return hn_deb_read(out, data, len);
    if ((err = hv_ask(HV_REQ_DEB, data, len, &reply)) == 0)
        err = hn_deb_decode(out, reply.ptr, reply.len);
    cr_buf_free(&reply);
    return err;
}

int hn_pe_version_examine(hn_pe_ver *out, const void *data, size_t len)
{
    cr_buf reply = CR_BUF_INIT;
    int err;
    memset(out, 0, sizeof(*out));
    if (!cr_sbx_enabled())
        return hn_pe_version(out, data, len);
    if ((err = hv_ask(HV_REQ_PEVER, data, len, &reply)) == 0)
        err = hn_pe_version_decode(out, reply.ptr, reply.len);
    cr_buf_free(&reply);
    return err;
}
