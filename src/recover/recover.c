/*
 * Running a recovery plan: restore, start and probe every service in tier and
 * dependency order, journaling every step (include/cleanroom/recover.h).
 *
 * Threads: the calling thread schedules (cr_recover_schedule) and draws the
 * progress; each running unit (one instance of a service) has a thread of its
 * own that restores, starts and probes it. Everything shared (unit states,
 * the journal, the event callback) is under ctx.mu; the bytes counters of a
 * running restore under ctx.pmu, so that progress never waits on a journal
 * fsync.
 *
 * Crash safety of one unit (docs/design.md, "Recover"):
 *   1. "restore-start" journaled; a leftover TARGET.cleanroom-partial removed;
 *   2. the snapshot restored into TARGET.cleanroom-partial;
 *   3. "restore-done" journaled (with the staging path);
 *   4. the staging path renamed onto TARGET (an absent target or an empty
 *      folder), the parent folder fsynced;
 *   5. the start command, "start-command" journaled; 6. probes, "probe";
 *   7. "service-done".
 * A resume finds per unit the last of these entries: nothing or 1-2 (no
 * restore-done): restore again from scratch; 3-6: the data is complete, in
 * staging or in place: finish the rename if needed, then start and probe
 * again; 7 with status ok: never touched again.
 */
#include "cleanroom/recover.h"
#include "cleanroom/hunt.h"
#include "cleanroom/image.h"
#include "recover/probe_priv.h"
#include "util/util.h"
#include "vault/vault.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STAGING_SUFFIX ".cleanroom-partial"
#define PROBE_GUESS_S 0.5 /* estimate: seconds of a probe that passes */

/* ============================================================ scheduler */

static int unit_finished(cr_unit_state s)
{
    return s == CR_UNIT_OK || s == CR_UNIT_FAILED || s == CR_UNIT_BLOCKED;
}

/* Its thread is over (finished, or back and waiting for a person). */
static int unit_ended(cr_unit_state s)
{
    return unit_finished(s) || s == CR_UNIT_STEP;
}

static size_t find_service(const cr_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->nservices; i++)
        if (strcmp(plan->services[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

size_t cr_recover_schedule(size_t *ready, size_t max, const cr_plan *plan, cr_recover_unit *units,
                           size_t nunits)
{
    size_t n = plan->nservices, nready = 0;
    /* Per service: 0 all OK, 1 some unfinished, 2 some failed or blocked. */
    unsigned char *st = calloc(n ? n : 1, 1);
    int lowest_open = 4; /* lowest tier with an unfinished unit */
    int changed = 1;
    if (!st)
        return 0;
    while (changed) {
        changed = 0;
        memset(st, 0, n);
        for (size_t u = 0; u < nunits; u++) {
            unsigned char v = units[u].state == CR_UNIT_OK    ? 0
                              : unit_finished(units[u].state) ? 2
                                                              : 1;
            if (v > st[units[u].service])
                st[units[u].service] = v;
        }
        for (size_t u = 0; u < nunits; u++) {
            if (units[u].state != CR_UNIT_WAITING)
                continue;
            const cr_plan_service *s = &plan->services[units[u].service];
            for (size_t d = 0; d < s->ndepends; d++) {
                size_t di = find_service(plan, s->depends_on[d]);
                if (di != SIZE_MAX && st[di] == 2) {
                    units[u].state = CR_UNIT_BLOCKED;
                    units[u].blocked_by = di;
                    changed = 1;
                    break;
                }
            }
        }
    }
    for (size_t u = 0; u < nunits; u++)
        if (!unit_finished(units[u].state) && plan->services[units[u].service].tier < lowest_open)
            lowest_open = plan->services[units[u].service].tier;
    for (size_t u = 0; u < nunits && nready < max; u++) {
        if (units[u].state != CR_UNIT_WAITING)
            continue;
        const cr_plan_service *s = &plan->services[units[u].service];
        if (s->tier > lowest_open)
            continue;
        int ok = 1;
        for (size_t d = 0; d < s->ndepends && ok; d++) {
            size_t di = find_service(plan, s->depends_on[d]);
            ok = di == SIZE_MAX || st[di] == 0;
        }
        if (ok)
            ready[nready++] = u;
    }
    free(st);
    return nready;
}

/* ============================================================ context */

typedef struct svc_rt {
    cr_snapshot *snap;
    char *why;
    char *risk;      /* the gate let a flagged restore point through (restore_point: ID): why */
    char pinned[CR_ID_HEX_LEN + 1]; /* resume: the point chosen when the recovery began */
    uint64_t bytes;  /* of one instance */
    double estimate; /* seconds from the start of the recovery */
    unsigned char *acked; /* per step of the service: acknowledged in the journal */
    int steps_told;       /* its steps were journaled (once per run) */
    cr_vuln_match *kev;   /* KEV matches of its restore point (check_kev) */
    size_t nkev;
    char **kev_acked;     /* "kev:CVE-..." steps acknowledged in the journal, and by whom */
    char **kev_by;
    size_t nkev_acked;
} svc_rt;

typedef struct unit_rt {
    char *name;    /* "svc" or "svc#3" */
    char *target;  /* where it goes (drill: below the scratch folder) */
    char *staging; /* TARGET.cleanroom-partial */
    char *log;
    /* from the journal (resume) */
    int j_started, j_restored, j_start_ran;
    char j_status[16];
    /* running */
    int restored;    /* data complete (in staging or in place) */
    int started_cmd; /* the start command ran (drill: run stop at the end) */
    double t_start, restore_seconds;
    uint64_t bytes_done, bytes_total; /* under pmu */
    const char *phase;                /* under pmu */
    pthread_t th;
    struct rc_ctx *ctx;
    size_t index;
} unit_rt;

typedef struct rc_ctx {
    cr_repo *repo;
    const cr_plan *plan;
    const cr_recover_options *o;
    cr_journal *j;
    pthread_mutex_t mu, pmu;
    pthread_cond_t cond;
    cr_recover_unit *units;
    unit_rt *rt;
    svc_rt *svc;
    size_t nunits;
    double t0;
    int journal_err; /* an append failed: stop starting anything */
    char *scratch;   /* drill: absolute, normalised */
    double throughput;
    char thr_from[256];
} rc_ctx;

/* Journal an entry and pass it to the event callback. Caller holds ctx->mu. */
static int jlog_locked(rc_ctx *c, const char *type, const char *service, const char *const *kv,
                       size_t nkv)
{
    int err = 0;
    if (c->j && (err = cr_journal_append(c->j, type, service, kv, nkv)) < 0)
        c->journal_err = err;
    if (c->o->event)
        c->o->event(type, service, kv, nkv, c->o->payload);
    return err;
}

static int jlog(rc_ctx *c, const char *type, const char *service, const char *const *kv, size_t nkv)
{
    pthread_mutex_lock(&c->mu);
    int err = jlog_locked(c, type, service, kv, nkv);
    pthread_mutex_unlock(&c->mu);
    return err;
}

static void event_only(rc_ctx *c, const char *type, const char *service, const char *const *kv,
                       size_t nkv)
{
    if (!c->o->event)
        return;
    pthread_mutex_lock(&c->mu);
    c->o->event(type, service, kv, nkv, c->o->payload);
    pthread_mutex_unlock(&c->mu);
}

static void jerror(rc_ctx *c, const char *service, const char *msg)
{
    const char *kv[] = {"message", msg};
    jlog(c, "error", service, kv, 1);
}

/* What to do after fixing a cause: a recovery resumes, a drill starts over. */
static const char *again(const rc_ctx *c)
{
    return c->o->drill ? "run the drill again" : "run again with --resume";
}

static void fmt_d(char *b, size_t n, double v)
{
    snprintf(b, n, "%.3f", v);
}

/* ============================================================ files */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Remove a file or a folder and everything below it (symlinks not followed). */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    (void)nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * 1: path is an empty folder; 0: absent; -1: anything else (a file, a folder
 * with data). The rule of cleanroom restore (cr_restore_target_check).
 */
static int target_state(const char *path)
{
    cr_target_entries te;
    int r = cr_restore_target_check(&te, path, 0), st = r < 0 ? -1 : te.exists ? 1 : 0;
    cr_target_entries_clear(&te);
    return st;
}

static char *parent_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    if (!sl || sl == path)
        return cr_strdup("/");
    return cr_strndup(path, (size_t)(sl - path));
}

/* Free bytes (for an unprivileged writer... and root alike: f_bavail) on the
 * filesystem where `path` is or would be created: that of its nearest
 * existing folder. *dev: that folder's device (may be NULL). -1: unknown. */
static int free_space(uint64_t *avail, dev_t *dev, const char *path)
{
    char *p = cr_strdup(path);
    int err = -1;
    while (p) {
        struct statvfs vfs;
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode) && statvfs(p, &vfs) == 0) {
                *avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
                if (dev)
                    *dev = st.st_dev;
                err = 0;
            }
            break;
        }
        if (strcmp(p, "/") == 0)
            break;
        char *up = parent_of(p);
        free(p);
        p = up;
    }
    free(p);
    return err;
}

/* Put the complete staging copy in place: onto an absent target or an empty folder. */
static int put_in_place(const char *staging, const char *target)
{
    int ts = target_state(target);
    if (ts < 0) {
        cr_error_set("%s appeared while it was being restored and holds data: the restored copy "
                     "is left in %s; nothing was overwritten",
                     target, staging);
        return CR_EEXISTS;
    }
    struct stat st;
    int isdir = lstat(staging, &st) == 0 && S_ISDIR(st.st_mode);
    int r = (ts == 1 && isdir) ? rename(staging, target)
                               : renameat2(AT_FDCWD, staging, AT_FDCWD, target, RENAME_NOREPLACE);
    if (r != 0)
        return cr_error_errno("cannot rename %s to %s", staging, target);
    char *par = parent_of(target);
    if (par)
        cr_fs_fsync_dir(AT_FDCWD, par);
    free(par);
    return 0;
}

