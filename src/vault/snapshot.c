/*
 * Snapshots (restore points): JSON documents stored as encrypted files under
 * snapshots/, named by the SHA-256 of the stored bytes. The id of a snapshot
 * is that name, so it is not part of the JSON.
 *
 * Plaintext JSON (format version 1):
 *   {"version":1, "source":"dpi-server", "time":"2026-11-22T03:00:00.123456789Z",
 *    "hostname":"...", "username":"...", "paths":["/srv"], "tags":[], "excludes":[],
 *    "tree":"<64 hex>", "parent":"<64 hex>"|null,
 *    "files":N, "dirs":N, "others":N, "bytes":N, "bytes_new":N, "files_new":N,
 *    "files_changed":N, "files_unchanged":N, "errors":N, "duration":1.5,
 *    "program_version":"0.1.0"}
 *
 * Image snapshots (kind CR_SNAPSHOT_IMAGE) add, after those:
 *   "kind":"image", "system_root":"/disk0/p1",
 *   "vm":{"name":..., "cpus":N, "memory_mib":N, "firmware":"bios"|"uefi",
 *         "disk_bus":..., "nic_model":..., "os_type":..., "config_from":...},
 *   "disks":[{"name":"disk0", "source_path":..., "source_format":"qcow2",
 *             "virtual_size":N, "stored":N, "partition_table":"gpt",
 *             "volumes":[{"name":"p1", "start":N, "length":N, "fs_type":"ext4",
 *                         "label":..., "files":N, "error":...}],
 *             "backing":[{"path":..., "format":"qcow2"}], "dropped":N}]
 * ("backing" and "dropped" are left out when empty / 0, and read as such when absent.)
 * Strings that are NULL in memory are left out. File snapshots carry none of
 * these keys (so their bytes, and ids, are what they were before images), and
 * a "kind" other than "files" or "image" is a newer format (CR_EVERSION).
 * The rules on these fields live in one place, image_check(), used by the
 * writer (CR_EINPUT) and by the reader after parsing (CR_ECORRUPT).
 *
 * Decoding treats the bytes as hostile even after authentication (a bug in an
 * older writer must not crash a restore): every field is type-checked and
 * bounded, and anything wrong is CR_ECORRUPT with a message.
 *
 * cr_snapshot_list skips snapshot files that cannot be loaded because they are
 * damaged (CR_ECORRUPT / CR_EVERSION): one bad file must not hide every other
 * restore point during a recovery. cr_verify loads each file itself and
 * reports the damaged ones.
 */
#include "vault/vault.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_VERSION 1
#define MAX_SOURCE 255
#define MAX_HOST 255
#define MAX_USER 255
#define MAX_PATHS 65536
#define MAX_PATH_LEN 4096
#define MAX_TAGS 1024
#define MAX_TAG_LEN 255
#define MAX_EXCLUDES 65536
#define MAX_EXCLUDE_LEN 4096
#define MAX_VERSION_LEN 64
#define MIN_PREFIX 4
#define MAX_DISKS 64
#define MAX_VOLUMES 256
#define MAX_VM_NAME 255
#define MAX_TOKEN 32       /* disk_bus, nic_model, os_type, fs_type, partition_table */
#define MAX_LABEL 255
#define MAX_VOL_ERROR 1024
#define MAX_CPUS 4096
#define MAX_MEMORY_MIB (1ull << 40)
#define MAX_BACKING 16     /* the deepest chain an image may have (src/image/disk.c) */

/* Names of cr_image_format as stored; the image module has its own parser
 * for the command line (the vault does not depend on it). */
static const char *const format_names[] = {
    [CR_IMAGE_AUTO] = "auto", [CR_IMAGE_RAW] = "raw",   [CR_IMAGE_QCOW2] = "qcow2",
    [CR_IMAGE_VMDK] = "vmdk", [CR_IMAGE_VMDK_FLAT] = "vmdk-flat", [CR_IMAGE_VHDX] = "vhdx",
    [CR_IMAGE_VHD] = "vhd",
};
#define NFORMATS (sizeof(format_names) / sizeof(format_names[0]))
static const char *const firmware_names[] = {
    [CR_FIRMWARE_UNKNOWN] = "unknown", [CR_FIRMWARE_BIOS] = "bios", [CR_FIRMWARE_UEFI] = "uefi"};
#define NFIRMWARES (sizeof(firmware_names) / sizeof(firmware_names[0]))

/* ------------------------------------------------------------ free */

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cr_vm_info_free(cr_vm_info *vm)
{
    if (!vm)
        return;
    free(vm->name);
    free(vm->disk_bus);
    free(vm->nic_model);
    free(vm->os_type);
    free(vm->config_from);
    free(vm);
}

static void disk_clear(cr_image_disk *d)
{
    free(d->name);
    free(d->source_path);
    free(d->partition_table);
    for (size_t i = 0; d->backing && i < d->nbacking; i++)
        free(d->backing[i].path);
    free(d->backing);
    for (size_t i = 0; d->volumes && i < d->nvolumes; i++) {
        cr_image_volume *v = &d->volumes[i];
        free(v->name);
        free(v->fs_type);
        free(v->label);
        free(v->error);
    }
    free(d->volumes);
}

void cr_snapshot_free(cr_snapshot *snap)
{
    if (!snap)
        return;
    cr_vm_info_free(snap->vm);
    for (size_t i = 0; snap->disks && i < snap->ndisks; i++)
        disk_clear(&snap->disks[i]);
    free(snap->disks);
    free(snap->system_root);
    free(snap->source);
    free(snap->hostname);
    free(snap->username);
    free_strv(snap->paths, snap->npaths);
    free_strv(snap->tags, snap->ntags);
    free_strv(snap->excludes, snap->nexcludes);
    free(snap->program_version);
    free(snap);
}

