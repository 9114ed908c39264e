/*
 * cleanroom advisories import: the Debian security tracker's per-release fixed
 * versions (debsecan's data), brought on a USB key, for 'vulns' and the gate.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char help_text[] =
    "usage: cleanroom advisories import FILE --suite CODENAME [--date YYYY-MM-DD]\n"
    "\n"
    "Checks FILE, the Debian security tracker's data for one Debian release in\n"
    "debsecan's format (https://security-tracker.debian.org/tracker/debsecan/release/1/\n"
    "CODENAME, zlib-compressed as served, or decompressed), and keeps it with its date\n"
    "in the data folder ($CLEANROOM_DATA, else /var/lib/cleanroom), replacing the copy\n"
    "shipped with cleanroom for that release.\n"
    "\n"
    "Options:\n"
    "  --suite CODENAME  the Debian release the file is for (bookworm, trixie...)\n"
    "  --date DATE       the day the file was downloaded (default: the file's\n"
    "                    modification day)\n"
    "\n"
    "Exit codes: 0 imported, 2 usage, 4 not valid tracker data, 7 no such file,\n"
    "1 other error.\n";

int cmd_advisories(int argc, char **argv)
{
    enum { OPT_SUITE = CLI_OPT_FIRST_CMD, OPT_DATE };
    static const struct option longopts[] = {
        {"suite", required_argument, NULL, OPT_SUITE},
        {"date", required_argument, NULL, OPT_DATE},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *suite = NULL, *date = NULL;
    char day[16];
    cr_vulndata_options o;
    size_t n = 0;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "advisories")) != -1) {
        switch (c) {
        case OPT_SUITE: suite = optarg; break;
        case OPT_DATE: date = optarg; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "import") != 0)
        return cli_usage_error("advisories",
                               "expected: cleanroom advisories import FILE --suite CODENAME");
    if (optind + 1 >= argc)
        return cli_usage_error("advisories", "which file?");
    if (optind + 2 < argc)
        return cli_unexpected_argument("advisories", argv[optind + 2], "one file");
    if (!suite)
        return cli_usage_error("advisories", "--suite CODENAME is required (bookworm, trixie...)");
    if (!date) {
        struct stat st;
        struct tm tm;
        if (stat(argv[optind + 1], &st) == 0 && gmtime_r(&st.st_mtime, &tm)) {
            strftime(day, sizeof(day), "%Y-%m-%d", &tm);
            date = day;
        }
    }
    if ((rc = cli_vulndata_options(&o, "imported")) != 0)
        return rc;
    if ((err = cr_advisories_import(&n, o.data_dir, argv[optind + 1], suite, date)) < 0)
        return cli_fail(err, "the advisories were not imported");
    printf("Debian advisories for %s imported: %zu package entries, dated %s, kept in "
           "%s/advisories/%s\n",
           suite, n, date, o.data_dir, suite);
    cr_vulndata *vd = NULL;
    if ((rc = cli_vulndata_load(&vd, "checked", 0)) == 0)
        cr_vulndata_free(vd);
    return rc;
}