/*
 * A VM exported into the staging folder names its disks by absolute paths
 * there (libvirt XML, README commands). Once renamed, point them at the
 * target: every small file of the folder that holds the staging path is
 * rewritten (atomically) with the target path. Idempotent: run again on resume.
 */
static int fix_vm_paths(const char *staging, const char *target)
{
    int err = 0;
    DIR *d = opendir(target);
    if (!d)
        return cr_error_errno("cannot open %s", target);
    int dfd = dirfd(d);
    size_t sl = strlen(staging), tl = strlen(target);
    struct dirent *e;
    while ((e = readdir(d)) && err == 0) {
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_size > (1 << 20))
            continue;
        cr_buf b = CR_BUF_INIT, out = CR_BUF_INIT;
        if (cr_fs_read_all(&b, dfd, e->d_name, 1 << 20) == 0 && b.len >= sl &&
            memmem(b.ptr, b.len, staging, sl)) {
            size_t i = 0;
            while (err == 0 && i < b.len) {
                const uint8_t *hit = memmem(b.ptr + i, b.len - i, staging, sl);
                size_t upto = hit ? (size_t)(hit - b.ptr) : b.len;
                err = cr_buf_put(&out, b.ptr + i, upto - i);
                if (err == 0 && hit)
                    err = cr_buf_put(&out, target, tl);
                i = hit ? upto + sl : b.len;
            }
            if (err == 0)
                err = cr_fs_write_atomic(dfd, e->d_name, out.ptr, out.len, st.st_mode & 07777, 0);
        }
        cr_buf_free(&b);
        cr_buf_free(&out);
    }
    closedir(d);
    return err;
}

/* ============================================================ commands */

/*
 * Run `sh -c cmd` in a process group of its own, output appended to `log`,
 * stdin from /dev/null, bounded by `timeout` seconds (then the group gets
 * SIGTERM, and SIGKILL 5 s later). *exit_code: the status, 128+signal, or
 * -1 when it timed out.
 */
static int run_command(int *exit_code, const char *cmd, const char *log, char **envp,
                       double timeout, const volatile int *cancel)
{
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0)
        return cr_error_errno("cannot open the log file %s", log);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return cr_error_errno("cannot start a shell for the command");
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (nullfd >= 0)
            dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        char *argv[] = {"sh", "-c", (char *)cmd, NULL};
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    double t0 = cr_time_mono(), killed_at = 0;
    int status = 0, timed_out = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return cr_error_errno("waiting for the command failed");
        double now = cr_time_mono();
        if (!killed_at && (now - t0 > timeout || (cancel && *cancel))) {
            timed_out = 1;
            kill(-pid, SIGTERM);
            killed_at = now;
        } else if (killed_at && now - killed_at > 5) {
            kill(-pid, SIGKILL);
        }
        poll(NULL, 0, 50);
    }
    if (timed_out)
        *exit_code = -1;
    else if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    else
        *exit_code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}

/* environ + the CLEANROOM_* variables of a unit (the old values of those left out). */
static char **make_env(const char *service, const char *target, const char *snapshot,
                       unsigned int instance, int drill)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = cr_calloc(n + 6, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    static const char *const ours[] = {
        "CLEANROOM_SERVICE=", "CLEANROOM_TARGET=", "CLEANROOM_SNAPSHOT=", "CLEANROOM_INSTANCE=",
        "CLEANROOM_DRILL="};
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (size_t o = 0; o < 5; o++)
            skip |= strncmp(environ[i], ours[o], strlen(ours[o])) == 0;
        if (!skip)
            env[k++] = environ[i]; /* borrowed */
    }
    env[k++] = cr_sprintf("CLEANROOM_SERVICE=%s", service);
    env[k++] = cr_sprintf("CLEANROOM_TARGET=%s", target);
    env[k++] = cr_sprintf("CLEANROOM_SNAPSHOT=%s", snapshot);
    env[k++] = cr_sprintf("CLEANROOM_INSTANCE=%u", instance);
    env[k++] = cr_sprintf("CLEANROOM_DRILL=%d", drill ? 1 : 0);
    env[k] = NULL;
    return env;
}

static void free_env(char **env)
{
    if (!env)
        return;
    size_t n = 0;
    while (env[n])
        n++;
    for (size_t i = n >= 5 ? n - 5 : 0; i < n; i++)
        free(env[i]);
    free(env);
}

/* ============================================================ one unit */

static void unit_progress(const cr_progress *p, void *payload)
{
    unit_rt *u = payload;
    pthread_mutex_lock(&u->ctx->pmu);
    u->bytes_done = p->bytes_done;
    if (p->bytes_total)
        u->bytes_total = p->bytes_total;
    pthread_mutex_unlock(&u->ctx->pmu);
}

static void set_phase(unit_rt *u, const char *phase)
{
    pthread_mutex_lock(&u->ctx->pmu);
    u->phase = phase;
    pthread_mutex_unlock(&u->ctx->pmu);
}

static void unit_warning(const char *path, const char *message, void *payload)
{
    (void)path;
    (void)message;
    (void)payload; /* counted in the stats; the journal gets the totals */
}

/* Restore into staging, journal restore-done, rename. Returns 0 or an error (message set). */
static int unit_restore(rc_ctx *c, unit_rt *u, const cr_plan_service *s, const svc_rt *sv)
{
    char hex[CR_ID_HEX_LEN + 1], sf[32], sb[32], ss[32], sfail[32];
    cr_restore_stats stats;
    int err = 0;
    const char *kv0[] = {"target",   u->target,  "staging",
                         u->staging, "snapshot", cr_id_to_hex(hex, &sv->snap->id)};
    if ((err = jlog(c, "restore-start", u->name, kv0, 3)) < 0)
        return err;
    set_phase(u, "restore");
    remove_tree(u->staging);
    char *par = parent_of(u->target);
    if (!par)
        return CR_ERROR;
    err = cr_fs_mkdir_p(AT_FDCWD, par, 0755);
    free(par);
    if (err < 0)
        return err;
    /* Said now rather than half-way through (the estimate knows the bytes). */
    uint64_t avail = 0;
    if (free_space(&avail, NULL, u->staging) == 0 && avail < sv->bytes) {
        char need[32], have[32];
        cr_fmt_size(need, sizeof(need), sv->bytes);
        cr_fmt_size(have, sizeof(have), avail);
        cr_error_set("no space left on %s (the filesystem of the target) for '%s': it needs "
                     "about %s, %s are free; nothing was written. Free space there or move the "
                     "target, then %s",
                     u->target, u->name, need, have, again(c));
        return CR_ENOSPACE;
    }

    int threads = c->o->threads;
    if (threads <= 0) {
        unsigned int par_n = c->o->parallel ? c->o->parallel : 2;
        threads = cr_ncpu() / (int)par_n;
        if (threads < 1)
            threads = 1;
    }
    double t0 = cr_time_mono();
    memset(&stats, 0, sizeof(stats));
    cr_error_clear();
    if (s->target.kind == CR_PLAN_TARGET_FOLDER) {
        cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
        ro.target = u->staging;
        ro.threads = threads;
        ro.progress = unit_progress;
        ro.warning = unit_warning;
        ro.notice = unit_warning;
        ro.payload = u;
        err = cr_restore(&stats, c->repo, sv->snap, &ro);
        if (err == CR_EPARTIAL && stats.no_space)
            err = CR_ENOSPACE; /* the disk filled up, the vault is fine */
        else if (err == CR_EPARTIAL && stats.failed == 0)
            err = 0; /* metadata only (owner, ACLs): the data is complete */
        else if (err == CR_EPARTIAL) {
            cr_error_set("%llu item(s) of snapshot %.8s could not be restored (damaged vault "
                         "data or unsafe names): the service is not restored in full",
                         (unsigned long long)stats.failed, hex);
            err = CR_EPARTIAL;
        }
    } else if (s->target.kind == CR_PLAN_TARGET_IMAGE) {
        cr_image_restore_options io = CR_IMAGE_RESTORE_OPTIONS_INIT;
        io.output = u->staging;
        io.format = s->target.format;
        io.disk = s->target.disk;
        io.threads = threads;
        io.progress = unit_progress;
        io.warning = unit_warning;
        io.payload = u;
        err = cr_restore_image(&stats, c->repo, sv->snap, &io);
    } else {
        cr_vm_export_options vo = CR_VM_EXPORT_OPTIONS_INIT;
        char **files = NULL;
        vo.hypervisor = s->target.hypervisor;
        vo.out_dir = u->staging;
        vo.threads = threads;
        vo.progress = unit_progress;
        vo.warning = unit_warning;
        vo.payload = u;
        err = cr_vm_export(&files, c->repo, sv->snap, &vo);
        cr_strv_free(files);
        stats.bytes = sv->bytes;
    }
    if (err < 0) {
        char *m = cr_strdup(cr_error_last());
        if (err == CR_ENOSPACE)
            cr_error_set("no space left on %s (the filesystem of the target) while restoring "
                         "'%s': %s; free space there or move the target, then %s",
                         u->target, u->name, m ? m : "", again(c));
        else
            cr_error_set("restore of '%s' into %s failed: %s", u->name, u->target, m ? m : "");
        free(m);
        remove_tree(u->staging); /* a partial copy is of no use and may fill the disk */
        return err;
    }
    u->restore_seconds = cr_time_mono() - t0;
    snprintf(sf, sizeof(sf), "%llu", (unsigned long long)stats.files);
    snprintf(sb, sizeof(sb), "%llu", (unsigned long long)stats.bytes);
    snprintf(sfail, sizeof(sfail), "%llu", (unsigned long long)stats.failed);
    fmt_d(ss, sizeof(ss), u->restore_seconds);
    char smeta[32];
    snprintf(smeta, sizeof(smeta), "%llu", (unsigned long long)stats.meta_incomplete);
    const char *kv[] = {"snapshot", hex,        "target",          u->target, "files",  sf,
                        "bytes",    sb,         "seconds",         ss,        "failed", sfail,
                        "staging",  u->staging, "meta_incomplete", smeta};
    if ((err = jlog(c, "restore-done", u->name, kv, 8)) < 0)
        return err;
    u->restored = 1;
    if ((err = put_in_place(u->staging, u->target)) < 0)
        return err;
    /* A restore makes its target folder 0700 while it works; in place, the
     * service's own accounts (postgres, openldap) must be able to reach the
     * folders below it, which keep their recorded modes. */
    if (s->target.kind == CR_PLAN_TARGET_FOLDER && chmod(u->target, 0755) < 0)
        return cr_error_errno("cannot open %s to the service's accounts (chmod 755)", u->target);
    return 0;
}