void cr_snapshot_list_free(cr_snapshot **list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        cr_snapshot_free(list[i]);
    free(list);
}

/* ------------------------------------------------------------ encode */

/* 1 if s is a valid source name: 1..255 bytes, no control characters. */
static int source_ok(const char *s, size_t len)
{
    if (len == 0 || len > MAX_SOURCE)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int strv_ok(char **v, size_t n, size_t maxn, size_t maxlen)
{
    if (n > maxn || (n && !v))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!v[i] || !v[i][0] || strlen(v[i]) > maxlen)
            return 0;
    return 1;
}

static json_t *strv_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int set(json_t *o, const char *k, json_t *v, int *ok)
{
    if (!v || json_object_set_new(o, k, v) < 0)
        *ok = 0;
    return *ok;
}

/* 1 if s is NULL (when allowed), or 0..max bytes (1..max unless empty_ok)
 * without control characters. */
static int text_ok(const char *s, size_t max, int empty_ok)
{
    if (!s)
        return 1;
    size_t len = strlen(s);
    if (len > max || (!len && !empty_ok))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* 1 if s is NULL, or a short word for a hypervisor or a filesystem: 1..32 of
 * [A-Za-z0-9._-] ("virtio", "e1000e", "ext4", "gpt"). These end up in VM
 * definitions written at restore time, so nothing else gets in. */
static int token_ok(const char *s)
{
    if (!s)
        return 1;
    size_t len = strlen(s);
    if (len == 0 || len > MAX_TOKEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A folder name in the snapshot's tree: safe, short, printable. */
static int folder_ok(const char *s)
{
    return s && cr_name_is_safe(s) && text_ok(s, MAX_SOURCE, 0);
}

/*
 * The rules on the image fields, for writing and reading alike.
 * @return NULL, or why the snapshot is refused (written into why[]).
 */
static const char *image_check(const cr_snapshot *s, char *why, size_t whylen)
{
#define BAD(...) (snprintf(why, whylen, __VA_ARGS__), why)
    if (s->kind != CR_SNAPSHOT_FILES && s->kind != CR_SNAPSHOT_IMAGE)
        return BAD("unknown snapshot kind %d", (int)s->kind);
    if (s->system_root && (s->system_root[0] != '/' || !text_ok(s->system_root, MAX_PATH_LEN, 0)))
        return BAD("system_root must be an absolute path of at most %d bytes without control "
                   "characters",
                   MAX_PATH_LEN);
    if (s->kind == CR_SNAPSHOT_FILES) {
        if (s->vm || s->ndisks)
            return BAD("a file snapshot has no virtual machine or disks");
        return NULL;
    }
    const cr_vm_info *vm = s->vm;
    if (vm) {
        if (!text_ok(vm->name, MAX_VM_NAME, 0))
            return BAD("vm.name must be 1 to %d bytes without control characters", MAX_VM_NAME);
        if (vm->cpus > MAX_CPUS)
            return BAD("vm.cpus must be at most %d", MAX_CPUS);
        if (vm->memory_mib > MAX_MEMORY_MIB)
            return BAD("vm.memory_mib is out of range");
        if ((unsigned)vm->firmware >= NFIRMWARES)
            return BAD("vm.firmware is unknown");
        if (!token_ok(vm->disk_bus) || !token_ok(vm->nic_model) || !token_ok(vm->os_type))
            return BAD("vm.disk_bus, nic_model and os_type must be 1 to %d letters, digits, "
                       "'.', '_' or '-'",
                       MAX_TOKEN);
        if (!text_ok(vm->config_from, MAX_PATH_LEN, 0))
            return BAD("vm.config_from must be a path of 1 to %d bytes without control "
                       "characters",
                       MAX_PATH_LEN);
    }
    if (s->ndisks > MAX_DISKS || (s->ndisks && !s->disks))
        return BAD("more than %d disks", MAX_DISKS);
    for (size_t i = 0; i < s->ndisks; i++) {
        const cr_image_disk *d = &s->disks[i];
        if (!folder_ok(d->name))
            return BAD("disk %zu: its name must be a folder name (1 to %d bytes, not '.' or "
                       "'..', no '/' or control characters)",
                       i, MAX_SOURCE);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->disks[j].name, d->name))
                return BAD("disk name \"%s\" appears twice", d->name);
        if (!text_ok(d->source_path, MAX_PATH_LEN, 0))
            return BAD("disk %s: source_path must be 1 to %d bytes without control characters",
                       d->name, MAX_PATH_LEN);
        if ((unsigned)d->source_format >= NFORMATS)
            return BAD("disk %s: unknown source_format", d->name);
        if (d->virtual_size > INT64_MAX || d->stored > INT64_MAX || d->dropped > INT64_MAX)
            return BAD("disk %s: size out of range", d->name);
        if (d->nbacking > MAX_BACKING || (d->nbacking && !d->backing))
            return BAD("disk %s: more than %d backing files", d->name, MAX_BACKING);
        for (size_t k = 0; k < d->nbacking; k++)
            if (!d->backing[k].path || !text_ok(d->backing[k].path, MAX_PATH_LEN, 0) ||
                (unsigned)d->backing[k].format >= NFORMATS)
                return BAD("disk %s: backing file %zu: its path must be 1 to %d bytes without "
                           "control characters, its format a known one",
                           d->name, k, MAX_PATH_LEN);
        if (!token_ok(d->partition_table))
            return BAD("disk %s: partition_table must be a short word", d->name);
        if (d->nvolumes > MAX_VOLUMES || (d->nvolumes && !d->volumes))
            return BAD("disk %s: more than %d volumes", d->name, MAX_VOLUMES);
        for (size_t k = 0; k < d->nvolumes; k++) {
            const cr_image_volume *v = &d->volumes[k];
            if (!folder_ok(v->name))
                return BAD("disk %s: volume %zu: its name must be a folder name", d->name, k);
            for (size_t j = 0; j < k; j++)
                if (!strcmp(d->volumes[j].name, v->name))
                    return BAD("disk %s: volume name \"%s\" appears twice", d->name, v->name);
            if (v->start > INT64_MAX || v->length > INT64_MAX - v->start ||
                v->files > INT64_MAX)
                return BAD("disk %s: volume %s: start, length or files out of range", d->name,
                           v->name);
            if (!token_ok(v->fs_type))
                return BAD("disk %s: volume %s: fs_type must be a short word", d->name, v->name);
            if (!text_ok(v->label, MAX_LABEL, 1) || !text_ok(v->error, MAX_VOL_ERROR, 1))
                return BAD("disk %s: volume %s: label (%d bytes) or error (%d bytes) too long or "
                           "with control characters",
                           d->name, v->name, MAX_LABEL, MAX_VOL_ERROR);
        }
    }
    return NULL;
#undef BAD
}

static json_t *opt_string(const char *s)
{
    return s ? json_string(s) : NULL;
}

/* Set o[k] = v if v is not NULL; `ok` goes 0 when a non-NULL value could not be made. */
static void set_opt(json_t *o, const char *k, const char *s, int *ok)
{
    if (s)
        set(o, k, opt_string(s), ok);
}

static json_t *vm_json(const cr_vm_info *vm)
{
    json_t *o = json_object();
    int ok = o != NULL;
    if (!ok)
        return NULL;
    set_opt(o, "name", vm->name, &ok);
    if (vm->cpus)
        set(o, "cpus", json_integer((json_int_t)vm->cpus), &ok);
    if (vm->memory_mib)
        set(o, "memory_mib", json_integer((json_int_t)vm->memory_mib), &ok);
    if (vm->firmware != CR_FIRMWARE_UNKNOWN)
        set(o, "firmware", json_string(firmware_names[vm->firmware]), &ok);
    set_opt(o, "disk_bus", vm->disk_bus, &ok);
    set_opt(o, "nic_model", vm->nic_model, &ok);
    set_opt(o, "os_type", vm->os_type, &ok);
    set_opt(o, "config_from", vm->config_from, &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *disks_json(const cr_image_disk *disks, size_t n)
{
    json_t *a = json_array();
    int ok = a != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        const cr_image_disk *d = &disks[i];
        json_t *o = json_object(), *vols = json_array();
        if (!o || !vols) {
            json_decref(o);
            json_decref(vols);
            ok = 0;
            break;
        }
        if (json_array_append_new(a, o) < 0) { /* o is released by jansson */
            json_decref(vols);
            ok = 0;
            break;
        }
        set(o, "name", json_string(d->name), &ok);
        set_opt(o, "source_path", d->source_path, &ok);
        if (d->source_format != CR_IMAGE_AUTO)
            set(o, "source_format", json_string(format_names[d->source_format]), &ok);
        set(o, "virtual_size", json_integer((json_int_t)d->virtual_size), &ok);
        set(o, "stored", json_integer((json_int_t)d->stored), &ok);
        set_opt(o, "partition_table", d->partition_table, &ok);
        if (d->nbacking) {
            json_t *ba = json_array();
            if (!set(o, "backing", ba, &ok))
                break;
            for (size_t k = 0; ok && k < d->nbacking; k++) {
                json_t *bo = json_object();
                ok = bo && json_array_append_new(ba, bo) == 0;
                if (!ok)
                    break;
                set(bo, "path", json_string(d->backing[k].path), &ok);
                if (d->backing[k].format != CR_IMAGE_AUTO)
                    set(bo, "format", json_string(format_names[d->backing[k].format]), &ok);
            }
        }
        if (d->dropped)
            set(o, "dropped", json_integer((json_int_t)d->dropped), &ok);
        if (!set(o, "volumes", vols, &ok))
            break;
        for (size_t k = 0; ok && k < d->nvolumes; k++) {
            const cr_image_volume *v = &d->volumes[k];
            json_t *vo = json_object();
            ok = vo && json_array_append_new(vols, vo) == 0;
            if (!ok)
                break;
            set(vo, "name", json_string(v->name), &ok);
            set(vo, "start", json_integer((json_int_t)v->start), &ok);
            set(vo, "length", json_integer((json_int_t)v->length), &ok);
            set_opt(vo, "fs_type", v->fs_type, &ok);
            set_opt(vo, "label", v->label, &ok);
            set(vo, "files", json_integer((json_int_t)v->files), &ok);
            set_opt(vo, "error", v->error, &ok);
        }
    }
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

int cr_snapshot_encode(cr_buf *out, const cr_snapshot *snap)
{
    char when[48], tree[CR_ID_HEX_LEN + 1], parent[CR_ID_HEX_LEN + 1];
    int64_t back;
    json_t *o = NULL;
    char *text = NULL;
    int ok = 1, err = 0;

    if (!snap->source || !source_ok(snap->source, strlen(snap->source))) {
        cr_error_set("invalid source name '%.80s': 1 to 255 characters, no control characters",
                     snap->source ? snap->source : "");
        return CR_EINPUT;
    }
    /* Refuse here what the decoder would refuse: a snapshot must read back. */
    if (!strv_ok(snap->paths, snap->npaths, MAX_PATHS, MAX_PATH_LEN) ||
        !strv_ok(snap->tags, snap->ntags, MAX_TAGS, MAX_TAG_LEN) ||
        !strv_ok(snap->excludes, snap->nexcludes, MAX_EXCLUDES, MAX_EXCLUDE_LEN)) {
        cr_error_set("snapshot paths, tags or excludes are empty, too long (paths 4096, tags 255 "
                     "bytes) or too many");
        return CR_EINPUT;
    }
    if ((snap->hostname && strlen(snap->hostname) > MAX_HOST) ||
        (snap->username && strlen(snap->username) > MAX_USER) ||
        (snap->program_version && strlen(snap->program_version) > MAX_VERSION_LEN)) {
        cr_error_set("snapshot hostname or username too long");
        return CR_EINPUT;
    }
    char why[320];
    if (image_check(snap, why, sizeof(why))) {
        cr_error_set("cannot store the snapshot of '%s': %s", snap->source, why);
        return CR_EINPUT;
    }
    /* Only times that read back identically (years 1970..9999) are stored. */
    cr_time_format(when, sizeof(when), snap->time_ns);
    if (snap->time_ns < 0 || cr_time_parse(&back, when) < 0 || back != snap->time_ns) {
        cr_error_set("snapshot time out of range (1970..9999)");
        return CR_EINPUT;
    }
    cr_id_to_hex(tree, &snap->tree);
    if (snap->has_parent)
        cr_id_to_hex(parent, &snap->parent);
    if (!(o = json_object())) {
        ok = 0;
        goto done;
    }
    set(o, "version", json_integer(SNAP_VERSION), &ok);
    set(o, "source", json_string(snap->source), &ok);
    set(o, "time", json_string(when), &ok);
    set(o, "hostname", json_string(snap->hostname ? snap->hostname : ""), &ok);
    set(o, "username", json_string(snap->username ? snap->username : ""), &ok);
    set(o, "paths", strv_json(snap->paths, snap->npaths), &ok);
    set(o, "tags", strv_json(snap->tags, snap->ntags), &ok);
    set(o, "excludes", strv_json(snap->excludes, snap->nexcludes), &ok);
    set(o, "tree", json_string(tree), &ok);
    set(o, "parent", snap->has_parent ? json_string(parent) : json_null(), &ok);
    set(o, "files", json_integer((json_int_t)snap->files), &ok);
    set(o, "dirs", json_integer((json_int_t)snap->dirs), &ok);
    set(o, "others", json_integer((json_int_t)snap->others), &ok);
    set(o, "bytes", json_integer((json_int_t)snap->bytes), &ok);
    set(o, "bytes_new", json_integer((json_int_t)snap->bytes_new), &ok);
    set(o, "files_new", json_integer((json_int_t)snap->files_new), &ok);
    set(o, "files_changed", json_integer((json_int_t)snap->files_changed), &ok);
    set(o, "files_unchanged", json_integer((json_int_t)snap->files_unchanged), &ok);
    set(o, "errors", json_integer((json_int_t)snap->errors), &ok);
    set(o, "duration",
        json_real(snap->duration >= 0 && snap->duration < 1e12 ? snap->duration : 0.0), &ok);
    set(o, "program_version",
        json_string(snap->program_version ? snap->program_version : CR_VERSION_STRING), &ok);
    /* File snapshots stay as they were before images (same bytes, same ids). */
    if (snap->kind == CR_SNAPSHOT_IMAGE)
        set(o, "kind", json_string("image"), &ok);
    set_opt(o, "system_root", snap->system_root, &ok);
    if (snap->vm)
        set(o, "vm", vm_json(snap->vm), &ok);
    if (snap->kind == CR_SNAPSHOT_IMAGE)
        set(o, "disks", disks_json(snap->disks, snap->ndisks), &ok);
    if (!ok)
        goto done;
    /* json_string() returns NULL for invalid UTF-8: caught by `ok` above. */
    if (!(text = json_dumps(o, JSON_COMPACT))) {
        ok = 0;
        goto done;
    }
    cr_buf_reset(out);
    err = cr_buf_put(out, text, strlen(text));
done:
    if (!ok) {
        cr_error_set("cannot encode the snapshot: a name is not valid UTF-8, or out of memory");
        err = CR_EINPUT;
    }
    json_decref(o);
    free(text);
    return err;
}

/* ------------------------------------------------------------ decode */

static int corrupt(const char *what)
{
    cr_error_set("damaged snapshot: %s", what);
    return CR_ECORRUPT;
}

static int get_string(char **out, json_t *o, const char *key, size_t max, int required)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = cr_strndup(json_string_value(v), json_string_length(v));
    return *out ? 0 : -2;
}

static int get_strv(char ***out, size_t *n, json_t *o, const char *key, size_t maxn, size_t maxlen,
                    int allow_empty)
{
    json_t *a = json_object_get(o, key), *v;
    size_t i;
    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > maxn)
        return -1;
    if (json_array_size(a) == 0)
        return 0;
    char **list = cr_calloc(json_array_size(a), sizeof(char *));
    if (!list)
        return -2;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > maxlen ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            (!allow_empty && json_string_length(v) == 0)) {
            free_strv(list, i);
            return -1;
        }
        if (!(list[i] = cr_strndup(json_string_value(v), json_string_length(v)))) {
            free_strv(list, i);
            return -2;
        }
    }
    *out = list;
    *n = json_array_size(a);
    return 0;
}

