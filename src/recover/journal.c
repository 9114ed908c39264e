/*
 * The recovery journal (docs/format.md §16): an append-only file of JSON
 * lines, each entry holding the SHA-256 of the entry before it.
 *
 *   {"seq":1,"time":"2026-11-22T03:12:00.5Z","type":"plan-loaded","service":null,
 *    "data":{"plan":"small-hospital.yaml"},"prev":"000...0","hash":"<64 hex>"}
 *
 * The hash is computed over the exact bytes written: the line without its
 * final `,"hash":"<64 hex>"` member (so `{...,"prev":"<64 hex>"}`). A reader
 * in any language checks it with a string operation and SHA-256, without
 * having to reproduce our JSON formatting; and no two different lines share
 * a hash, whatever a JSON library would consider equal.
 *
 * A SHA-256 chain shows accidents, not an attacker: whoever edits an entry can
 * compute every hash again. A journal written with its vault at hand is
 * therefore *keyed*: each line ends with `,"mac":"<64 hex>"}` instead, the
 * HMAC-SHA-256 of the same bytes under a key derived from the vault's master
 * key (cr_journal_key_derive), so only a holder of the vault's passphrase can
 * write an entry that verifies. Keyed lines may follow plain ones (an old
 * journal continued by this version), never the other way round. The end of
 * every recovery (and every acknowledgement) also stores the journal's head
 * in the vault as a write-once "journal head" file (journals/<sha256>):
 * verifying against the vault then also detects a journal cut at its end, or
 * replaced by another one (docs/format.md §16).
 *
 * Appending is one write(2) of the whole line on a file opened with O_APPEND,
 * then fsync: an entry is durable when cr_journal_append returns. A crash in
 * the middle of the write can leave an incomplete last line (no newline). That
 * line is never dropped silently: opening the journal refuses, and
 * cr_journal_cut_torn moves those bytes to FILE.torn and records the cut as an
 * entry of the chain, so the evidence says what happened. Only one process
 * appends at a time (flock); readers take no lock.
 */
#include "recover/plan_priv.h"
#include "util/util.h"
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* `,"hash":"` + 64 hex + `"}` */
#define HASH_SUFFIX_LEN (9 + CR_ID_HEX_LEN + 2)
/* `,"mac":"` + 64 hex + `"}` */
#define MAC_SUFFIX_LEN (8 + CR_ID_HEX_LEN + 2)
/* Head records read from a vault, at most. */
#define MAX_HEAD_RECORDS 100000u
#define HEAD_RECORD_TYPE "journal-head"

struct cr_journal {
    int fd;
    char *path;
    uint64_t seq;                        /* of the newest entry */
    char head[CR_ID_HEX_LEN + 1];        /* its hash (or MAC) */
    char id[CR_ID_HEX_LEN + 1];          /* the chain value of entry 1 ("" while empty) */
    int broken;                          /* a failed append: refuse more */
    int keyed;                           /* appends carry a MAC under `key` */
    uint8_t key[32];
    cr_repo *repo;                       /* borrowed: where heads are recorded (keyed) */
};

/* ============================================================ entries */

static void entry_clear(cr_journal_entry *e)
{
    free(e->type);
    free(e->service);
    for (size_t i = 0; i < e->nkv; i++) {
        free(e->keys[i]);
        free(e->values[i]);
    }
    free(e->keys);
    free(e->values);
    memset(e, 0, sizeof(*e));
}

void cr_journal_entries_free(cr_journal_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        entry_clear(&e[i]);
    free(e);
}

static void hash_hex(char out[CR_ID_HEX_LEN + 1], const void *data, size_t len)
{
    uint8_t h[32];
    cr_sha256(h, data, len);
    cr_hex_encode(out, h, sizeof(h));
}

