/*
 * cleanroom restore: bring a snapshot (or part of it) back into a folder.
 *
 * The library never writes outside the target and keeps going when one file's
 * data is damaged. This command's job is to make the outcome impossible to
 * misread: a summary of what was restored and, when something could not be,
 * the full list of those items and exit code 5.
 *
 * It is also the last gate before a compromised system is put back. Before
 * writing anything it asks the library's restore gate (cr_restore_gate_check,
 * the policy vm-export and recover share) and prints its answer:
 *   - never hunted: a warning, and the restore goes on (the hunt is a
 *     separate step that a technician may not have been able to run);
 *   - a finding at or above high: refused (exit 8) with the top findings and
 *     the exact command to restore the source's clean point instead, unless
 *     --accept-risk (restore anyway, loudly) or --quarantine DIR (restore
 *     everything but the flagged files, which go into DIR with their paths).
 * Findings about the whole snapshot (path "/", e.g. a ransomware change
 * rate) cannot be set aside file by file: they need --accept-risk even with
 * --quarantine. With --include, only findings on the included paths (and
 * those about the whole snapshot) count: restoring a database folder is not
 * restoring the cron job an attacker planted elsewhere.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_text[] =
    "usage: cleanroom restore SNAPSHOT --target DIR [--include PATH]... [--threads N]\n"
    "                         [--no-owner] [--accept-risk] [--quarantine QDIR]\n"
    "                         [--overwrite] [--dry-run]\n"
    "       cleanroom restore SNAPSHOT --image OUT [--format F] [--disk NAME]\n"
    "                         [--scratch DIR] [--threads N] [--accept-risk]\n"
    "\n"
    "Restore SNAPSHOT (an id, a unique prefix of at least 4 hex digits, 'latest' or\n"
    "'SOURCE:latest') into DIR (created if missing). Contents, modes, times, symlinks,\n"
    "xattrs and ACLs are restored; owners too when running as root. Nothing is ever\n"
    "written outside DIR: unsafe names are refused, symlinks in DIR are not followed.\n"
    "DIR must be new or empty: a folder that holds data is refused (exit 8, its\n"
    "entries named, nothing written) unless --overwrite. --dry-run writes nothing and\n"
    "says what a restore would write, and how much.\n"
    "\n"
    "Items that cannot be restored (damaged data, unsafe names, a full disk) are\n"
    "reported as 'warning: PATH: MESSAGE'; the rest is restored, the list of lost items\n"
    "is printed at the end and the exit code is 5. A file whose data could not all be\n"
    "written never keeps its name: what could be written is left as\n"
    "NAME.cleanroom-damaged, or removed. Sockets are not restored (their server creates\n"
    "them again) and are listed apart. Items restored whose owner, permissions, times,\n"
    "xattrs or ACLs could not all be set (not root, a filesystem without ACLs...) are\n"
    "listed apart, as restored with incomplete metadata: their data is intact; the\n"
    "exit code is 5 too, since the copy is not identical to the snapshot.\n"
    "\n"
    "Hunt gate: a snapshot that 'cleanroom hunt' never looked at is restored with a\n"
    "warning. A snapshot holding a finding at or above high (on the included paths, or\n"
    "about the whole snapshot) is refused with exit 8, its top findings, and the command\n"
    "to restore the source's last clean restore point instead.\n"
    "\n"
    "Disk images: --image OUT writes one disk of an image snapshot (made with 'backup\n"
    "--image') as the image file OUT, which must not exist; it appears only when\n"
    "complete, and unallocated parts stay holes. Formats other than raw are written by\n"
    "qemu-img from a sparse raw copy in a staging folder (.cleanroom-staging-*) beside\n"
    "OUT or in --scratch DIR, removed afterwards. vmdk-flat writes two files: OUT and\n"
    "its data file OUT-flat.vmdk (the name cut at its last dot). The hunt gate covers\n"
    "the whole disk: a finding at or above high anywhere in the snapshot refuses the\n"
    "restore (exit 8) unless --accept-risk; --quarantine cannot apply to a whole disk.\n"
    "Files inside an image snapshot are restored like any others: --target DIR\n"
    "--include /disk0/p1/etc (see 'cleanroom ls').\n"
    "\n"
    "Options:\n"
    "  --target DIR    required: where to restore\n"
    "  --include PATH  restore only this path of the snapshot (repeatable), e.g. /srv/db\n"
    "  --threads N     worker threads (default: number of cores)\n"
    "  --no-owner      do not restore owners even when running as root\n"
    "  --overwrite     restore into a DIR that holds data: files of the snapshot\n"
    "                  replace those in the way, other files are kept; folders that\n"
    "                  existed above the backed-up paths keep their metadata\n"
    "  --dry-run       write nothing: count what would be restored and check DIR\n"
    "  --accept-risk   restore a compromised snapshot anyway (with a loud warning)\n"
    "  --quarantine QDIR\n"
    "                  restore a compromised snapshot without its flagged files, and\n"
    "                  put those into QDIR (with their paths) for examination; findings\n"
    "                  about the whole snapshot (path /) still need --accept-risk\n"
    "  --image OUT     write one disk of an image snapshot as the image file OUT\n"
    "  --format F      of --image: raw (default), qcow2, vmdk (streamOptimized, what\n"
    "                  VMware imports), vmdk-flat, vhdx or vhd\n"
    "  --disk NAME     of --image: which disk (disk0, disk1...; needed if several)\n"
    "  --scratch DIR   of --image: where the raw staging copy of a converted disk goes\n"
    "                  (default: OUT's folder); it needs room for the disk's data\n"
    "  --json          print {snapshot, target, files, dirs, others, bytes, failed,\n"
    "                  seconds, lost:[{path, message}], metadata:[{path, message}],\n"
    "                  sockets:[paths], no_space, dry_run, hunted, flagged:[findings],\n"
    "                  accepted_risk, quarantine}; a refused target: {refused, target,\n"
    "                  existing:[names], existing_count}; with\n"
    "                  --image: {snapshot, image, format, disk, virtual_size, stored,\n"
    "                  failed, seconds, lost, hunted, flagged, accepted_risk};\n"
    "                  and the progress on stderr as JSON events, one per line\n"
    "\n"
    "Exit codes: 0 restored (or --dry-run done), 1 error (e.g. --image OUT exists:\n"
    "nothing changed), 2 usage (also: --image of a file snapshot, an unknown --disk),\n"
    "3 wrong passphrase, 4 damaged vault data stopped the restore, 5 restored except the\n"
    "listed items (damaged data, a full disk...), 6 locked, 7 no vault or no such\n"
    "snapshot, 8 refused: the snapshot is compromised, or DIR holds data and --overwrite\n"
    "was not given (nothing was written).\n";

typedef struct lost_item {
    char *path, *message;
} lost_item;

typedef struct item_list {
    lost_item *v;
    size_t n, cap;
} item_list;

typedef struct restore_ctx {
    cli_progress *progress;
    item_list lost; /* items not restored */
    item_list meta; /* items restored with incomplete metadata */
    item_list sockets; /* not restored on purpose (listed in the summary only) */
} restore_ctx;