static int get_u64(uint64_t *out, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return 0; /* counters are informative: absent means 0 */
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_id(cr_id *out, json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != CR_ID_HEX_LEN)
        return -1;
    return cr_id_from_hex(out, json_string_value(v)) < 0 ? -1 : 0;
}

/* An optional non-negative integer field that must fit in *out's range (max). */
static int get_uint(uint64_t *out, json_t *o, const char *key, uint64_t max)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* An optional name from a table: absent = index 0. */
static int get_enum(int *out, json_t *o, const char *key, const char *const *names, size_t n)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(json_string_value(v), names[i])) {
            *out = (int)i;
            return 0;
        }
    return -1;
}

/* Map a getter's result: -1 malformed field, -2 out of memory. */
static int field_err(int r, const char *what)
{
    if (r == -2)
        return CR_ERROR;
    return corrupt(what);
}

static int decode_vm(cr_vm_info **out, json_t *o)
{
    cr_vm_info *vm;
    uint64_t n;
    int r, e;
    *out = NULL;
    if (!json_is_object(o))
        return corrupt("vm is not an object");
    if (!(vm = cr_calloc(1, sizeof(*vm))))
        return CR_ERROR;
    *out = vm; /* freed by the caller's snapshot on error */
    if ((r = get_string(&vm->name, o, "name", MAX_VM_NAME, 0)) < 0 ||
        (r = get_string(&vm->disk_bus, o, "disk_bus", MAX_TOKEN, 0)) < 0 ||
        (r = get_string(&vm->nic_model, o, "nic_model", MAX_TOKEN, 0)) < 0 ||
        (r = get_string(&vm->os_type, o, "os_type", MAX_TOKEN, 0)) < 0 ||
        (r = get_string(&vm->config_from, o, "config_from", MAX_PATH_LEN, 0)) < 0)
        return field_err(r, "a text field of vm is not a string, or too long");
    if (get_uint(&n, o, "cpus", MAX_CPUS) < 0)
        return corrupt("vm.cpus is not an integer 0..4096");
    vm->cpus = (unsigned int)n;
    if (get_uint(&vm->memory_mib, o, "memory_mib", MAX_MEMORY_MIB) < 0)
        return corrupt("vm.memory_mib is not a non-negative integer in range");
    if (get_enum(&e, o, "firmware", firmware_names, NFIRMWARES) < 0)
        return corrupt("vm.firmware is not \"bios\" or \"uefi\"");
    vm->firmware = (cr_firmware)e;
    return 0;
}

