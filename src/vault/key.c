/*
 * Passphrase slots ("key files"). The vault's 32-byte master key is random;
 * each key file wraps it with a key derived from one passphrase by Argon2id,
 * so passphrases can be added and removed without re-encrypting anything.
 *
 * keys/<sha256 of the file> is JSON:
 *   {"version":1,"kdf":"argon2id13","opslimit":N,"memlimit":N,"salt":"<b64>",
 *    "sealed_master":"<b64>","created":"RFC 3339","hostname":"...","username":"..."}
 * sealed_master = nonce || XChaCha20-Poly1305(master) || tag with
 * AD = "cleanroom-key:" + vault id hex, so a key file cannot be moved to
 * another vault. A key file is untrusted input: its Argon2id cost is capped
 * (CR_KDF_MAX_*) before anything is allocated for it.
 */
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KDF_NAME "argon2id13"

static int kdf_costs(cr_kdf_profile kdf, uint64_t *ops, uint64_t *mem)
{
    switch (kdf) {
    case CR_KDF_INTERACTIVE:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        return 0;
    case CR_KDF_MODERATE:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        return 0;
    case CR_KDF_SENSITIVE:
        *ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
        *mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
        return 0;
    }
    cr_error_set("unknown key derivation profile %d (use interactive, moderate or sensitive)",
                 (int)kdf);
    return CR_EINPUT;
}

static void key_ad(char *out, size_t outlen, const char *vault_id)
{
    snprintf(out, outlen, "cleanroom-key:%s", vault_id);
}

/* ------------------------------------------------------------ parsing */

static int bad(const char *what)
{
    cr_error_set("malformed key file: %s", what);
    return CR_ECORRUPT;
}

static int get_b64(uint8_t *out, size_t outlen, json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    size_t binlen = 0;
    const char *end = NULL;
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    if (sodium_base642bin(out, outlen, s, slen, NULL, &binlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != outlen || end != s + slen)
        return -1;
    return 0;
}

static int get_str(char *out, size_t outlen, json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    if (!v) {
        out[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= outlen ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int cr_keyfile_parse(cr_keyfile *out, const void *data, size_t len)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    int err = 0;

    memset(out, 0, sizeof(*out));
    if (len > CR_MAX_KEY_FILE)
        return bad("too large");
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        err = bad(root ? "not a JSON object" : "not valid JSON");
        goto done;
    }
    v = json_object_get(root, "version");
    if (!json_is_integer(v)) {
        err = bad("no version");
        goto done;
    }
    if (json_integer_value(v) != 1) {
        cr_error_set("key file of version %lld: this program (cleanroom %s) reads version 1 only",
                     (long long)json_integer_value(v), CR_VERSION_STRING);
        err = CR_EVERSION;
        goto done;
    }
    v = json_object_get(root, "kdf");
    if (!json_is_string(v) || strcmp(json_string_value(v), KDF_NAME) != 0) {
        err = bad("kdf is not " KDF_NAME);
        goto done;
    }
    v = json_object_get(root, "opslimit");
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)crypto_pwhash_OPSLIMIT_MIN ||
        json_integer_value(v) > CR_KDF_MAX_OPSLIMIT) {
        err = bad("opslimit missing or outside the accepted range (1..64)");
        goto done;
    }
    out->opslimit = (uint64_t)json_integer_value(v);
    v = json_object_get(root, "memlimit");
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)crypto_pwhash_MEMLIMIT_MIN ||
        (uint64_t)json_integer_value(v) > CR_KDF_MAX_MEMLIMIT) {
        err = bad("memlimit missing or outside the accepted range (8 KiB..4 GiB)");
        goto done;
    }
    out->memlimit = (uint64_t)json_integer_value(v);
    if (get_b64(out->salt, sizeof(out->salt), root, "salt") < 0) {
        err = bad("salt is not 16 bytes of base64");
        goto done;
    }
    if (get_b64(out->sealed_master, sizeof(out->sealed_master), root, "sealed_master") < 0) {
        err = bad("sealed_master is not 72 bytes of base64");
        goto done;
    }
    v = json_object_get(root, "created");
    if (!json_is_string(v) || json_string_length(v) > 64 ||
        cr_time_parse(&out->created_ns, json_string_value(v)) < 0) {
        err = bad("created is not an RFC 3339 time");
        goto done;
    }
    if (get_str(out->hostname, sizeof(out->hostname), root, "hostname") < 0) {
        err = bad("hostname is not a string of at most 255 bytes");
        goto done;
    }
    if (get_str(out->username, sizeof(out->username), root, "username") < 0) {
        err = bad("username is not a string of at most 63 bytes");
        goto done;
    }
    /* "vault" (optional: key files made before it was added do not have it) */
    if (get_str(out->vault_id, sizeof(out->vault_id), root, "vault") < 0 ||
        (out->vault_id[0] &&
         (strlen(out->vault_id) != CR_ID_HEX_LEN || !cr_is_hex(out->vault_id)))) {
        err = bad("vault is not a vault id of 64 hex digits");
        goto done;
    }