/* Warnings may come from worker threads: cli_warn serialises the printing. */
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;

static void add_item(item_list *l, const char *path, const char *message, int warn)
{
    if (warn) {
        char *p = cli_escape(path), *m = cli_escape(message);
        cli_warn("%s: %s", p, m);
        free(p);
        free(m);
    }
    pthread_mutex_lock(&lost_lock);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = cli_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].path = cli_xstrdup(path);
    l->v[l->n].message = cli_xstrdup(message);
    l->n++;
    pthread_mutex_unlock(&lost_lock);
}

static void on_warning(const char *path, const char *message, void *payload)
{
    add_item(&((restore_ctx *)payload)->lost, path, message, 1);
}

static void on_notice(const char *path, const char *message, void *payload)
{
    add_item(&((restore_ctx *)payload)->meta, path, message, 1);
}

static void on_skipped(const char *path, const char *message, void *payload)
{
    add_item(&((restore_ctx *)payload)->sockets, path, message, 0);
}

static json_t *items_json(const item_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "path", cli_json_str(l->v[i].path));
        json_object_set_new(o, "message", cli_json_str(l->v[i].message));
        json_array_append_new(a, o);
    }
    return a;
}

static void items_print(const item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        char *p = cli_escape(l->v[i].path), *m = cli_escape(l->v[i].message);
        printf("  %s: %s\n", p, m);
        free(p);
        free(m);
    }
}

static void items_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].message);
    }
    free(l->v);
}

static void on_progress(const cr_progress *p, void *payload)
{
    restore_ctx *ctx = payload;
    cli_progress_cb(p, ctx->progress);
}

/* --json: the "restore-done" (or "quarantine-done") event, with the counts restored. */
static void progress_done(cli_progress *pr, int err, const cr_snapshot *snap,
                          const cr_restore_stats *st)
{
    char hex[CR_ID_HEX_LEN + 1];
    cli_total t[] = {{"files", st->files},   {"dirs", st->dirs},     {"others", st->others},
                     {"bytes", st->bytes},   {"failed", st->failed},
                     {"meta_incomplete", st->meta_incomplete}};
    cli_progress_done(pr, err, cr_id_to_hex(hex, &snap->id), t, sizeof(t) / sizeof(t[0]));
}

/* ------------------------------------------------------------- hunt gate */

/* Lines of findings shown when a restore is refused or the risk accepted. */
#define GATE_SHOW 5

/* 1 if path a (normalised by real_folder) is b or a folder above it. */
static int path_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (!strcmp(a, "/"))
        return 1;
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/*
 * Ask the library's restore gate (cr_restore_gate_check) and warn about what
 * it could not judge. @return 0 (*out set), or an exit code.
 */
static int gate_check(cr_restore_gate **out, cr_repo *repo, const cr_snapshot *snap,
                      const cr_restore_gate_options *o)
{
    char sid[9];
    cli_short_id(sid, &snap->id);
    int err = cr_restore_gate_check(out, repo, snap, o);
    if (err < 0)
        return cli_fail(err, "could not read the hunt results");
    if ((*out)->hunt == CR_GATE_NEVER) {
        cli_warn("restore point %s has not been hunted for indicators of compromise; run "
                 "'cleanroom hunt' first to know whether it is clean",
                 sid);
    } else if ((*out)->hunt == CR_GATE_UNREADABLE) {
        char *m = cli_escape((*out)->hunt_error);
        cli_warn("the hunt results of restore point %s cannot be read (%s): it is treated as "
                 "never hunted; run 'cleanroom verify' and 'cleanroom hunt'",
                 sid, m);
        free(m);
    }
    return 0;
}

static json_t *gate_flag_json(const cr_restore_gate *g)
{
    json_t *a = json_array();
    for (size_t i = 0; g && i < g->nflagged; i++)
        json_array_append_new(a, cli_finding_json(g->flagged[i]));
    return a;
}

static void gate_print_top(FILE *out, const cr_restore_gate *g)
{
    cli_findings_print_grouped(out, "  ", g->flagged, g->nflagged, GATE_SHOW, 1);
}