static int decode_volume(cr_image_volume *v, json_t *o)
{
    int r;
    if (!json_is_object(o))
        return corrupt("a volume is not an object");
    if ((r = get_string(&v->name, o, "name", MAX_SOURCE, 1)) < 0 ||
        (r = get_string(&v->fs_type, o, "fs_type", MAX_TOKEN, 0)) < 0 ||
        (r = get_string(&v->label, o, "label", MAX_LABEL, 0)) < 0 ||
        (r = get_string(&v->error, o, "error", MAX_VOL_ERROR, 0)) < 0)
        return field_err(r, "a volume's name, fs_type, label or error is missing, not a string "
                            "or too long");
    if (get_uint(&v->start, o, "start", INT64_MAX) < 0 ||
        get_uint(&v->length, o, "length", INT64_MAX) < 0 ||
        get_uint(&v->files, o, "files", INT64_MAX) < 0)
        return corrupt("a volume's start, length or files is not a non-negative integer");
    return 0;
}

/* A disk's chain (optional: absent in snapshots written before it was recorded). */
static int decode_backing(cr_image_disk *d, json_t *a)
{
    json_t *o;
    size_t k;
    int r, e;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_BACKING)
        return corrupt("a disk's backing is not a list of at most 16 files");
    if (json_array_size(a) == 0)
        return 0;
    if (!(d->backing = cr_calloc(json_array_size(a), sizeof(cr_image_backing))))
        return CR_ERROR;
    d->nbacking = json_array_size(a);
    json_array_foreach(a, k, o)
    {
        if (!json_is_object(o))
            return corrupt("a backing file is not an object");
        if ((r = get_string(&d->backing[k].path, o, "path", MAX_PATH_LEN, 1)) < 0)
            return field_err(r, "a backing file's path is missing, not a string or too long");
        if (get_enum(&e, o, "format", format_names, NFORMATS) < 0)
            return corrupt("a backing file's format is not raw, qcow2, vmdk, vmdk-flat, vhdx or "
                           "vhd");
        d->backing[k].format = (cr_image_format)e;
    }
    return 0;
}

