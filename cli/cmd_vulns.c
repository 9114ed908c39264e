/*
 * cleanroom vulns: the known-exploited vulnerabilities a restore point holds,
 * from its inventory and the offline data (KEV catalog, curated rules, Debian
 * advisories), with the age of that data printed every time.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom vulns SNAPSHOT [--fail-on ransomware|kev|any] [--json]\n"
    "\n"
    "Lists the vulnerabilities of what the snapshot (ID, prefix, latest or SOURCE:latest)\n"
    "has installed (see 'cleanroom inventory'): the curated rules for the entries of\n"
    "CISA's Known Exploited Vulnerabilities catalog (KEV), and the Debian security\n"
    "tracker's fixed versions for the snapshot's Debian release. One line per match:\n"
    "  CVE  KEV|-  RANSOMWARE|-  PRODUCT INSTALLED -> fixed FIXED  (EVIDENCE FILE)\n"
    "\"uncertain\" marks a match no fixed version decides (check it by hand).\n"
    "The age of the data goes to stderr every time; refresh it with 'cleanroom kev\n"
    "import' and 'cleanroom advisories import'.\n"
    "\n"
    "Options:\n"
    "  --fail-on W  exit 9 when a match is known to be used by ransomware (ransomware),\n"
    "               is in the KEV catalog (kev), or exists at all (any)\n"
    "  --json       {snapshot, data:{kev, rules, debian}, matches:[{cve, kev,\n"
    "               ransomware, uncertain, title, product, installed, fixed, evidence,\n"
    "               data}], warnings}\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 wrong passphrase, 4 damaged vault or vulnerability\n"
    "data, 7 no such snapshot or no data, 9 a match at or above --fail-on.\n";

int cmd_vulns(int argc, char **argv)
{
    enum { OPT_FAIL = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"fail-on", required_argument, NULL, OPT_FAIL},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *spec, *fail = NULL;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    cr_inventory *inv = NULL;
    cr_vulndata *vd = NULL;
    cr_vuln_match *m = NULL;
    size_t n = 0;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "vulns")) != -1) {
        switch (c) {
        case OPT_FAIL:
            if (strcmp(optarg, "ransomware") && strcmp(optarg, "kev") && strcmp(optarg, "any"))
                return cli_usage_error("vulns", "--fail-on must be ransomware, kev or any");
            fail = optarg;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("vulns", "which snapshot? (an id, latest or SOURCE:latest)");
    spec = argv[optind++];
    if (optind < argc)
        return cli_unexpected_argument("vulns", argv[optind], "one snapshot at a time");
    if ((rc = cli_vulndata_load(&vd, "checked", 0)) != 0)
        return rc;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, spec)) != 0)
        goto done;
    if ((err = cr_inventory_load(&inv, repo, snap)) < 0 ||
        (err = cr_vulns_match(&m, &n, vd, inv)) < 0) {
        rc = cli_fail(err, "could not check the snapshot's vulnerabilities");
        goto done;
    }
    for (size_t i = 0; i < inv->nwarnings; i++) {
        char *e = cli_escape(inv->warnings[i]);
        cli_warn("%s", e);
        free(e);
    }
    if (inv->suite == NULL && inv->os)
        cli_warn("the system is not a Debian release the security tracker data covers (%s): "
                 "its packages were not checked, only the detected applications",
                 inv->os);
    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *a = json_array(), *w = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:s,s:b,s:b,s:b,s:o,s:o,s:o,s:o,s:o,s:s}", "cve", m[i].cve, "kev",
                             m[i].kev, "ransomware", m[i].ransomware, "uncertain", m[i].uncertain,
                             "title", cli_json_str(m[i].title), "product",
                             cli_json_str(m[i].product), "installed",
                             cli_json_str(m[i].installed), "fixed", cli_json_str(m[i].fixed),
                             "evidence", cli_json_str(m[i].evidence), "data", m[i].data));
        for (size_t i = 0; i < inv->nwarnings; i++)
            json_array_append_new(w, cli_json_str(inv->warnings[i]));
        cli_json_print(json_pack("{s:s,s:o,s:o,s:o}", "snapshot", cr_id_to_hex(hex, &snap->id),
                                 "data", cli_vulndata_json(vd), "matches", a, "warnings", w));
    } else {
        char sid[9];
        size_t kev = 0, rw = 0;
        for (size_t i = 0; i < n; i++) {
            kev += m[i].kev;
            rw += m[i].ransomware;
        }
        printf("snapshot %s: %zu vulnerabilit%s, %zu known exploited (KEV), %zu used by "
               "ransomware\n",
               cli_short_id(sid, &snap->id), n, n == 1 ? "y" : "ies", kev, rw);
        for (size_t i = 0; i < n; i++) {
            char *p = cli_escape(m[i].product), *v = cli_escape(m[i].installed),
                 *f = cli_escape(m[i].fixed), *e = cli_escape(m[i].evidence),
                 *t = cli_escape(m[i].title);
            printf("%-16s %-3s %-10s %s %s -> fixed %s%s (%s)\n    %s\n", m[i].cve,
                   m[i].kev ? "KEV" : "-", m[i].ransomware ? "RANSOMWARE" : "-", p, v,
                   *f ? f : "(no fixed version known)", m[i].uncertain ? " [uncertain]" : "", e,
                   t);
            free(p);
            free(v);
            free(f);
            free(e);
            free(t);
        }
    }
    rc = CLI_EXIT_OK;
    for (size_t i = 0; fail && i < n; i++)
        if (!strcmp(fail, "any") || (!strcmp(fail, "kev") && m[i].kev) || m[i].ransomware)
            rc = CLI_EXIT_FINDINGS;
done:
    cr_vuln_matches_free(m, n);
    cr_inventory_free(inv);
    cr_vulndata_free(vd);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
