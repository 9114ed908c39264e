/*
 * Prune: remove what no kept snapshot needs, safely while backups run.
 *
 * The danger is a backup that, while a prune runs, finds a blob in a pack
 * the prune is about to delete, refers to it instead of storing it again,
 * and saves a snapshot whose data is gone. So:
 *
 *  1. Decide: walk every kept snapshot (not forgotten, or forgotten but
 *     younger than the grace period) and mark the blobs it uses. A pack none
 *     of whose blobs is marked, older than the grace period, is a candidate.
 *  2. Announce: write the candidates to locks/.prune-<own lock> (a file lock
 *     readers skip). A backup that takes its lock after that reads the plan
 *     and treats those packs as absent (cr_repo_index_writable): it stores
 *     their blobs again and no index file it writes names them.
 *  3. Wait for every lock that existed right after the announcement: those
 *     commands may have read the index before it.
 *  4. Check again: the snapshots saved since step 1 are walked too, and a
 *     candidate holding a blob they use is kept.
 *  5. Remove, in an order that a crash at any point leaves no dangling
 *     reference: forgotten snapshot files, then index files naming candidates
 *     (after one that names what they named besides is written), then the
 *     candidate packs. The plan file goes last; a plan whose lock is gone is
 *     ignored.
 *
 * On a store that keeps objects until a date (S3 Object Lock), an object
 * still kept is never given to delete: a forgotten snapshot file or an unused
 * pack under retention stays (counted as locked) and the data of such a
 * snapshot stays too; a pack named by an index file under retention stays
 * (the index file cannot go, and must not name a missing pack). After
 * removing, the retention of everything in use (config, keys, kept snapshot
 * files, index files, packs holding needed blobs, hunt, forget and journal
 * records) that has less than half the bucket's period left is extended to a
 * full period, as a backup program's maintenance does on such buckets.
 *
 * A prune never deletes a forget record (the proof that a snapshot went on
 * purpose) nor a hunt record; it never repacks (a pack with one needed blob
 * stays whole).
 */
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PLAN_PREFIX ".prune-"
#define PLAN_MAGIC "cleanroom-prune-plan 1\n"
#define PLAN_MAX (64u * 1024 * 1024)

/* ------------------------------------------------------------ plans */

/* Hand each pack of every plan whose prune still runs to fn. */
static int plans_foreach(cr_repo *repo, void (*fn)(const cr_id *pack, void *p), void *payload)
{
    char **plans = NULL;
    size_t nplans = 0;
    cr_buf b = CR_BUF_INIT;
    int err = cr_lock_dir_names(&plans, &nplans, repo, PLAN_PREFIX);

    for (size_t i = 0; i < nplans && err == 0; i++) {
        char name[320];
        if (!cr_lock_live(repo, plans[i] + strlen(PLAN_PREFIX)))
            continue;
        snprintf(name, sizeof(name), "locks/%s", plans[i]);
        int r = cr_store_get(repo->store, name, &b, PLAN_MAX);
        if (r == CR_ENOTFOUND)
            continue; /* that prune just finished */
        if (r < 0) {
            err = r;
            break;
        }
        size_t ml = strlen(PLAN_MAGIC);
        if (b.len < ml || memcmp(b.ptr, PLAN_MAGIC, ml) != 0)
            continue; /* not a plan of ours */
        for (size_t off = ml; off + CR_ID_HEX_LEN + 1 <= b.len; off += CR_ID_HEX_LEN + 1) {
            cr_id id;
            if (cr_hex_decode_n(id.b, (const char *)b.ptr + off, CR_ID_HEX_LEN) < 0)
                continue;
            fn(&id, payload);
        }
    }
    for (size_t i = 0; i < nplans; i++)
        free(plans[i]);
    free(plans);
    cr_buf_free(&b);
    return err;
}

static void mark_dead(const cr_id *pack, void *p)
{
    cr_index_mark_dead(p, pack);
}

