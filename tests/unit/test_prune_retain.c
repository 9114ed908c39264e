/*
 * Prune on a store that keeps objects until a date (S3 Object Lock), with
 * made-up dates: a folder vault whose store is wrapped so that stat reports
 * file times a month back and a retain-until date chosen by the test, delete
 * refuses what is still kept (as the service does), and retain records what
 * prune asked. The real service is tested in tests/ceph/s3_vault.sh; it
 * cannot wait for a lock to expire (one day at least), this test can.
 */
#include "test.h"
#include "fixture.h"

#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASS "retain-test-pass"
#define DAY 86400LL
static int64_t NOW; /* the injected clock, Unix s (near the real one: snapshot times count) */

static const cr_store_ops *real_ops;
static cr_store_ops fake_ops;
static int64_t fake_until;          /* the retain-until date stat reports... */
static const char *held_prefix = ""; /* ...for the names that start with this */
static const char *refuse_prefix;    /* delete refuses these whatever stat said (NULL: none) */
static size_t n_retain, n_del, n_del_refused;
static int64_t last_retain_until;

static int fake_stat(cr_store *s, const char *name, cr_store_info *out)
{
    int err = real_ops->stat(s, name, out);
    if (err == 0) {
        out->mtime_ns -= 30 * DAY * 1000000000LL; /* older than any grace period */
        out->retain_until_s = strncmp(name, held_prefix, strlen(held_prefix)) ? 0 : fake_until;
    }
    return err;
}

static int fake_del(cr_store *s, const char *name)
{
    n_del++;
    int held = fake_until > NOW && strncmp(name, held_prefix, strlen(held_prefix)) == 0;
    if (refuse_prefix && !strncmp(name, refuse_prefix, strlen(refuse_prefix)))
        held = 1; /* a date changed since prune asked */
    if (held && strncmp(name, "locks/", 6) != 0) {
        n_del_refused++;
        cr_error_set("%s is kept until a later date", name);
        return CR_ERETAINED;
    }
    return real_ops->del(s, name);
}

static int fake_retain(cr_store *s, const char *name, int64_t until_s)
{
    (void)s;
    (void)name;
    n_retain++;
    last_retain_until = until_s;
    return 0;
}

static int64_t fake_period(const cr_store *s)
{
    (void)s;
    return 30 * DAY;
}

static void wrap(cr_repo *repo)
{
    real_ops = repo->store->ops;
    fake_ops = *real_ops;
    fake_ops.stat = fake_stat;
    fake_ops.del = fake_del;
    fake_ops.retain = fake_retain;
    fake_ops.period = fake_period;
    repo->store->ops = &fake_ops;
}

static void test_decisions(void)
{
    CHECK(!cr_prune_held(0, NOW));           /* not kept at all */
    CHECK(!cr_prune_held(NOW - 1, NOW));     /* expired */
    CHECK(!cr_prune_held(NOW, NOW));         /* ends now */
    CHECK(cr_prune_held(NOW + 1, NOW));
    CHECK(cr_prune_should_extend(NOW + 10 * DAY, NOW, 30 * DAY)); /* under half left */
    CHECK(!cr_prune_should_extend(NOW + 20 * DAY, NOW, 30 * DAY));
    CHECK(cr_prune_should_extend(NOW - DAY, NOW, 30 * DAY));      /* expired, still in use */
    CHECK(cr_prune_should_extend(0, NOW, 30 * DAY));              /* never kept */
    CHECK(!cr_prune_should_extend(0, NOW, 0));                    /* store keeps nothing */
}

static void make_file(const char *dir, const char *name, uint8_t seed)
{
    uint8_t buf[40000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8) * seed);
    fill_random(buf, sizeof(buf) / 2);
    write_at(dir, name, buf, sizeof(buf));
}

static int count_packs(cr_repo *repo)
{
    cr_id *ids = NULL;
    size_t n = 0;
    REQUIRE(cr_repo_list(&ids, &n, repo, "data") == 0);
    free(ids);
    return (int)n;
}