/* Refuse the restore: say why, and what to restore instead. @return CLI_EXIT_REFUSED. */

/* The start of the --json object of a refused restore. */
static json_t *refusal_json(const cr_snapshot *snap)
{
    char hex[CR_ID_HEX_LEN + 1];
    json_t *o = json_object();
    json_object_set_new(o, "refused", json_true());
    json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
    json_object_set_new(o, "source", cli_json_str(snap->source));
    return o;
}

/* `cmd` and `redo` (escaped) give the command that restores the clean point instead:
 * "cleanroom CMD CLEAN-ID REDO". */
static int gate_refuse(const cr_restore_gate *g, cr_repo *repo, const cr_snapshot *snap,
                       const char *cmd, const char *redo)
{
    char sid[9], t[32], csid[9], ct[32];
    cr_clean_point *cp = NULL;
    size_t ncp = 0;
    const cr_clean_point *mine = NULL;
    char *src = cli_escape(snap->source);

    cli_short_id(sid, &snap->id);
    cr_error_clear();
    if (cr_clean_points(&cp, &ncp, repo, snap->source, CR_SEV_HIGH) == 0)
        for (size_t i = 0; i < ncp && !mine; i++)
            if (!strcmp(cp[i].source, snap->source))
                mine = &cp[i];

    if (g->whole_refused)
        cli_error("refused: restore point %s (%s, %s) holds %zu finding(s) at or above high "
                  "about the whole snapshot, which --quarantine cannot set aside; nothing was "
                  "restored",
                  sid, src, cli_time_sec(t, sizeof(t), snap->time_ns), g->nwhole);
    else
        cli_error("refused: restore point %s (%s, %s) is compromised: %zu finding(s) at or above "
                  "high; nothing was restored",
                  sid, src, cli_time_sec(t, sizeof(t), snap->time_ns), g->nflagged);
    gate_print_top(stderr, g);
    if (mine && mine->has_clean && memcmp(&mine->clean_snapshot, &snap->id, sizeof(cr_id))) {
        fprintf(stderr, "The last clean restore point of %s is %s (%s). Restore it with:\n", src,
                cli_short_id(csid, &mine->clean_snapshot),
                cli_time_sec(ct, sizeof(ct), mine->clean_time_ns));
        fprintf(stderr, "  cleanroom %s %s %s\n", cmd, csid, redo);
    } else if (mine && !mine->has_clean) {
        fprintf(stderr, "%s has NO CLEAN RESTORE POINT: its first hunted snapshot is already "
                        "compromised (see 'cleanroom clean-point --source %s').\n",
                src, src);
    }
    cli_hint("see every finding with 'cleanroom findings --snapshot %s'; to restore this "
             "snapshot anyway add --accept-risk%s",
             sid, g->whole_refused || g->nwhole ? "" : ", or --quarantine QDIR to set the flagged files "
                                                 "aside in QDIR");
    if (cli_g.json) {
        json_t *o = refusal_json(snap);
        json_object_set_new(o, "flagged", gate_flag_json(g));
        json_object_set_new(o, "clean_point",
                            mine ? cli_clean_point_json(mine, CR_SEV_HIGH) : json_null());
        cli_json_print(o);
    }
    cr_clean_points_free(cp, ncp);
    free(src);
    return CLI_EXIT_REFUSED;
}

/* Quarantined paths listed in text (all are in --json and in QDIR). */
#define GATE_LIST_MAX 100

/* List the quarantined paths, each with the strongest finding on it. */
static void gate_print_quarantined(const cr_restore_gate *g, const char *qdir)
{
    for (size_t i = 0; i < g->nquarantine && i < GATE_LIST_MAX; i++) {
        char *p = cli_escape(g->quarantine[i]);
        char *ind = cli_escape(g->quarantine_why[i]->indicator ? g->quarantine_why[i]->indicator
                                                                : "");
        printf("  %s  (%s %s)\n", p, cr_severity_name(g->quarantine_why[i]->severity), ind);
        free(ind);
        free(p);
    }
    if (g->nquarantine > GATE_LIST_MAX) {
        char *q = cli_escape(qdir);
        printf("  ... and %zu more: every one is in %s under its path\n",
               g->nquarantine - GATE_LIST_MAX, q);
        free(q);
    }
}

/*
 * Where a folder that may not exist yet really is, for comparing two of them:
 * realpath() of its deepest existing ancestor (symlinks and ".." resolved by
 * the kernel), then the rest of the path with "." dropped and ".." applied
 * (those parts do not exist yet, so restore will create them as plain folders).
 */
static char *real_folder(const char *p)
{
    char *cwd = NULL, *full, *res = NULL;
    if (p[0] == '/') {
        full = cli_xmalloc(strlen(p) + 1);
        strcpy(full, p);
    } else {
        cwd = getcwd(NULL, 0);
        full = cli_xmalloc((cwd ? strlen(cwd) : 0) + strlen(p) + 2);
        sprintf(full, "%s/%s", cwd ? cwd : "", p);
        free(cwd);
    }
    /* Cut components off the end until what is left exists. */
    size_t cut = strlen(full);
    char *base = NULL;
    for (;;) {
        char save = full[cut];
        full[cut] = '\0';
        base = realpath(cut ? full : "/", NULL);
        full[cut] = save;
        if (base || cut == 0)
            break;
        while (cut > 0 && full[cut - 1] != '/')
            cut--;
        while (cut > 0 && full[cut - 1] == '/')
            cut--;
    }
    if (!base) {
        base = cli_xmalloc(2);
        strcpy(base, "/");
    }
    /* Apply the rest, component by component. */
    res = cli_xmalloc(strlen(base) + strlen(full + cut) + 2);
    strcpy(res, base);
    free(base);
    for (const char *s = full + cut; *s;) {
        while (*s == '/')
            s++;
        const char *b = s;
        while (*s && *s != '/')
            s++;
        size_t l = (size_t)(s - b);
        if (l == 0 || (l == 1 && b[0] == '.'))
            continue;
        if (l == 2 && b[0] == '.' && b[1] == '.') {
            char *slash = strrchr(res, '/');
            if (slash && slash != res)
                *slash = '\0';
            else
                strcpy(res, "/");
            continue;
        }
        size_t rl = strlen(res);
        if (rl > 1)
            res[rl++] = '/';
        memcpy(res + rl, b, l);
        res[rl + l] = '\0';
    }
    free(full);
    return res;
}

