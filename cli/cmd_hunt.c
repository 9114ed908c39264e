/*
 * cleanroom hunt: scan the snapshots for indicators of compromise.
 *
 * The library does the work (cr_hunt): it hunts every snapshot not yet hunted
 * with the current rule set and stores the findings in the vault. This
 * command chooses the rules, shows progress, and ends with what a technician
 * needs next: how much was scanned, how many findings of each severity
 * appeared, and for each source its last clean restore point in one line.
 *
 * Findings are not an error: the hunt exits 0 when it could look at
 * everything. Scripts that want an alarm ask for it with --fail-on SEVERITY,
 * which exits 9 when the newest snapshot of a source holds a finding at or
 * above that severity (the state of the system now, so the alarm stops once
 * the system is clean again, even though the old findings stay in the vault).
 *
 * The rules shipped with cleanroom (YARA starter pack, ransomware extensions
 * and ransom-note names) are looked for in $CLEANROOM_RULES, then in the
 * source tree the command was built from, then where `make install` puts
 * them. When none is there the hunt stops rather than run silently weaker.
 */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_text[] =
    "usage: cleanroom hunt [--source NAME] [--rules PATH]... [--ioc FILE]...\n"
    "                      [--no-builtin-rules] [--force] [--threads N]\n"
    "                      [--max-scan-size SIZE] [--fail-on SEVERITY]\n"
    "                      [--packages DIR] [--baseline SNAPSHOT] [--skip-broken-rules]\n"
    "\n"
    "Scan the snapshots for indicators of compromise and store the findings in the\n"
    "vault: YARA rules, hash lists (IOC), ransomware traces (known extensions, ransom\n"
    "notes, encrypted content, mass changes) and new persistence between consecutive\n"
    "snapshots (cron, systemd, SSH keys, UID 0 accounts, sudoers, PAM, SUID files, web\n"
    "shells, Windows Run keys, services and scheduled tasks). Each unique content is read\n"
    "once; snapshots already hunted with the same rules are skipped, so running it again\n"
    "after each backup costs little. Ends with the clean restore point of each source.\n"
    "\n"
    "Options:\n"
    "  --source NAME         only the snapshots of this source\n"
    "  --rules PATH          YARA rules: a file, or a folder of *.yar / *.yara files\n"
    "                        (repeatable); added to the rules shipped with cleanroom\n"
    "  --ioc FILE            a list of MD5 / SHA-1 / SHA-256 hashes, one per line, or a\n"
    "                        MISP CSV export (repeatable)\n"
    "  --no-builtin-rules    do not use the rules shipped with cleanroom\n"
    "  --skip-broken-rules   hunt with the rule files that compile: each one that does not\n"
    "                        is named with its error and left out, and the summary says\n"
    "                        how many rules were left out (default: stop, exit 2)\n"
    "  --force               hunt every snapshot again, even those already hunted with\n"
    "                        these rules\n"
    "  --threads N           scanning threads, 1-1024 (default: one per core)\n"
    "  --max-scan-size SIZE  YARA scans files larger than SIZE piece by piece (e.g. 512M,\n"
    "                        2G; default 256M)\n"
    "  --fail-on SEVERITY    exit 9 if the newest snapshot of a source holds a finding at\n"
    "                        or above SEVERITY (info, low, medium, high, critical)\n"
    "  --packages DIR        trusted .deb files (e.g. from a trusted mirror): the files of\n"
    "                        a package are compared with its .deb, not with the package\n"
    "                        database of the snapshot (add --force for snapshots already\n"
    "                        hunted)\n"
    "  --baseline SNAPSHOT   a snapshot known good: judged alone, as the first of its\n"
    "                        source, and the later ones against it (remembered)\n"
    "  --json                {snapshots, snapshots_hunted, snapshots_current, files_judged,\n"
    "                        contents_scanned, contents_cached, bytes_scanned, findings,\n"
    "                        errors, yara_rules, ioc_hashes, ruleset, seconds, rules_dir,\n"
    "                        yara_files_skipped, yara_rules_skipped,\n"
    "                        new_findings:{critical,high,medium,low,info},\n"
    "                        clean_points:[...as in 'clean-point --json'],\n"
    "                        warnings:[{path, message}]}, and the progress on stderr\n"
    "                        as JSON events, one per line\n"
    "\n"
    "The shipped rules are read from $CLEANROOM_RULES if set, else from the rules/ folder\n"
    "of the source tree cleanroom was built from, else from the installed copy.\n"
    "\n"
    "Exit codes: 0 hunted (findings are not an error), 2 usage, a YARA rule that does not\n"
    "compile (the message names file and line) or an IOC list that cannot be read,\n"
    "3 wrong passphrase, 4 damaged vault data, 5 hunted except contents that could not be\n"
    "read (named in warnings; tried again next time), 6 locked, 7 no vault, no such source\n"
    "or no shipped rules, 9 with --fail-on: a finding at or above SEVERITY (before 5).\n";