static int decode_disks(cr_snapshot *s, json_t *a)
{
    json_t *o, *v;
    size_t i, k;
    int r, e;
    if (!json_is_array(a) || json_array_size(a) > MAX_DISKS)
        return corrupt("disks is not a list of at most 64 disks");
    if (json_array_size(a) == 0)
        return 0;
    if (!(s->disks = cr_calloc(json_array_size(a), sizeof(cr_image_disk))))
        return CR_ERROR;
    /* Zeroed disks are safe to free, so all of them count from now on. */
    s->ndisks = json_array_size(a);
    json_array_foreach(a, i, o)
    {
        cr_image_disk *d = &s->disks[i];
        if (!json_is_object(o))
            return corrupt("a disk is not an object");
        if ((r = get_string(&d->name, o, "name", MAX_SOURCE, 1)) < 0 ||
            (r = get_string(&d->source_path, o, "source_path", MAX_PATH_LEN, 0)) < 0 ||
            (r = get_string(&d->partition_table, o, "partition_table", MAX_TOKEN, 0)) < 0)
            return field_err(r, "a disk's name, source_path or partition_table is missing, not "
                                "a string or too long");
        if (get_enum(&e, o, "source_format", format_names, NFORMATS) < 0)
            return corrupt("a disk's source_format is not raw, qcow2, vmdk, vmdk-flat, vhdx or "
                           "vhd");
        d->source_format = (cr_image_format)e;
        if (get_uint(&d->virtual_size, o, "virtual_size", INT64_MAX) < 0 ||
            get_uint(&d->stored, o, "stored", INT64_MAX) < 0 ||
            get_uint(&d->dropped, o, "dropped", INT64_MAX) < 0)
            return corrupt("a disk's virtual_size, stored or dropped is not a non-negative integer");
        if ((r = decode_backing(d, json_object_get(o, "backing"))) < 0)
            return r;
        json_t *vols = json_object_get(o, "volumes");
        if (!vols)
            continue;
        if (!json_is_array(vols) || json_array_size(vols) > MAX_VOLUMES)
            return corrupt("a disk's volumes is not a list of at most 256 volumes");
        if (json_array_size(vols) == 0)
            continue;
        if (!(d->volumes = cr_calloc(json_array_size(vols), sizeof(cr_image_volume))))
            return CR_ERROR;
        d->nvolumes = json_array_size(vols);
        json_array_foreach(vols, k, v)
        {
            if ((r = decode_volume(&d->volumes[k], v)) < 0)
                return r;
        }
    }
    return 0;
}

