/*
 * The store's front: name checks and dispatch to the backend (store.h).
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static int part_ok(const char *p, size_t n)
{
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int cr_store_name_ok(const char *name)
{
    size_t len;
    if (!name || !(len = strlen(name)) || len > CR_STORE_MAX_NAME)
        return 0;
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!part_ok(p, n))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

/* A folder name for list: "" (the top) or a valid name. */
static int dir_ok(const char *dir)
{
    return dir[0] == '\0' || cr_store_name_ok(dir);
}

static int bad_name(const char *name)
{
    cr_error_set("internal error: '%s' is not a valid name of a vault object", name ? name : "");
    return CR_EINPUT;
}

int cr_store_open(cr_store **out, const char *location, unsigned flags)
{
    cr_store *s;
    int err;

    *out = NULL;
    if (!location || !location[0]) {
        cr_error_set("no vault given");
        return CR_EINPUT;
    }
    if (!(s = cr_calloc(1, sizeof(*s))) || !(s->location = cr_strdup(location))) {
        free(s);
        return CR_ERROR;
    }
    if (!strncmp(location, "s3:", 3))
        err = cr_store_s3_open(s, location, flags);
    else if (!strncmp(location, "https://", 8))
        err = cr_store_https_open(s, location, flags);
    else if (!strncmp(location, "http://", 7)) {
        cr_error_set("%s: a vault server is reached over https only (tokens never travel in "
                     "clear)",
                     location);
        err = CR_EINPUT;
    } else
        err = cr_store_dir_open(s, location, flags);
    if (err < 0) {
        free(s->location);
        free(s);
        return err;
    }
    *out = s;
    return 0;
}

int cr_repo_is_remote(const char *location)
{
    return location && (!strncmp(location, "s3:", 3) || !strncmp(location, "https://", 8) ||
                        !strncmp(location, "http://", 7));
}

void cr_store_free(cr_store *s)
{
    if (!s)
        return;
    if (s->ops && s->ops->free)
        s->ops->free(s);
    free(s->location);
    free(s);
}

const char *cr_store_location(const cr_store *s)
{
    return s->location;
}

int cr_store_is_local(const cr_store *s)
{
    return !strcmp(s->ops->scheme, "dir");
}

int cr_store_put(cr_store *s, const char *name, const void *data, size_t len, unsigned flags)
{
    if (!cr_store_name_ok(name))
        return bad_name(name);
    return s->ops->put(s, name, data, len, flags);
}

int cr_store_get(cr_store *s, const char *name, cr_buf *out, size_t max)
{
    if (!cr_store_name_ok(name))
        return bad_name(name);
    return s->ops->get(s, name, out, max);
}

int cr_store_stat(cr_store *s, const char *name, cr_store_info *out)
{
    if (!cr_store_name_ok(name))
        return bad_name(name);
    memset(out, 0, sizeof(*out)); /* fields a backend does not know stay 0 */
    return s->ops->stat(s, name, out);
}

int cr_store_list(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb,
                  void *payload)
{
    if (!dir_ok(dir))
        return bad_name(dir);
    return s->ops->list(s, dir, must_exist, cb, payload);
}

int cr_store_list_below(cr_store *s, const char *dir, cr_store_list_cb cb, void *payload)
{
    if (!dir_ok(dir))
        return bad_name(dir);
    return s->ops->list_below ? s->ops->list_below(s, dir, cb, payload) : CR_EINPUT;
}

int cr_store_delete(cr_store *s, const char *name)
{
    if (!cr_store_name_ok(name))
        return bad_name(name);
    return s->ops->del(s, name);
}

int cr_store_list_temp(cr_store *s, const char *dir, int64_t min_age_s, cr_store_list_cb cb,
                       void *payload)
{
    if (!dir_ok(dir))
        return bad_name(dir);
    return s->ops->list_temp ? s->ops->list_temp(s, dir, min_age_s, cb, payload) : 0;
}

int cr_store_retain(cr_store *s, const char *name, int64_t until_s, int *enforced)
{
    if (enforced)
        *enforced = 0;
    if (!cr_store_name_ok(name))
        return bad_name(name);
    if (!s->ops->retain)
        return 0;
    int err = s->ops->retain(s, name, until_s);
    if (err > 0)
        return 0; /* this store enforces nothing */
    if (err == 0 && enforced)
        *enforced = 1;
    return err;
}

int cr_store_unhide(cr_store *s, size_t *restored)
{
    *restored = 0;
    return s->ops->unhide ? s->ops->unhide(s, restored) : 0;
}

int64_t cr_store_retention_period(const cr_store *s)
{
    return s->ops->period ? s->ops->period(s) : 0;
}

int cr_store_make_dirs(cr_store *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!cr_store_name_ok(names[i]))
            return bad_name(names[i]);
    return s->ops->make_dirs ? s->ops->make_dirs(s, names, n) : 0;
}

int cr_store_obj_open(cr_store_obj **out, cr_store *s, const char *name)
{
    *out = NULL;
    if (!cr_store_name_ok(name))
        return bad_name(name);
    return s->ops->obj_open(out, s, name);
}

uint64_t cr_store_obj_size(const cr_store_obj *o)
{
    return o->size;
}

int cr_store_obj_read(cr_store_obj *o, void *buf, size_t len, uint64_t off)
{
    if (off > o->size || len > o->size - off) {
        cr_error_set("object is shorter than expected (%llu bytes, %zu wanted at %llu)",
                     (unsigned long long)o->size, len, (unsigned long long)off);
        return CR_ECORRUPT;
    }
    return o->read(o, buf, len, off);
}

void cr_store_obj_close(cr_store_obj *o)
{
    if (o)
        o->close(o);
}