/* Before a start command: a probe answered by a server that was already
 * there (production still running, a leftover of an earlier drill) would
 * pass without proving anything about the restored copy. */
static int check_addresses_free(rc_ctx *c, const unit_rt *u, const cr_plan_service *s)
{
    for (size_t i = 0; i < s->nprobes; i++) {
        char addr[300];
        int answered = 0, err;
        if ((err = pr_probe_answered(&answered, addr, sizeof(addr), &s->probes[i], 1.0)) < 0)
            return err;
        if (!answered)
            continue;
        cr_error_set("something already answers on %s, the address that the %s probe of '%s' "
                     "tests, before its start command ran: the probe would pass without "
                     "proving that the restored copy works, so the service was not started. "
                     "Stop what listens there (ss -ltnp shows it)%s, then %s",
                     addr, cr_probe_kind_name(s->probes[i].kind), u->name,
                     c->o->drill ? ", or give the drilled service other addresses than "
                                   "production"
                                 : "",
                     again(c));
        return CR_EEXISTS;
    }
    return 0;
}

/* 1 when a blocking step of service si is not acknowledged yet. */
static int svc_waits(const rc_ctx *c, size_t si)
{
    const cr_plan_service *s = &c->plan->services[si];
    for (size_t k = 0; k < s->nsteps; k++)
        if (s->steps[k].blocks && !(c->svc[si].acked && c->svc[si].acked[k]))
            return 1;
    return 0;
}

/*
 * Journal the manual steps of a service that is back (once per run): each
 * "step" entry says whether it blocks and whether it is acknowledged already.
 * A drill does not wait for people: its steps are journaled as not waited
 * for, so that its report lists them. Caller holds ctx->mu.
 */
static void tell_steps(rc_ctx *c, size_t si)
{
    const cr_plan_service *s = &c->plan->services[si];
    if (c->svc[si].steps_told)
        return;
    c->svc[si].steps_told = 1;
    for (size_t k = 0; k < s->nsteps; k++) {
        const cr_plan_step *st = &s->steps[k];
        int acked = c->svc[si].acked && c->svc[si].acked[k];
        const char *state = acked ? "acknowledged" : c->o->drill ? "not-waited (drill)"
                            : st->blocks ? "waiting" : "to do";
        const char *kv[] = {"step",    st->id,
                            "blocks",  st->blocks ? "yes" : "no",
                            "state",   state,
                            "text_fr", st->text_fr ? st->text_fr : "",
                            "text_en", st->text_en ? st->text_en : ""};
        jlog_locked(c, "step", s->name, kv, 5);
    }
}

static void *unit_main(void *arg)
{
    unit_rt *u = arg;
    rc_ctx *c = u->ctx;
    cr_recover_unit *cu = &c->units[u->index];
    const cr_plan_service *s = &c->plan->services[cu->service];
    const svc_rt *sv = &c->svc[cu->service];
    char hex[CR_ID_HEX_LEN + 1], buf[4][48];
    int ok = 1, err = 0;

    cr_id_to_hex(hex, &sv->snap->id);
    u->t_start = cr_time_mono();
    if (c->scratch) { /* a drill never writes outside its scratch folder */
        size_t sl = strlen(c->scratch);
        int inside = strncmp(u->target, c->scratch, sl) == 0 && u->target[sl] == '/' &&
                     strncmp(u->staging, c->scratch, sl) == 0 && u->staging[sl] == '/';
        assert(inside);
        if (!inside) { /* never reached: the paths are built below the scratch folder */
            cr_error_set("drill: %s is outside the scratch folder %s", u->target, c->scratch);
            abort();
        }
    }

    /* Restore (or, on resume, finish what a crash interrupted). */
    if (u->j_restored) {
        struct stat st;
        if (lstat(u->staging, &st) == 0) {
            if ((err = put_in_place(u->staging, u->target)) < 0)
                ok = 0;
        } else if (lstat(u->target, &st) != 0) {
            /* Neither: the data is gone (removed by hand). Restore again. */
            u->j_restored = 0;
        }
        u->restored = ok;
    }
    if (ok && !u->j_restored && (err = unit_restore(c, u, s, sv)) < 0)
        ok = 0;
    if (ok && s->target.kind == CR_PLAN_TARGET_VM &&
        (err = fix_vm_paths(u->staging, u->target)) < 0)
        ok = 0;
    if (!ok)
        jerror(c, u->name, cr_error_last());

    /* Nothing may answer yet where the probes will look (unless it is what
     * this very recovery started before a crash). */
    if (ok && s->start && !u->j_start_ran && !(c->o->cancel && *c->o->cancel) &&
        (err = check_addresses_free(c, u, s)) < 0) {
        jerror(c, u->name, cr_error_last());
        ok = 0;
    }

    /* Start command. */
    if (ok && s->start && !(c->o->cancel && *c->o->cancel)) {
        set_phase(u, "start");
        char **env = make_env(u->name, u->target, hex, cu->instance, c->o->drill);
        int code = 0;
        double t0 = cr_time_mono();
        double to = c->o->start_timeout > 0 ? c->o->start_timeout : 600;
        cr_error_clear();
        err = env ? run_command(&code, s->start, u->log, env, to, c->o->cancel) : CR_ERROR;
        free_env(env);
        u->started_cmd = 1;
        if (err < 0) {
            jerror(c, u->name, cr_error_last());
            ok = 0;
        } else {
            snprintf(buf[0], sizeof(buf[0]), "%d", code);
            fmt_d(buf[1], sizeof(buf[1]), cr_time_mono() - t0);
            const char *kv[] = {"command", s->start, "exit_code", buf[0],
                                "seconds", buf[1],   "log",       u->log};
            jlog(c, "start-command", u->name, kv, 4);
            if (code != 0) {
                char *m = code < 0 ? cr_sprintf("the start command of '%s' did not finish in "
                                                "%.0f s and was stopped; see %s",
                                                u->name, to, u->log)
                                   : cr_sprintf("the start command of '%s' failed (exit code "
                                                "%d); see %s",
                                                u->name, code, u->log);
                jerror(c, u->name, m ? m : "start command failed");
                free(m);
                ok = 0;
            }
        }
    }

    /* Probes. */
    for (size_t i = 0; ok && i < s->nprobes; i++) {
        cr_probe_result r;
        const cr_probe_spec *p = &s->probes[i];
        set_phase(u, "probe");
        memset(&r, 0, sizeof(r));
        err = cr_probe_run(&r, p, c->o->cancel);
        if (err < 0) {
            snprintf(r.message, sizeof(r.message), "%s", cr_error_last());
            r.ok = 0;
        }
        char *label = p->name  ? cr_strdup(p->name)
                      : p->url ? cr_sprintf("%s %s", cr_probe_kind_name(p->kind), p->url)
                               : cr_sprintf("%s %s:%u", cr_probe_kind_name(p->kind),
                                            p->host ? p->host : "127.0.0.1", p->port);
        snprintf(buf[0], sizeof(buf[0]), "%u", r.attempts);
        fmt_d(buf[1], sizeof(buf[1]), r.seconds);
        const char *kv[] = {"probe",    label ? label : "?",
                            "kind",     cr_probe_kind_name(p->kind),
                            "ok",       r.ok ? "yes" : "no",
                            "attempts", buf[0],
                            "seconds",  buf[1],
                            "message",  r.message};
        jlog(c, "probe", u->name, kv, 6);
        free(label);
        if (!r.ok)
            ok = 0;
    }

    /* Done. */
    int waits = ok && !c->o->drill && svc_waits(c, cu->service);
    double since = cr_time_mono() - c->t0;
    fmt_d(buf[0], sizeof(buf[0]), since);
    fmt_d(buf[1], sizeof(buf[1]), u->restore_seconds);
    fmt_d(buf[2], sizeof(buf[2]), s->rto);
    snprintf(buf[3], sizeof(buf[3]), "%d", s->tier);
    const char *met = s->rto <= 0 ? "none" : (ok && since <= s->rto) ? "yes" : "no";
    const char *kv[] = {"status",
                        ok ? "ok" : "failed",
                        "seconds",
                        buf[0],
                        "restore_seconds",
                        buf[1],
                        "rto",
                        buf[2],
                        "rto_met",
                        met,
                        "tier",
                        buf[3]};
    pthread_mutex_lock(&c->mu);
    jlog_locked(c, "service-done", u->name, kv, 6);
    if (ok)
        tell_steps(c, cu->service);
    cu->state = !ok ? CR_UNIT_FAILED : waits ? CR_UNIT_STEP : CR_UNIT_OK;
    set_phase(u, NULL);
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ============================================================ journal state */

/* Read the journal's last run into the units; *unfinished = its last run has no recover-end. */
/* An acknowledgement of a KEV match ("step" kev:CVE-...) of a service, whichever run
 * asked for it: remembered with who gave it. 0 (also when it is not one), or CR_ERROR. */
static int kev_ack(rc_ctx *c, const cr_journal_entry *e)
{
    const char *step = NULL, *by = "?";
    size_t si = find_service(c->plan, e->service);
    for (size_t k = 0; k < e->nkv; k++) {
        if (!strcmp(e->keys[k], "step"))
            step = e->values[k];
        else if (!strcmp(e->keys[k], "by"))
            by = e->values[k];
    }
    if (si == SIZE_MAX || !step || strncmp(step, CR_KEV_STEP_PREFIX, 4) != 0)
        return 0;
    svc_rt *sv = &c->svc[si];
    char **a = cr_realloc(sv->kev_acked, (sv->nkev_acked + 1) * sizeof(*a));
    if (a)
        sv->kev_acked = a;
    char **b = a ? cr_realloc(sv->kev_by, (sv->nkev_acked + 1) * sizeof(*b)) : NULL;
    if (b)
        sv->kev_by = b;
    if (!a || !b)
        return CR_ERROR;
    sv->kev_acked[sv->nkev_acked] = cr_strdup(step + 4);
    sv->kev_by[sv->nkev_acked] = cr_strdup(by);
    sv->nkev_acked++;
    return sv->kev_acked[sv->nkev_acked - 1] && sv->kev_by[sv->nkev_acked - 1] ? 0 : CR_ERROR;
}

/* Who acknowledged the KEV match `cve` of service si (borrowed), or NULL. */
static const char *kev_acked_by(const rc_ctx *c, size_t si, const char *cve)
{
    const svc_rt *sv = &c->svc[si];
    for (size_t k = sv->nkev_acked; k > 0; k--)
        if (!strcmp(sv->kev_acked[k - 1], cve))
            return sv->kev_by[k - 1];
    return NULL;
}

static int read_journal(rc_ctx *c, int *exists, int *unfinished, double *thr, char *thr_from,
                        size_t thr_len)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    int err;
    *exists = *unfinished = 0;
    *thr = 0;
    cr_error_clear();
    err = cr_journal_read(&e, &n, &bad, c->o->journal);
    if (err == CR_ENOTFOUND)
        return 0;
    if (err < 0) {
        cr_journal_entries_free(e, n); /* the entries before the damage */
        return err;
    }
    *exists = 1;
    size_t run = n;
    double sb = 0, ss = 0;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].type, "recover-start") == 0) {
            int is_resume = 0;
            for (size_t k = 0; k < e[i].nkv; k++)
                if (!strcmp(e[i].keys[k], "resume") && !strcmp(e[i].values[k], "yes"))
                    is_resume = 1;
            if (!is_resume || run == n)
                run = i;
            *unfinished = 1;
        } else if (strcmp(e[i].type, "recover-end") == 0) {
            *unfinished = 0;
        } else if (strcmp(e[i].type, "ack") == 0 && e[i].service && kev_ack(c, &e[i]) < 0) {
            cr_journal_entries_free(e, n);
            return CR_ERROR;
        } else if (strcmp(e[i].type, "ack") == 0 && e[i].service) {
            /* A manual step done, whichever run asked for it. */
            size_t si = find_service(c->plan, e[i].service);
            for (size_t k = 0; si != SIZE_MAX && k < e[i].nkv; k++)
                if (!strcmp(e[i].keys[k], "step"))
                    for (size_t t = 0; t < c->plan->services[si].nsteps; t++)
                        if (c->svc[si].acked && !strcmp(c->plan->services[si].steps[t].id,
                                                        e[i].values[k]))
                            c->svc[si].acked[t] = 1;
        } else if (strcmp(e[i].type, "restore-done") == 0) {
            double b = 0, s = 0;
            for (size_t k = 0; k < e[i].nkv; k++) {
                if (!strcmp(e[i].keys[k], "bytes"))
                    b = strtod(e[i].values[k], NULL);
                if (!strcmp(e[i].keys[k], "seconds"))
                    s = strtod(e[i].values[k], NULL);
            }
            if (b >= 1048576 && s > 0) {
                sb += b;
                ss += s;
                nr++;
            }
        }
    }
    if (nr && ss > 0) {
        *thr = sb / ss;
        snprintf(thr_from, thr_len, "remembered from %zu restore(s) in the journal", nr);
    }
    for (size_t i = run; i < n; i++) {
        if (!e[i].service)
            continue;
        if (!strcmp(e[i].type, "point-chosen")) {
            /* The first choice of the recovery being resumed holds: services
             * already back must not be joined by others from another day. */
            size_t si = find_service(c->plan, e[i].service);
            for (size_t k = 0; si != (size_t)-1 && k < e[i].nkv; k++)
                if (!strcmp(e[i].keys[k], "snapshot") && !c->svc[si].pinned[0] &&
                    strlen(e[i].values[k]) == CR_ID_HEX_LEN)
                    snprintf(c->svc[si].pinned, sizeof(c->svc[si].pinned), "%s",
                             e[i].values[k]);
            continue;
        }
        for (size_t u = 0; u < c->nunits; u++) {
            unit_rt *r = &c->rt[u];
            if (strcmp(r->name, e[i].service) != 0)
                continue;
            if (!strcmp(e[i].type, "restore-start")) {
                r->j_started = 1;
                r->j_restored = r->j_start_ran = 0;
                r->j_status[0] = '\0';
            } else if (!strcmp(e[i].type, "restore-done")) {
                r->j_restored = 1;
            } else if (!strcmp(e[i].type, "start-command")) {
                r->j_start_ran = 1;
            } else if (!strcmp(e[i].type, "service-done")) {
                for (size_t k = 0; k < e[i].nkv; k++)
                    if (!strcmp(e[i].keys[k], "status"))
                        snprintf(r->j_status, sizeof(r->j_status), "%s", e[i].values[k]);
            }
        }
    }
    cr_journal_entries_free(e, n);
    return 0;
}