/* The optional image fields: kind, system_root, vm, disks. */
static int decode_image(cr_snapshot *s, json_t *o)
{
    json_t *v = json_object_get(o, "kind");
    char why[320];
    int r;
    if (v) {
        if (!json_is_string(v))
            return corrupt("kind is not a string");
        if (!strcmp(json_string_value(v), "image")) {
            s->kind = CR_SNAPSHOT_IMAGE;
        } else if (strcmp(json_string_value(v), "files") != 0) {
            cr_error_set("snapshot of kind \"%.40s\": this program (cleanroom %s) reads file and "
                         "image snapshots only",
                         json_string_value(v), CR_VERSION_STRING);
            return CR_EVERSION;
        }
    }
    if ((r = get_string(&s->system_root, o, "system_root", MAX_PATH_LEN, 0)) < 0)
        return field_err(r, "system_root is not a string, or too long");
    if ((v = json_object_get(o, "vm")) && (r = decode_vm(&s->vm, v)) < 0)
        return r;
    if ((v = json_object_get(o, "disks"))) {
        if (s->kind != CR_SNAPSHOT_IMAGE)
            return corrupt("disks in a snapshot that is not of kind \"image\"");
        if ((r = decode_disks(s, v)) < 0)
            return r;
    }
    if (image_check(s, why, sizeof(why))) {
        cr_error_set("damaged snapshot: %s", why);
        return CR_ECORRUPT;
    }
    return 0;
}

int cr_snapshot_decode(cr_snapshot **out, const void *data, size_t len)
{
    json_error_t jerr;
    json_t *o = NULL, *v;
    cr_snapshot *s = NULL;
    int err = 0, r;

    *out = NULL;
    if (len > CR_MAX_META_FILE)
        return corrupt("too large");
    o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        err = corrupt(o ? "not a JSON object" : "not valid JSON");
        goto done;
    }
    v = json_object_get(o, "version");
    if (!json_is_integer(v)) {
        err = corrupt("no version");
        goto done;
    }
    if (json_integer_value(v) != SNAP_VERSION) {
        cr_error_set("snapshot of format version %lld: this program (cleanroom %s) reads version "
                     "%d only",
                     (long long)json_integer_value(v), CR_VERSION_STRING, SNAP_VERSION);
        err = CR_EVERSION;
        goto done;
    }
    if (!(s = cr_calloc(1, sizeof(*s)))) {
        err = CR_ERROR;
        goto done;
    }
    if ((r = get_string(&s->source, o, "source", MAX_SOURCE, 1)) < 0 ||
        (r == 0 && !source_ok(s->source, strlen(s->source)))) {
        err = field_err(r, "source is missing, empty, longer than 255 bytes or has control "
                           "characters");
        goto done;
    }
    v = json_object_get(o, "time");
    if (!json_is_string(v) || json_string_length(v) > 64 ||
        cr_time_parse(&s->time_ns, json_string_value(v)) < 0 || s->time_ns < 0) {
        err = corrupt("time is not an RFC 3339 time after 1970");
        goto done;
    }
    if ((r = get_string(&s->hostname, o, "hostname", MAX_HOST, 0)) < 0) {
        err = field_err(r, "hostname");
        goto done;
    }
    if ((r = get_string(&s->username, o, "username", MAX_USER, 0)) < 0) {
        err = field_err(r, "username");
        goto done;
    }
    if ((r = get_strv(&s->paths, &s->npaths, o, "paths", MAX_PATHS, MAX_PATH_LEN, 0)) < 0) {
        err = field_err(r, "paths");
        goto done;
    }
    if ((r = get_strv(&s->tags, &s->ntags, o, "tags", MAX_TAGS, MAX_TAG_LEN, 0)) < 0) {
        err = field_err(r, "tags");
        goto done;
    }
    if ((r = get_strv(&s->excludes, &s->nexcludes, o, "excludes", MAX_EXCLUDES, MAX_EXCLUDE_LEN,
                      0)) < 0) {
        err = field_err(r, "excludes");
        goto done;
    }
    if (get_id(&s->tree, json_object_get(o, "tree")) < 0) {
        err = corrupt("tree is not a 64-hex-digit id");
        goto done;
    }
    v = json_object_get(o, "parent");
    if (v && !json_is_null(v)) {
        if (get_id(&s->parent, v) < 0) {
            err = corrupt("parent is not a 64-hex-digit id");
            goto done;
        }
        s->has_parent = 1;
    }
    if (get_u64(&s->files, o, "files") < 0 || get_u64(&s->dirs, o, "dirs") < 0 ||
        get_u64(&s->others, o, "others") < 0 || get_u64(&s->bytes, o, "bytes") < 0 ||
        get_u64(&s->bytes_new, o, "bytes_new") < 0 || get_u64(&s->files_new, o, "files_new") < 0 ||
        get_u64(&s->files_changed, o, "files_changed") < 0 ||
        get_u64(&s->files_unchanged, o, "files_unchanged") < 0 ||
        get_u64(&s->errors, o, "errors") < 0) {
        err = corrupt("a counter is not a non-negative integer");
        goto done;
    }
    v = json_object_get(o, "duration");
    if (v) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0) || json_number_value(v) > 1e12) {
            err = corrupt("duration is not a number of seconds");
            goto done;
        }
        s->duration = json_number_value(v);
    }
    if ((r = get_string(&s->program_version, o, "program_version", MAX_VERSION_LEN, 0)) < 0) {
        err = field_err(r, "program_version");
        goto done;
    }
    if ((err = decode_image(s, o)) < 0)
        goto done;
    *out = s;
    s = NULL;