/*
 * A snapshot whose hunt record was removed or damaged is refused like a
 * compromised one: what the hunt found is unknown, not absent. Hunting it
 * again writes a new record (and finds again what was there).
 * @return 0 (go on), or CLI_EXIT_REFUSED.
 */
static int gate_missing(const cr_restore_gate *g, const cr_snapshot *snap)
{
    char sid[9], t[32];
    char *src, *msg;
    if (g->hunt != CR_GATE_MISSING)
        return 0;
    cli_short_id(sid, &snap->id);
    msg = cli_escape(g->hunt_error);
    if (g->accepted_risk) {
        cli_warn("RESTORING A RESTORE POINT WHOSE HUNT RESULTS ARE GONE (--accept-risk was given): "
                 "%s",
                 msg);
        free(msg);
        return 0;
    }
    src = cli_escape(snap->source);
    cli_error("refused: the hunt results of restore point %s (%s, %s) are gone: %s; nothing was "
              "restored",
              sid, src, cli_time_sec(t, sizeof(t), snap->time_ns), msg);
    cli_hint("run 'cleanroom verify' to see what else was removed, then hunt the source again "
             "('cleanroom hunt --source %s') and restore; to restore it anyway add --accept-risk",
             src);
    if (cli_g.json) {
        json_t *o = refusal_json(snap);
        json_object_set_new(o, "hunt_record_missing", json_true());
        cli_json_print(o);
    }
    free(src);
    free(msg);
    return CLI_EXIT_REFUSED;
}

/*
 * The hunt gate for a whole snapshot (a disk image, a VM export): nothing in
 * it can be set aside file by file, so a finding at or above high anywhere
 * refuses, unless accept_risk. Declared in common.h for cmd_vm_export.c.
 */
int cli_hunt_gate(int *hunted, json_t **flagged, cr_repo *repo, const cr_snapshot *snap,
                  int accept_risk, const char *cmd, const char *redo)
{
    cr_restore_gate_options o = CR_RESTORE_GATE_OPTIONS_INIT;
    cr_restore_gate *g = NULL;
    int rc;
    *hunted = 0;
    *flagged = NULL;
    o.accept_risk = accept_risk;
    if ((rc = gate_check(&g, repo, snap, &o)) != 0)
        return rc;
    if ((rc = gate_missing(g, snap)) != 0)
        goto done;
    *hunted = g->hunt == CR_GATE_HUNTED;
    if (g->refused) {
        rc = gate_refuse(g, repo, snap, cmd, redo);
        goto done;
    }
    if (g->nflagged > 0) {
        char sid[9];
        cli_warn("RESTORING A COMPROMISED RESTORE POINT: snapshot %s holds %zu finding(s) at or "
                 "above high, and --accept-risk was given:",
                 cli_short_id(sid, &snap->id), g->nflagged);
        gate_print_top(stderr, g);
        cli_warn("keep the restored system off the network until the findings above are dealt "
                 "with");
    }
    *flagged = gate_flag_json(g);
done:
    cr_restore_gate_free(g);
    return rc;
}

/* Entries of a refused target named in the message (all are counted). */
#define TARGET_SHOW 10

/*
 * May we restore into `dir` (the target, or the quarantine folder)? The rule
 * is the library's (cr_restore_target_check, the same as for recover); this
 * prints it. @return 0, or an exit code (message printed).
 */
static int check_target(const char *dir, const char *what)
{
    cr_target_entries te;
    int rc = 0;
    cr_error_clear();
    int err = cr_restore_target_check(&te, dir, TARGET_SHOW);
    if (err == CR_EEXISTS) {
        char *d = cli_escape(dir);
        if (te.exists == 1) {
            size_t len = 1;
            for (size_t i = 0; i < te.nnames; i++)
                len += strlen(te.names[i]) * 6 + 2;
            char *list = cli_xmalloc(len + 16);
            list[0] = '\0';
            for (size_t i = 0; i < te.nnames; i++) {
                char *n = cli_escape(te.names[i]);
                strcat(list, i ? ", " : "");
                strcat(list, n);
                free(n);
            }
            if (te.count > te.nnames)
                strcat(list, ", ...");
            cli_error("refused: the %s %s already holds data (%llu entr%s: %s); cleanroom does "
                      "not restore over it: nothing was written",
                      what, d, (unsigned long long)te.count, te.count == 1 ? "y" : "ies", list);
            free(list);
        } else {
            cli_error("refused: the %s %s already exists and is not a folder; nothing was "
                      "written",
                      what, d);
        }
        cli_hint("restore into a new or empty folder; or add --overwrite to restore into it "
                 "(files of the snapshot replace those in the way, other files are kept); "
                 "--dry-run shows what would be written");
        if (cli_g.json) {
            json_t *o = json_object(), *a = json_array();
            for (size_t i = 0; i < te.nnames; i++)
                json_array_append_new(a, cli_json_str(te.names[i]));
            json_object_set_new(o, "refused", json_true());
            json_object_set_new(o, "target", cli_json_str(dir));
            json_object_set_new(o, "existing", a);
            json_object_set_new(o, "existing_count", cli_json_u64(te.count));
            cli_json_print(o);
        }
        free(d);
        rc = CLI_EXIT_REFUSED;
    } else if (err < 0) {
        rc = cli_fail(err, "cannot check the target");
    }
    cr_target_entries_clear(&te);
    return rc;
}

