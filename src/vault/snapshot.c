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

/* ------------------------------------------------------------ free */

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cr_snapshot_free(cr_snapshot *snap)
{
    if (!snap)
        return;
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

/* Map a getter's result: -1 malformed field, -2 out of memory. */
static int field_err(int r, const char *what)
{
    if (r == -2)
        return CR_ERROR;
    return corrupt(what);
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
    *out = s;
    s = NULL;
done:
    cr_snapshot_free(s);
    json_decref(o);
    return err;
}

/* ------------------------------------------------------------ store */

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
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", cr_error_last());
        cr_error_set("snapshot %s: %s", cr_id_to_hex(hex, id), msg);
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
    int err;

    *out = NULL;
    *count = 0;
    if (damaged) {
        *damaged = NULL;
        *ndamaged = 0;
    }
    if ((err = cr_repo_list(&ids, &n, repo, "snapshots")) < 0)
        goto done;
    if (!(list = cr_calloc(n, sizeof(*list)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cr_snapshot *s = NULL;
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
    int err = 0;

    *out = NULL;
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
    if (len == CR_ID_HEX_LEN) {
        cr_id_from_hex(&id, want);
        err = cr_snapshot_load(out, repo, &id);
        if (err == CR_ENOTFOUND)
            cr_error_set("no snapshot %s in the vault at %s", want, cr_repo_path(repo));
        return err;
    }
    if ((err = cr_repo_list(&ids, &n, repo, "snapshots")) < 0)
        goto done;
    char cands[400] = "";
    size_t clen = 0;
    for (size_t i = 0; i < n; i++) {
        char hex[CR_ID_HEX_LEN + 1];
        cr_id_to_hex(hex, &ids[i]);
        if (strncmp(hex, want, len) != 0)
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
    free(ids);
    return err;
}