/* ============================================================ estimate */

typedef struct sample {
    char **paths;
    size_t n;
    uint64_t bytes, budget;
    size_t visited;
} sample;

static int sample_cb(const char *path, const cr_node *node, void *payload)
{
    sample *s = payload;
    if (++s->visited > 20000 || s->n >= 2000 || s->bytes >= s->budget)
        return 1;
    if (node->type == CR_NODE_FILE && node->size > 0 && node->size <= s->budget - s->bytes) {
        char **np = realloc(s->paths, (s->n + 1) * sizeof(char *));
        if (!np)
            return 1;
        s->paths = np;
        if (!(s->paths[s->n] = strdup(path)))
            return 1;
        s->n++;
        s->bytes += node->size;
    }
    return 0;
}

/* Restore up to 64 MiB of files of the plan's first file snapshot into a temporary folder. */
static void measure_throughput(rc_ctx *c, const char *dir)
{
    const cr_snapshot *snap = NULL;
    uint64_t most = 0;
    for (size_t i = 0; i < c->plan->nservices; i++) /* the largest: a sample worth timing */
        if (c->svc[i].snap && c->svc[i].bytes > most) {
            snap = c->svc[i].snap;
            most = c->svc[i].bytes;
        }
    if (!snap)
        return;
    sample s = {NULL, 0, 0, 64ull << 20, 0};
    (void)cr_snapshot_walk(c->repo, snap, "/", 1, sample_cb, &s);
    if (s.n > 0) {
        char *tmp = cr_sprintf("%s/.cleanroom-measure.XXXXXX", dir);
        if (tmp && mkdtemp(tmp)) {
            cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
            cr_restore_stats st;
            ro.target = tmp;
            ro.includes = (const char *const *)s.paths;
            ro.nincludes = s.n;
            ro.no_owner = 1;
            ro.warning = unit_warning;
            ro.notice = unit_warning;
            double t0 = cr_time_mono();
            int err = cr_restore(&st, c->repo, snap, &ro);
            double dt = cr_time_mono() - t0;
            if ((err == 0 || err == CR_EPARTIAL) && st.bytes > 0 && dt > 0) {
                c->throughput = (double)st.bytes / dt;
                snprintf(c->thr_from, sizeof(c->thr_from),
                         "measured: restored a sample of %zu file(s), %llu bytes, in %.2f s", s.n,
                         (unsigned long long)st.bytes, dt);
            }
            remove_tree(tmp);
        }
        free(tmp);
    }
    for (size_t i = 0; i < s.n; i++)
        free(s.paths[i]);
    free(s.paths);
}

static void estimate(rc_ctx *c, const char *dir, double remembered, const char *rem_from)
{
    const cr_plan *p = c->plan;
    unsigned int par = c->o->parallel ? c->o->parallel : 2;
    if (c->o->throughput > 0) {
        c->throughput = c->o->throughput;
        snprintf(c->thr_from, sizeof(c->thr_from), "given with --throughput");
    } else if (remembered > 0) {
        c->throughput = remembered;
        snprintf(c->thr_from, sizeof(c->thr_from), "%s", rem_from);
    } else {
        measure_throughput(c, dir);
    }
    double tier_start = 0;
    for (int t = 0; t <= 3; t++) {
        double longest = 0, sum = 0;
        uint64_t tbytes = 0;
        size_t nsvc = 0;
        for (size_t i = 0; i < p->nservices; i++) {
            const cr_plan_service *s = &p->services[i];
            if (s->tier != t)
                continue;
            nsvc++;
            uint64_t b = c->svc[i].bytes * s->count;
            unsigned int lanes = s->count < par ? s->count : par;
            double sec = (c->throughput > 0 ? (double)b / c->throughput / lanes : 0) +
                         PROBE_GUESS_S * (double)s->nprobes;
            /* Within a tier, a service waits at worst for what it depends on. */
            double dep_end = tier_start;
            for (size_t d = 0; d < s->ndepends; d++) {
                size_t di = find_service(p, s->depends_on[d]);
                if (di != SIZE_MAX && p->services[di].tier == t && c->svc[di].estimate > dep_end)
                    dep_end = c->svc[di].estimate;
            }
            c->svc[i].estimate = dep_end + sec;
            if (c->svc[i].estimate - tier_start > longest)
                longest = c->svc[i].estimate - tier_start;
            sum += sec;
            tbytes += b;
        }
        if (!nsvc)
            continue;
        double tier_len = longest > sum / par ? longest : sum / par;
        for (size_t i = 0; i < p->nservices; i++) {
            const cr_plan_service *s = &p->services[i];
            if (s->tier != t)
                continue;
            char sb[32], ss[32], sr[32], st[8];
            snprintf(sb, sizeof(sb), "%llu", (unsigned long long)(c->svc[i].bytes * s->count));
            fmt_d(ss, sizeof(ss), c->svc[i].estimate);
            fmt_d(sr, sizeof(sr), s->rto);
            snprintf(st, sizeof(st), "%d", t);
            const char *met = s->rto <= 0 || c->throughput <= 0 ? "none"
                              : c->svc[i].estimate <= s->rto    ? "yes"
                                                                : "no";
            char thr[32];
            fmt_d(thr, sizeof(thr), c->throughput);
            const char *kv[] = {"tier",
                                st,
                                "bytes",
                                sb,
                                "seconds",
                                ss,
                                "rto",
                                sr,
                                "rto_met",
                                met,
                                "throughput",
                                thr,
                                "throughput_from",
                                c->thr_from[0] ? c->thr_from : "unknown"};
            jlog(c, "estimate", s->name, kv, 7);
        }
        char st[8], sb[32], ss[32];
        snprintf(st, sizeof(st), "%d", t);
        snprintf(sb, sizeof(sb), "%llu", (unsigned long long)tbytes);
        fmt_d(ss, sizeof(ss), tier_start + tier_len);
        const char *kv[] = {"tier", st, "bytes", sb, "seconds", ss};
        event_only(c, "estimate-tier", NULL, kv, 3);
        tier_start += tier_len;
    }
}

