/*
 * cleanroom prune: remove the data that no kept snapshot uses.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom prune [--dry-run | --extend-locks-only] [--grace DURATION] [--wait DURATION]\n"
    "                       [--json]\n"
    "\n"
    "Remove what no kept snapshot uses: the files of snapshots forgotten with 'cleanroom\n"
    "forget', and the packs none of whose data a kept snapshot needs. Nothing younger than\n"
    "the grace period is removed (7 days unless --grace; never less than 1 day), forget\n"
    "records (the proof that a snapshot went on purpose) and hunt records are kept, and a\n"
    "pack that holds any data a kept snapshot needs is kept whole.\n"
    "Backups may run meanwhile: prune announces what it will remove (later backups store\n"
    "that data again), waits for the commands that were already running, and checks\n"
    "their new snapshots before removing anything.\n"
    "On S3 with Object Lock, nothing still under lock is deleted (it is counted as kept for\n"
    "now, with the date its lock ends), and the locks of everything in use that has less\n"
    "than half the bucket's period left are extended to a full period.\n"
    "\n"
    "Options:\n"
    "  --dry-run          say what would be removed and how much space it frees\n"
    "  --extend-locks-only  remove nothing; only extend the Object Lock of what is in use\n"
    "  --grace DURATION   keep everything younger than this (default 7d, at least 1d)\n"
    "  --wait DURATION    how long to wait for commands already running (default 1h);\n"
    "                     if one still runs then, nothing is removed (exit 6)\n"
    "  --json             {dry_run, snapshots_removed, snapshots_waiting, packs_total,\n"
    "                     packs_removed, bytes_removed, packs_young, bytes_young,\n"
    "                     index_rewritten, waited_for, snapshots_locked, packs_locked,\n"
    "                     bytes_locked, locked_until, locks_extended}\n"
    "\n"
    "Exit codes: 0 done, 2 usage (grace under 1 day), 3 wrong passphrase, 4 a snapshot or\n"
    "tree cannot be read (nothing removed: run 'cleanroom verify'), 6 another prune runs or\n"
    "a command still runs after --wait (nothing removed), 7 no vault.\n";

static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("pack %s: %s", p, m);
    free(p);
    free(m);
}

int cmd_prune(int argc, char **argv)
{
    enum { OPT_DRY_RUN = CLI_OPT_FIRST_CMD, OPT_GRACE, OPT_WAIT, OPT_EXTEND };
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"wait", required_argument, NULL, OPT_WAIT},
        {"extend-locks-only", no_argument, NULL, OPT_EXTEND},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_prune_options opts = CR_PRUNE_OPTIONS_INIT;
    cr_prune_result res;
    cr_repo *repo = NULL;
    double d;
    char a[32], b[32], until[64] = "";
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "prune")) != -1) {
        switch (c) {
        case OPT_DRY_RUN: opts.dry_run = 1; break;
        case OPT_EXTEND: opts.extend_locks_only = 1; break;
        case OPT_GRACE:
            if (cr_plan_duration_parse(&d, optarg, 0) < 0)
                return cli_usage_error("prune", "--grace needs a duration such as 7d or 36h, "
                                                "got '%s'",
                                       optarg);
            if (d < 86400)
                return cli_usage_error("prune", "--grace must be at least 1d: nothing younger "
                                                "than a day is ever removed, so that a mistake "
                                                "or an attack can be noticed in time");
            opts.grace_ns = (int64_t)(d * 1e9);
            break;
        case OPT_WAIT:
            if (cr_plan_duration_parse(&d, optarg, 0) < 0 || d <= 0)
                return cli_usage_error("prune", "--wait needs a duration such as 1h or 30m, "
                                                "got '%s'",
                                       optarg);
            opts.wait_s = d;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
    if (opts.dry_run && opts.extend_locks_only)
        return cli_usage_error("prune", "--dry-run and --extend-locks-only go separately");
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    opts.warning = on_warning;
    cr_error_clear();
    if ((err = cr_prune(&res, repo, &opts)) < 0) {
        rc = cli_fail(err, "prune removed nothing");
        if (err == CR_ECORRUPT)
            cli_hint("run 'cleanroom verify' to see what is damaged; prune runs only on a vault "
                     "whose snapshots can all be read");
        goto done;
    }
    if (res.locked_until_s > 0)
        cli_time_sec(until, sizeof(until), res.locked_until_s * 1000000000);
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "dry_run", json_boolean(opts.dry_run));
        json_object_set_new(o, "snapshots_removed", cli_json_u64(res.snapshots_removed));
        json_object_set_new(o, "snapshots_waiting", cli_json_u64(res.snapshots_waiting));
        json_object_set_new(o, "packs_total", cli_json_u64(res.packs_total));
        json_object_set_new(o, "packs_removed", cli_json_u64(res.packs_removed));
        json_object_set_new(o, "bytes_removed", cli_json_u64(res.bytes_removed));
        json_object_set_new(o, "packs_young", cli_json_u64(res.packs_young));
        json_object_set_new(o, "bytes_young", cli_json_u64(res.bytes_young));
        json_object_set_new(o, "index_rewritten", cli_json_u64(res.index_rewritten));
        json_object_set_new(o, "waited_for", cli_json_u64(res.waited_for));
        json_object_set_new(o, "snapshots_locked", cli_json_u64(res.snapshots_locked));
        json_object_set_new(o, "packs_locked", cli_json_u64(res.packs_locked));
        json_object_set_new(o, "bytes_locked", cli_json_u64(res.bytes_locked));
        json_object_set_new(o, "locked_until", res.locked_until_s > 0 ? json_string(until)
                                                                       : json_null());
        json_object_set_new(o, "locks_extended", cli_json_u64(res.locks_extended));
        cli_json_print(o);
    } else if (!cli_g.quiet) {
        printf("%s %zu forgotten snapshot(s) and %zu of %zu pack(s), %s%s\n",
               opts.dry_run ? "would remove" : "removed", res.snapshots_removed,
               res.packs_removed, res.packs_total, cli_human_size(a, sizeof(a), res.bytes_removed),
               opts.dry_run ? " (dry run: nothing was removed)" : "");
        if (res.snapshots_waiting || res.packs_young)
            printf("kept for now, younger than the grace period: %zu forgotten snapshot(s), %zu "
                   "unused pack(s) (%s)\n",
                   res.snapshots_waiting, res.packs_young,
                   cli_human_size(b, sizeof(b), res.bytes_young));
        if (res.snapshots_locked || res.packs_locked)
            printf("kept for now, under Object Lock until %s: %zu forgotten snapshot(s), %zu "
                   "unused pack(s) (%s)\n",
                   until[0] ? until : "a date the service did not give", res.snapshots_locked,
                   res.packs_locked, cli_human_size(b, sizeof(b), res.bytes_locked));
        if (res.locks_extended)
            printf("extended the Object Lock of %zu object(s) in use\n", res.locks_extended);
        if (res.waited_for)
            printf("waited %.1f s for %zu command(s) that were running\n", res.waited_s,
                   res.waited_for);
    }
    rc = CLI_EXIT_OK;
done:
    cr_repo_free(repo);
    return rc;
}