done:
    json_decref(root);
    return err;
}

/* ------------------------------------------------------------ creating */

static int derive_wrap_key(uint8_t out[32], const char *passphrase, const uint8_t salt[16],
                           uint64_t ops, uint64_t mem)
{
    if (crypto_pwhash(out, 32, passphrase, strlen(passphrase), salt, ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        cr_error_set("cannot derive the key from the passphrase: not enough memory "
                     "(Argon2id needs %llu MiB)",
                     (unsigned long long)(mem >> 20));
        return CR_ERROR;
    }
    return 0;
}

int cr_keyfile_store(char out_id[CR_ID_HEX_LEN + 1], cr_store *store, const uint8_t master[32],
                     const char *vault_id, const char *passphrase, cr_kdf_profile kdf)
{
    uint64_t ops, mem;
    uint8_t salt[CR_KDF_SALT_LEN], wrap[32], sealed[32 + CR_SEAL_OVERHEAD], hash[32];
    char salt64[sodium_base64_ENCODED_LEN(CR_KDF_SALT_LEN, sodium_base64_VARIANT_ORIGINAL)];
    char sealed64[sodium_base64_ENCODED_LEN(sizeof(sealed), sodium_base64_VARIANT_ORIGINAL)];
    char ad[128], created[48], host[256], user[64], hex[CR_ID_HEX_LEN + 1], name[80];
    json_t *root = NULL;
    char *text = NULL;
    int err;

    if (!passphrase || !*passphrase) {
        cr_error_set("the passphrase is empty: choose a long passphrase");
        return CR_EINPUT;
    }
    if ((err = cr_init()) < 0 || (err = kdf_costs(kdf, &ops, &mem)) < 0)
        return err;
    randombytes_buf(salt, sizeof(salt));
    if ((err = derive_wrap_key(wrap, passphrase, salt, ops, mem)) < 0)
        goto done;
    key_ad(ad, sizeof(ad), vault_id);
    cr_seal(sealed, wrap, ad, strlen(ad), master, 32);
    sodium_bin2base64(salt64, sizeof(salt64), salt, sizeof(salt), sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sealed64, sizeof(sealed64), sealed, sizeof(sealed),
                      sodium_base64_VARIANT_ORIGINAL);
    cr_time_format(created, sizeof(created), cr_time_now_ns() / 1000000000LL * 1000000000LL);
    cr_who(host, sizeof(host), user, sizeof(user));

    root = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "version", 1, "kdf",
                     KDF_NAME, "opslimit", (json_int_t)ops, "memlimit", (json_int_t)mem, "salt",
                     salt64, "sealed_master", sealed64, "created", created, "hostname", host,
                     "username", user, "vault", vault_id);
    if (!root || !(text = json_dumps(root, JSON_INDENT(2)))) {
        cr_error_set("out of memory (key file)");
        err = CR_ERROR;
        goto done;
    }
    size_t tlen = strlen(text);
    text[tlen++] = '\n'; /* json_dumps leaves room for the NUL we overwrite */
    cr_sha256(hash, text, tlen);
    cr_hex_encode(hex, hash, sizeof(hash));
    snprintf(name, sizeof(name), "keys/%s", hex);
    if ((err = cr_store_put(store, name, text, tlen, CR_STORE_PRIVATE)) < 0)
        goto done;
    if (out_id)
        memcpy(out_id, hex, sizeof(hex));
done:
    sodium_memzero(wrap, sizeof(wrap));
    json_decref(root);
    free(text);
    return err;
}