static void mac_hex(char out[CR_ID_HEX_LEN + 1], const uint8_t key[32], const void *data,
                    size_t len)
{
    uint8_t h[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(h, data, len, key);
    cr_hex_encode(out, h, sizeof(h));
}

static int is_lower_hex64(const char *s, size_t len)
{
    if (len != CR_ID_HEX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int ends_with_chain(const char *line, size_t len, const char *head, size_t suffix)
{
    size_t hl = strlen(head);
    return len >= suffix + 2 && memcmp(line + len - suffix, head, hl) == 0 &&
           line[len - 2] == '"' && line[len - 1] == '}' &&
           is_lower_hex64(line + len - suffix + hl, CR_ID_HEX_LEN);
}

/* Check the form of one complete line (without its newline) and decode it.
 * *keyed: 1 for a line ending with its "mac" (checked only when `key` is
 * given), 0 for one ending with its "hash".
 * Returns 0, or CR_ECORRUPT with `why` set (a static or formatted text). */
static int decode_line(cr_journal_entry *e, char prev[CR_ID_HEX_LEN + 1], int *keyed,
                       const uint8_t *jkey, const char *line, size_t len, char *why,
                       size_t whylen)
{
    static const char hash_head[] = ",\"hash\":\"", mac_head[] = ",\"mac\":\"";
    char calc[CR_ID_HEX_LEN + 1];
    json_t *j = NULL, *v;
    json_error_t jerr;
    int err = CR_ECORRUPT;
    size_t suffix;
    cr_buf body = CR_BUF_INIT;

    memset(e, 0, sizeof(*e));
    if (line[0] == '{' && ends_with_chain(line, len, hash_head, HASH_SUFFIX_LEN)) {
        *keyed = 0;
        suffix = HASH_SUFFIX_LEN;
    } else if (line[0] == '{' && ends_with_chain(line, len, mac_head, MAC_SUFFIX_LEN)) {
        *keyed = 1;
        suffix = MAC_SUFFIX_LEN;
    } else {
        snprintf(why, whylen, "it is not a journal entry (it does not end with its \"hash\" "
                              "or \"mac\")");
        goto done;
    }
    memcpy(e->hash, line + len - CR_ID_HEX_LEN - 2, CR_ID_HEX_LEN);
    e->hash[CR_ID_HEX_LEN] = '\0';
    if (cr_buf_put(&body, line, len - suffix) < 0 || cr_buf_put(&body, "}", 1) < 0) {
        err = CR_ERROR;
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    if (!*keyed) {
        hash_hex(calc, body.ptr, body.len);
        if (strcmp(calc, e->hash) != 0) {
            snprintf(why, whylen,
                     "it was changed after it was written: its content does not match its hash");
            goto done;
        }
    } else if (jkey) {
        mac_hex(calc, jkey, body.ptr, body.len);
        if (sodium_memcmp(calc, e->hash, CR_ID_HEX_LEN) != 0) {
            snprintf(why, whylen,
                     "it was changed after it was written: its content does not match its MAC "
                     "(the key of the vault; or the journal belongs to another vault)");
            goto done;
        }
    }
    if (!(j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ||
        !json_is_object(j)) {
        snprintf(why, whylen, "it is not valid JSON (%s)", j ? "not an object" : jerr.text);
        goto done;
    }
    v = json_object_get(j, "seq");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        snprintf(why, whylen, "its \"seq\" is missing or not a positive integer");
        goto done;
    }
    e->seq = (uint64_t)json_integer_value(v);
    v = json_object_get(j, "time");
    if (!json_is_string(v) || cr_time_parse(&e->time_ns, json_string_value(v)) < 0) {
        snprintf(why, whylen, "its \"time\" is missing or not an RFC 3339 time");
        goto done;
    }
    v = json_object_get(j, "type");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(why, whylen, "its \"type\" is missing");
        goto done;
    }
    if (!(e->type = cr_strdup(json_string_value(v)))) {
        err = CR_ERROR;
        goto done;
    }
    v = json_object_get(j, "service");
    if (json_is_string(v)) {
        if (!(e->service = cr_strndup(json_string_value(v), json_string_length(v)))) {
            err = CR_ERROR;
            goto done;
        }
    } else if (!json_is_null(v)) {
        snprintf(why, whylen, "its \"service\" is missing (it is a text or null)");
        goto done;
    }
    v = json_object_get(j, "data");
    if (!json_is_object(v)) {
        snprintf(why, whylen, "its \"data\" is missing or not an object");
        goto done;
    }
    size_t n = json_object_size(v);
    if (n) {
        const char *key;
        json_t *val;
        e->keys = calloc(n, sizeof(char *));
        e->values = calloc(n, sizeof(char *));
        if (!e->keys || !e->values) {
            err = CR_ERROR;
            goto done;
        }
        json_object_foreach(v, key, val)
        {
            if (!json_is_string(val)) {
                snprintf(why, whylen, "the value of \"%.40s\" in its \"data\" is not a text", key);
                goto done;
            }
            if (e->nkv >= n)
                break;
            e->keys[e->nkv] = cr_strdup(key);
            e->values[e->nkv] = cr_strndup(json_string_value(val), json_string_length(val));
            if (!e->keys[e->nkv] || !e->values[e->nkv]) {
                free(e->keys[e->nkv]);
                free(e->values[e->nkv]);
                err = CR_ERROR;
                goto done;
            }
            e->nkv++;
        }
    }
    v = json_object_get(j, "prev");
    if (!json_is_string(v) || !is_lower_hex64(json_string_value(v), json_string_length(v))) {
        snprintf(why, whylen, "its \"prev\" is missing or not 64 hex digits");
        goto done;
    }
    memcpy(prev, json_string_value(v), CR_ID_HEX_LEN + 1);
    v = json_object_get(j, *keyed ? "mac" : "hash");
    if (!json_is_string(v) || strcmp(json_string_value(v), e->hash) != 0 ||
        json_object_get(j, *keyed ? "hash" : "mac")) {
        snprintf(why, whylen, "its \"hash\" or \"mac\" appears twice");
        goto done;
    }
    err = 0;
done:
    json_decref(j);
    cr_buf_free(&body);
    if (err < 0)
        entry_clear(e);
    return err;
}

/* cr_journal_verify_buffer, with the journal key (NULL: MACs are not
 * checked, only the form and the links) and *keyed_from: the line of the
 * first keyed entry (0: none). */
static int verify_buf(cr_journal_entry **out, size_t *count, uint64_t *bad_line, int *torn,
                      size_t *good_len, char *head, uint64_t *keyed_from, const uint8_t *key,
                      const void *data, size_t len)
{
    const char *p = data, *end = p + len;
    cr_journal_entry *v = NULL;
    size_t n = 0, cap = 0, good = 0;
    uint64_t line = 0;
    char last[CR_ID_HEX_LEN + 1] = ZERO_HASH, why[200];
    int err = 0;

    *out = NULL;
    *count = 0;
    *keyed_from = 0;
    if (bad_line)
        *bad_line = 0;
    if (torn)
        *torn = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cr_journal_entry e;
        char prev[CR_ID_HEX_LEN + 1];
        int keyed = 0;
        line++;
        if (!nl) {
            if (torn)
                *torn = 1;
            cr_error_set("line %llu is incomplete (%zu bytes, no end of line): the program was "
                         "stopped while writing it; run `cleanroom journal verify --cut-torn` "
                         "to move it aside",
                         (unsigned long long)line, llen);
            err = CR_ECORRUPT;
            break;
        }
        if (llen + 1 > CR_JOURNAL_MAX_LINE) {
            cr_error_set("line %llu is longer than %u bytes: not a journal entry",
                         (unsigned long long)line, CR_JOURNAL_MAX_LINE);
            err = CR_ECORRUPT;
            break;
        }
        if ((err = decode_line(&e, prev, &keyed, key, p, llen, why, sizeof(why))) < 0) {
            if (err == CR_ECORRUPT)
                cr_error_set("line %llu: %s", (unsigned long long)line, why);
            else
                cr_error_set("out of memory reading the journal");
            break;
        }
        if (!keyed && *keyed_from) {
            cr_error_set("line %llu is not keyed, but the journal is keyed from line %llu: it "
                         "was written or rewritten without the vault's key",
                         (unsigned long long)line, (unsigned long long)*keyed_from);
            entry_clear(&e);
            err = CR_ECORRUPT;
            break;
        }
        if (keyed && !*keyed_from)
            *keyed_from = line;
        uint64_t want = n + 1;
        if (e.seq != want || strcmp(prev, last) != 0) {
            if (e.seq < want && strcmp(v[e.seq - 1].hash, e.hash) == 0)
                cr_error_set("line %llu repeats line %llu (entry %llu): an entry was duplicated",
                             (unsigned long long)line, (unsigned long long)e.seq,
                             (unsigned long long)e.seq);
            else if (e.seq < want)
                cr_error_set("line %llu holds entry %llu, which came already at line %llu: "
                             "entries were reordered or replaced",
                             (unsigned long long)line, (unsigned long long)e.seq,
                             (unsigned long long)e.seq);
            else if (e.seq == want + 1)
                cr_error_set("line %llu holds entry %llu where entry %llu was expected: entry "
                             "%llu was removed or moved",
                             (unsigned long long)line, (unsigned long long)e.seq,
                             (unsigned long long)want, (unsigned long long)want);
            else if (e.seq > want)
                cr_error_set("line %llu holds entry %llu where entry %llu was expected: entries "
                             "%llu to %llu were removed or moved",
                             (unsigned long long)line, (unsigned long long)e.seq,
                             (unsigned long long)want, (unsigned long long)want,
                             (unsigned long long)(e.seq - 1));
            else
                cr_error_set("line %llu does not follow the entry before it: it names %.8s as "
                             "the previous entry, but that one is %.8s (an entry was replaced "
                             "or inserted)",
                             (unsigned long long)line, prev, last);
            entry_clear(&e);
            err = CR_ECORRUPT;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            cr_journal_entry *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                entry_clear(&e);
                cr_error_set("out of memory reading the journal");
                err = CR_ERROR;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = e;
        memcpy(last, e.hash, sizeof(last));
        p = nl + 1;
        good = (size_t)(p - (const char *)data);
    }
    if (err == CR_ECORRUPT && bad_line)
        *bad_line = line;
    if (good_len)
        *good_len = good;
    if (head)
        memcpy(head, last, sizeof(last));
    *out = v;
    *count = n;
    return err;
}

int cr_journal_verify_buffer(cr_journal_entry **out, size_t *count, uint64_t *bad_line, int *torn,
                             size_t *good_len, char *head, const void *data, size_t len)
{
    uint64_t keyed_from;
    return verify_buf(out, count, bad_line, torn, good_len, head, &keyed_from, NULL, data, len);
}

/* ============================================================ reading */

/* Read a whole journal through fd. */
static int read_fd(cr_buf *b, int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cr_error_errno("cannot read the journal %s", path);
    if ((uint64_t)st.st_size > CR_JOURNAL_MAX_BYTES) {
        cr_error_set("the journal %s is larger than %llu bytes: not a journal", path,
                     (unsigned long long)CR_JOURNAL_MAX_BYTES);
        return CR_ECORRUPT;
    }
    if (st.st_size == 0)
        return 0;
    if (cr_buf_grow(b, (size_t)st.st_size) < 0)
        return CR_ERROR;
    int err = cr_fs_pread_all(fd, b->ptr, (size_t)st.st_size, 0);
    if (err < 0)
        return err;
    b->len = (size_t)st.st_size;
    return 0;
}

int cr_journal_read(cr_journal_entry **out, size_t *n, uint64_t *bad_line, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    int fd, err;
    *out = NULL;
    *n = 0;
    if (bad_line)
        *bad_line = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err = cr_error_errno("cannot open the journal %s", path);
        return err;
    }
    if ((err = read_fd(&b, fd, path)) == 0) {
        err = cr_journal_verify_buffer(out, n, bad_line, NULL, NULL, NULL,
                                       b.ptr ? (const void *)b.ptr : "", b.len);
        if (err == CR_ECORRUPT) {
            char *m = cr_strdup(cr_error_last());
            cr_error_set("journal %s, %s", path, m ? m : "damaged");
            free(m);
        }
    }
    close(fd);
    cr_buf_free(&b);
    return err;
}

const char *cr_journal_vault_named(const cr_journal_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].type, CR_JOURNAL_RECOVER_START) != 0)
            continue;
        for (size_t k = 0; k < e[i].nkv; k++)
            if (strcmp(e[i].keys[k], "vault") == 0)
                return e[i].values[k];
        return NULL;
    }
    return NULL;
}

