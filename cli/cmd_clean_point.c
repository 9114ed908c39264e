/*
 * cleanroom clean-point: the last clean restore point of each source.
 *
 * The answer a technician needs first after an attack: which snapshot to
 * restore. For each source the library finds the first snapshot holding a
 * finding at or above a severity (high by default) and the newest hunted
 * snapshot before it. The command says it in one line, then why (the
 * findings that decided it) and the exact command to restore the clean
 * point. When even the first snapshot is compromised it says so plainly:
 * there is no clean restore point, and guessing one would be worse.
 *
 * Snapshots never hunted are not judged; a warning says how many there are,
 * since an unhunted older snapshot may be the real first compromised one.
 */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom clean-point [--source NAME] [--min-severity S] [--before TIME] [--json]\n"
    "\n"
    "For each source, the last clean restore point: the newest hunted snapshot before the\n"
    "first snapshot holding a finding at or above S (default high), or the newest\n"
    "snapshot when none holds one. Prints one line per source:\n"
    "  SOURCE: clean restore point ID (TIME); first compromised ID (TIME)\n"
    "  SOURCE: clean restore point ID (TIME), the newest; no finding at or above S\n"
    "  SOURCE: NO CLEAN RESTORE POINT: the first snapshot (ID, TIME) is already compromised\n"
    "followed by the findings that decided it (the first few) and the command to restore\n"
    "the clean point. Snapshots never hunted are not judged (a warning says how many).\n"
    "\n"
    "Options:\n"
    "  --source NAME     only this source\n"
    "  --min-severity S  the severity that makes a snapshot compromised: info, low,\n"
    "                    medium, high (default) or critical\n"
    "  --before TIME     one incident-wide cut-off (\"patient zero\"): only snapshots taken\n"
    "                    strictly before TIME (2026-11-02T00:00:00Z, or a date) are\n"
    "                    considered, for every source\n"
    "  --json            an array of {source, min_severity, clean_snapshot, clean_time,\n"
    "                    compromised, first_compromised_snapshot, first_compromised_time,\n"
    "                    reasons:[findings as in 'findings --json'], snapshots, unhunted};\n"
    "                    ids are 64 hex digits, null when there is none\n"
    "\n"
    "Exit codes: 0 ok (whatever the verdict), 2 usage, 3 wrong passphrase, 4 damaged vault,\n"
    "7 no vault or no such source.\n";

/* Lines of reasons shown per source; the rest are counted ("... and N more"). */
#define CP_SHOW 5

static void print_source(const cr_clean_point *c, cr_severity min, const char *before)
{
    char sid[9];
    if (before && c->snapshots == 0) {
        char *e = cli_escape(c->source);
        printf("%s: NO CLEAN RESTORE POINT before the cut-off %s: its %zu snapshot(s) are all "
               "from after it\n",
               e, before, c->after_cutoff);
        free(e);
        return;
    }
    if (before && c->after_cutoff)
        printf("(%zu snapshot(s) of %s taken at or after the cut-off %s are left out)\n",
               c->after_cutoff, c->source, before);
    size_t hunted = c->snapshots - (c->unhunted <= c->snapshots ? c->unhunted : c->snapshots);
    cli_clean_point_line(stdout, c, min);
    if (hunted == 0) {
        printf("  run 'cleanroom hunt' to judge its snapshots\n");
        return;
    }
    if (c->compromised) {
        cli_short_id(sid, &c->first_compromised);
        printf("  %s is compromised because of %zu finding(s) at or above %s:\n", sid,
               c->nreasons, cr_severity_name(min));
        cli_findings_print_array(stdout, "    ", c->reasons, c->nreasons, CP_SHOW, 1);
        if (c->nreasons > CP_SHOW)
            printf("  all of them: cleanroom findings --snapshot %s --min-severity %s\n", sid,
                   cr_severity_name(min));
    }
    if (c->has_clean) {
        printf("  restore the clean point with: cleanroom restore %s --target DIR\n",
               cli_short_id(sid, &c->clean_snapshot));
    } else if (c->compromised) {
        printf("  rebuild the system, or restore with the flagged files set aside:\n"
               "  cleanroom restore %s --target DIR --quarantine QDIR (see 'cleanroom restore "
               "--help')\n",
               cli_short_id(sid, &c->first_compromised));
    }
}

int cmd_clean_point(int argc, char **argv)
{
    enum { OPT_SOURCE = CLI_OPT_FIRST_CMD, OPT_MIN, OPT_BEFORE };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"before", required_argument, NULL, OPT_BEFORE},
        {"min-severity", required_argument, NULL, OPT_MIN},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *source = NULL, *before = NULL;
    int64_t before_ns = INT64_MAX;
    cr_severity min = CR_SEV_HIGH;
    cr_repo *repo = NULL;
    cr_clean_point *cp = NULL;
    size_t n = 0;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "clean-point")) != -1) {
        switch (c) {
        case OPT_SOURCE: source = optarg; break;
        case OPT_BEFORE:
            if (cr_time_parse(&before_ns, optarg) < 0)
                return cli_usage_error("clean-point", "--before needs a time such as "
                                                      "2026-11-02T00:00:00Z or 2026-11-02");
            before = optarg;
            break;
        case OPT_MIN:
            if ((rc = cli_severity_option(&min, optarg, "clean-point", "--min-severity")) != 0)
                return rc;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_unexpected_argument("clean-point", argv[optind],
                                       "a source is given with --source");
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    if (source && (rc = cli_check_source(repo, source)) != 0)
        goto done;
    cr_error_clear();
    err = cr_clean_points_before(&cp, &n, repo, source, min, before_ns);
    if (err == CR_ENOTFOUND && !source) {
        /* An empty vault: nothing to judge, not an error (as 'snapshots'). */
        err = 0;
        n = 0;
    }
    if (err < 0) {
        rc = cli_fail(err, "could not work out the clean restore points");
        goto done;
    }
    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = cli_clean_point_json(&cp[i], min);
            json_object_set_new(o, "before", before ? json_string(before) : json_null());
            json_object_set_new(o, "after_cutoff", json_integer((json_int_t)cp[i].after_cutoff));
            json_array_append_new(a, o);
        }
        cli_json_print(a);
    } else if (n == 0) {
        printf("no snapshots in this vault\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i)
                printf("\n");
            print_source(&cp[i], min, before);
        }
    }
    rc = CLI_EXIT_OK;
done:
    cr_clean_points_free(cp, n);
    cr_repo_free(repo);
    return rc;
}