/* Dry run: say what a restore would meet in the target. */
static void dry_run_target(const char *dir, int overwrite)
{
    cr_target_entries te;
    char *d = cli_escape(dir);
    int err = cr_restore_target_check(&te, dir, 0);
    if (err == 0)
        printf("%s %s: a restore may write there\n", d,
               te.exists ? "is an empty folder" : "does not exist yet");
    else if (err == CR_EEXISTS && te.exists == 1)
        printf("%s already holds %llu entr%s: %s\n", d, (unsigned long long)te.count,
               te.count == 1 ? "y" : "ies",
               overwrite ? "with --overwrite, files of the snapshot there are replaced, the others "
                           "kept"
                         : "a restore would be refused (exit 8) without --overwrite");
    else if (err == CR_EEXISTS)
        printf("%s exists and is not a folder: a restore would be refused\n", d);
    cr_target_entries_clear(&te);
    free(d);
}

typedef struct image_args {
    const char *output, *format, *disk, *scratch;
    int threads, accept_risk;
} image_args;

static const cr_image_disk *find_disk(const cr_snapshot *snap, const char *name)
{
    if (!name)
        return snap->ndisks == 1 ? &snap->disks[0] : NULL;
    for (size_t i = 0; i < snap->ndisks; i++)
        if (snap->disks[i].name && !strcmp(snap->disks[i].name, name))
            return &snap->disks[i];
    return NULL;
}

/* cleanroom restore SNAPSHOT --image OUT: one disk of an image snapshot into an image file. */
static int restore_image(const char *spec, const image_args *a)
{
    cr_image_restore_options opts = CR_IMAGE_RESTORE_OPTIONS_INIT;
    cr_restore_stats stats;
    restore_ctx ctx;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    json_t *flagged = NULL;
    int rc, err, hunted = 0;
    double t0, secs;
    char sid[9];

    memset(&ctx, 0, sizeof(ctx));
    memset(&stats, 0, sizeof(stats));
    if (a->format && cr_image_format_parse(&opts.format, a->format) < 0) {
        char *m = cli_escape(cr_error_last());
        rc = cli_usage_error("restore", "%s", m);
        free(m);
        return rc;
    }
    if (opts.format == CR_IMAGE_AUTO)
        opts.format = CR_IMAGE_RAW;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, spec)) != 0)
        goto done;
    cli_short_id(sid, &snap->id);
    if (snap->kind != CR_SNAPSHOT_IMAGE) {
        cli_error("snapshot %s is a file snapshot, not disk images: restore it into a folder "
                  "with --target DIR",
                  sid);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    {
        /* The gate first: nothing is written for a compromised snapshot. */
        char *out = cli_shell_word(a->output), *redo;
        redo = cli_xmalloc(strlen(out) + 64 + (a->disk ? strlen(a->disk) * 4 : 0));
        sprintf(redo, "--image %s --format %s", out, cr_image_format_name(opts.format));
        if (a->disk) {
            char *dk = cli_shell_word(a->disk);
            strcat(redo, " --disk ");
            strcat(redo, dk);
            free(dk);
        }
        rc = cli_hunt_gate(&hunted, &flagged, repo, snap, a->accept_risk, "restore", redo);
        free(redo);
        free(out);
        if (rc != 0)
            goto done;
    }
    opts.output = a->output;
    opts.disk = a->disk;
    opts.scratch = a->scratch;
    opts.threads = a->threads;
    ctx.progress = cli_progress_new("restore");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;
    t0 = cli_now();
    cr_error_clear();
    err = cr_restore_image(&stats, repo, snap, &opts);
    progress_done(ctx.progress, err, snap, &stats);
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    secs = cli_now() - t0;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "restore of the disk image failed");
        if (err == CR_EEXISTS)
            cli_hint("nothing was changed; give a new file name to --image");
        else if (err == CR_ENOSPACE)
            cli_hint("a converted disk needs room for a sparse raw copy (--scratch DIR can put it "
                     "on another disk) and for the output");
        goto done;
    }
    {
        const cr_image_disk *dk = find_disk(snap, a->disk);
        char vsize[32], stored[32], d[32];
        if (cli_g.json) {
            char hex[CR_ID_HEX_LEN + 1];
            json_t *o = json_object();
            json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
            json_object_set_new(o, "image", cli_json_str(a->output));
            json_object_set_new(o, "format", json_string(cr_image_format_name(opts.format)));
            json_object_set_new(o, "disk", dk ? cli_json_str(dk->name) : json_null());
            json_object_set_new(o, "virtual_size", cli_json_u64(dk ? dk->virtual_size : 0));
            json_object_set_new(o, "stored", cli_json_u64(dk ? dk->stored : 0));
            json_object_set_new(o, "failed", cli_json_u64(stats.failed));
            json_object_set_new(o, "seconds", json_real(secs));
            json_object_set_new(o, "lost", items_json(&ctx.lost));
            json_object_set_new(o, "hunted", json_boolean(hunted));
            json_object_set_new(o, "flagged", flagged ? json_incref(flagged) : json_array());
            json_object_set_new(o, "accepted_risk",
                                json_boolean(a->accept_risk && flagged &&
                                             json_array_size(flagged) > 0));
            cli_json_print(o);
        } else {
            char *out = cli_escape(a->output), *dn = cli_escape(dk && dk->name ? dk->name : "?");
            printf("restored %s of snapshot %s to %s (%s): %s disk, %s of data, in %s\n", dn, sid,
                   out, cr_image_format_name(opts.format),
                   cli_human_size(vsize, sizeof(vsize), dk ? dk->virtual_size : 0),
                   cli_human_size(stored, sizeof(stored), dk ? dk->stored : 0),
                   cli_human_duration(d, sizeof(d), secs));
            if (opts.format == CR_IMAGE_VMDK_FLAT) {
                /* qemu-img names the data file after OUT cut at its last dot. */
                const char *sl = strrchr(a->output, '/'), *dot;
                dot = strrchr(sl ? sl + 1 : a->output, '.');
                size_t pre = dot ? (size_t)(dot - a->output) : strlen(a->output);
                char *flat = cli_xmalloc(strlen(a->output) + 8), *fe;
                sprintf(flat, "%.*s-flat%s", (int)pre, a->output, dot ? dot : "");
                fe = cli_escape(flat);
                printf("a vmdk-flat disk is two files: %s (descriptor) and %s (data)\n", out, fe);
                free(fe);
                free(flat);
            }
            free(out);
            free(dn);
            if (ctx.lost.n > 0) {
                printf("NOT RESTORED (zeros in the image there): %zu part(s):\n", ctx.lost.n);
                items_print(&ctx.lost);
            }
        }
    }
    if (err == CR_EPARTIAL || ctx.lost.n > 0) {
        cli_hint("run 'cleanroom verify --read-data' to see the damage; an older snapshot may "
                 "still hold the lost data");
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    json_decref(flagged);
    items_free(&ctx.lost);
    items_free(&ctx.meta);
    cli_progress_free(ctx.progress);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}