/* ------------------------------------------------------------ opening */

/*
 * Unseal the master key of one key file. The vault id of config is part of
 * what the seal authenticates, so a changed id fails like a wrong passphrase;
 * when the key file names the vault it was made for and that id differs, the
 * passphrase is tried with it too: if it opens, *id_changed is set (the
 * passphrase is right, config was changed) and the key is not used.
 */
static int unlock_one(cr_repo *repo, const cr_keyfile *kf, const char *passphrase,
                      int *id_changed)
{
    uint8_t wrap[32], master[32];
    char ad[128];
    int err;
    if ((err = derive_wrap_key(wrap, passphrase, kf->salt, kf->opslimit, kf->memlimit)) < 0)
        return err;
    key_ad(ad, sizeof(ad), repo->id_hex);
    err = cr_unseal(master, wrap, ad, strlen(ad), kf->sealed_master, sizeof(kf->sealed_master));
    if (err < 0 && kf->vault_id[0] && strcmp(kf->vault_id, repo->id_hex) != 0) {
        key_ad(ad, sizeof(ad), kf->vault_id);
        if (cr_unseal(master, wrap, ad, strlen(ad), kf->sealed_master,
                      sizeof(kf->sealed_master)) == 0)
            *id_changed = 1;
        sodium_memzero(master, sizeof(master));
    }
    sodium_memzero(wrap, sizeof(wrap));
    if (err < 0)
        return CR_EAUTH;
    memcpy(repo->master, master, 32);
    cr_keys_derive(&repo->keys, master);
    sodium_memzero(master, sizeof(master));
    return 0;
}

/* Read, check the name and parse one key file. */
static int read_keyfile(cr_keyfile *kf, cr_repo *repo, const char *hex)
{
    cr_buf b = CR_BUF_INIT;
    char name[80];
    uint8_t hash[32];
    cr_id want;
    int err;
    snprintf(name, sizeof(name), "keys/%s", hex);
    if ((err = cr_store_get(repo->store, name, &b, CR_MAX_KEY_FILE)) < 0)
        goto done;
    cr_sha256(hash, b.ptr, b.len);
    if (cr_id_from_hex(&want, hex) < 0 || memcmp(hash, want.b, 32) != 0) {
        cr_error_set("key file %s is damaged: its content does not match its name", hex);
        err = CR_ECORRUPT;
        goto done;
    }
    if ((err = cr_keyfile_parse(kf, b.ptr, b.len)) < 0) {
        cr_error_prefix("key file %s", hex);
        if (err == CR_EVERSION)
            err = CR_ECORRUPT;
    }
done:
    cr_buf_free(&b);
    return err;
}

/*
 * Anyone who can write keys/ can plant key files, each with the highest
 * Argon2id cost a reader accepts (minutes of work, gigabytes of memory):
 * opening must not try them all. So every key file is read first (cheap),
 * then tried cheapest first; one whose passes or memory exceed the "sensitive"
 * profile's (which no cleanroom ever writes) is not tried at all, and trying
 * stops when the work done reaches UNLOCK_BUDGET times that of a sensitive key
 * (cheap planted keys cost next to nothing, so they cannot crowd out the real
 * one), or after UNLOCK_MAX_TRIES keys.
 */
#define UNLOCK_BUDGET 8
#define UNLOCK_MAX_TRIES 4096

typedef struct key_try {
    char hex[CR_ID_HEX_LEN + 1];
    cr_keyfile kf;
} key_try;

static int key_try_cmp(const void *a, const void *b)
{
    const key_try *x = a, *y = b;
    uint64_t cx = x->kf.opslimit * x->kf.memlimit, cy = y->kf.opslimit * y->kf.memlimit;
    if (cx != cy)
        return cx < cy ? -1 : 1;
    if (x->kf.created_ns != y->kf.created_ns)
        return x->kf.created_ns < y->kf.created_ns ? -1 : 1;
    return strcmp(x->hex, y->hex);
}