typedef struct warn_item {
    char *path, *message;
} warn_item;

typedef struct hunt_ctx {
    cli_progress *progress;
    warn_item *w;
    size_t nw, capw;
} hunt_ctx;

/* Warnings may come from scanning threads. */
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;

/* At most this many warnings are kept for --json (all are printed). */
#define HUNT_MAX_WARNINGS 10000

static void on_warning(const char *path, const char *message, void *payload)
{
    hunt_ctx *ctx = payload;
    char *p = cli_escape(path ? path : ""), *m = cli_escape(message ? message : "");
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
    pthread_mutex_lock(&warn_lock);
    if (ctx->nw < HUNT_MAX_WARNINGS) {
        if (ctx->nw == ctx->capw) {
            ctx->capw = ctx->capw ? ctx->capw * 2 : 16;
            ctx->w = cli_xrealloc(ctx->w, ctx->capw * sizeof(*ctx->w));
        }
        ctx->w[ctx->nw].path = cli_xstrdup(path);
        ctx->w[ctx->nw].message = cli_xstrdup(message);
        ctx->nw++;
    }
    pthread_mutex_unlock(&warn_lock);
}

static void on_progress(const cr_progress *p, void *payload)
{
    hunt_ctx *ctx = payload;
    cli_progress_cb(p, ctx->progress);
}

/*
 * Findings counted once each, in the snapshot where they appeared, by
 * severity; and whether the newest snapshot of a source holds one at or
 * above `fail_on` (when fail_on >= 0).
 */
static int count_findings(uint64_t counts[5], int *alarm, cr_repo *repo, const char *source,
                          int fail_on)
{
    cr_findings_query q = {source, NULL, CR_SEV_INFO};
    cr_finding *f = NULL;
    cr_snapshot **snaps = NULL;
    const cr_snapshot **newest = NULL;
    size_t n = 0, nsnaps = 0, nnewest = 0;
    int err;

    memset(counts, 0, 5 * sizeof(uint64_t));
    *alarm = 0;
    if ((err = cr_findings_list(&f, &n, NULL, repo, &q)) < 0)
        return err;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&f[i].first_seen, &f[i].snapshot, sizeof(cr_id)) == 0 &&
            (unsigned)f[i].severity <= CR_SEV_CRITICAL)
            counts[f[i].severity]++;
    if (fail_on >= 0) {
        /* The newest snapshot of each source (the list is oldest first). */
        if ((err = cr_snapshot_list(&snaps, &nsnaps, repo, source)) < 0)
            goto done;
        newest = cli_xmalloc((nsnaps + 1) * sizeof(*newest));
        for (size_t i = nsnaps; i-- > 0;) {
            size_t k;
            for (k = 0; k < nnewest; k++)
                if (!strcmp(newest[k]->source, snaps[i]->source))
                    break;
            if (k == nnewest)
                newest[nnewest++] = snaps[i];
        }
        for (size_t i = 0; i < n && !*alarm; i++) {
            if ((int)f[i].severity < fail_on)
                continue;
            for (size_t k = 0; k < nnewest; k++)
                if (!memcmp(&newest[k]->id, &f[i].snapshot, sizeof(cr_id)))
                    *alarm = 1;
        }
    }
done:
    free(newest);
    cr_snapshot_list_free(snaps, nsnaps);
    cr_findings_free(f, n);
    return err;
}

static void print_counts(const uint64_t counts[5])
{
    char c[32];
    int first = 1;
    for (int s = CR_SEV_CRITICAL; s >= CR_SEV_INFO; s--) {
        printf("%s%s %s", first ? "" : ", ", cli_count(c, sizeof(c), counts[s]),
               cr_severity_name((cr_severity)s));
        first = 0;
    }
}