/* ============================================================ writing */

static void journal_free(cr_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd); /* releases the flock */
    free(j->path);
    sodium_memzero(j->key, sizeof(j->key));
    free(j);
}

void cr_journal_close(cr_journal *j)
{
    journal_free(j);
}

uint64_t cr_journal_count(const cr_journal *j)
{
    return j->seq;
}

const char *cr_journal_head(const cr_journal *j)
{
    return j->head;
}

static int dir_of(char *out, size_t len, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(out, len, ".") < (int)len ? 0 : -1;
    if (slash == path)
        return snprintf(out, len, "/") < (int)len ? 0 : -1;
    return snprintf(out, len, "%.*s", (int)(slash - path), path) < (int)len ? 0 : -1;
}

/* Open and lock; verify. `torn_ok`: return the journal even when its last
 * line is torn (*torn set, *good the length of the intact part). */
static int journal_open(cr_journal **out, const char *path, cr_repo *repo, int create,
                        int torn_ok, int *torn, size_t *good, cr_buf *content)
{
    cr_journal *j = NULL;
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0, keyed_from = 0;
    int err = 0, created = 0, t = 0;

    *out = NULL;
    if (!(j = calloc(1, sizeof(*j))) || !(j->path = cr_strdup(path))) {
        free(j);
        return CR_ERROR;
    }
    j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0 && errno == ENOENT && create) {
        j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        created = j->fd >= 0;
    }
    if (j->fd < 0) {
        err = cr_error_errno("cannot open the journal %s", path);
        goto done;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            cr_error_set("the journal %s is in use by another cleanroom process (a recovery "
                         "running?); wait for it to end",
                         path);
            err = CR_ELOCKED;
        } else {
            err = cr_error_errno("cannot lock the journal %s", path);
        }
        goto done;
    }
    if (created) {
        char dir[4096];
        if (dir_of(dir, sizeof(dir), path) == 0 && (err = cr_fs_fsync_dir(AT_FDCWD, dir)) < 0)
            goto done;
    }
    if ((err = read_fd(content, j->fd, path)) < 0)
        goto done;
    if (repo) {
        j->keyed = 1;
        j->repo = repo;
        cr_journal_key_derive(j->key, repo->master);
    }
    err = verify_buf(&e, &n, &bad, &t, good, j->head, &keyed_from, repo ? j->key : NULL,
                     content->ptr ? (const void *)content->ptr : "", content->len);
    if (torn)
        *torn = t;
    if (err == CR_ECORRUPT && t && torn_ok)
        err = 0;
    if (err == CR_ECORRUPT) {
        char *m = cr_strdup(cr_error_last());
        if (t)
            cr_error_set("journal %s, %s (then: cleanroom journal verify --cut-torn %s)", path,
                         m ? m : "", path);
        else
            cr_error_set("journal %s, %s: it cannot be appended to; keep it as evidence and "
                         "start a new journal",
                         path, m ? m : "damaged");
        free(m);
    }
    if (err < 0)
        goto done;
    if (keyed_from && !repo) {
        cr_error_set("the journal %s is keyed with its vault's key: only a command that has the "
                     "vault open can add to it",
                     path);
        err = CR_EINPUT;
        goto done;
    }
    j->seq = n;
    if (n)
        memcpy(j->id, e[0].hash, sizeof(j->id));