int cr_repo_unlock(cr_repo *repo, const char *passphrase)
{
    cr_id *ids = NULL;
    key_try *keys = NULL;
    size_t n = 0, nk = 0, damaged = 0, tried = 0, costly = 0, over = 0;
    char damage_msg[512] = "", skipped[32] = "";
    char made_for[CR_ID_HEX_LEN + 1] = "";
    uint64_t max_ops, max_mem;
    int err, other_err = 0, id_changed = 0;

    if ((err = kdf_costs(CR_KDF_SENSITIVE, &max_ops, &max_mem)) < 0 ||
        (err = cr_repo_list(&ids, &n, repo, "keys")) < 0)
        goto done;
    if (n == 0) {
        cr_error_set("the vault at %s has no key files in %s/keys: it cannot be opened", repo->path,
                     repo->path);
        err = CR_ECORRUPT;
        goto done;
    }
    if (!(keys = cr_calloc(n, sizeof(*keys)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        key_try *k = &keys[nk];
        cr_id_to_hex(k->hex, &ids[i]);
        err = read_keyfile(&k->kf, repo, k->hex);
        if (err == CR_ENOTFOUND)
            continue; /* removed while we were looking */
        if (err == CR_ECORRUPT) {
            if (!damaged++)
                snprintf(damage_msg, sizeof(damage_msg), "%s", cr_error_last());
            continue;
        }
        if (err < 0)
            goto done;
        if (k->kf.opslimit > max_ops || k->kf.memlimit > max_mem) {
            if (!costly++)
                snprintf(skipped, sizeof(skipped), "%.16s", k->hex);
            continue;
        }
        nk++;
    }
    err = 0;
    if (nk > 1)
        qsort(keys, nk, sizeof(*keys), key_try_cmp);
    uint64_t spent = 0;
    for (size_t i = 0; i < nk; i++) {
        uint64_t cost = keys[i].kf.opslimit * keys[i].kf.memlimit;
        if (tried == UNLOCK_MAX_TRIES || (tried && spent + cost > UNLOCK_BUDGET * max_ops * max_mem)) {
            over = nk - i;
            break;
        }
        spent += cost;
        tried++;
        err = unlock_one(repo, &keys[i].kf, passphrase, &id_changed);
        if (id_changed && !made_for[0])
            memcpy(made_for, keys[i].kf.vault_id, sizeof(made_for));
        if (err == 0) {
            memcpy(repo->key_file, keys[i].hex, sizeof(keys[i].hex));
            goto done;
        }
        if (err != CR_EAUTH)
            other_err = err; /* e.g. out of memory: keep trying the others */
    }
    if (other_err) {
        err = other_err;
    } else if (id_changed) {
        cr_error_set("%s/config was changed: it names the vault id %.12s..., but the keys of this "
                     "vault were made for %.12s... (the passphrase is right). Put back an intact "
                     "copy of config (from another copy of the vault) or its \"id\" %s",
                     repo->path, repo->id_hex, made_for, made_for);
        err = CR_ECORRUPT;
    } else if (damaged) {
        cr_error_set("none of the %zu keys of the vault at %s opens with this passphrase, and %zu "
                     "key file(s) are damaged (%s). If the passphrase is right, its key file may "
                     "be the damaged one: use another passphrase of this vault",
                     tried, repo->path, damaged, damage_msg);
        err = CR_ECORRUPT;
    } else if (costly || over) {
        cr_error_set("wrong passphrase: none of the %zu keys of the vault at %s that were tried "
                     "opens with it; %zu key file(s) were not tried (%zu ask for a key derivation "
                     "costlier than any cleanroom writes%s%s, %zu beyond the work opening may "
                     "spend): files in %s/keys that nobody added are a sign of tampering",
                     tried, repo->path, costly + over, costly, costly ? ", e.g. " : "", skipped,
                     over, repo->path);
        err = CR_EAUTH;
    } else {
        cr_error_set("wrong passphrase: none of the %zu keys of the vault at %s opens with it",
                     tried, repo->path);
        err = CR_EAUTH;
    }
done:
    if (keys)
        sodium_memzero(keys, n * sizeof(*keys));
    free(keys);
    free(ids);
    return err;
}

/* ------------------------------------------------------------ managing */

int cr_key_add(cr_repo *repo, const char *new_passphrase, cr_kdf_profile kdf,
               char out_id[CR_ID_HEX_LEN + 1])
{
    return cr_keyfile_store(out_id, repo->store, repo->master, repo->id_hex, new_passphrase, kdf);
}

static int key_info_cmp(const void *a, const void *b)
{
    const cr_key_info *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

int cr_key_list(cr_repo *repo, cr_key_info **out, size_t *count)
{
    cr_id *ids = NULL;
    size_t n = 0, k = 0;
    cr_key_info *list = NULL;
    int err;

    *out = NULL;
    *count = 0;
    if ((err = cr_repo_list(&ids, &n, repo, "keys")) < 0)
        goto done;
    if (!(list = cr_calloc(n, sizeof(*list)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cr_keyfile kf;
        cr_key_info *ki = &list[k];
        cr_id_to_hex(ki->id, &ids[i]);
        err = read_keyfile(&kf, repo, ki->id);
        if (err == CR_ENOTFOUND)
            continue;
        if (err == CR_ECORRUPT) {
            /* Listed so that it can be seen and removed. */
            snprintf(ki->hostname, sizeof(ki->hostname), "(damaged key file)");
        } else if (err < 0) {
            goto done;
        } else {
            snprintf(ki->hostname, sizeof(ki->hostname), "%s", kf.hostname);
            snprintf(ki->username, sizeof(ki->username), "%s", kf.username);
            ki->created = kf.created_ns / 1000000000LL;
        }
        err = 0;
        ki->current = strcmp(ki->id, repo->key_file) == 0;
        k++;
    }
    qsort(list, k, sizeof(*list), key_info_cmp);
    *out = list;
    *count = k;
    list = NULL;
done:
    free(list);
    free(ids);
    return err;
}

int cr_key_remove(cr_repo *repo, const char *id_or_prefix)
{
    cr_id *ids = NULL;
    size_t n = 0, matches = 0, plen;
    char want[CR_ID_HEX_LEN + 1], found[CR_ID_HEX_LEN + 1] = "", name[80];
    cr_lock *lock = NULL;
    int err;

    plen = id_or_prefix ? strlen(id_or_prefix) : 0;
    if (plen == 0 || plen > CR_ID_HEX_LEN || !cr_is_hex(id_or_prefix)) {
        cr_error_set("'%.80s' is not a key id: give the id (or a unique start of it) shown by "
                     "'cleanroom key list'",
                     id_or_prefix ? id_or_prefix : "");
        return CR_EINPUT;
    }
    for (size_t i = 0; i <= plen; i++)
        want[i] = (char)(id_or_prefix[i] >= 'A' && id_or_prefix[i] <= 'F' ? id_or_prefix[i] + 32
                                                                          : id_or_prefix[i]);
    /* Exclusive: no other process may be opening the vault with the key we remove. */
    if ((err = cr_lock_acquire(&lock, repo, 1)) < 0)
        goto done;
    if ((err = cr_repo_list(&ids, &n, repo, "keys")) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        char hex[CR_ID_HEX_LEN + 1];
        cr_id_to_hex(hex, &ids[i]);
        if (strncmp(hex, want, plen) == 0) {
            matches++;
            memcpy(found, hex, sizeof(hex));
        }
    }
    if (matches == 0) {
        cr_error_set("no key %s in the vault at %s (see 'cleanroom key list')", want, repo->path);
        err = CR_ENOTFOUND;
        goto done;
    }
    if (matches > 1) {
        cr_error_set("key id '%s' is ambiguous: %zu keys start with it; give more digits", want,
                     matches);
        err = CR_EAMBIGUOUS;
        goto done;
    }
    if (strcmp(found, repo->key_file) == 0) {
        cr_error_set("refusing to remove key %.8s: it is the key that opened the vault now. Open "
                     "the vault with another passphrase to remove this one",
                     found);
        err = CR_EINPUT;
        goto done;
    }
    if (n <= 1) {
        cr_error_set("refusing to remove key %.8s: it is the last key of the vault", found);
        err = CR_EINPUT;
        goto done;
    }
    snprintf(name, sizeof(name), "keys/%s", found);
    err = cr_store_delete(repo->store, name);
done:
    cr_lock_release(lock);
    free(ids);
    return err;
}