int cr_repo_index_writable(cr_index **out, cr_repo *repo)
{
    int err;
    if ((err = cr_repo_index(out, repo)) < 0)
        return err;
    return plans_foreach(repo, mark_dead, *out);
}

/* ------------------------------------------------------------ walking */

typedef struct pr_ctx {
    cr_repo *repo;
    const cr_prune_options *o;
    cr_idset used;  /* blobs (trees and data) a kept snapshot needs */
    cr_idset trees; /* trees walked */
    cr_idset seen;  /* snapshot files looked at in step 1 */
} pr_ctx;

static int walk_tree(pr_ctx *c, const cr_id *id, int depth)
{
    cr_tree *t = NULL;
    int err;
    char hex[CR_ID_HEX_LEN + 1];
    if (cr_idset_get(&c->trees, id))
        return 0;
    if ((err = cr_idset_put(&c->trees, id, 1)) < 0 || (err = cr_idset_put(&c->used, id, 1)) < 0)
        return err;
    if (depth > CR_TREE_MAX_DEPTH) {
        cr_error_set("tree %s: folders nested deeper than %d levels", cr_id_to_hex(hex, id),
                     CR_TREE_MAX_DEPTH);
        return CR_ECORRUPT;
    }
    if ((err = cr_tree_load(&t, c->repo, id)) < 0) {
        cr_error_prefix("tree %s cannot be read", cr_id_to_hex(hex, id));
        return err == CR_ERROR ? err : CR_ECORRUPT;
    }
    for (size_t i = 0; i < t->count && err == 0; i++) {
        const cr_node *n = &t->nodes[i];
        if (n->type == CR_NODE_FILE)
            for (size_t k = 0; k < n->ncontent && err == 0; k++)
                err = cr_idset_put(&c->used, &n->content[k].id, 1);
        else if (n->type == CR_NODE_DIR && n->has_subtree)
            err = walk_tree(c, &n->subtree, depth + 1);
    }
    cr_tree_free(t);
    return err;
}

static int walk_snapshot(pr_ctx *c, const cr_id *id)
{
    cr_snapshot *s = NULL;
    int err = cr_snapshot_load(&s, c->repo, id);
    if (err < 0) {
        char msg[512], hex[CR_ID_HEX_LEN + 1];
        snprintf(msg, sizeof(msg), "%s", cr_error_last());
        cr_error_set("snapshot %s cannot be read (%s): prune removes nothing while a snapshot "
                     "cannot be read, since what it needs is unknown",
                     cr_id_to_hex(hex, id), msg);
        return err == CR_ERROR ? err : CR_ECORRUPT;
    }
    err = walk_tree(c, &s->tree, 0);
    cr_snapshot_free(s);
    return err;
}

/* 1 if the object `rel` of the vault was written before cutoff_ns. */
static int file_age_ok(cr_repo *repo, const char *rel, int64_t cutoff_ns)
{
    cr_store_info st;
    if (cr_store_stat(repo->store, rel, &st) < 0)
        return 0;
    return st.mtime_ns < cutoff_ns;
}

int cr_prune_held(int64_t retain_until_s, int64_t now_s)
{
    return retain_until_s > 0 && retain_until_s > now_s;
}

int cr_prune_should_extend(int64_t retain_until_s, int64_t now_s, int64_t period_s)
{
    return period_s > 0 && retain_until_s - now_s < period_s / 2;
}

/* 1 if the store keeps `rel` past now (its retain-until date into *until). */
static int obj_held(cr_repo *repo, const char *rel, int64_t now_s, int64_t *until)
{
    cr_store_info st;
    if (cr_store_stat(repo->store, rel, &st) < 0)
        return 0;
    if (!cr_prune_held(st.retain_until_s, now_s))
        return 0;
    if (until && st.retain_until_s > *until)
        *until = st.retain_until_s;
    return 1;
}