/* ============================================================ run */

char *cr_recover_journal_path(const char *plan_file, int drill)
{
    const char *base = strrchr(plan_file, '/');
    size_t dl = base ? (size_t)(base - plan_file) : 0;
    base = base ? base + 1 : plan_file;
    size_t bl = strlen(base);
    if (bl > 5 && strcmp(base + bl - 5, ".yaml") == 0)
        bl -= 5;
    else if (bl > 4 && strcmp(base + bl - 4, ".yml") == 0)
        bl -= 4;
    char when[32] = "";
    if (drill) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "-drill-%Y%m%dT%H%M%SZ", &tm);
    }
    if (dl == 0 && plan_file[0] != '/')
        return cr_sprintf("%.*s%s.journal", (int)bl, base, when);
    return cr_sprintf("%.*s/%.*s%s.journal", (int)dl, plan_file, (int)bl, base, when);
}

int cr_recover_ack(cr_repo *repo, const char *journal, const char *service, const char *by,
                   const char *message)
{
    return cr_recover_ack_step(repo, NULL, journal, service, NULL, by, message);
}

int cr_recover_ack_step(cr_repo *repo, const cr_plan *plan, const char *journal,
                        const char *service, const char *step, const char *by,
                        const char *message)
{
    if (step && !strncmp(step, CR_KEV_STEP_PREFIX, 4)) {
        /* A known-exploited vulnerability of the service (check_kev): "kev:CVE-YYYY-N". */
        size_t si = plan && service ? find_service(plan, service) : SIZE_MAX;
        size_t n = strlen(step);
        int ok = n >= 4 + 13 && n <= 4 + 32 && !strncmp(step + 4, "CVE-", 4);
        for (size_t i = 8; ok && i < n; i++)
            ok = (step[i] >= '0' && step[i] <= '9') || (step[i] == '-' && i == 12);
        if (si == SIZE_MAX || !ok) {
            cr_error_set(si == SIZE_MAX ? "the plan has no service '%s' to acknowledge a "
                                          "vulnerability of"
                                        : "'%s': a vulnerability is acknowledged as kev:CVE-YYYY-NNNN",
                         si == SIZE_MAX ? (service ? service : "") : step);
            return CR_ENOTFOUND;
        }
    } else if (step) {
        size_t si = plan && service ? find_service(plan, service) : SIZE_MAX;
        const cr_plan_service *s = si != SIZE_MAX ? &plan->services[si] : NULL;
        size_t k = 0;
        while (s && k < s->nsteps && strcmp(s->steps[k].id, step))
            k++;
        if (!s || k == s->nsteps) {
            char list[512] = "";
            for (size_t t = 0; s && t < s->nsteps; t++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         t ? ", " : "", s->steps[t].id);
            if (!s)
                cr_error_set("the plan has no service '%s' to acknowledge a step of",
                             service ? service : "");
            else
                cr_error_set("service '%s' has no step '%s' (its steps: %s)", service, step,
                             list[0] ? list : "none");
            return CR_ENOTFOUND;
        }
    }
    cr_journal *j = NULL;
    cr_journal_entry *e = NULL;
    size_t n = 0;
    int ran = 0;
    /* An acknowledgement is about a recovery: never the start of a journal
     * of its own, which `report` would then refuse. */
    int err = cr_journal_read(&e, &n, NULL, journal);
    for (size_t i = 0; i < n && !ran; i++)
        ran = strcmp(e[i].type, "recover-start") == 0;
    cr_journal_entries_free(e, n);
    if (err == CR_ENOTFOUND || (err == 0 && !ran)) {
        cr_error_set("no recovery was run with the journal %s (%s): an acknowledgement goes in "
                     "the journal of a recovery or drill; give it with --journal FILE",
                     journal, err == CR_ENOTFOUND ? "it does not exist" : "it holds none");
        return CR_ENOTFOUND;
    }
    err = cr_journal_open_keyed(&j, journal, repo);
    if (err < 0) {
        if (err == CR_ELOCKED)
            cr_error_set("the recovery journal %s is in use by a running recovery: wait for it "
                         "to end, then acknowledge",
                         journal);
        return err;
    }
    const char *kv[] = {"by", by ? by : "?", "message", message ? message : "", "step", step};
    err = cr_journal_append(j, "ack", service, kv, step ? 3 : 2);
    cr_journal_close(j);
    return err;
}

static char *user_name(void)
{
    struct passwd pw, *res = NULL;
    char b[1024];
    if (getpwuid_r(geteuid(), &pw, b, sizeof(b), &res) == 0 && res)
        return cr_strdup(res->pw_name);
    return cr_sprintf("uid %u", (unsigned)geteuid());
}

static char *plan_sha(const char *file)
{
    cr_buf b = CR_BUF_INIT;
    uint8_t h[32];
    char *hex = NULL;
    if (file && cr_fs_read_all(&b, AT_FDCWD, file, CR_PLAN_MAX_BYTES + 1) == 0) {
        cr_sha256(h, b.ptr, b.len);
        if ((hex = cr_malloc(65)))
            cr_hex_encode(hex, h, 32);
    }
    cr_buf_free(&b);
    return hex ? hex : cr_strdup("unknown");
}

static void emit_progress(rc_ctx *c)
{
    double now = cr_time_mono();
    uint64_t all_done = 0, all_total = 0;
    size_t running = 0, finished = 0;
    for (size_t u = 0; u < c->nunits; u++) {
        unit_rt *r = &c->rt[u];
        const svc_rt *sv = &c->svc[c->units[u].service];
        pthread_mutex_lock(&c->pmu);
        uint64_t bd = r->bytes_done, bt = r->bytes_total ? r->bytes_total : sv->bytes;
        const char *phase = r->phase;
        pthread_mutex_unlock(&c->pmu);
        cr_unit_state st = c->units[u].state;
        if (st == CR_UNIT_OK || st == CR_UNIT_FAILED || st == CR_UNIT_STEP)
            bd = bt;
        if (st == CR_UNIT_BLOCKED)
            bt = bd = 0;
        all_done += bd;
        all_total += bt;
        finished += unit_finished(st);
        if (st != CR_UNIT_RUNNING)
            continue;
        running++;
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        double el = now - r->t_start;
        double rate = el > 0 ? (double)bd / el : 0;
        snprintf(b1, sizeof(b1), "%llu", (unsigned long long)bd);
        snprintf(b2, sizeof(b2), "%llu", (unsigned long long)bt);
        fmt_d(b3, sizeof(b3), rate);
        fmt_d(b4, sizeof(b4), rate > 0 && bt > bd ? (double)(bt - bd) / rate : 0);
        fmt_d(b5, sizeof(b5), el);
        const char *kv[] = {"phase",       phase ? phase : "wait",
                            "bytes_done",  b1,
                            "bytes_total", b2,
                            "rate",        b3,
                            "eta",         b4,
                            "elapsed",     b5};
        c->o->event("progress", r->name, kv, 6, c->o->payload);
    }
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
    double el = now - c->t0;
    double rate = el > 0 ? (double)all_done / el : 0;
    /* The remaining bytes at the throughput of the estimate: the average
     * since the start would fall while probes wait, and the ETA grow. */
    double eta_rate = c->throughput > 0 ? c->throughput : rate;
    snprintf(b1, sizeof(b1), "%llu", (unsigned long long)all_done);
    snprintf(b2, sizeof(b2), "%llu", (unsigned long long)all_total);
    fmt_d(b3, sizeof(b3), rate);
    fmt_d(b4, sizeof(b4),
          eta_rate > 0 && all_total > all_done ? (double)(all_total - all_done) / eta_rate : 0);
    fmt_d(b5, sizeof(b5), el);
    snprintf(b6, sizeof(b6), "%zu", running);
    snprintf(b7, sizeof(b7), "%zu/%zu", finished, c->nunits);
    const char *kv[] = {"bytes_done", b1, "bytes_total", b2, "rate",     b3, "eta", b4,
                        "elapsed",    b5, "running",     b6, "finished", b7};
    c->o->event("progress", NULL, kv, 7, c->o->payload);
}

