/*
 * cleanroom findings: what the hunt found, snapshot by snapshot.
 *
 * A hunt record holds every finding present in a snapshot, including those
 * carried forward from earlier snapshots because the file is still there:
 * so the list of one snapshot is the full answer to "what is wrong with this
 * restore point", and each line says where the finding was first seen when
 * that is earlier. Findings of level info are routine notes (a file of a
 * package, the inventory of a first snapshot) and are hidden by default.
 *
 * A snapshot never hunted has no findings *known*: that must not read as
 * "clean", so the command warns about every such snapshot it skipped.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom findings [--source NAME] [--snapshot SNAPSHOT] [--min-severity S]\n"
    "                          [--all] [--json]\n"
    "\n"
    "List the findings that 'cleanroom hunt' stored, oldest snapshot first. Each snapshot\n"
    "with findings gets a line 'ID  TIME  SOURCE: N finding(s)' followed by one line per\n"
    "finding, highest severity first:\n"
    "  SEVERITY  CATEGORY  PATH  INDICATOR  DETAIL  [EVIDENCE]  (first seen in ID, TIME)\n"
    "More than three findings of one indicator and severity in a snapshot (ransomware\n"
    "renames thousands of files) are told in one line, unless --all:\n"
    "  SEVERITY  CATEGORY  INDICATOR on N files, e.g. PATH, PATH, PATH, ...\n"
    "A finding stays listed in every later snapshot that still holds the file; '(first\n"
    "seen in ...)' names the snapshot where it appeared. PATH \"/\" is about the whole\n"
    "snapshot (e.g. its change rate). Names are escaped as in 'ls'.\n"
    "\n"
    "Options:\n"
    "  --source NAME        only the snapshots of this source\n"
    "  --snapshot SNAPSHOT  only this snapshot (id, prefix, 'latest', 'SOURCE:latest')\n"
    "  --min-severity S     info, low (default), medium, high or critical; info findings\n"
    "                       are routine notes (files of packages, the first snapshot's\n"
    "                       inventory)\n"
    "  --all                one line for every finding, none grouped\n"
    "  --json               {min_severity, unhunted, findings:[{snapshot, source, time,\n"
    "                       path, severity, category, indicator, detail, evidence,\n"
    "                       content, first_seen, first_seen_time}]}\n"
    "\n"
    "Snapshots never hunted are not listed: a warning gives their number.\n"
    "\n"
    "Exit codes: 0 ok (with or without findings), 2 usage, 3 wrong passphrase, 4 damaged\n"
    "vault, 7 no vault, no such source or no such snapshot.\n";

/* 1 if every snapshot (of source) is among the `unhunted` ones. */
static int all_unhunted(cr_repo *repo, const char *source, size_t unhunted)
{
    cr_snapshot **list = NULL;
    size_t n = 0;
    if (cr_snapshot_list(&list, &n, repo, source) < 0)
        return 0;
    cr_snapshot_list_free(list, n);
    return n <= unhunted;
}