done:
    cr_snapshot_free(s);
    json_decref(o);
    return err;
}

/* ------------------------------------------------------------ store */

int cr_snapshot_tags_add(cr_snapshot *snap, const char *const *more)
{
    size_t nmore = 0;
    char **t;
    while (more && more[nmore])
        nmore++;
    if (!nmore)
        return 0;
    if (!(t = cr_realloc(snap->tags, (snap->ntags + nmore) * sizeof(char *))))
        return CR_ERROR;
    snap->tags = t;
    for (size_t i = 0; i < nmore; i++) {
        if (!(snap->tags[snap->ntags] = cr_strdup(more[i])))
            return CR_ERROR;
        snap->ntags++;
    }
    return 0;
}

int cr_snapshot_save(cr_repo *repo, cr_snapshot *snap)
{
    cr_buf b = CR_BUF_INIT;
    cr_id id;
    int err;
    if ((err = cr_snapshot_encode(&b, snap)) == 0 &&
        (err = cr_repo_save_file(&id, repo, "snapshots", b.ptr, b.len)) == 0)
        snap->id = id;
    cr_buf_free(&b);
    return err;
}

int cr_snapshot_load(cr_snapshot **out, cr_repo *repo, const cr_id *id)
{
    cr_buf b = CR_BUF_INIT;
    int err;
    char hex[CR_ID_HEX_LEN + 1];
    *out = NULL;
    if ((err = cr_repo_load_file(&b, repo, "snapshots", id)) < 0)
        goto done;
    if ((err = cr_snapshot_decode(out, b.ptr, b.len)) < 0) {
        cr_error_prefix("snapshot %s", cr_id_to_hex(hex, id));
        goto done;
    }
    (*out)->id = *id;
done:
    cr_buf_free(&b);
    return err;
}

/* ------------------------------------------------------------ list, find */

static int snap_cmp(const void *a, const void *b)
{
    const cr_snapshot *x = *(cr_snapshot *const *)a, *y = *(cr_snapshot *const *)b;
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    return memcmp(x->id.b, y->id.b, CR_ID_LEN);
}

int cr_snapshot_list(cr_snapshot ***out, size_t *count, cr_repo *repo, const char *source)
{
    return cr_snapshot_list_checked(out, count, NULL, NULL, repo, source);
}