int main(void)
{
    char top[PATH_MAX], a[PATH_MAX], b[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *sa = NULL, *sb = NULL;
    cr_forget_result fr;
    cr_prune_result pr;
    cr_prune_options po = CR_PRUNE_OPTIONS_INIT;
    cr_forget_options fo = CR_FORGET_OPTIONS_INIT;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;

    REQUIRE(cr_init() == 0);
    NOW = (int64_t)time(NULL) + 3600;
    test_decisions();

    fx_scratch_new(top, "prune-retain");
    join(a, top, "a");
    join(b, top, "b");
    join(vault, top, "vault");
    REQUIRE(mkdir(a, 0755) == 0 && mkdir(b, 0755) == 0);
    make_file(a, "one", 1);
    make_file(b, "two", 2);
    cr_repo *repo = fx_vault_new(vault, PASS);
    const char *pa[] = {a}, *pb[] = {b};
    bo.source = "host";
    bo.threads = 1;
    bo.time_ns = (NOW - 40 * DAY) * 1000000000LL;
    REQUIRE(cr_backup(&sa, repo, pa, 1, &bo) == 0);
    REQUIRE(cr_backup(&sb, repo, pb, 1, &bo) == 0);
    fo.ids = &sa->id;
    fo.nids = 1;
    memset(&fr, 0, sizeof(fr));
    REQUIRE(cr_forget(&fr, repo, &fo) == 0);
    cr_forget_result_clear(&fr);
    int packs0 = count_packs(repo);
    REQUIRE(packs0 >= 2);
    wrap(repo);
    po.grace_ns = CR_PRUNE_GRACE_MIN_NS;
    po.now_s = NOW;

    /* Everything kept 10 more days: a dry run says so, removes and extends nothing. */
    fake_until = NOW + 10 * DAY;
    po.dry_run = 1;
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.snapshots_removed == 0 && pr.packs_removed == 0);
    CHECK(pr.snapshots_locked == 1); /* its file stays, so do its packs (no dangling reference) */
    CHECK(pr.packs_locked == 0 && pr.packs_young == 0);
    CHECK(pr.locked_until_s == NOW + 10 * DAY);
    CHECK(pr.locks_extended == 0 && n_retain == 0 && n_del_refused == 0);

    /* The real run: nothing under lock is even tried; what is in use (less
     * than half of the 30 days left) is kept 30 days from now. */
    po.dry_run = 0;
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.snapshots_removed == 0 && pr.packs_removed == 0 && pr.snapshots_locked == 1);
    CHECK(n_del_refused == 0);
    CHECK(pr.locks_extended > 0 && pr.locks_extended == n_retain);
    CHECK(last_retain_until == NOW + 30 * DAY);
    CHECK(count_packs(repo) == packs0);

    /* Kept 20 more days: more than half a period, nothing to extend. */
    fake_until = NOW + 20 * DAY;
    n_retain = 0;
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.locks_extended == 0 && n_retain == 0 && pr.packs_removed == 0);

    /* Locks expired: the forgotten snapshot and its packs go, the rest is
     * kept a full period again, and the kept snapshot still reads whole. */
    fake_until = NOW - DAY;
    n_del = 0;
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.snapshots_removed == 1 && pr.snapshots_locked == 0);
    CHECK(pr.packs_removed >= 1 && pr.packs_locked == 0);
    CHECK(pr.locked_until_s == 0);
    CHECK(pr.locks_extended > 0 && n_del_refused == 0);
    CHECK(count_packs(repo) == packs0 - (int)pr.packs_removed);
    {
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report vr;
        memset(&vr, 0, sizeof(vr));
        CHECK_OK(cr_verify(&vr, repo, &vo));
        CHECK(vr.nproblems == 0 && vr.snapshots == 1);
        cr_verify_report_clear(&vr);
    }


    /* Only the index files are locked: the forgotten snapshot's file goes, but
     * its packs stay, since a locked index file names them. */
    char c[PATH_MAX];
    cr_snapshot *sc = NULL;
    join(c, top, "c");
    REQUIRE(mkdir(c, 0755) == 0);
    make_file(c, "three", 3);
    const char *pc[] = {c};
    repo->store->ops = real_ops;
    REQUIRE(cr_backup(&sc, repo, pc, 1, &bo) == 0);
    memset(&fr, 0, sizeof(fr));
    fo.ids = &sc->id;
    REQUIRE(cr_forget(&fr, repo, &fo) == 0);
    cr_forget_result_clear(&fr);
    repo->store->ops = &fake_ops;
    int packs1 = count_packs(repo);
    fake_until = NOW + 5 * DAY;
    held_prefix = "index/";
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.snapshots_removed == 1 && pr.snapshots_locked == 0);
    CHECK(pr.packs_removed == 0 && pr.packs_locked >= 1 && pr.index_rewritten == 0);
    CHECK(pr.locked_until_s == NOW + 5 * DAY);
    CHECK(count_packs(repo) == packs1 && n_del_refused == 0);
    {
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report vr;
        memset(&vr, 0, sizeof(vr));
        CHECK_OK(cr_verify(&vr, repo, &vo));
        CHECK(vr.nproblems == 0);
        cr_verify_report_clear(&vr);
    }

    /* The index lock ran out; the packs' own lock was not reported but the
     * service refuses: prune goes on, the index no longer names them (garbage
     * kept until their date), exit 0. */
    fake_until = NOW - DAY;
    held_prefix = "";
    refuse_prefix = "data/";
    CHECK_OK(cr_prune(&pr, repo, &po));
    CHECK(pr.packs_removed == 0 && pr.packs_locked >= 1 && n_del_refused >= 1);
    CHECK(pr.index_rewritten >= 1);
    CHECK(count_packs(repo) == packs1);
    {
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report vr;
        memset(&vr, 0, sizeof(vr));
        CHECK_OK(cr_verify(&vr, repo, &vo));
        CHECK(vr.nproblems == 0 && vr.snapshots == 1);
        cr_verify_report_clear(&vr);
    }
    refuse_prefix = NULL;
    cr_snapshot_free(sc);

    repo->store->ops = real_ops;
    cr_snapshot_free(sa);
    cr_snapshot_free(sb);
    cr_repo_free(repo);
    fx_scratch_done(top);
    return test_summary("test_prune_retain");
}
