/*
 * cleanroom kev import: replace the KEV catalog in use with a full one brought
 * on a USB key (the clean room has no internet). Checked before anything is
 * replaced; kept in the data folder ($CLEANROOM_DATA, else /var/lib/cleanroom).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom kev import FILE [--force]\n"
    "\n"
    "Checks FILE, CISA's Known Exploited Vulnerabilities catalog in its JSON format\n"
    "(known_exploited_vulnerabilities.json from cisa.gov, carried in on a USB key), and\n"
    "keeps it as the catalog 'vulns', 'recover' and 'drill' use, in the data folder\n"
    "($CLEANROOM_DATA, else /var/lib/cleanroom). A damaged or incomplete file replaces\n"
    "nothing. A catalog released before the one in use is refused unless --force.\n"
    "\n"
    "Exit codes: 0 imported, 2 usage, 4 not a valid catalog, 7 no such file,\n"
    "8 older than the catalog in use, 1 other error (the data folder is not writable).\n";

int cmd_kev(int argc, char **argv)
{
    enum { OPT_FORCE = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_vulndata_options o;
    size_t n = 0;
    int c, rc, err, force = 0;

    while ((c = cli_getopt(argc, argv, "", longopts, "kev")) != -1) {
        switch (c) {
        case OPT_FORCE: force = 1; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "import") != 0)
        return cli_usage_error("kev", "expected: cleanroom kev import FILE");
    if (optind + 1 >= argc)
        return cli_usage_error("kev", "which file? (CISA's known_exploited_vulnerabilities.json)");
    if (optind + 2 < argc)
        return cli_unexpected_argument("kev", argv[optind + 2], "one file");
    if ((rc = cli_vulndata_options(&o, "imported")) != 0)
        return rc;
    if ((err = cr_kev_import(&n, o.data_dir, o.builtin_dir, argv[optind + 1], force)) < 0) {
        rc = cli_fail(err, "the KEV catalog was not imported");
        if (err == CR_EREFUSED)
            cli_hint("bring a newer catalog, or give --force to go back to this one knowingly");
        return rc;
    }
    printf("KEV catalog imported: %zu entries, kept in %s/kev.json\n", n, o.data_dir);
    cr_vulndata *vd = NULL;
    if ((rc = cli_vulndata_load(&vd, "checked", 0)) == 0)
        cr_vulndata_free(vd);
    return rc;
}
