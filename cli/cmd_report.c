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
    "usage: cleanroom report JOURNAL [--out DIR] [--format md|html|both] [--lang en] [--json]\n"
    "\n"
    "Write the incident recovery report of a recovery or drill journal (written by\n"
    "'cleanroom recover' or 'cleanroom drill'): what was restored, from which restore\n"
    "point and why it was judged clean, when each service was back against its RTO,\n"
    "which probes passed, what failed or was blocked and why, the operators'\n"
    "acknowledgements, a timeline, and for a drill the restore test evidence. The\n"
    "files are JOURNAL-report.md and JOURNAL-report.html (without '.journal').\n"
    "\n"
    "The journal's hash chain is verified first: if any entry was edited, removed,\n"
    "reordered or cut, no report is written (exit 4) and the damaged line is named.\n"
    "\n"
    "Options:\n"
    "  --out DIR       folder of the report files (created; default: the journal's folder)\n"
    "  --format F      md, html or both (default: both)\n"
    "  --lang L        language of the report: en (default)\n"
    "  --json          print {journal, entries, head, markdown, html} on stdout\n"
    "\n"
    "Exit codes: 0 written, 1 error (writing the files), 2 usage or a journal that holds\n"
    "no recovery, 4 the journal is damaged (no report written), 7 no such journal.\n";

enum { OPT_OUT = CLI_OPT_FIRST_CMD, OPT_FORMAT, OPT_LANG };

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"target", required_argument, NULL, OPT_OUT}, /* the name of the CLI for a destination */
        {"format", required_argument, NULL, OPT_FORMAT},
        {"lang", required_argument, NULL, OPT_LANG},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_report_options o = CR_REPORT_OPTIONS_INIT;
    cr_report_result res;
    int c, err, rc;

    memset(&res, 0, sizeof(res));
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
            if (cr_report_lang_parse(&o.lang, optarg) < 0) {
                char *e = cli_escape(cr_error_last());
                rc = cli_usage_error("report", "%s", e);
                free(e);
                return rc;
            }
            break;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("report", "give the recovery journal (e.g. plan.journal)");
    if (optind + 1 < argc)
        return cli_unexpected_argument("report", argv[optind + 1],
                                       "give one journal; the folder of the report is --out DIR");
    o.journal = argv[optind];

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
    return rc;
}