done:
    cr_journal_entries_free(e, n);
    if (err < 0)
        journal_free(j);
    else
        *out = j;
    return err;
}

int cr_journal_open_keyed(cr_journal **out, const char *path, cr_repo *repo)
{
    cr_buf b = CR_BUF_INIT;
    int err = journal_open(out, path, repo, 1, 0, NULL, NULL, &b);
    cr_buf_free(&b);
    return err;
}

int cr_journal_open(cr_journal **out, const char *path)
{
    return cr_journal_open_keyed(out, path, NULL);
}

static int utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    int n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)n > left)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string of s; bytes that are not valid UTF-8 become the text \xNN. */
static json_t *jstr(const char *s)
{
    size_t len = strlen(s), o = 0;
    json_t *r = json_stringn(s, len);
    if (r)
        return r;
    char *t = malloc(len * 4 + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < len;) {
        int n = utf8_len((const unsigned char *)s + i, len - i);
        if (n == 0) {
            o += (size_t)sprintf(t + o, "\\x%02x", (unsigned char)s[i]);
            i++;
        } else {
            memcpy(t + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        }
    }
    r = json_stringn(t, o);
    free(t);
    return r;
}

static int good_type(const char *t)
{
    if (!t || !*t || strlen(t) > 64)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '-' || *t == '_'))
            return 0;
    return 1;
}