int cmd_hunt(int argc, char **argv)
{
    enum {
        OPT_SOURCE = CLI_OPT_FIRST_CMD,
        OPT_RULES,
        OPT_IOC,
        OPT_NO_BUILTIN,
        OPT_FORCE,
        OPT_THREADS,
        OPT_MAX_SCAN,
        OPT_FAIL_ON,
        OPT_PACKAGES,
        OPT_BASELINE,
        OPT_SKIP_BROKEN,
    };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"rules", required_argument, NULL, OPT_RULES},
        {"ioc", required_argument, NULL, OPT_IOC},
        {"no-builtin-rules", no_argument, NULL, OPT_NO_BUILTIN},
        {"force", no_argument, NULL, OPT_FORCE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-scan-size", required_argument, NULL, OPT_MAX_SCAN},
        {"fail-on", required_argument, NULL, OPT_FAIL_ON},
        {"packages", required_argument, NULL, OPT_PACKAGES},
        {"baseline", required_argument, NULL, OPT_BASELINE},
        {"skip-broken-rules", no_argument, NULL, OPT_SKIP_BROKEN},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_hunt_options opts = CR_HUNT_OPTIONS_INIT;
    cr_hunt_stats stats;
    hunt_ctx ctx;
    const char **rules = cli_xmalloc(sizeof(char *) * (size_t)argc);
    const char **iocs = cli_xmalloc(sizeof(char *) * (size_t)argc);
    size_t nrules = 0, niocs = 0, ncp = 0;
    cr_repo *repo = NULL;
    cr_clean_point *cp = NULL;
    unsigned long threads;
    uint64_t counts[5] = {0, 0, 0, 0, 0};
    int c, rc = CLI_EXIT_USAGE, err, no_builtin = 0, fail_on = -1, alarm = 0, have_counts = 0;
    cr_severity sev;
    const char *baseline_spec = NULL;
    cr_snapshot *baseline = NULL;

    memset(&ctx, 0, sizeof(ctx));
    memset(&stats, 0, sizeof(stats));
    while ((c = cli_getopt(argc, argv, "", longopts, "hunt")) != -1) {
        switch (c) {
        case OPT_SOURCE:
            if (!*optarg) {
                rc = cli_usage_error("hunt", "--source needs a name (see 'cleanroom snapshots')");
                goto done;
            }
            opts.source = optarg;
            break;
        case OPT_RULES:
            if (!*optarg) {
                rc = cli_usage_error("hunt", "--rules needs a file or a folder of YARA rules");
                goto done;
            }
            rules[nrules++] = optarg;
            break;
        case OPT_IOC:
            if (!*optarg) {
                rc = cli_usage_error("hunt", "--ioc needs a file of hashes");
                goto done;
            }
            iocs[niocs++] = optarg;
            break;
        case OPT_NO_BUILTIN: no_builtin = 1; break;
        case OPT_FORCE: opts.force = 1; break;
        case OPT_SKIP_BROKEN: opts.skip_broken_rules = 1; break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 1024) < 0) {
                rc = cli_usage_error("hunt", "--threads must be a number from 1 to 1024");
                goto done;
            }
            opts.threads = (int)threads;
            break;
        case OPT_MAX_SCAN:
            if (cli_parse_size(&opts.max_scan_bytes, optarg) < 0 || opts.max_scan_bytes < 4096) {
                rc = cli_usage_error("hunt", "--max-scan-size must be a size of at least 4K, "
                                             "e.g. 256M or 2G");
                goto done;
            }
            break;
        case OPT_FAIL_ON:
            if ((rc = cli_severity_option(&sev, optarg, "hunt", "--fail-on")) != 0) {
                goto done;
            }
            fail_on = (int)sev;
            break;
        case OPT_PACKAGES: {
            struct stat st;
            if (!*optarg || stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode)) {
                char *e = cli_escape(optarg);
                cli_error("--packages %s is not a folder", e);
                cli_hint("give the folder that holds the trusted .deb files");
                free(e);
                rc = CLI_EXIT_NOTFOUND;
                goto done;
            }
            opts.packages = optarg;
            break;
        }
        case OPT_BASELINE:
            if (!*optarg) {
                rc = cli_usage_error("hunt", "--baseline needs a snapshot (see 'cleanroom "
                                             "snapshots')");
                goto done;
            }
            baseline_spec = optarg;
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (optind < argc) {
        rc = cli_unexpected_argument("hunt", argv[optind], "rules are given with --rules PATH");
        goto done;
    }
    if (!no_builtin && (rc = cli_builtin_rules_dir(&opts.builtin_dir, "hunted")) != 0)
        goto done;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if (opts.source && (rc = cli_check_source(repo, opts.source)) != 0)
        goto done;
    if (baseline_spec) {
        if ((rc = cli_find_snapshot(&baseline, repo, baseline_spec)) != 0)
            goto done;
        if (opts.source && strcmp(opts.source, baseline->source) != 0) {
            char *a = cli_escape(baseline->source), *b = cli_escape(opts.source);
            rc = cli_usage_error("hunt", "--baseline names a snapshot of %s, not of --source %s",
                                 a, b);
            free(a);
            free(b);
            goto done;
        }
        opts.baseline = &baseline->id;
    }

    opts.rules = rules;
    opts.nrules = nrules;
    opts.iocs = iocs;
    opts.niocs = niocs;
    ctx.progress = cli_progress_new("hunt");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;
    cr_error_clear();
    err = cr_hunt(&stats, repo, &opts);
    {
        cli_total t[] = {{"snapshots", stats.snapshots},
                         {"snapshots_hunted", stats.snapshots_hunted},
                         {"files_judged", stats.files_judged},
                         {"contents_scanned", stats.contents_scanned},
                         {"bytes_scanned", stats.bytes_scanned},
                         {"findings", stats.findings},
                         {"errors", stats.errors}};
        cli_progress_done(ctx.progress, err, NULL, t, sizeof(t) / sizeof(t[0]));
    }
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err < 0 && err != CR_EPARTIAL) {
        if (err == CR_EINPUT) {
            rc = cli_fail(err, "the hunt could not start");
            cli_hint("fix or leave out that rule file or list; nothing was hunted");
        } else if (err == CR_ENOTFOUND) {
            rc = cli_fail(err, NULL);
            cli_hint("list the sources with 'cleanroom snapshots'");
        } else {
            rc = cli_fail(err, "the hunt stopped");
            if (stats.snapshots_hunted)
                cli_hint("the %llu snapshot(s) hunted before the error keep their findings; "
                         "run 'cleanroom hunt' again to go on",
                         (unsigned long long)stats.snapshots_hunted);
        }
        goto done;
    }
    rc = err == CR_EPARTIAL ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;

    /* What is in the vault now: counts and clean points. A failure here does not undo the hunt. */
    cr_error_clear();
    if (count_findings(counts, &alarm, repo, opts.source, fail_on) < 0) {
        char *m = cli_escape(cr_error_last());
        cli_warn("the findings were stored but could not be read back to summarise them: %s", m);
        free(m);
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
    } else {
        have_counts = 1;
    }
    cr_error_clear();
    err = cr_clean_points(&cp, &ncp, repo, opts.source, CR_SEV_HIGH);
    if (err < 0 && err != CR_ENOTFOUND) {
        char *m = cli_escape(cr_error_last());
        cli_warn("could not work out the clean restore points: %s", m);
        free(m);
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
    }

    if (cli_g.json) {
        json_t *o = json_object(), *nf = json_object(), *a = json_array(), *w = json_array();
        json_object_set_new(o, "snapshots", cli_json_u64(stats.snapshots));
        json_object_set_new(o, "snapshots_hunted", cli_json_u64(stats.snapshots_hunted));
        json_object_set_new(o, "snapshots_current", cli_json_u64(stats.snapshots_current));
        json_object_set_new(o, "files_judged", cli_json_u64(stats.files_judged));
        json_object_set_new(o, "contents_scanned", cli_json_u64(stats.contents_scanned));
        json_object_set_new(o, "contents_cached", cli_json_u64(stats.contents_cached));
        json_object_set_new(o, "bytes_scanned", cli_json_u64(stats.bytes_scanned));
        json_object_set_new(o, "findings", cli_json_u64(stats.findings));
        json_object_set_new(o, "errors", cli_json_u64(stats.errors));
        json_object_set_new(o, "yara_rules", cli_json_u64(stats.yara_rules));
        json_object_set_new(o, "ioc_hashes", cli_json_u64(stats.ioc_hashes));
        json_object_set_new(o, "yara_files_skipped", cli_json_u64(stats.yara_files_skipped));
        json_object_set_new(o, "yara_rules_skipped", cli_json_u64(stats.yara_rules_skipped));
        stats.ruleset[CR_ID_HEX_LEN] = '\0';
        json_object_set_new(o, "ruleset", json_string(stats.ruleset));
        json_object_set_new(o, "seconds", json_real(stats.seconds));
        json_object_set_new(o, "rules_dir", cli_json_str(opts.builtin_dir));
        for (int s = CR_SEV_CRITICAL; s >= CR_SEV_INFO; s--)
            json_object_set_new(nf, cr_severity_name((cr_severity)s),
                                have_counts ? cli_json_u64(counts[s]) : json_null());
        json_object_set_new(o, "new_findings", nf);
        for (size_t i = 0; i < ncp; i++)
            json_array_append_new(a, cli_clean_point_json(&cp[i], CR_SEV_HIGH));
        json_object_set_new(o, "clean_points", a);
        for (size_t i = 0; i < ctx.nw; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "path", cli_json_str(ctx.w[i].path));
            json_object_set_new(e, "message", cli_json_str(ctx.w[i].message));
            json_array_append_new(w, e);
        }
        json_object_set_new(o, "warnings", w);
        cli_json_print(o);
    } else {
        char a[32], b[32], d[32], e[32], sz[32], rs[9];
        if (!cli_g.quiet) {
            printf("hunt done in %s: %s snapshot(s) hunted, %s already current (%s in all)\n",
                   cli_human_duration(d, sizeof(d), stats.seconds),
                   cli_count(a, sizeof(a), stats.snapshots_hunted),
                   cli_count(b, sizeof(b), stats.snapshots_current),
                   cli_count(e, sizeof(e), stats.snapshots));
            printf("  files judged: %s; contents scanned: %s (%s), from the cache: %s",
                   cli_count(a, sizeof(a), stats.files_judged),
                   cli_count(b, sizeof(b), stats.contents_scanned),
                   cli_human_size(sz, sizeof(sz), stats.bytes_scanned),
                   cli_count(e, sizeof(e), stats.contents_cached));
            if (stats.errors)
                printf("; UNREADABLE: %s", cli_count(d, sizeof(d), stats.errors));
            snprintf(rs, sizeof(rs), "%.8s", stats.ruleset);
            printf("\n  rules: %zu YARA rule(s), %zu IOC hash(es)%s; rule set %s\n",
                   stats.yara_rules, stats.ioc_hashes,
                   opts.builtin_dir ? "" : " (without the shipped rules)", rs);
            if (stats.yara_files_skipped)
                printf("  LEFT OUT: %zu rule file(s) that do not compile, %zu rule(s) in all "
                       "(named in the warnings above)\n",
                       stats.yara_files_skipped, stats.yara_rules_skipped);
            if (have_counts) {
                printf("  findings, each counted where it appeared: ");
                print_counts(counts);
                printf("\n");
            }
        }
        if (ncp) {
            if (!cli_g.quiet)
                printf("clean restore point of each source (a finding at or above high makes a "
                       "snapshot compromised):\n");
            for (size_t i = 0; i < ncp; i++) {
                printf("  ");
                cli_clean_point_line(stdout, &cp[i], CR_SEV_HIGH);
            }
        } else if (!cli_g.quiet) {
            printf(opts.source ? "no snapshots of this source\n" : "no snapshots in this vault\n");
        }
        fflush(stdout); /* hints and warnings (stderr) after the summary */
        if (ncp && !cli_g.quiet)
            cli_hint("'cleanroom clean-point' shows why, 'cleanroom findings' lists every "
                     "finding, 'cleanroom timeline --source NAME' tells the story");
    }
    if (rc == CLI_EXIT_PARTIAL)
        cli_warn("%llu content(s) could not be read or scanned (see the warnings above): the "
                 "snapshots holding them are not fully judged; they are tried again by the next "
                 "hunt. Run 'cleanroom verify --read-data' to look for damage",
                 (unsigned long long)stats.errors);
    if (alarm) {
        if (!cli_g.json)
            cli_error("the newest snapshot of a source holds a finding at or above %s (--fail-on)",
                      cr_severity_name((cr_severity)fail_on));
        rc = CLI_EXIT_FINDINGS;
    }
done:
    if (ctx.w) {
        for (size_t i = 0; i < ctx.nw; i++) {
            free(ctx.w[i].path);
            free(ctx.w[i].message);
        }
        free(ctx.w);
    }
    cli_progress_free(ctx.progress);
    cr_clean_points_free(cp, ncp);
    cr_snapshot_free(baseline);
    cr_repo_free(repo);
    free(rules);
    free(iocs);
    return rc;
}