static int pin_pack(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    (void)e;
    (void)n;
    return cr_idset_put(payload, pack, 1) < 0;
}

/* The packs named by index files under retention (they cannot be removed,
 * so neither can the packs they name). */
static int pinned_packs(cr_idset *out, cr_repo *repo, int64_t now_s, int64_t *until)
{
    cr_id *files = NULL;
    size_t nfiles = 0;
    cr_buf b = CR_BUF_INIT;
    int err = cr_repo_list(&files, &nfiles, repo, "index");
    for (size_t i = 0; i < nfiles && err == 0; i++) {
        char rel[96], hex[CR_ID_HEX_LEN + 1];
        cr_index *one = NULL;
        snprintf(rel, sizeof(rel), "index/%s", cr_id_to_hex(hex, &files[i]));
        if (!obj_held(repo, rel, now_s, until))
            continue;
        if ((err = cr_index_new(&one)) < 0)
            break;
        /* One that cannot be read is reported by rewrite_index (no pack goes). */
        if (cr_repo_load_file(&b, repo, "index", &files[i]) == 0 &&
            cr_index_decode(one, b.ptr, b.len, 0) == 0 &&
            cr_index_foreach_pack(one, pin_pack, out) != 0)
            err = CR_ERROR;
        cr_index_free(one);
    }
    cr_buf_free(&b);
    free(files);
    return err;
}

typedef struct ext_ctx {
    cr_repo *repo;
    int64_t now_s, period_s;
    size_t *extended;
} ext_ctx;

/* Keep `rel` a full period from now if less than half a period is left. */
static int extend_one(ext_ctx *x, const char *rel)
{
    cr_store_info st;
    int enforced = 0, err;
    if ((err = cr_store_stat(x->repo->store, rel, &st)) < 0)
        return err == CR_ENOTFOUND ? 0 : err; /* removed meanwhile */
    if (!cr_prune_should_extend(st.retain_until_s, x->now_s, x->period_s))
        return 0;
    if ((err = cr_store_retain(x->repo->store, rel, x->now_s + x->period_s, &enforced)) < 0)
        return err == CR_ENOTFOUND ? 0 : err;
    *x->extended += enforced;
    return 0;
}

/* Every object of folder `kind` (whose ids cr_repo_list gives), but those in `skip`. */
static int extend_kind(ext_ctx *x, const char *kind, const cr_idset *skip)
{
    cr_id *ids = NULL;
    size_t n = 0;
    int err = cr_repo_list(&ids, &n, x->repo, kind);
    for (size_t i = 0; i < n && err == 0; i++) {
        char rel[128], hex[CR_ID_HEX_LEN + 1];
        if (skip && cr_idset_get(skip, &ids[i]))
            continue;
        if (!strcmp(kind, "data"))
            cr_pack_path(rel, sizeof(rel), &ids[i]);
        else
            snprintf(rel, sizeof(rel), "%s/%s", kind, cr_id_to_hex(hex, &ids[i]));
        err = extend_one(x, rel);
    }
    free(ids);
    return err;
}

/* Remove an object the prune decided to remove (one already gone is fine). */
static int remove_obj(cr_repo *repo, const char *rel)
{
    int err = cr_store_delete(repo->store, rel);
    return err == CR_ENOTFOUND ? 0 : err;
}

/* ------------------------------------------------------------ prune */

typedef struct cand {
    cr_id id;
    cr_pack_entry *e;
    size_t n;
    uint64_t size;
    int keep; /* a snapshot saved meanwhile uses it */
} cand;

typedef struct ix_ctx {
    const cr_idset *doomed;
    cr_index *rw;
    int names_doomed;
    int err;
} ix_ctx;

static int ix_scan(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    ix_ctx *x = payload;
    (void)e;
    (void)n;
    if (cr_idset_get(x->doomed, pack))
        x->names_doomed = 1;
    return 0;
}