/* ============================================================ heads in the vault */

/* The journal's path as recorded in the vault: absolute, its folder resolved. */
static char *abs_path(const char *path)
{
    char dir[4096], real[PATH_MAX];
    const char *base = strrchr(path, '/');
    if (dir_of(dir, sizeof(dir), path) < 0 || !realpath(dir, real))
        return cr_strdup(path);
    return cr_sprintf("%s/%s", strcmp(real, "/") ? real : "", base ? base + 1 : path);
}

typedef struct head_rec {
    char journal[CR_ID_HEX_LEN + 1];
    char head[CR_ID_HEX_LEN + 1];
    uint64_t entries;
    int64_t time_ns;
    char *path;
    char event[33];
} head_rec;

static void heads_free(head_rec *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        free(h[i].path);
    free(h);
}

static int head_store(cr_journal *j, const char *event)
{
    char t[48];
    char *ap = abs_path(j->path), *text = NULL;
    json_t *o = NULL;
    cr_id id;
    int err = CR_ERROR;

    cr_time_format(t, sizeof(t), cr_time_now_ns());
    if (ap)
        o = json_pack("{s:s,s:i,s:s,s:I,s:s,s:o,s:s,s:s}", "type", HEAD_RECORD_TYPE, "version", 1,
                      "journal", j->id, "entries", (json_int_t)j->seq, "head", j->head, "path",
                      jstr(ap), "time", t, "event", event);
    if (!o || !(text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        cr_error_set("out of memory recording the journal's head in the vault");
        goto done;
    }
    if ((err = cr_repo_save_file(&id, j->repo, "journals", text, strlen(text))) < 0) {
        char *m = cr_strdup(cr_error_last());
        cr_error_set("the journal %s was written, but its head could not be recorded in the "
                     "vault: %s",
                     j->path, m ? m : "");
        free(m);
    }
done:
    free(text);
    free(ap);
    json_decref(o);
    return err;
}

static int head_decode(head_rec *r, const void *data, size_t len)
{
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL), *v;
    int ok = 0;
    memset(r, 0, sizeof(*r));
    if (!json_is_object(o))
        goto done;
    v = json_object_get(o, "type");
    if (!json_is_string(v) || strcmp(json_string_value(v), HEAD_RECORD_TYPE) != 0)
        goto done;
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        goto done;
    v = json_object_get(o, "journal");
    if (!json_is_string(v) || !is_lower_hex64(json_string_value(v), json_string_length(v)))
        goto done;
    memcpy(r->journal, json_string_value(v), sizeof(r->journal));
    v = json_object_get(o, "head");
    if (!json_is_string(v) || !is_lower_hex64(json_string_value(v), json_string_length(v)))
        goto done;
    memcpy(r->head, json_string_value(v), sizeof(r->head));
    v = json_object_get(o, "entries");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        goto done;
    r->entries = (uint64_t)json_integer_value(v);
    v = json_object_get(o, "time");
    if (!json_is_string(v) || cr_time_parse(&r->time_ns, json_string_value(v)) < 0)
        goto done;
    v = json_object_get(o, "event");
    if (!json_is_string(v) || json_string_length(v) >= sizeof(r->event))
        goto done;
    memcpy(r->event, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(o, "path");
    if (!json_is_string(v) || json_string_length(v) > 4096 ||
        !(r->path = cr_strndup(json_string_value(v), json_string_length(v))))
        goto done;
    ok = 1;
done:
    json_decref(o);
    return ok ? 0 : CR_ECORRUPT;
}

static int heads_load(head_rec **out, size_t *count, cr_repo *repo)
{
    cr_id *ids = NULL;
    size_t n = 0, k = 0;
    head_rec *h = NULL;
    cr_buf b = CR_BUF_INIT;
    int err;

    *out = NULL;
    *count = 0;
    if ((err = cr_repo_list(&ids, &n, repo, "journals")) < 0)
        return err;
    if (n > MAX_HEAD_RECORDS) {
        cr_error_set("the vault holds %zu journal head files, more than %u: damaged?", n,
                     MAX_HEAD_RECORDS);
        err = CR_ECORRUPT;
        goto done;
    }
    if (n && !(h = cr_calloc(n, sizeof(*h)))) {
        err = CR_ERROR;
        goto done;
    }
    for (; k < n; k++) {
        char hex[CR_ID_HEX_LEN + 1];
        if ((err = cr_repo_load_file(&b, repo, "journals", &ids[k])) < 0)
            goto done;
        if ((err = head_decode(&h[k], b.ptr, b.len)) < 0) {
            cr_error_set("the journal head file journals/%s of the vault is damaged",
                         cr_id_to_hex(hex, &ids[k]));
            goto done;
        }
    }
done:
    free(ids);
    cr_buf_free(&b);
    if (err < 0)
        heads_free(h, k + (k < n && h ? 1 : 0));
    else {
        *out = h;
        *count = n;
    }
    return err;
}

/* Check an intact chain against the heads the vault recorded. */
static int check_heads(cr_journal_check *ck, uint64_t *bad_line, const cr_journal_entry *e,
                       size_t n, const char *path, cr_repo *repo)
{
    head_rec *h = NULL;
    size_t nh = 0;
    const head_rec *other = NULL;
    int64_t mine_newest = INT64_MIN;
    size_t mine_here = 0;
    char t[48];
    char *ap = NULL;
    int err;

    if ((err = heads_load(&h, &nh, repo)) < 0)
        return err;
    if (!(ap = abs_path(path))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nh; i++) {
        const head_rec *r = &h[i];
        if (n && strcmp(r->journal, e[0].hash) == 0) {
            ck->heads++;
            mine_here += strcmp(r->path, ap) == 0;
            if (r->time_ns > mine_newest)
                mine_newest = r->time_ns;
            if (r->entries > ck->sealed)
                ck->sealed = r->entries;
            cr_time_format(t, sizeof(t), r->time_ns);
            if (r->entries > n) {
                cr_error_set("the journal ends at entry %zu, but the vault recorded it with "
                             "%llu entries (head %.8s, %s, at %s): entries %zu to %llu were "
                             "removed",
                             n, (unsigned long long)r->entries, r->head, r->event, t, n + 1,
                             (unsigned long long)r->entries);
                *bad_line = n + 1;
                ck->missing = r->entries - n;
                err = CR_ECORRUPT;
                goto done;
            }
            if (strcmp(e[r->entries - 1].hash, r->head) != 0) {
                cr_error_set("entry %llu is not the one the vault recorded (head %.8s, %s, at "
                             "%s): the journal was rewritten",
                             (unsigned long long)r->entries, r->head, r->event, t);
                *bad_line = r->entries;
                err = CR_ECORRUPT;
                goto done;
            }
        } else if (strcmp(r->path, ap) == 0 && (!other || r->time_ns > other->time_ns)) {
            other = r;
        }
    }
    /* Another journal recorded here, and this one never was (or earlier):
     * this file took that one's place. */
    if (other && (!mine_here || other->time_ns > mine_newest)) {
        cr_time_format(t, sizeof(t), other->time_ns);
        cr_error_set("the vault recorded another journal at this path (journal %.8s, %llu "
                     "entries, head %.8s, at %s), and this file is not that journal: it was "
                     "replaced (if a new journal was started here on purpose, keep the old one as "
                     "evidence and write new ones to another path)",
                     other->journal, (unsigned long long)other->entries, other->head, t);
        *bad_line = 1;
        err = CR_ECORRUPT;
    }
done:
    free(ap);
    heads_free(h, nh);
    return err;
}

int cr_journal_verify(cr_journal_entry **out, size_t *n, uint64_t *bad_line,
                      cr_journal_check *check, const char *path, cr_repo *repo)
{
    cr_journal_check ck;
    cr_buf b = CR_BUF_INIT;
    uint8_t key[32];
    uint64_t bad = 0;
    int fd, err;

    *out = NULL;
    *n = 0;
    memset(&ck, 0, sizeof(ck));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return cr_error_errno("cannot open the journal %s", path);
    if (repo)
        cr_journal_key_derive(key, repo->master);
    if ((err = read_fd(&b, fd, path)) == 0)
        err = verify_buf(out, n, &bad, NULL, NULL, NULL, &ck.keyed_from, repo ? key : NULL,
                         b.ptr ? (const void *)b.ptr : "", b.len);
    close(fd);
    sodium_memzero(key, sizeof(key));
    cr_buf_free(&b);
    ck.keyed = ck.keyed_from != 0;
    ck.vault = repo != NULL;
    if (*n)
        memcpy(ck.id, (*out)[0].hash, sizeof(ck.id));
    if (err == 0 && ck.keyed && !repo) {
        cr_error_set("the journal %s is keyed with its vault's key: it can only be verified "
                     "with that vault (give --repo DIR, or set CLEANROOM_REPO)",
                     path);
        err = CR_EINPUT;
    }
    if (err == 0 && repo)
        err = check_heads(&ck, &bad, *out, *n, path, repo);
    if (err == CR_ECORRUPT) {
        char *m = cr_strdup(cr_error_last());
        cr_error_set("journal %s, %s", path, m ? m : "damaged");
        free(m);
    }
    if (bad_line)
        *bad_line = err == CR_ECORRUPT ? bad : 0;
    if (check)
        *check = ck;
    return err;
}

int cr_journal_append(cr_journal *j, const char *type, const char *service,
                      const char *const *kv, size_t nkv)
{
    json_t *o = NULL, *data = NULL;
    char *body = NULL, tbuf[48], hash[CR_ID_HEX_LEN + 1];
    cr_buf line = CR_BUF_INIT;
    int err = 0;

    if (j->broken) {
        cr_error_set("the journal %s could not be written a moment ago: open it again", j->path);
        return CR_ERROR;
    }
    if (!good_type(type)) {
        cr_error_set("journal entry type '%s' is not a word of a-z, 0-9, '-'", type ? type : "");
        return CR_EINPUT;
    }
    cr_time_format(tbuf, sizeof(tbuf), cr_time_now_ns());
    if (!(o = json_object()) || !(data = json_object()))
        goto oom;
    for (size_t i = 0; i < nkv; i++) {
        const char *k = kv[2 * i], *val = kv[2 * i + 1];
        json_t *jk;
        if (!val) {
            cr_error_set("journal entry '%s': the key '%s' has no value", type, k ? k : "");
            err = CR_EINPUT;
            goto done;
        }
        if (!k || !*k) {
            cr_error_set("journal entry '%s': an empty key", type);
            err = CR_EINPUT;
            goto done;
        }
        /* keys go through the same UTF-8 repair as values */
        if (!(jk = jstr(k)))
            goto oom;
        if (json_object_get(data, json_string_value(jk))) {
            cr_error_set("journal entry '%s': the key '%s' is given twice", type,
                         json_string_value(jk));
            json_decref(jk);
            err = CR_EINPUT;
            goto done;
        }
        if (json_object_set_new(data, json_string_value(jk), jstr(val)) < 0) {
            json_decref(jk);
            goto oom;
        }
        json_decref(jk);
    }
    if (json_object_set_new(o, "seq", json_integer((json_int_t)(j->seq + 1))) < 0 ||
        json_object_set_new(o, "time", json_string(tbuf)) < 0 ||
        json_object_set_new(o, "type", json_string(type)) < 0 ||
        json_object_set_new(o, "service", service ? jstr(service) : json_null()) < 0 ||
        json_object_set(o, "data", data) < 0 ||
        json_object_set_new(o, "prev", json_string(j->head)) < 0)
        goto oom;
    if (!(body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto oom;
    size_t blen = strlen(body);
    if (j->keyed)
        mac_hex(hash, j->key, body, blen);
    else
        hash_hex(hash, body, blen);
    if (cr_buf_put(&line, body, blen - 1) < 0 ||
        cr_buf_put(&line, j->keyed ? ",\"mac\":\"" : ",\"hash\":\"", j->keyed ? 8 : 9) < 0 ||
        cr_buf_put(&line, hash, CR_ID_HEX_LEN) < 0 || cr_buf_put(&line, "\"}\n", 3) < 0)
        goto oom;
    if (line.len > CR_JOURNAL_MAX_LINE) {
        cr_error_set("journal entry '%s' is larger than %u bytes", type, CR_JOURNAL_MAX_LINE);
        err = CR_EINPUT;
        goto done;
    }
    if ((err = cr_fs_write_all(j->fd, line.ptr, line.len)) < 0 || fsync(j->fd) < 0) {
        if (err == 0)
            err = cr_error_errno("cannot write the journal %s", j->path);
        else {
            char *m = cr_strdup(cr_error_last());
            cr_error_set("cannot write the journal %s: %s", j->path, m ? m : "");
            free(m);
        }
        j->broken = 1;
        goto done;
    }
    j->seq++;
    memcpy(j->head, hash, sizeof(hash));
    if (j->seq == 1)
        memcpy(j->id, hash, sizeof(hash));
    /* The end of a recovery, and each later acknowledgement, leave the head in
     * the vault: the entry is written whatever happens to the head. */
    if (j->keyed && j->repo && (!strcmp(type, CR_JOURNAL_RECOVER_END) || !strcmp(type, CR_JOURNAL_ACK)))
        err = head_store(j, type);
    goto done;
oom:
    cr_error_set("out of memory writing the journal");
    err = CR_ERROR;
done:
    free(body);
    json_decref(o);
    json_decref(data);
    cr_buf_free(&line);
    return err;
}

/* ============================================================ torn tail */

int cr_journal_cut_torn(uint64_t *cut, const char *path, cr_repo *repo)
{
    cr_journal *j = NULL;
    cr_buf content = CR_BUF_INIT;
    char torn_path[4096], dir[4096], sha[CR_ID_HEX_LEN + 1], nbytes[32];
    size_t good = 0;
    int torn = 0, err, tfd = -1;

    if (cut)
        *cut = 0;
    if ((err = journal_open(&j, path, repo, 0, 1, &torn, &good, &content)) < 0)
        goto done;
    if (!torn)
        goto done;
    size_t nt = content.len - good;
    if (snprintf(torn_path, sizeof(torn_path), "%s.torn", path) >= (int)sizeof(torn_path) ||
        dir_of(dir, sizeof(dir), path) < 0) {
        cr_error_set("the journal's path is too long: %s", path);
        err = CR_EINPUT;
        goto done;
    }
    /* The torn bytes first, durably, then the cut: a crash in between leaves
     * them in both places, never in neither. */
    if ((tfd = open(torn_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0) {
        err = cr_error_errno("cannot create %s", torn_path);
        goto done;
    }
    if ((err = cr_fs_write_all(tfd, content.ptr + good, nt)) < 0)
        goto done;
    if (fsync(tfd) < 0) {
        err = cr_error_errno("cannot write %s", torn_path);
        goto done;
    }
    if ((err = cr_fs_fsync_dir(AT_FDCWD, dir)) < 0)
        goto done;
    if (ftruncate(j->fd, (off_t)good) < 0 || fsync(j->fd) < 0) {
        err = cr_error_errno("cannot cut the torn line off %s", path);
        goto done;
    }
    hash_hex(sha, content.ptr + good, nt);
    snprintf(nbytes, sizeof(nbytes), "%zu", nt);
    const char *kv[] = {"bytes", nbytes, "sha256", sha, "moved_to", torn_path};
    if ((err = cr_journal_append(j, CR_JOURNAL_TORN_CUT, NULL, kv, 3)) < 0)
        goto done;
    if (cut)
        *cut = nt;
done:
    if (tfd >= 0)
        close(tfd);
    journal_free(j);
    cr_buf_free(&content);
    return err;
}