/* Drill: run the stop commands (reverse start order), remove the scratch folder. */
static void drill_cleanup(rc_ctx *c)
{
    for (size_t k = c->nunits; k-- > 0;) {
        unit_rt *u = &c->rt[k];
        const cr_plan_service *s = &c->plan->services[c->units[k].service];
        if (!u->started_cmd)
            continue;
        if (!s->stop) { /* nothing says how to end what it started */
            const char *kv[] = {"command", s->start, "reason", "the plan has no stop: command"};
            jlog(c, "left-running", u->name, kv, 2);
            continue;
        }
        char hex[CR_ID_HEX_LEN + 1], b0[16], b1[32];
        cr_id_to_hex(hex, &c->svc[c->units[k].service].snap->id);
        char **env = make_env(u->name, u->target, hex, c->units[k].instance, 1);
        int code = 0;
        double t0 = cr_time_mono();
        int err = env ? run_command(&code, s->stop, u->log, env,
                                    c->o->start_timeout > 0 ? c->o->start_timeout : 600, NULL)
                      : CR_ERROR;
        free_env(env);
        if (err < 0)
            code = -2;
        snprintf(b0, sizeof(b0), "%d", code);
        fmt_d(b1, sizeof(b1), cr_time_mono() - t0);
        const char *kv[] = {"command", s->stop, "exit_code", b0, "seconds", b1, "log", u->log};
        jlog(c, "stop-command", u->name, kv, 4);
    }
    int removed = 0;
    if (!c->o->keep) {
        remove_tree(c->scratch);
        removed = access(c->scratch, F_OK) != 0;
    }
    const char *kv[] = {"scratch", c->scratch, "removed", removed ? "yes" : "no"};
    jlog(c, "drill-cleanup", NULL, kv, 2);
}

/* Check the targets before anything is written. */
static int check_targets(rc_ctx *c)
{
    for (size_t u = 0; u < c->nunits; u++) {
        unit_rt *r = &c->rt[u];
        if (c->units[u].state != CR_UNIT_WAITING)
            continue;
        const cr_plan_service *s = &c->plan->services[c->units[u].service];
        int ts = target_state(r->target);
        if (ts == 1 && s->target.kind != CR_PLAN_TARGET_IMAGE && !r->j_restored) {
            /* An empty mount point cannot be renamed onto: say so before
             * restoring anything (onto the wrong filesystem). */
            struct stat st_t, st_p;
            char *par = parent_of(r->target);
            int mnt = par && stat(r->target, &st_t) == 0 && stat(par, &st_p) == 0 &&
                      st_t.st_dev != st_p.st_dev;
            free(par);
            if (mnt) {
                cr_error_set("the target %s of '%s' is a mount point (another filesystem): "
                             "cleanroom restores beside a target and renames it into place, "
                             "which a mount point cannot take. Give a folder inside it in the "
                             "plan (e.g. %s/data), then run again",
                             r->target, r->name, r->target);
                return CR_EINPUT;
            }
        }
        if (ts == 0 || (ts == 1 && s->target.kind != CR_PLAN_TARGET_IMAGE))
            continue;
        if (r->j_restored)
            continue; /* ours: restored and renamed before a crash */
        cr_error_set("the target %s of '%s' already exists and %s: cleanroom never overwrites "
                     "it. Move it aside (mv %s %s.old) or change the target in the plan, then "
                     "run again",
                     r->target, r->name, ts == 1 ? "is a folder, not an image file" : "holds data",
                     r->target, r->target);
        return CR_EEXISTS;
    }
    return 0;
}

/*
 * The restore gate (cr_restore_gate_check, the one restore and vm-export
 * use) for the restore point of every service still to do, before anything
 * is written: a restore point holding a finding at or above high, or whose
 * hunt record is gone, is refused. The clean point passes by construction
 * unless the hunt changed its mind since the plan was checked (a resume days
 * later); `latest` is refused when the newest snapshot is compromised. Only a
 * snapshot the plan names by id goes through knowingly (as `restore
 * --accept-risk`), and the journal says so. Nothing is set aside file by
 * file: a service comes back whole or not at all.
 */
static int check_gate(rc_ctx *c, cr_repo *repo)
{
    const cr_plan *plan = c->plan;
    for (size_t i = 0; i < plan->nservices; i++) {
        const cr_plan_service *s = &plan->services[i];
        svc_rt *sv = &c->svc[i];
        cr_restore_gate_options o = CR_RESTORE_GATE_OPTIONS_INIT;
        cr_restore_gate *g = NULL;
        int todo = 0, err;
        char sid[9], t[48];
        for (size_t u = 0; u < c->nunits && !todo; u++)
            todo = c->units[u].service == i && c->units[u].state == CR_UNIT_WAITING;
        if (!todo)
            continue;
        o.accept_risk = s->point == CR_PLAN_POINT_ID;
        if ((err = cr_restore_gate_check(&g, repo, sv->snap, &o)) < 0)
            return err;
        char hex[CR_ID_HEX_LEN + 1];
        snprintf(sid, sizeof(sid), "%.8s", cr_id_to_hex(hex, &sv->snap->id));
        cr_time_format(t, sizeof(t), sv->snap->time_ns);
        const cr_finding *top = g->nflagged > 0 ? g->flagged[0] : NULL;
        for (size_t k = 1; k < g->nflagged; k++)
            if (g->flagged[k]->severity > top->severity)
                top = g->flagged[k];
        if (g->refused && g->hunt == CR_GATE_MISSING) {
            cr_error_set("the restore point %s (%s) of '%s' has lost its hunt results (%s): what "
                         "the hunt found in it is unknown; nothing was restored. Run `cleanroom "
                         "verify`, hunt source '%s' again, then run again",
                         sid, t, s->name, g->hunt_error, s->source);
            err = CR_EREFUSED;
        } else if (g->refused) {
            cr_error_set("the restore point %s (%s) of '%s' is compromised: %zu finding(s) at or "
                         "above high (%s %s on %s); nothing was restored. Restore its clean "
                         "point (restore_point: clean), or name a snapshot knowingly with "
                         "restore_point: ID",
                         sid, t, s->name, g->nflagged, cr_severity_name(top->severity),
                         top->indicator ? top->indicator : "?", top->path ? top->path : "?");
            err = CR_EREFUSED;
        } else if (g->accepted_risk && (top || g->hunt == CR_GATE_MISSING)) {
            if (top)
                sv->risk = cr_sprintf("RESTORING A COMPROMISED RESTORE POINT: '%s' comes back "
                                      "from snapshot %s (%s), named by id in the plan, which "
                                      "holds %zu finding(s) at or above high (%s %s on %s); keep "
                                      "it off the network until they are dealt with",
                                      s->name, sid, t, g->nflagged,
                                      cr_severity_name(top->severity),
                                      top->indicator ? top->indicator : "?",
                                      top->path ? top->path : "?");
            else
                sv->risk = cr_sprintf("RESTORING A RESTORE POINT WHOSE HUNT RESULTS ARE GONE: "
                                      "'%s' comes back from snapshot %s (%s), named by id in the "
                                      "plan: %s",
                                      s->name, sid, t, g->hunt_error);
            if (!sv->risk)
                err = CR_ERROR;
        }
        cr_restore_gate_free(g);
        if (err < 0)
            return err;
    }
    return 0;
}

/*
 * The known-exploited vulnerability gate (plan `gate: {kev: refuse|warn}`),
 * before anything is written: the restore point of every service still to
 * do is inventoried and matched (cleanroom/reconnect.h). Only matches of the
 * KEV catalog are kept; they are journaled ("kev" entries) once the journal is
 * open (kev_journal), where a service under `refuse` holding a match known to
 * be used by ransomware that nobody acknowledged stops the whole run before
 * any restore: a service restored and reconnected with the door the crew came
 * in through lets them back in. The acknowledgement is the manual steps' one,
 * with the step id "kev:CVE-...", in the journal; `--resume` then goes on.
 */
static int check_kev(rc_ctx *c, cr_repo *repo)
{
    if (!c->o->vulndata)
        return 0;
    for (size_t i = 0; i < c->plan->nservices; i++) {
        svc_rt *sv = &c->svc[i];
        cr_inventory *inv = NULL;
        cr_vuln_match *m = NULL;
        size_t n = 0, keep = 0;
        int todo = 0, err;
        for (size_t u = 0; u < c->nunits && !todo; u++)
            todo = c->units[u].service == i && c->units[u].state == CR_UNIT_WAITING;
        if (!todo)
            continue;
        err = cr_inventory_load(&inv, repo, sv->snap);
        if (err == CR_ENOTFOUND) {
            cr_error_clear();
            continue; /* no system in it (a data folder): nothing installed to match */
        }
        if (err < 0 || (err = cr_vulns_match(&m, &n, c->o->vulndata, inv)) < 0) {
            cr_error_set("the restore point of '%s' could not be checked for known-exploited "
                         "vulnerabilities: %s",
                         c->plan->services[i].name, cr_error_last());
            cr_inventory_free(inv);
            return err;
        }
        cr_inventory_free(inv);
        for (size_t k = 0; k < n; k++) {
            if (m[k].kev) {
                cr_vuln_match t = m[keep];
                m[keep++] = m[k];
                m[k] = t;
            }
        }
        for (size_t k = keep; k < n; k++) { /* the others: not the gate's business */
            cr_vuln_match *x = &m[k];
            free(x->cve);
            free(x->title);
            free(x->product);
            free(x->installed);
            free(x->fixed);
            free(x->evidence);
            free(x->data);
        }
        sv->kev = m;
        sv->nkev = keep;
    }
    return 0;
}

/* Journal the KEV matches and refuse the run when a `refuse` service holds an
 * unacknowledged ransomware one. Journal open; caller holds nothing. */