static int ix_keep(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    ix_ctx *x = payload;
    if (cr_idset_get(x->doomed, pack))
        return 0;
    return (x->err = cr_index_add_pack(x->rw, pack, e, n, 1)) < 0;
}

/* Replace the index files that name a doomed pack by one naming the rest. */
static int rewrite_index(cr_repo *repo, const cr_idset *doomed, size_t *rewritten)
{
    cr_id *files = NULL;
    size_t nfiles = 0;
    char *drop = NULL;
    cr_index *rw = NULL;
    cr_buf b = CR_BUF_INIT;
    int err;

    if ((err = cr_repo_list(&files, &nfiles, repo, "index")) < 0 || (err = cr_index_new(&rw)) < 0)
        goto done;
    if (nfiles && !(drop = cr_calloc(nfiles, 1))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nfiles; i++) {
        cr_index *one = NULL;
        ix_ctx x = {doomed, rw, 0, 0};
        /* An index file that cannot be read may name a pack about to go, and
         * would then send later backups to data that is gone: stop, remove no
         * pack (the forgotten snapshot files already removed need none). */
        if ((err = cr_index_new(&one)) < 0)
            goto done;
        if ((err = cr_repo_load_file(&b, repo, "index", &files[i])) < 0 ||
            (err = cr_index_decode(one, b.ptr, b.len, 0)) < 0) {
            char msg[512], hex[CR_ID_HEX_LEN + 1];
            snprintf(msg, sizeof(msg), "%s", cr_error_last());
            cr_error_set("index file %s cannot be read (%s): no pack was removed; run 'cleanroom "
                         "verify'",
                         cr_id_to_hex(hex, &files[i]), msg);
            cr_index_free(one);
            err = err == CR_ERROR ? err : CR_ECORRUPT;
            goto done;
        }
        cr_index_foreach_pack(one, ix_scan, &x);
        if (x.names_doomed) {
            cr_index_foreach_pack(one, ix_keep, &x);
            drop[i] = 1;
        }
        cr_index_free(one);
        if ((err = x.err) < 0)
            goto done;
    }
    /* The new file first: a crash between leaves two files naming the same packs. */
    if ((err = cr_index_save(rw, repo)) < 0)
        goto done;
    for (size_t i = 0; i < nfiles; i++) {
        char rel[96], hex[CR_ID_HEX_LEN + 1];
        if (!drop[i])
            continue;
        snprintf(rel, sizeof(rel), "index/%s", cr_id_to_hex(hex, &files[i]));
        if ((err = remove_obj(repo, rel)) < 0)
            goto done;
        (*rewritten)++;
    }
done:
    cr_buf_free(&b);
    cr_index_free(rw);
    free(drop);
    free(files);
    return err;
}

static int write_plan(cr_repo *repo, const cr_lock *lock, const cand *c, size_t n, char *name,
                      size_t namelen)
{
    cr_buf b = CR_BUF_INIT;
    char hex[CR_ID_HEX_LEN + 1];
    int err = cr_buf_put(&b, PLAN_MAGIC, strlen(PLAN_MAGIC));
    for (size_t i = 0; i < n && err == 0; i++) {
        cr_id_to_hex(hex, &c[i].id);
        hex[CR_ID_HEX_LEN] = '\n';
        err = cr_buf_put(&b, hex, CR_ID_HEX_LEN + 1);
    }
    snprintf(name, namelen, "locks/" PLAN_PREFIX "%s", cr_lock_id(lock));
    if (err == 0)
        err = cr_store_put(repo->store, name, b.ptr, b.len, CR_STORE_MUTABLE);
    cr_buf_free(&b);
    return err;
}

typedef struct other_prune {
    int found;
} other_prune;

static void saw_plan(const cr_id *pack, void *p)
{
    (void)pack;
    ((other_prune *)p)->found = 1;
}

