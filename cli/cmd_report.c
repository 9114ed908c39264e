/*
 * cleanroom report: the incident recovery report (Markdown and HTML) of a
 * recovery journal.
 *
 * The journal is verified first; a broken chain means no report at all
 * (exit 4), as a report made from an altered journal would be false
 * evidence. The report quotes the journal's entry count and head hash, so
 * `cleanroom journal verify` can tie the two together later.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom report JOURNAL [--out DIR] [--format md|html|both] [--lang fr|en]\n"
    "           [--incident-time TIME] [--site NAME] [--finess N] [--incident ID]\n"
    "           [--author NAME] [--role ROLE] [--repo DIR] [--json]\n"
    "\n"
    "Write the incident recovery report of a recovery or drill journal (written by\n"
    "'cleanroom recover' or 'cleanroom drill'): what was restored, from which restore\n"
    "point and why it was judged clean, when each service was back against its RTO,\n"
    "which probes passed, what failed or was blocked and why, the operators'\n"
    "acknowledgements, a timeline, and for a drill the restore test evidence. The\n"
    "files are JOURNAL-report.md and JOURNAL-report.html (without '.journal').\n"
    "\n"
    "It also says, per service, how much data must be entered again (the time of the\n"
    "incident minus the time of the restore point), and names the findings that made\n"
    "the next snapshot compromised (rule, path, first seen) and the rule set.\n"
    "\n"
    "The journal is verified first, with its vault (--repo, CLEANROOM_REPO, else the\n"
    "vault the journal names): if any entry was edited, removed, reordered or cut, or\n"
    "the journal was replaced, no report is written (exit 4) and the line is named.\n"
    "\n"
    "Options:\n"
    "  --out DIR       folder of the report files (created; default: the journal's folder)\n"
    "  --format F      md, html or both (default: both)\n"
    "  --lang L        language of the report: fr or en (default: the plan's lang:, else\n"
    "                  French if the locale is)\n"
    "  --incident-time TIME  when the incident happened (ISO 8601, UTC if no offset);\n"
    "                  default: the time of the first snapshot the hunt found compromised\n"
    "  --site NAME     the establishment (default: the plan's site, from the journal)\n"
    "  --finess N      its FINESS number (default: the plan's finess:)\n"
    "  --incident ID   the incident or ARS report number\n"
    "  --author NAME, --role ROLE  who writes the report\n"
    "  --json          print {journal, entries, head, markdown, html} on stdout\n"
    "\n"
    "Exit codes: 0 written, 1 error (writing the files), 2 usage, a journal that holds\n"
    "no recovery, or a keyed journal without its vault, 3 wrong passphrase, 4 the journal\n"
    "is damaged, cut or replaced (no report written), 7 no such journal.\n";

enum {
    OPT_OUT = CLI_OPT_FIRST_CMD,
    OPT_FORMAT,
    OPT_LANG,
    OPT_INCIDENT_TIME,
    OPT_SITE,
    OPT_FINESS,
    OPT_INCIDENT,
    OPT_AUTHOR,
    OPT_ROLE
};

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"target", required_argument, NULL, OPT_OUT}, /* the name of the CLI for a destination */
        {"format", required_argument, NULL, OPT_FORMAT},
        {"lang", required_argument, NULL, OPT_LANG},
        {"incident-time", required_argument, NULL, OPT_INCIDENT_TIME},
        {"site", required_argument, NULL, OPT_SITE},
        {"finess", required_argument, NULL, OPT_FINESS},
        {"incident", required_argument, NULL, OPT_INCIDENT},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"role", required_argument, NULL, OPT_ROLE},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_report_options o = CR_REPORT_OPTIONS_INIT;
    cr_report_result res;
    cr_repo *repo = NULL;
    int c, err, rc;

    memset(&res, 0, sizeof(res));
    o.lang = cr_report_lang_default();
    while ((c = cli_getopt(argc, argv, "", longopts, "report")) != -1) {
        switch (c) {
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        case CLI_OPT_USAGE: return CLI_EXIT_USAGE;
        case OPT_OUT: o.out_dir = optarg; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "md"))
                o.formats = CR_REPORT_MD;
            else if (!strcmp(optarg, "html"))
                o.formats = CR_REPORT_HTML;
            else if (!strcmp(optarg, "both"))
                o.formats = CR_REPORT_MD | CR_REPORT_HTML;
            else {
                char *e = cli_escape(optarg);
                rc = cli_usage_error("report", "unknown --format '%s': use md, html or both", e);
                free(e);
                return rc;
            }
            break;
        case OPT_LANG:
            o.lang_given = 1;
            if (cr_report_lang_parse(&o.lang, optarg) < 0) {
                char *e = cli_escape(cr_error_last());
                rc = cli_usage_error("report", "%s", e);
                free(e);
                return rc;
            }
            break;
        case OPT_INCIDENT_TIME:
            if (cr_time_parse(&o.incident_ns, optarg) < 0) {
                char *e = cli_escape(optarg);
                rc = cli_usage_error("report",
                                     "--incident-time '%s' is not a time: give it as "
                                     "2026-11-23T04:30:00Z (ISO 8601)",
                                     e);
                free(e);
                return rc;
            }
            break;
        case OPT_SITE: o.site = optarg; break;
        case OPT_FINESS: o.finess = optarg; break;
        case OPT_INCIDENT: o.incident = optarg; break;
        case OPT_AUTHOR: o.author = optarg; break;
        case OPT_ROLE: o.role = optarg; break;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("report", "give the recovery journal (e.g. plan.journal)");
    if (optind + 1 < argc)
        return cli_unexpected_argument("report", argv[optind + 1],
                                       "give one journal; the folder of the report is --out DIR");
    o.journal = argv[optind];
    if ((rc = cli_journal_vault(&repo, o.journal)) != 0)
        return rc;
    o.repo = repo;

    cr_error_clear();
    err = cr_report_write(&res, &o);
    if (err == CR_ECORRUPT) {
        char *m = cli_escape(cr_error_last());
        cli_error("%s", m);
        free(m);
        cli_hint("run 'cleanroom journal verify' on it; keep the file as evidence and compare "
                 "it with its copies (line %llu is the first that does not follow)",
                 (unsigned long long)res.bad_line);
        rc = CLI_EXIT_INTEGRITY;
        goto done;
    }
    if (err == CR_EINPUT) {
        char *m = cli_escape(cr_error_last());
        cli_error("%s", m);
        free(m);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (err < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (cli_g.json) {
        json_t *j = json_object();
        json_object_set_new(j, "journal", cli_json_str(o.journal));
        json_object_set_new(j, "entries", cli_json_u64(res.entries));
        json_object_set_new(j, "head", json_string(res.head));
        json_object_set_new(j, "markdown", res.md_path ? cli_json_str(res.md_path) : json_null());
        json_object_set_new(j, "html", res.html_path ? cli_json_str(res.html_path) : json_null());
        cli_json_print(j);
    } else {
        char *ej = cli_escape(o.journal);
        if (!cli_g.quiet)
            printf("journal %s: intact, %llu entries, head %s\n", ej,
                   (unsigned long long)res.entries, res.head);
        cli_journal_says(&res.check, repo);
        free(ej);
        const char *paths[] = {res.md_path, res.html_path};
        for (int k = 0; k < 2; k++) {
            if (!paths[k])
                continue;
            char *ep = cli_escape(paths[k]);
            printf("wrote %s\n", ep);
            free(ep);
        }
    }
    rc = CLI_EXIT_OK;
done:
    cr_report_result_free(&res);
    cr_repo_free(repo);
    return rc;
}