static int kev_journal(rc_ctx *c)
{
    size_t refused = 0;
    const char *first_svc = NULL, *first_cve = NULL;
    if (!c->o->vulndata) {
        const char *kv[] = {"message", "no vulnerability data was given: the known-exploited "
                                       "vulnerability gate (gate: kev) was not checked"};
        return jlog(c, "warning", NULL, kv, 1);
    }
    for (size_t i = 0; i < c->plan->nservices; i++) {
        const cr_plan_service *s = &c->plan->services[i];
        svc_rt *sv = &c->svc[i];
        for (size_t k = 0; k < sv->nkev; k++) {
            const cr_vuln_match *m = &sv->kev[k];
            const char *by = kev_acked_by(c, i, m->cve);
            int blocks = m->ransomware && s->gate_kev == CR_PLAN_KEV_REFUSE && !by;
            const char *kv[] = {"cve",       m->cve,
                                "ransomware", m->ransomware ? "known" : "unknown",
                                "product",   m->product,
                                "installed", m->installed,
                                "fixed",     m->fixed,
                                "evidence",  m->evidence,
                                "uncertain", m->uncertain ? "yes" : "no",
                                "gate",      s->gate_kev == CR_PLAN_KEV_WARN ? "warn" : "refuse",
                                "decision",  blocks ? "refused" : by ? "acknowledged" : "warned",
                                "by",        by ? by : ""};
            int err = jlog(c, CR_JOURNAL_KEV, s->name, kv, 10);
            if (err < 0)
                return err;
            if (blocks && !refused++) {
                first_svc = s->name;
                first_cve = m->cve;
            }
        }
    }
    if (!refused)
        return 0;
    cr_error_set("%zu known-exploited vulnerabilit%s used by ransomware not acknowledged "
                 "(first: '%s' holds %s): nothing was restored, a service that comes back with "
                 "the hole the attackers used lets them back in. Patch it after the restore "
                 "off the network and acknowledge each one: cleanroom %s PLAN --journal %s --ack "
                 "%s --step kev:%s --by \"NAME, ROLE\" --message \"WHAT IS DONE ABOUT IT\", then "
                 "run again with --resume; or set gate: {kev: warn} for that service",
                 refused, refused == 1 ? "y" : "ies", first_svc, first_cve,
                 c->o->drill ? "drill" : "recover", c->o->journal, first_svc, first_cve);
    return CR_EREFUSED;
}

/*
 * Before anything is written: the bytes each filesystem will receive
 * against its free space. A drill that cannot fit is refused (it would fail
 * half-way, having proved nothing); a recovery goes on after a warning
 * (an event), each service that does not fit then failing before its
 * restore writes anything, and the others coming back.
 */
static int check_space(rc_ctx *c)
{
    typedef struct fsneed {
        dev_t dev;
        uint64_t need, avail;
        const char *where;
    } fsneed;
    fsneed *fs = cr_calloc(c->nunits ? c->nunits : 1, sizeof(*fs));
    size_t nfs = 0;
    int err = 0;
    if (!fs)
        return CR_ERROR;
    for (size_t u = 0; u < c->nunits; u++) {
        uint64_t avail;
        dev_t dev;
        if (c->units[u].state != CR_UNIT_WAITING || c->rt[u].j_restored ||
            free_space(&avail, &dev, c->rt[u].target) < 0)
            continue;
        size_t k = 0;
        while (k < nfs && fs[k].dev != dev)
            k++;
        if (k == nfs) {
            fs[nfs].dev = dev;
            fs[nfs].avail = avail;
            fs[nfs].where = c->rt[u].target;
            nfs++;
        }
        fs[k].need += c->svc[c->units[u].service].bytes;
    }
    for (size_t k = 0; k < nfs && err == 0; k++) {
        if (fs[k].need <= fs[k].avail)
            continue;
        char need[32], have[32];
        cr_fmt_size(need, sizeof(need), fs[k].need);
        cr_fmt_size(have, sizeof(have), fs[k].avail);
        if (c->o->drill) {
            cr_error_set("not enough free space for the drill: its restores need about %s on "
                         "the filesystem of %s, which has %s free. Give --scratch DIR on a "
                         "filesystem with room for them, or free space there",
                         need, c->scratch, have);
            err = CR_ENOSPACE;
        } else {
            char *m = cr_sprintf("the restores need about %s on the filesystem of %s, which has "
                                 "%s free: the services that do not fit will fail before "
                                 "writing anything",
                                 need, fs[k].where, have);
            const char *kv[] = {"message", m ? m : "not enough free space"};
            event_only(c, "warning", NULL, kv, 1);
            free(m);
        }
    }
    free(fs);
    return err;
}