int cr_snapshot_list_checked(cr_snapshot ***out, size_t *count, cr_id **damaged,
                             size_t *ndamaged, cr_repo *repo, const char *source)
{
    cr_id *ids = NULL, *bad = NULL;
    size_t n = 0, k = 0, nbad = 0;
    cr_snapshot **list = NULL;
    cr_forgotten gone;
    int err;

    *out = NULL;
    *count = 0;
    memset(&gone, 0, sizeof(gone));
    if (damaged) {
        *damaged = NULL;
        *ndamaged = 0;
    }
    if ((err = cr_repo_list(&ids, &n, repo, "snapshots")) < 0 ||
        (err = cr_forgotten_load(&gone, repo)) < 0)
        goto done;
    if (!(list = cr_calloc(n, sizeof(*list)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cr_snapshot *s = NULL;
        if (cr_forgotten_has(&gone, &ids[i]))
            continue; /* forgotten: its file waits for prune */
        err = cr_snapshot_load(&s, repo, &ids[i]);
        /* Vanished files are skipped; damaged ones too, but named to the
         * caller: one bad file must not hide the other restore points. */
        if (err == CR_ENOTFOUND)
            continue;
        if (err == CR_ECORRUPT || err == CR_EVERSION) {
            if (damaged) {
                if (!bad && !(bad = cr_calloc(n, sizeof(*bad)))) {
                    err = CR_ERROR;
                    goto done;
                }
                bad[nbad++] = ids[i];
            }
            continue;
        }
        if (err < 0)
            goto done;
        if (source && strcmp(s->source, source) != 0) {
            cr_snapshot_free(s);
            continue;
        }
        list[k++] = s;
    }
    err = 0;
    if (k)
        qsort(list, k, sizeof(*list), snap_cmp);
    *out = list;
    *count = k;
    list = NULL;
    if (damaged) {
        *damaged = bad;
        *ndamaged = nbad;
        bad = NULL;
    }
done:
    cr_snapshot_list_free(list, k);
    cr_forgotten_clear(&gone);
    free(ids);
    free(bad);
    return err;
}

/* The newest snapshot (of `source` if not NULL). */
static int find_latest(cr_snapshot **out, cr_repo *repo, const char *source)
{
    cr_snapshot **list = NULL;
    size_t n = 0;
    int err;
    if ((err = cr_snapshot_list(&list, &n, repo, source)) < 0)
        return err;
    if (n == 0) {
        cr_snapshot_list_free(list, n);
        if (!source) {
            cr_error_set("the vault at %s has no snapshots yet", cr_repo_path(repo));
            return CR_ENOTFOUND;
        }
        /* Name the sources that exist: the usual mistake is a typo. */
        char known[512] = "";
        size_t len = 0;
        if (cr_snapshot_list(&list, &n, repo, NULL) == 0) {
            for (size_t i = 0; i < n && len < sizeof(known) - 1; i++) {
                int dup = 0;
                for (size_t j = 0; j < i && !dup; j++)
                    dup = !strcmp(list[j]->source, list[i]->source);
                if (!dup)
                    len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
                                            len ? ", " : "", list[i]->source);
                if (len >= sizeof(known))
                    len = sizeof(known) - 1;
            }
            cr_snapshot_list_free(list, n);
        }
        if (known[0])
            cr_error_set("no snapshot of source '%s' in the vault (sources: %s)", source, known);
        else
            cr_error_set("no snapshot of source '%s' in the vault: it has no snapshots yet",
                         source);
        return CR_ENOTFOUND;
    }
    *out = list[n - 1];
    list[n - 1] = NULL;
    cr_snapshot_list_free(list, n);
    return 0;
}

int cr_snapshot_find(cr_snapshot **out, cr_repo *repo, const char *spec)
{
    cr_id *ids = NULL, id;
    size_t n = 0, len, matches = 0, match_at = 0;
    char want[CR_ID_HEX_LEN + 1];
    cr_forgotten gone;
    int err = 0;

    *out = NULL;
    memset(&gone, 0, sizeof(gone));
    len = spec ? strlen(spec) : 0;
    if (len == 0) {
        cr_error_set("no snapshot given: use an id, a unique start of one, 'latest' or "
                     "'SOURCE:latest'");
        return CR_EINPUT;
    }
    if (!strcmp(spec, "latest"))
        return find_latest(out, repo, NULL);
    if (len > 7 && !strcmp(spec + len - 7, ":latest")) {
        char *source = cr_strndup(spec, len - 7);
        if (!source)
            return CR_ERROR;
        err = find_latest(out, repo, source);
        free(source);
        return err;
    }
    if (!cr_is_hex(spec) || len > CR_ID_HEX_LEN) {
        cr_error_set("'%.80s' is not a snapshot: use an id, a unique start of one (at least 4 hex "
                     "digits), 'latest' or 'SOURCE:latest' (e.g. '%.80s:latest')",
                     spec, spec);
        return CR_EINPUT;
    }
    if (len < MIN_PREFIX) {
        cr_error_set("snapshot id '%s' is too short: give at least %d hex digits", spec,
                     MIN_PREFIX);
        return CR_EINPUT;
    }
    for (size_t i = 0; i <= len; i++)
        want[i] = (char)(spec[i] >= 'A' && spec[i] <= 'F' ? spec[i] + 32 : spec[i]);
    if ((err = cr_forgotten_load(&gone, repo)) < 0)
        return err;
    if (len == CR_ID_HEX_LEN) {
        cr_id_from_hex(&id, want);
        if (cr_forgotten_has(&gone, &id)) {
            cr_error_set("snapshot %s was forgotten ('cleanroom forget'): it is no longer a "
                         "restore point",
                         want);
            err = CR_ENOTFOUND;
            goto done;
        }
        err = cr_snapshot_load(out, repo, &id);
        if (err == CR_ENOTFOUND)
            cr_error_set("no snapshot %s in the vault at %s", want, cr_repo_path(repo));
        goto done;
    }
    if ((err = cr_repo_list(&ids, &n, repo, "snapshots")) < 0)
        goto done;
    char cands[400] = "";
    size_t clen = 0;
    for (size_t i = 0; i < n; i++) {
        char hex[CR_ID_HEX_LEN + 1];
        cr_id_to_hex(hex, &ids[i]);
        if (strncmp(hex, want, len) != 0 || cr_forgotten_has(&gone, &ids[i]))
            continue;
        if (matches++ == 0)
            match_at = i;
        if (clen < sizeof(cands) - 20) {
            clen += (size_t)snprintf(cands + clen, sizeof(cands) - clen, "%s%.16s",
                                     clen ? ", " : "", hex);
        } else if (clen < sizeof(cands) - 1) {
            clen += (size_t)snprintf(cands + clen, sizeof(cands) - clen, ", ...");
            clen = sizeof(cands) - 1;
        }
    }
    if (matches == 0) {
        cr_error_set("no snapshot %s in the vault at %s", want, cr_repo_path(repo));
        err = CR_ENOTFOUND;
    } else if (matches > 1) {
        cr_error_set("snapshot id '%s' is ambiguous: %zu snapshots start with it (%s); give more "
                     "digits",
                     want, matches, cands);
        err = CR_EAMBIGUOUS;
    } else {
        err = cr_snapshot_load(out, repo, &ids[match_at]);
    }
done:
    cr_forgotten_clear(&gone);
    free(ids);
    return err;
}