int cr_prune(cr_prune_result *out, cr_repo *repo, const cr_prune_options *opts)
{
    pr_ctx c;
    cr_lock *lock = NULL;
    cr_forgotten gone;
    cr_id *snaps = NULL, *packs = NULL, *gone_snaps = NULL;
    size_t nsnaps = 0, npacks = 0, ngone = 0, ncand = 0;
    cand *cands = NULL;
    cr_idset doomed = {0}, pinned = {0}, inuse = {0}, noext = {0};
    char **others = NULL, plan[128] = "";
    size_t nothers = 0;
    int64_t now = cr_time_now_ns(), cutoff, now_s, period, pin_until = 0;
    int err, held;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    memset(&gone, 0, sizeof(gone));
    if (!repo || !opts || opts->version != CR_PRUNE_OPTIONS_VERSION) {
        cr_error_set("prune: a vault and options are required");
        return CR_EINPUT;
    }
    if (opts->grace_ns < CR_PRUNE_GRACE_MIN_NS) {
        cr_error_set("the grace period must be at least one day: nothing younger than it is "
                     "ever removed, so that a mistake or an attack can be noticed in time");
        return CR_EINPUT;
    }
    cutoff = now - opts->grace_ns;
    now_s = opts->now_s > 0 ? opts->now_s : now / 1000000000;
    /* A store that keeps what it is given (S3 Object Lock) refuses to delete
     * it before its date: ask for each object's date, never try. */
    period = cr_store_retention_period(repo->store);
    held = period > 0;
    c.repo = repo;
    c.o = opts;

    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0)
        goto done;
    {
        other_prune op = {0};
        if ((err = plans_foreach(repo, saw_plan, &op)) < 0)
            goto done;
        if (op.found) {
            cr_error_set("another prune is running on the vault at %s; wait for it to finish",
                         repo->path);
            err = CR_ELOCKED;
            goto done;
        }
    }

    /* 1. Decide. */
    if ((err = cr_forgotten_load(&gone, repo)) < 0 ||
        (err = cr_repo_list(&snaps, &nsnaps, repo, "snapshots")) < 0)
        goto done;
    if (nsnaps && !(gone_snaps = cr_calloc(nsnaps, sizeof(cr_id)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nsnaps; i++) {
        char rel[96], hex[CR_ID_HEX_LEN + 1];
        if ((err = cr_idset_put(&c.seen, &snaps[i], 1)) < 0)
            goto done;
        snprintf(rel, sizeof(rel), "snapshots/%s", cr_id_to_hex(hex, &snaps[i]));
        if (cr_forgotten_has(&gone, &snaps[i])) {
            cr_snapshot *s = NULL;
            /* Old enough, and forgotten longer ago than the grace period: a
             * forget made by mistake (or by an attacker) can be noticed and
             * its record removed before anything goes. */
            int old = file_age_ok(repo, rel, cutoff) &&
                      cr_forgotten_since(&gone, &snaps[i]) < cutoff;
            if ((err = cr_idset_put(&noext, &snaps[i], 1)) < 0)
                goto done;
            /* Under lock first: that date is what the operator waits for. */
            if (held && obj_held(repo, rel, now_s, &out->locked_until_s)) {
                /* Its file stays until its date, so does what it needs. */
                out->snapshots_locked++;
            } else {
                if (old && cr_snapshot_load(&s, repo, &snaps[i]) == 0 && s->time_ns < cutoff) {
                    gone_snaps[ngone++] = snaps[i];
                    cr_snapshot_free(s);
                    continue;
                }
                cr_snapshot_free(s);
                out->snapshots_waiting++;
            }
        }
        if ((err = walk_snapshot(&c, &snaps[i])) < 0)
            goto done;
    }
    if ((err = cr_repo_list(&packs, &npacks, repo, "data")) < 0)
        goto done;
    out->packs_total = npacks;
    if (held && (err = pinned_packs(&pinned, repo, now_s, &pin_until)) < 0)
        goto done;
    if (npacks && !(cands = cr_calloc(npacks, sizeof(*cands)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < npacks; i++) {
        cand *k = &cands[ncand];
        char rel[128];
        size_t used = 0;
        memset(k, 0, sizeof(*k));
        k->id = packs[i];
        if (cr_pack_read_header(&k->e, &k->n, repo, &packs[i], &k->size) < 0) {
            if (opts->warning) {
                char hex[CR_ID_HEX_LEN + 1];
                opts->warning(cr_id_to_hex(hex, &packs[i]), "its header cannot be read: left "
                              "alone (see 'cleanroom verify')", opts->payload);
            }
            continue;
        }
        for (size_t j = 0; j < k->n; j++)
            used += cr_idset_get(&c.used, &k->e[j].id) != 0;
        if (used) {
            if ((err = cr_idset_put(&inuse, &packs[i], 1)) < 0)
                goto done;
            out->packs_shared += used < k->n && k->n > 0 ? 1 : 0;
            free(k->e);
            k->e = NULL;
            continue;
        }
        cr_pack_path(rel, sizeof(rel), &packs[i]);
        if (held && (cr_idset_get(&pinned, &packs[i]) ||
                     obj_held(repo, rel, now_s, &out->locked_until_s))) {
            if (cr_idset_get(&pinned, &packs[i]) && pin_until > out->locked_until_s)
                out->locked_until_s = pin_until;
            out->packs_locked++;
            out->bytes_locked += k->size;
            free(k->e);
            k->e = NULL;
            continue;
        }
        if (!file_age_ok(repo, rel, cutoff)) {
            out->packs_young++;
            out->bytes_young += k->size;
            free(k->e);
            k->e = NULL;
            continue;
        }
        ncand++;
    }
    if (opts->dry_run) {
        out->snapshots_removed = ngone;
        out->packs_removed = ncand;
        for (size_t i = 0; i < ncand; i++)
            out->bytes_removed += cands[i].size;
        goto done;
    }
    if (opts->extend_locks_only || (ncand == 0 && ngone == 0))
        goto extend;

    /* 2. Announce, 3. wait for those who may have read the index before. */
    if ((err = write_plan(repo, lock, cands, ncand, plan, sizeof(plan))) < 0 ||
        (err = cr_lock_others(&others, &nothers, repo, lock)) < 0)
        goto done;
    {
        double t0 = cr_time_mono(), limit = opts->wait_s > 0 ? opts->wait_s : 3600;
        for (size_t i = 0; i < nothers; i++) {
            int counted = 0;
            while (cr_lock_live(repo, others[i])) {
                if (!counted++)
                    out->waited_for++;
                if (cr_time_mono() - t0 > limit) {
                    cr_error_set("a command that was running when the prune began still holds "
                                 "the lock %s/locks/%s after %.0f s: nothing was removed; run "
                                 "prune again when it has finished",
                                 repo->path, others[i], limit);
                    err = CR_ELOCKED;
                    goto done;
                }
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        out->waited_s = cr_time_mono() - t0;
    }

    /* 4. Check again: snapshots saved since step 1 (their packs are not in the index
     * loaded in step 1), and index files written meanwhile under retention. */
    cr_repo_index_drop(repo);
    if (held && (err = pinned_packs(&pinned, repo, now_s, &pin_until)) < 0)
        goto done;
    /* Forgotten snapshot files go first; one the store refuses to delete
     * (kept until a date we did not see) keeps what it needs. */
    for (size_t i = 0; i < ngone; i++) {
        char rel[96], hex[CR_ID_HEX_LEN + 1];
        snprintf(rel, sizeof(rel), "snapshots/%s", cr_id_to_hex(hex, &gone_snaps[i]));
        err = remove_obj(repo, rel);
        if (err == CR_ERETAINED) {
            out->snapshots_locked++;
            obj_held(repo, rel, now_s, &out->locked_until_s);
            if ((err = walk_snapshot(&c, &gone_snaps[i])) < 0)
                goto done;
            continue;
        }
        if (err < 0)
            goto done;
        out->snapshots_removed++;
    }
    {
        cr_id *now_snaps = NULL;
        size_t nnow = 0;
        if ((err = cr_repo_list(&now_snaps, &nnow, repo, "snapshots")) < 0)
            goto done;
        for (size_t i = 0; i < nnow && err == 0; i++)
            if (!cr_idset_get(&c.seen, &now_snaps[i]) && !cr_forgotten_has(&gone, &now_snaps[i]))
                err = walk_snapshot(&c, &now_snaps[i]);
        free(now_snaps);
        if (err < 0)
            goto done;
    }
    for (size_t i = 0; i < ncand; i++) {
        for (size_t j = 0; j < cands[i].n && !cands[i].keep; j++)
            cands[i].keep = cr_idset_get(&c.used, &cands[i].e[j].id) != 0;
        if (cands[i].keep && (err = cr_idset_put(&inuse, &cands[i].id, 1)) < 0)
            goto done;
        if (!cands[i].keep && cr_idset_get(&pinned, &cands[i].id)) {
            cands[i].keep = 1; /* an index file written meanwhile, kept, names it */
            out->packs_locked++;
            out->bytes_locked += cands[i].size;
        }
        if (!cands[i].keep && (err = cr_idset_put(&doomed, &cands[i].id, 1)) < 0)
            goto done;
    }

    /* 5. Remove: index files, packs (the snapshot files went above). */
    if (doomed.n && (err = rewrite_index(repo, &doomed, &out->index_rewritten)) < 0)
        goto done;
    for (size_t i = 0; i < ncand; i++) {
        char rel[128];
        if (cands[i].keep)
            continue;
        cr_pack_path(rel, sizeof(rel), &cands[i].id);
        err = remove_obj(repo, rel);
        if (err == CR_ERETAINED) {
            /* No index file names it any more: garbage the store keeps a while. */
            out->packs_locked++;
            out->bytes_locked += cands[i].size;
            obj_held(repo, rel, now_s, &out->locked_until_s);
            err = 0;
            continue;
        }
        if (err < 0)
            goto done;
        out->packs_removed++;
        out->bytes_removed += cands[i].size;
    }

extend:
    /* 6. Keep what is in use locked: less than half a period left -> a full one. */
    if (held && !opts->dry_run) {
        static const char *const kinds[] = {"keys",     "index", "hunt",  "forget",
                                            "journals", "runs",  "runsum"};
        ext_ctx x = {repo, now_s, period, &out->locks_extended};
        if ((err = extend_one(&x, "config")) < 0)
            goto done;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            if ((err = extend_kind(&x, kinds[i], NULL)) < 0)
                goto done;
        if ((err = extend_kind(&x, "snapshots", &noext)) < 0)
            goto done;
        for (size_t i = 0; i < npacks; i++) {
            char rel[128];
            if (!cr_idset_get(&inuse, &packs[i]))
                continue;
            cr_pack_path(rel, sizeof(rel), &packs[i]);
            if ((err = extend_one(&x, rel)) < 0)
                goto done;
        }
    }
done:
    if (plan[0])
        cr_store_delete(repo->store, plan);
    for (size_t i = 0; i < nothers; i++)
        free(others[i]);
    free(others);
    for (size_t i = 0; cands && i < npacks; i++)
        free(cands[i].e);
    free(cands);
    cr_idset_free(&doomed);
    cr_idset_free(&pinned);
    cr_idset_free(&inuse);
    cr_idset_free(&noext);
    cr_idset_free(&c.used);
    cr_idset_free(&c.trees);
    cr_idset_free(&c.seen);
    cr_forgotten_clear(&gone);
    free(snaps);
    free(packs);
    free(gone_snaps);
    cr_lock_release(lock);
    return err;
}