int cr_recover_run(cr_recover_result *result, cr_repo *repo, const cr_plan *plan,
                   const cr_recover_options *o)
{
    rc_ctx ctx, *c = &ctx;
    int err = 0, exists = 0, unfinished = 0;
    size_t *ready = NULL;
    char *user = NULL, *sha = NULL, *jdir = NULL, *logdir = NULL;
    double remembered = 0;
    char rem_from[256] = "";

    memset(c, 0, sizeof(*c));
    if (result)
        memset(result, 0, sizeof(*result));
    if (!repo || !plan || !o || !o->journal) {
        cr_error_set("recover: a vault, a plan and a journal are required");
        return CR_EINPUT;
    }
    c->repo = repo;
    c->plan = plan;
    c->o = o;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->pmu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->t0 = cr_time_mono();

    /* Drill: the scratch folder, absolute, new or empty. */
    if (o->drill) {
        if (!o->scratch || o->scratch[0] != '/') {
            cr_error_set("a drill needs an absolute scratch folder");
            err = CR_EINPUT;
            goto done;
        }
        size_t l = strlen(o->scratch);
        while (l > 1 && o->scratch[l - 1] == '/')
            l--;
        if (!(c->scratch = cr_strndup(o->scratch, l))) {
            err = CR_ERROR;
            goto done;
        }
        if (target_state(c->scratch) < 0) {
            cr_error_set("the scratch folder %s exists and is not empty: a drill needs a folder "
                         "of its own (it removes it at the end)",
                         c->scratch);
            err = CR_EEXISTS;
            goto done;
        }
        if ((err = cr_fs_mkdir_p(AT_FDCWD, c->scratch, 0700)) < 0)
            goto done;
    }

    /* Units, in start order. */
    size_t *order = NULL;
    if ((err = cr_plan_order(&order, plan)) < 0)
        goto done;
    for (size_t i = 0; i < plan->nservices; i++)
        c->nunits += plan->services[i].count ? plan->services[i].count : 1;
    c->units = cr_calloc(c->nunits ? c->nunits : 1, sizeof(*c->units));
    c->rt = cr_calloc(c->nunits ? c->nunits : 1, sizeof(*c->rt));
    c->svc = cr_calloc(plan->nservices ? plan->nservices : 1, sizeof(*c->svc));
    for (size_t i = 0; c->svc && i < plan->nservices; i++)
        if (plan->services[i].nsteps &&
            !(c->svc[i].acked = cr_calloc(plan->services[i].nsteps, 1))) {
            err = CR_ERROR;
            goto done;
        }
    ready = cr_calloc(c->nunits ? c->nunits : 1, sizeof(size_t));
    jdir = parent_of(o->journal);
    logdir = o->log_dir ? cr_strdup(o->log_dir) : cr_sprintf("%s.logs", o->journal);
    if (!c->units || !c->rt || !c->svc || !ready || !jdir || !logdir) {
        free(order);
        err = CR_ERROR;
        goto done;
    }
    size_t k = 0;
    for (size_t oi = 0; oi < plan->nservices; oi++) {
        const cr_plan_service *s = &plan->services[order[oi]];
        unsigned int cnt = s->count ? s->count : 1;
        for (unsigned int i = 1; i <= cnt; i++, k++) {
            unit_rt *r = &c->rt[k];
            c->units[k].service = order[oi];
            c->units[k].instance = i;
            r->ctx = c;
            r->index = k;
            r->name = cnt > 1 ? cr_sprintf("%s#%u", s->name, i) : cr_strdup(s->name);
            char *p = cr_plan_instance_path(s, i);
            r->target = p && c->scratch ? cr_sprintf("%s%s", c->scratch, p) : p;
            if (p && c->scratch)
                free(p);
            r->staging = r->target ? cr_sprintf("%s" STAGING_SUFFIX, r->target) : NULL;
            r->log = r->name ? cr_sprintf("%s/%s.log", logdir, r->name) : NULL;
            if (!r->name || !r->target || !r->staging || !r->log) {
                free(order);
                err = CR_ERROR;
                goto done;
            }
        }
    }
    free(order);

    /* The journal: what was done before. */
    if (o->resume) {
        uint64_t cut = 0;
        int e2 = cr_journal_cut_torn(&cut, o->journal, repo);
        if (e2 < 0 && e2 != CR_ENOTFOUND) {
            err = e2;
            goto done;
        }
        if (cut > 0) {
            char b[32];
            snprintf(b, sizeof(b), "%llu", (unsigned long long)cut);
            const char *kv[] = {"bytes", b, "moved_to", ".torn"};
            event_only(c, "journal-torn-cut", NULL, kv, 2);
        }
    }
    if ((err = read_journal(c, &exists, &unfinished, &remembered, rem_from, sizeof(rem_from))) <
        0) {
        if (err == CR_ECORRUPT)
            cr_error_set("the recovery journal %s is damaged: %s", o->journal, cr_error_last());
        goto done;
    }
    if (!o->resume) {
        if (unfinished) {
            cr_error_set("the journal %s holds a recovery that did not finish: continue it with "
                         "--resume (finished services are kept), or give another --journal",
                         o->journal);
            err = CR_EEXISTS;
            goto done;
        }
        for (size_t u = 0; u < c->nunits; u++) { /* a new run: the old one does not count */
            c->rt[u].j_started = c->rt[u].j_restored = c->rt[u].j_start_ran = 0;
            c->rt[u].j_status[0] = '\0';
        }
    }
    for (size_t u = 0; u < c->nunits; u++)
        if (strcmp(c->rt[u].j_status, "ok") == 0) {
            /* Back before; still holding what follows while a step waits for a person. */
            size_t si = c->units[u].service;
            c->units[u].state = !o->drill && svc_waits(c, si) ? CR_UNIT_STEP : CR_UNIT_OK;
            if (result)
                result->skipped++;
        }

    /* Restore points. */
    for (size_t i = 0; i < plan->nservices; i++) {
        svc_rt *sv = &c->svc[i];
        cr_error_clear();
        if (o->resume && sv->pinned[0]) {
            if ((err = cr_snapshot_find(&sv->snap, repo, sv->pinned)) < 0) {
                cr_error_set("resuming '%s': the restore point %.12s chosen when this recovery "
                             "began cannot be read: %s",
                             plan->services[i].name, sv->pinned, cr_error_last());
                goto done;
            }
            if (!(sv->why = cr_sprintf("the restore point chosen when this recovery began "
                                       "(kept on resume, so that every service comes back "
                                       "from the same choice)"))) {
                err = CR_ERROR;
                goto done;
            }
        } else if ((err = cr_plan_resolve(&sv->snap, &sv->why, repo, &plan->services[i])) < 0)
            goto done;
        if (sv->snap->kind == CR_SNAPSHOT_IMAGE) {
            for (size_t d = 0; d < sv->snap->ndisks; d++)
                if (!plan->services[i].target.disk ||
                    plan->services[i].target.kind == CR_PLAN_TARGET_VM ||
                    strcmp(plan->services[i].target.disk, sv->snap->disks[d].name) == 0)
                    sv->bytes += sv->snap->disks[d].stored;
        } else {
            sv->bytes = sv->snap->bytes;
        }
    }

    if ((err = check_gate(c, repo)) < 0 || (err = check_kev(c, repo)) < 0 ||
        (err = check_targets(c)) < 0 || (err = check_space(c)) < 0)
        goto done;

    /* Open the journal (locks it) and say what starts. */
    if ((err = cr_fs_mkdir_p(AT_FDCWD, jdir, 0755)) < 0 ||
        (err = cr_journal_open_keyed(&c->j, o->journal, repo)) < 0)
        goto done;
    if ((err = cr_fs_mkdir_p(AT_FDCWD, logdir, 0750)) < 0)
        goto done;
    {
        char host[256] = "", nsvc[32];
        gethostname(host, sizeof(host) - 1);
        user = user_name();
        sha = plan_sha(o->plan_file);
        snprintf(nsvc, sizeof(nsvc), "%zu", plan->nservices);
        const char *kv[] = {"mode",        o->drill ? "drill" : "recover",
                            "plan",        o->plan_file ? o->plan_file : "?",
                            "plan_sha256", sha,
                            "site",        plan->site ? plan->site : "?",
                            "vault",       cr_repo_path(repo),
                            "host",        host,
                            "user",        user ? user : "?",
                            "services",    nsvc,
                            "resume",      o->resume ? "yes" : "no",
                            "scratch",     c->scratch ? c->scratch : "",
                            "finess",      plan->finess ? plan->finess : "",
                            "lang",        plan->lang ? plan->lang : ""};
        /* The last three keys (scratch, finess, lang) are left out when empty. */
        const char *kv2[sizeof(kv) / sizeof(kv[0])];
        size_t nkv = 0;
        for (size_t q = 0; q < sizeof(kv) / sizeof(kv[0]); q += 2) {
            if (q >= 18 && !kv[q + 1][0])
                continue;
            kv2[nkv++] = kv[q];
            kv2[nkv++] = kv[q + 1];
        }
        if ((err = jlog(c, "recover-start", NULL, kv2, nkv / 2)) < 0)
            goto done;
    }
    /* Services back before this resume: where their manual steps stand now. */
    pthread_mutex_lock(&c->mu);
    for (size_t u = 0; u < c->nunits; u++)
        if (c->units[u].state == CR_UNIT_OK || c->units[u].state == CR_UNIT_STEP)
            tell_steps(c, c->units[u].service);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < plan->nservices; i++) {
        svc_rt *sv = &c->svc[i];
        char hex[CR_ID_HEX_LEN + 1], t[48];
        cr_id_to_hex(hex, &sv->snap->id);
        cr_time_format(t, sizeof(t), sv->snap->time_ns);
        const char *kv[] = {"snapshot", hex,     "snapshot_time",
                            t,          "point", cr_plan_point_name(plan->services[i].point),
                            "reason",   sv->why};
        jlog(c, "point-chosen", plan->services[i].name, kv, 4);
        if (sv->risk) {
            const char *kw[] = {"message", sv->risk};
            jlog(c, "warning", plan->services[i].name, kw, 1);
        }
    }
    if ((err = kev_journal(c)) < 0) {
        if (err == CR_EREFUSED) {
            const char *kv[] = {"message", cr_error_last()};
            jlog(c, "error", NULL, kv, 1);
        }
        goto done;
    }
    estimate(c, jdir, remembered, rem_from);
    c->t0 = cr_time_mono(); /* RTOs count from here */

    /* Schedule. */
    unsigned int par = o->parallel ? o->parallel : 2;
    size_t running = 0;
    double last_progress = 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        /* Reap finished threads. */
        for (size_t u = 0; u < c->nunits; u++)
            if (c->rt[u].th && unit_ended(c->units[u].state)) {
                pthread_mutex_unlock(&c->mu);
                pthread_join(c->rt[u].th, NULL);
                pthread_mutex_lock(&c->mu);
                c->rt[u].th = 0;
                running--;
            }
        int stop = c->journal_err || (o->cancel && *o->cancel);
        cr_unit_state *before = NULL;
        size_t nready = 0;
        if (!stop) {
            before = malloc(c->nunits * sizeof(*before));
            for (size_t u = 0; before && u < c->nunits; u++)
                before[u] = c->units[u].state;
            nready = cr_recover_schedule(ready, par > running ? par - running : 0, plan, c->units,
                                         c->nunits);
            for (size_t u = 0; before && u < c->nunits; u++) {
                if (before[u] == CR_UNIT_BLOCKED || c->units[u].state != CR_UNIT_BLOCKED)
                    continue;
                const cr_plan_service *s = &plan->services[c->units[u].service];
                char b0[32], b1[8], b2[32];
                fmt_d(b0, sizeof(b0), cr_time_mono() - c->t0);
                snprintf(b1, sizeof(b1), "%d", s->tier);
                fmt_d(b2, sizeof(b2), s->rto);
                const char *kv0[] = {"by", plan->services[c->units[u].blocked_by].name};
                jlog_locked(c, "service-blocked", c->rt[u].name, kv0, 1);
                const char *kv[] = {
                    "status", "blocked", "seconds", b0,        "restore_seconds",
                    "0",      "rto",     b2,        "rto_met", s->rto > 0 ? "no" : "none",
                    "tier",   b1};
                jlog_locked(c, "service-done", c->rt[u].name, kv, 6);
            }
            free(before);
            for (size_t i = 0; i < nready; i++) {
                size_t u = ready[i];
                c->units[u].state = CR_UNIT_RUNNING;
                if (pthread_create(&c->rt[u].th, NULL, unit_main, &c->rt[u]) != 0) {
                    c->rt[u].th = 0;
                    c->units[u].state = CR_UNIT_WAITING;
                    break;
                }
                running++;
            }
        }
        if (running == 0 && (stop || nready == 0))
            break;
        struct timespec ts;
        cr_deadline(&ts, 200);
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        if (o->event && cr_time_mono() - last_progress >= 0.5) {
            emit_progress(c);
            last_progress = cr_time_mono();
        }
    }
    pthread_mutex_unlock(&c->mu);

    /* Summary. */
    size_t nok = 0, nfail = 0, nblock = 0, nstep = 0;
    for (size_t u = 0; u < c->nunits; u++) {
        nok += c->units[u].state == CR_UNIT_OK;
        nfail += c->units[u].state == CR_UNIT_FAILED;
        nblock += c->units[u].state == CR_UNIT_BLOCKED;
        nstep += c->units[u].state == CR_UNIT_STEP;
    }
    int paused = nstep > 0 && !(o->cancel && *o->cancel) && !c->journal_err;
    int cancelled = (o->cancel && *o->cancel) || (!paused && nok + nfail + nblock < c->nunits);
    if (c->scratch)
        drill_cleanup(c);
    {
        char b0[32], b1[32], b2[32], b3[32];
        double secs = cr_time_mono() - c->t0;
        fmt_d(b0, sizeof(b0), secs);
        snprintf(b1, sizeof(b1), "%zu", nok);
        snprintf(b2, sizeof(b2), "%zu", nfail);
        snprintf(b3, sizeof(b3), "%zu", nblock);
        const char *status = paused      ? "waiting"
                             : cancelled ? "interrupted"
                             : (nfail || nblock) ? "partial"
                                                 : "ok";
        const char *kv[] = {"status", status, "seconds", b0, "ok", b1, "failed", b2, "blocked", b3};
        int jerr = c->journal_err;
        /* Paused for a person: not an end, so that the next run must be a resume. */
        jlog(c, paused ? "recover-pause" : "recover-end", NULL, kv, 5);
        if (result) {
            result->ok = nok;
            result->failed = nfail;
            result->blocked = nblock;
            result->waiting = nstep;
            result->seconds = secs;
        }
        if (jerr < 0) {
            cr_error_set("the recovery journal %s could not be written: the %s stopped "
                         "(nothing more was started); fix the disk, then %s",
                         o->journal, o->drill ? "drill" : "recovery", again(c));
            err = jerr;
        } else if (cancelled) {
            cr_error_set(o->drill ? "the drill was interrupted: run it again"
                                  : "the recovery was interrupted: continue it with --resume");
            err = CR_EINTR;
        } else {
            err = (nfail || nblock) ? CR_EPARTIAL : 0;
        }
    }

done:
    if (err < 0 && c->scratch && !c->j && !o->keep && target_state(c->scratch) == 1)
        rmdir(c->scratch);
    cr_journal_close(c->j);
    for (size_t u = 0; c->rt && u < c->nunits; u++) {
        free(c->rt[u].name);
        free(c->rt[u].target);
        free(c->rt[u].staging);
        free(c->rt[u].log);
    }
    for (size_t i = 0; c->svc && i < plan->nservices; i++) {
        free(c->svc[i].acked);
        cr_vuln_matches_free(c->svc[i].kev, c->svc[i].nkev);
        for (size_t q = 0; q < c->svc[i].nkev_acked; q++) {
            free(c->svc[i].kev_acked[q]);
            free(c->svc[i].kev_by[q]);
        }
        free(c->svc[i].kev_acked);
        free(c->svc[i].kev_by);
        cr_snapshot_free(c->svc[i].snap);
        free(c->svc[i].why);
        free(c->svc[i].risk);
    }
    free(c->svc);
    free(c->rt);
    free(c->units);
    free(ready);
    free(c->scratch);
    free(user);
    free(sha);
    free(jdir);
    free(logdir);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->pmu);
    pthread_cond_destroy(&c->cond);
    return err;
}