int cmd_findings(int argc, char **argv)
{
    enum { OPT_SOURCE = CLI_OPT_FIRST_CMD, OPT_SNAPSHOT, OPT_MIN, OPT_ALL };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
        {"min-severity", required_argument, NULL, OPT_MIN},
        {"all", no_argument, NULL, OPT_ALL},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_findings_query q = {NULL, NULL, CR_SEV_LOW};
    const char *spec = NULL;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    cr_finding *f = NULL;
    size_t n = 0, unhunted = 0, groups = 0, folded = 0;
    uint64_t counts[5] = {0, 0, 0, 0, 0};
    int c, rc, err, all = 0;

    while ((c = cli_getopt(argc, argv, "", longopts, "findings")) != -1) {
        switch (c) {
        case OPT_SOURCE: q.source = optarg; break;
        case OPT_SNAPSHOT: spec = optarg; break;
        case OPT_ALL: all = 1; break;
        case OPT_MIN:
            if ((rc = cli_severity_option(&q.min_severity, optarg, "findings",
                                          "--min-severity")) != 0)
                return rc;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_unexpected_argument("findings", argv[optind],
                                       "a snapshot is given with --snapshot");
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    if (q.source && (rc = cli_check_source(repo, q.source)) != 0)
        goto done;
    if (spec) {
        if ((rc = cli_find_snapshot(&snap, repo, spec)) != 0)
            goto done;
        if (q.source && strcmp(q.source, snap->source) != 0) {
            char sid[9], *a = cli_escape(snap->source), *b = cli_escape(q.source);
            rc = cli_usage_error("findings", "snapshot %s is of source '%s', not '%s'",
                                 cli_short_id(sid, &snap->id), a, b);
            free(a);
            free(b);
            goto done;
        }
        q.snapshot = &snap->id;
    }
    cr_error_clear();
    if ((err = cr_findings_list(&f, &n, &unhunted, repo, &q)) < 0) {
        rc = cli_fail(err, "could not read the findings");
        goto done;
    }

    if (cli_g.json) {
        json_t *o = json_object(), *a = json_array();
        json_object_set_new(o, "min_severity", json_string(cr_severity_name(q.min_severity)));
        json_object_set_new(o, "unhunted", cli_json_u64(unhunted));
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_finding_json(&f[i]));
        json_object_set_new(o, "findings", a);
        cli_json_print(o);
    } else {
        for (size_t i = 0; i < n;) {
            size_t end = i + 1;
            char sid[9], t[32];
            while (end < n && !memcmp(&f[end].snapshot, &f[i].snapshot, sizeof(cr_id)))
                end++;
            char *src = cli_escape(f[i].source ? f[i].source : "");
            printf("%s%s  %s  %s: %zu finding(s)\n", groups ? "\n" : "",
                   cli_short_id(sid, &f[i].snapshot), cli_time_sec(t, sizeof(t), f[i].time_ns),
                   src, end - i);
            free(src);
            for (size_t k = i; k < end; k++) {
                if (all)
                    cli_finding_print(stdout, "  ", &f[k], 1);
                if ((unsigned)f[k].severity <= CR_SEV_CRITICAL)
                    counts[f[k].severity]++;
            }
            if (!all)
                folded += cli_findings_print_array(stdout, "  ", f + i, end - i, 0, 1);
            groups++;
            i = end;
        }
        if (n == 0) {
            if (snap) {
                char sid[9];
                if (!unhunted)
                    printf("no finding at or above %s in snapshot %s\n",
                           cr_severity_name(q.min_severity), cli_short_id(sid, &snap->id));
            } else if (unhunted == 0 || !all_unhunted(repo, q.source, unhunted)) {
                printf("no finding at or above %s in the hunted snapshots%s\n",
                       cr_severity_name(q.min_severity), q.source ? " of this source" : "");
            }
        } else if (!cli_g.quiet) {
            char a[32];
            int first = 1;
            printf("\n%s finding(s) at or above %s in %zu snapshot(s):", cli_count(a, sizeof(a), n),
                   cr_severity_name(q.min_severity), groups);
            for (int s = CR_SEV_CRITICAL; s >= CR_SEV_INFO; s--) {
                if (!counts[s])
                    continue;
                printf("%s %s %s", first ? "" : ",", cli_count(a, sizeof(a), counts[s]),
                       cr_severity_name((cr_severity)s));
                first = 0;
            }
            printf("\n");
            if (folded)
                printf("(%s finding(s) told in grouped lines: --all lists every one)\n",
                       cli_count(a, sizeof(a), folded));
        }
    }
    fflush(stdout); /* the warning (stderr) after the list */
    if (unhunted) {
        if (snap) {
            char sid[9];
            cli_warn("snapshot %s has never been hunted: its findings are unknown; run "
                     "'cleanroom hunt'",
                     cli_short_id(sid, &snap->id));
        } else {
            cli_warn("%zu snapshot(s) have never been hunted and are not listed: their findings "
                     "are unknown; run 'cleanroom hunt'",
                     unhunted);
        }
    }
    rc = CLI_EXIT_OK;
done:
    cr_findings_free(f, n);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
