/*
 * cleanroom forget: mark snapshots as no longer kept, by a retention policy or
 * by id. Nothing is deleted here (see 'cleanroom prune').
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom forget [--source NAME] --keep-last N | --keep-hourly N | --keep-daily N\n"
    "                        | --keep-weekly N | --keep-monthly N | --keep-yearly N\n"
    "                        | --keep-within DURATION | --keep-tag TAG ... [--dry-run] [--json]\n"
    "       cleanroom forget SNAPSHOT... [--dry-run] [--json]\n"
    "\n"
    "Forget snapshots the retention policy does not keep (each source on its own), or the\n"
    "snapshots named. A forgotten snapshot is recorded in a write-once forget record: it\n"
    "no longer shows in 'snapshots' or 'latest', and 'verify' knows it went on purpose.\n"
    "Nothing is deleted: 'cleanroom prune' removes the data no kept snapshot uses, and\n"
    "never before the grace period.\n"
    "\n"
    "Rules (restic's): a snapshot kept by any rule is kept.\n"
    "  --keep-last N          the N newest snapshots\n"
    "  --keep-hourly N        the newest snapshot of each of the N newest hours that have one\n"
    "  --keep-daily N         ... days; --keep-weekly N: ISO weeks; --keep-monthly N: months;\n"
    "  --keep-yearly N        years (all in UTC)\n"
    "  --keep-within D        every snapshot at most D older than the source's newest\n"
    "                         (restic's units: 7d, 36h, 2w, 6m = six months, 1y6m)\n"
    "  --keep-tag TAG         every snapshot tagged TAG (may be repeated)\n"
    "A snapshot whose hunt found something at or above high is kept as evidence by any\n"
    "policy; only naming it by id forgets it.\n"
    "\n"
    "Options:\n"
    "  --source NAME  only this source\n"
    "  --dry-run      show what would be kept and forgotten, write nothing\n"
    "  --json         {dry_run, record, forgotten, snapshots:[{id, source, time, keep, reason}]}\n"
    "\n"
    "Exit codes: 0 done (also when nothing is forgotten), 2 usage (no rule), 3 wrong\n"
    "passphrase, 6 locked, 7 no vault or no snapshot of the source.\n";

int cmd_forget(int argc, char **argv)
{
    enum {
        OPT_SOURCE = CLI_OPT_FIRST_CMD,
        OPT_LAST,
        OPT_HOURLY,
        OPT_DAILY,
        OPT_WEEKLY,
        OPT_MONTHLY,
        OPT_YEARLY,
        OPT_WITHIN,
        OPT_TAG,
        OPT_DRY_RUN
    };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"keep-last", required_argument, NULL, OPT_LAST},
        {"keep-hourly", required_argument, NULL, OPT_HOURLY},
        {"keep-daily", required_argument, NULL, OPT_DAILY},
        {"keep-weekly", required_argument, NULL, OPT_WEEKLY},
        {"keep-monthly", required_argument, NULL, OPT_MONTHLY},
        {"keep-yearly", required_argument, NULL, OPT_YEARLY},
        {"keep-within", required_argument, NULL, OPT_WITHIN},
        {"keep-tag", required_argument, NULL, OPT_TAG},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_forget_options opts = CR_FORGET_OPTIONS_INIT;
    cr_forget_result res;
    cr_repo *repo = NULL;
    const char **tags = NULL;
    cr_id *ids = NULL, *evidence = NULL;
    size_t ntags = 0, nids = 0, nevidence = 0;
    unsigned long v;
    int c, rc, err;

    memset(&res, 0, sizeof(res));
    tags = cli_xmalloc((size_t)argc * sizeof(*tags));
    while ((c = cli_getopt(argc, argv, "", longopts, "forget")) != -1) {
        unsigned int *rule = NULL;
        switch (c) {
        case OPT_SOURCE: opts.source = optarg; break;
        case OPT_LAST: rule = &opts.last; break;
        case OPT_HOURLY: rule = &opts.hourly; break;
        case OPT_DAILY: rule = &opts.daily; break;
        case OPT_WEEKLY: rule = &opts.weekly; break;
        case OPT_MONTHLY: rule = &opts.monthly; break;
        case OPT_YEARLY: rule = &opts.yearly; break;
        case OPT_WITHIN:
            if (cr_forget_duration_parse(&opts.within_ns, optarg) < 0) {
                free(tags);
                return cli_usage_error("forget", "%s", cr_error_last());
            }
            break;
        case OPT_TAG: tags[ntags++] = optarg; break;
        case OPT_DRY_RUN: opts.dry_run = 1; break;
        case CLI_OPT_HELP: free(tags); fputs(help_text, stdout); return CLI_EXIT_OK;
        default: free(tags); return CLI_EXIT_USAGE;
        }
        if (rule) {
            if (cli_parse_uint(&v, optarg, 1, 1000000) < 0) {
                free(tags);
                return cli_usage_error("forget", "--%s needs a number from 1 to 1000000",
                                       longopts[c - OPT_SOURCE].name);
            }
            *rule = (unsigned int)v;
        }
    }
    opts.tags = tags;
    opts.ntags = ntags;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if (optind < argc) {
        if (opts.source) {
            rc = cli_usage_error("forget", "give either snapshot ids or --source with --keep-* "
                                           "rules, not both");
            goto done;
        }
        ids = cli_xmalloc((size_t)(argc - optind) * sizeof(*ids));
        for (int i = optind; i < argc; i++) {
            cr_snapshot *s = NULL;
            if ((rc = cli_find_snapshot(&s, repo, argv[i])) != 0)
                goto done;
            ids[nids++] = s->id;
            cr_snapshot_free(s);
        }
        opts.ids = ids;
        opts.nids = nids;
    } else {
        /* What the hunt found at or above high is evidence: kept by any policy. */
        cr_error_clear();
        if ((err = cr_hunt_evidence(&evidence, &nevidence, repo, CR_SEV_HIGH)) < 0) {
            rc = cli_fail(err, "could not read the hunt results (the evidence to keep)");
            goto done;
        }
        opts.protect = evidence;
        opts.nprotect = nevidence;
    }
    cr_error_clear();
    if ((err = cr_forget(&res, repo, &opts)) < 0) {
        rc = err == CR_EINPUT ? cli_usage_error("forget", "%s", cr_error_last())
                              : cli_fail(err, "forget failed");
        goto done;
    }
    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1], t[48];
        json_t *o = json_object(), *a = json_array();
        json_object_set_new(o, "dry_run", json_boolean(opts.dry_run));
        json_object_set_new(o, "record",
                            res.has_record ? json_string(cr_id_to_hex(hex, &res.record)) : json_null());
        json_object_set_new(o, "forgotten", json_integer((json_int_t)res.nforget));
        for (size_t i = 0; i < res.n; i++) {
            const cr_forget_item *it = &res.items[i];
            json_t *e = json_object();
            cr_time_format(t, sizeof(t), it->snap->time_ns);
            json_object_set_new(e, "id", json_string(cr_id_to_hex(hex, &it->snap->id)));
            json_object_set_new(e, "source", cli_json_str(it->snap->source));
            json_object_set_new(e, "time", json_string(t));
            json_object_set_new(e, "keep", json_boolean(it->keep));
            json_object_set_new(e, "reason", json_string(it->reason));
            json_array_append_new(a, e);
        }
        json_object_set_new(o, "snapshots", a);
        cli_json_print(o);
    } else if (!cli_g.quiet) {
        for (size_t i = 0; i < res.n; i++) {
            const cr_forget_item *it = &res.items[i];
            char sid[9], t[32];
            char *src = cli_escape(it->snap->source);
            printf("%-6s  %s  %s  %s%s%s%s\n", it->keep ? "keep" : "forget",
                   cli_short_id(sid, &it->snap->id), cli_time_sec(t, sizeof(t), it->snap->time_ns),
                   src, it->reason[0] ? "  (" : "", it->reason, it->reason[0] ? ")" : "");
            free(src);
        }
        if (opts.dry_run)
            printf("dry run: %zu of %zu snapshot(s) would be forgotten; nothing was written\n",
                   res.nforget, res.n);
        else if (res.nforget)
            printf("%zu of %zu snapshot(s) forgotten (forget record %.8s); 'cleanroom prune' "
                   "removes their data after the grace period\n",
                   res.nforget, res.n, cr_id_to_hex((char[CR_ID_HEX_LEN + 1]){0}, &res.record));
        else
            printf("nothing to forget: every one of the %zu snapshot(s) is kept\n", res.n);
    }
    rc = CLI_EXIT_OK;
done:
    cr_forget_result_clear(&res);
    free(tags);
    free(ids);
    free(evidence);
    cr_repo_free(repo);
    return rc;
}