int cmd_restore(int argc, char **argv)
{
    enum {
        OPT_TARGET = CLI_OPT_FIRST_CMD,
        OPT_INCLUDE,
        OPT_THREADS,
        OPT_NO_OWNER,
        OPT_ACCEPT_RISK,
        OPT_QUARANTINE,
        OPT_IMAGE,
        OPT_FORMAT,
        OPT_DISK,
        OPT_SCRATCH,
        OPT_OVERWRITE,
        OPT_DRY_RUN,
    };
    static const struct option longopts[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"include", required_argument, NULL, OPT_INCLUDE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"no-owner", no_argument, NULL, OPT_NO_OWNER},
        {"accept-risk", no_argument, NULL, OPT_ACCEPT_RISK},
        {"quarantine", required_argument, NULL, OPT_QUARANTINE},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"disk", required_argument, NULL, OPT_DISK},
        {"scratch", required_argument, NULL, OPT_SCRATCH},
        {"overwrite", no_argument, NULL, OPT_OVERWRITE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_restore_options opts = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats stats, qstats;
    restore_ctx ctx;
    cr_restore_gate *g = NULL;
    cr_restore_gate_options go = CR_RESTORE_GATE_OPTIONS_INIT;
    const char **includes = cli_xmalloc(sizeof(char *) * (size_t)argc);
    size_t nincludes = 0;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    const char *qdir = NULL;
    unsigned long threads;
    image_args img;
    int c, rc = CLI_EXIT_USAGE, err, accept_risk = 0, quarantining = 0, qerr = 0;
    double t0, secs;

    memset(&ctx, 0, sizeof(ctx));
    memset(&stats, 0, sizeof(stats));
    memset(&qstats, 0, sizeof(qstats));
    memset(&img, 0, sizeof(img));
    while ((c = cli_getopt(argc, argv, "", longopts, "restore")) != -1) {
        switch (c) {
        case OPT_TARGET: opts.target = optarg; break;
        case OPT_INCLUDE:
            if (!*optarg) {
                rc = cli_usage_error("restore", "--include needs a path of the snapshot");
                goto done;
            }
            includes[nincludes++] = optarg;
            break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 1024) < 0) {
                rc = cli_usage_error("restore", "--threads must be a number from 1 to 1024");
                goto done;
            }
            opts.threads = (int)threads;
            break;
        case OPT_NO_OWNER: opts.no_owner = 1; break;
        case OPT_OVERWRITE: opts.overwrite = 1; break;
        case OPT_DRY_RUN: opts.dry_run = 1; break;
        case OPT_IMAGE:
            if (!*optarg) {
                rc = cli_usage_error("restore", "--image needs the name of the image file to "
                                                "write");
                goto done;
            }
            img.output = optarg;
            break;
        case OPT_FORMAT: img.format = optarg; break;
        case OPT_DISK: img.disk = optarg; break;
        case OPT_SCRATCH: img.scratch = optarg; break;
        case OPT_ACCEPT_RISK: accept_risk = 1; break;
        case OPT_QUARANTINE:
            if (!*optarg) {
                rc = cli_usage_error("restore", "--quarantine needs a folder for the flagged "
                                                "files");
                goto done;
            }
            qdir = optarg;
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_error("restore", argc - optind < 1
                                            ? "give the SNAPSHOT to restore (see 'cleanroom "
                                              "snapshots')"
                                            : "give exactly one SNAPSHOT");
        goto done;
    }
    if (img.output) {
        if (opts.target) {
            rc = cli_usage_error("restore", "--image and --target exclude each other: --image OUT "
                                            "writes one disk as an image file, --target DIR "
                                            "restores files into a folder");
            goto done;
        }
        if (nincludes > 0) {
            rc = cli_usage_error("restore", "--include does not go with --image (a disk is "
                                            "restored whole); to restore files from inside it "
                                            "use --target DIR --include /disk0/p1/PATH");
            goto done;
        }
        if (opts.overwrite || opts.dry_run) {
            rc = cli_usage_error("restore", "--overwrite and --dry-run go with --target DIR (an "
                                            "image file OUT is never overwritten)");
            goto done;
        }
        if (qdir) {
            rc = cli_usage_error("restore", "--quarantine does not go with --image: a disk image "
                                            "is restored whole, so flagged files cannot be set "
                                            "aside; restore its files with --target DIR "
                                            "--quarantine QDIR, or use --accept-risk");
            goto done;
        }
        img.threads = opts.threads;
        img.accept_risk = accept_risk;
        rc = restore_image(argv[optind], &img);
        goto done;
    }
    if (img.format || img.disk || img.scratch) {
        rc = cli_usage_error("restore", "--format, --disk and --scratch go with --image OUT");
        goto done;
    }
    if (!opts.target || !*opts.target) {
        rc = cli_usage_error("restore", "--target DIR is required (where to restore), or --image "
                                        "OUT for a disk of an image snapshot");
        goto done;
    }
    if (qdir) {
        /* Flagged files must not land where the restored system would run them. */
        char *a = real_folder(opts.target), *b = real_folder(qdir);
        int clash = path_covers(a, b) || path_covers(b, a);
        free(a);
        free(b);
        if (clash) {
            rc = cli_usage_error("restore", "--quarantine QDIR must be a folder apart from the "
                                            "target (neither inside the other)");
            goto done;
        }
    }
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, argv[optind])) != 0)
        goto done;
    /* Never over data, unless told to (the library refuses too). */
    if (!opts.overwrite && !opts.dry_run &&
        ((rc = check_target(opts.target, "target")) != 0 ||
         (qdir && (rc = check_target(qdir, "quarantine folder")) != 0)))
        goto done;

    /* The hunt gate: nothing is written before it is passed. */
    go.includes = includes;
    go.nincludes = nincludes;
    go.quarantine = qdir != NULL;
    go.accept_risk = accept_risk;
    if ((rc = gate_check(&g, repo, snap, &go)) != 0 || (rc = gate_missing(g, snap)) != 0)
        goto done;
    if (g->refused) {
        char *tgt = cli_escape(opts.target), *redo = cli_xmalloc(strlen(tgt) + 16);
        sprintf(redo, "--target %s", tgt);
        rc = gate_refuse(g, repo, snap, "restore", redo);
        free(redo);
        free(tgt);
        goto done;
    }
    if (g->nflagged > 0 && g->accepted_risk) {
        char sid[9];
        cli_warn("RESTORING A COMPROMISED RESTORE POINT: snapshot %s holds %zu finding(s) at "
                 "or above high, and --accept-risk was given:",
                 cli_short_id(sid, &snap->id), g->nflagged);
        gate_print_top(stderr, g);
        if (!qdir)
            cli_warn("keep the restored system off the network until the findings above "
                     "are dealt with");
    }
    quarantining = g->nquarantine > 0;
    if (g->nelsewhere > 0) {
        char sid[9];
        cli_warn("snapshot %s holds %zu more finding(s) at or above high outside the included "
                 "paths (see 'cleanroom findings --snapshot %s')",
                 cli_short_id(sid, &snap->id), g->nelsewhere, sid);
    }

    opts.includes = includes;
    opts.nincludes = nincludes;
    if (quarantining) {
        opts.skips = (const char *const *)g->quarantine;
        opts.nskips = g->nquarantine;
    }
    ctx.progress = cli_progress_new("restore");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.notice = on_notice;
    opts.skipped = on_skipped;
    opts.payload = &ctx;
    t0 = cli_now();
    cr_error_clear();
    err = cr_restore(&stats, repo, snap, &opts);
    progress_done(ctx.progress, err, snap, &stats);
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err == CR_EEXISTS) {
        /* Data appeared in the target after it was checked: the library refused. */
        char *m = cli_escape(cr_error_last());
        cli_error("refused: %s", m);
        free(m);
        cli_hint("restore into a new or empty folder, or add --overwrite");
        rc = CLI_EXIT_REFUSED;
        goto done;
    }
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "restore stopped");
        if (stats.files || stats.dirs)
            fprintf(stderr, "%llu files and %llu directories were restored before it stopped.\n",
                    (unsigned long long)stats.files, (unsigned long long)stats.dirs);
        goto done;
    }
    if (quarantining) {
        /* The flagged files, with their paths, into the quarantine folder. */
        cr_restore_options qo = opts;
        qo.target = qdir;
        qo.includes = (const char *const *)g->quarantine;
        qo.nincludes = g->nquarantine;
        qo.skips = NULL;
        qo.nskips = 0;
        ctx.progress = cli_progress_new("quarantine");
        cr_error_clear();
        qerr = cr_restore(&qstats, repo, snap, &qo);
        progress_done(ctx.progress, qerr, snap, &qstats);
        cli_progress_free(ctx.progress);
        ctx.progress = NULL;
        if (qerr < 0 && qerr != CR_EPARTIAL) {
            char *q = cli_escape(qdir);
            rc = cli_fail(qerr, "the flagged files could not be put in quarantine");
            fprintf(stderr, "The rest of the snapshot is restored; the flagged files are NOT in "
                            "%s.\n",
                    q);
            free(q);
            goto done;
        }
    }
    secs = cli_now() - t0;
    int lost = stats.failed > 0 || qstats.failed > 0 || ctx.lost.n > 0;
    int partial = err == CR_EPARTIAL || qerr == CR_EPARTIAL || lost || ctx.meta.n > 0;
    char sid[9];
    cli_short_id(sid, &snap->id);

    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *o = json_object();
        json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
        json_object_set_new(o, "target", cli_json_str(opts.target));
        json_object_set_new(o, "files", cli_json_u64(stats.files));
        json_object_set_new(o, "dirs", cli_json_u64(stats.dirs));
        json_object_set_new(o, "others", cli_json_u64(stats.others));
        json_object_set_new(o, "bytes", cli_json_u64(stats.bytes));
        json_object_set_new(o, "failed", cli_json_u64(stats.failed + qstats.failed));
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "lost", items_json(&ctx.lost));
        json_object_set_new(o, "metadata", items_json(&ctx.meta));
        json_t *socks = json_array();
        for (size_t i = 0; i < ctx.sockets.n; i++)
            json_array_append_new(socks, cli_json_str(ctx.sockets.v[i].path));
        json_object_set_new(o, "sockets", socks);
        json_object_set_new(o, "no_space", json_boolean(stats.no_space));
        json_object_set_new(o, "dry_run", json_boolean(opts.dry_run));
        json_object_set_new(o, "hunted", json_boolean(g->hunt == CR_GATE_HUNTED));
        json_object_set_new(o, "flagged", gate_flag_json(g));
        json_object_set_new(o, "accepted_risk", json_boolean(accept_risk && g->nflagged > 0));
        if (quarantining) {
            json_t *q = json_object(), *paths = json_array();
            json_object_set_new(q, "dir", cli_json_str(qdir));
            json_object_set_new(q, "files", cli_json_u64(qstats.files));
            json_object_set_new(q, "bytes", cli_json_u64(qstats.bytes));
            for (size_t i = 0; i < g->nquarantine; i++)
                json_array_append_new(paths, cli_json_str(g->quarantine[i]));
            json_object_set_new(q, "paths", paths);
            json_object_set_new(o, "quarantine", q);
        } else {
            json_object_set_new(o, "quarantine", json_null());
        }
        cli_json_print(o);
    } else {
        char size[32], d[32];
        char *t = cli_escape(opts.target);
        if (opts.dry_run) {
            printf("dry run: restoring snapshot %s to %s would write %llu files, %llu "
                   "directories, %llu other items, %s; nothing was written\n",
                   sid, t, (unsigned long long)stats.files, (unsigned long long)stats.dirs,
                   (unsigned long long)stats.others,
                   cli_human_size(size, sizeof(size), stats.bytes));
            dry_run_target(opts.target, opts.overwrite);
        } else {
            printf("restored snapshot %s to %s: %llu files, %llu directories, %llu other items, "
                   "%s in %s\n",
                   sid, t, (unsigned long long)stats.files, (unsigned long long)stats.dirs,
                   (unsigned long long)stats.others,
                   cli_human_size(size, sizeof(size), stats.bytes),
                   cli_human_duration(d, sizeof(d), secs));
        }
        free(t);
        if (quarantining) {
            char *q = cli_escape(qdir);
            printf("QUARANTINED: %zu flagged item(s) restored into %s instead (%llu files, %s), "
                   "not into the target:\n",
                   g->nquarantine, q, (unsigned long long)qstats.files,
                   cli_human_size(size, sizeof(size), qstats.bytes));
            free(q);
            gate_print_quarantined(g, qdir);
        } else if (qdir) {
            printf("nothing quarantined: %s\n",
                   g->hunt != CR_GATE_HUNTED ? "the snapshot was never hunted, so no file is flagged"
                             : "no flagged file on the restored paths");
        }
        if (lost) {
            uint64_t n = stats.failed + qstats.failed > ctx.lost.n ? stats.failed + qstats.failed
                                                                   : ctx.lost.n;
            printf("%s: %llu item(s):\n", opts.dry_run ? "WOULD NOT BE RESTORED" : "NOT RESTORED",
                   (unsigned long long)n);
            items_print(&ctx.lost);
        }
        if (ctx.sockets.n > 0) {
            printf("sockets not restored (each server creates its socket again when it starts): "
                   "%zu:\n",
                   ctx.sockets.n);
            for (size_t i = 0; i < ctx.sockets.n; i++) {
                char *p = cli_escape(ctx.sockets.v[i].path);
                printf("  %s\n", p);
                free(p);
            }
        }
        if (ctx.meta.n > 0) {
            printf("RESTORED WITH INCOMPLETE METADATA (data intact): %zu item(s):\n", ctx.meta.n);
            items_print(&ctx.meta);
        }
    }
    if (opts.dry_run) {
        rc = CLI_EXIT_OK; /* nothing was done: what would fail is listed */
    } else if (partial) {
        if (stats.no_space)
            cli_hint("the target's disk is full: free space there (or restore to a bigger "
                     "disk), then restore the listed files again with --include PATH "
                     "--overwrite");
        else if (lost && stats.damaged + qstats.damaged > 0)
            cli_hint("run 'cleanroom verify --read-data' to see the damage; an older snapshot "
                     "may still hold the lost files");
        else if (lost)
            cli_hint("no vault data was found damaged: the items listed could not be put in the "
                     "target (read each reason: something in the way, permissions, a refused "
                     "name); clear their way, or restore into an empty folder");
        else
            cli_hint("the data is restored; run as root, or onto a filesystem with xattrs and "
                     "ACLs, to restore owners and attributes too");
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    items_free(&ctx.lost);
    items_free(&ctx.meta);
    items_free(&ctx.sockets);
    cli_progress_free(ctx.progress);
    cr_restore_gate_free(g);
    free(includes);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
