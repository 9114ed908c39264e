/*
 * cleanroom restore: bring a snapshot (or part of it) back into a folder.
 *
 * The library never writes outside the target and keeps going when one file's
 * data is damaged. This command's job is to make the outcome impossible to
 * misread: a summary of what was restored and, when something could not be,
 * the full list of those items and exit code 5.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom restore SNAPSHOT --target DIR [--include PATH]... [--threads N]\n"
    "                         [--no-owner]\n"
    "\n"
    "Restore SNAPSHOT (an id, a unique prefix of at least 4 hex digits, 'latest' or\n"
    "'SOURCE:latest') into DIR (created if missing). Contents, modes, times, symlinks,\n"
    "xattrs and ACLs are restored; owners too when running as root. Nothing is ever\n"
    "written outside DIR: unsafe names are refused, symlinks in DIR are not followed.\n"
    "\n"
    "Items that cannot be restored (damaged data, unsafe names) are reported as\n"
    "'warning: PATH: MESSAGE'; the rest is restored, the list of lost items is printed\n"
    "at the end and the exit code is 5.\n"
    "\n"
    "Options:\n"
    "  --target DIR    required: where to restore\n"
    "  --include PATH  restore only this path of the snapshot (repeatable), e.g. /srv/db\n"
    "  --threads N     worker threads (default: number of cores)\n"
    "  --no-owner      do not restore owners even when running as root\n"
    "  --json          print {snapshot, target, files, dirs, others, bytes, failed,\n"
    "                  seconds, lost:[{path, message}]}\n"
    "\n"
    "Exit codes: 0 restored, 2 usage, 3 wrong passphrase, 4 damaged vault data stopped\n"
    "the restore, 5 restored except the listed items, 6 locked, 7 no vault or no such\n"
    "snapshot.\n";

typedef struct lost_item {
    char *path, *message;
} lost_item;

typedef struct restore_ctx {
    cli_progress *progress;
    lost_item *lost;
    size_t nlost, cap;
} restore_ctx;

/* Warnings may come from worker threads: cli_warn serialises the printing. */
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_warning(const char *path, const char *message, void *payload)
{
    restore_ctx *ctx = payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
    pthread_mutex_lock(&lost_lock);
    if (ctx->nlost == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
        ctx->lost = cli_xrealloc(ctx->lost, ctx->cap * sizeof(*ctx->lost));
    }
    ctx->lost[ctx->nlost].path = cli_xstrdup(path);
    ctx->lost[ctx->nlost].message = cli_xstrdup(message);
    ctx->nlost++;
    pthread_mutex_unlock(&lost_lock);
}

static void on_progress(const cr_progress *p, void *payload)
{
    restore_ctx *ctx = payload;
    cli_progress_cb(p, ctx->progress);
}

int cmd_restore(int argc, char **argv)
{
    enum { OPT_TARGET = CLI_OPT_FIRST_CMD, OPT_INCLUDE, OPT_THREADS, OPT_NO_OWNER };
    static const struct option longopts[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"include", required_argument, NULL, OPT_INCLUDE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"no-owner", no_argument, NULL, OPT_NO_OWNER},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_restore_options opts = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats stats;
    restore_ctx ctx;
    const char **includes = cli_xmalloc(sizeof(char *) * (size_t)argc);
    size_t nincludes = 0;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    unsigned long threads;
    int c, rc = CLI_EXIT_USAGE, err;
    double t0, secs;

    memset(&ctx, 0, sizeof(ctx));
    memset(&stats, 0, sizeof(stats));
    while ((c = cli_getopt(argc, argv, "", longopts, "restore")) != -1) {
        switch (c) {
        case OPT_TARGET: opts.target = optarg; break;
        case OPT_INCLUDE:
            if (!*optarg) {
                rc = cli_usage_error("restore", "--include needs a path of the snapshot");
                goto done;
            }
            includes[nincludes++] = optarg;
            break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 1024) < 0) {
                rc = cli_usage_error("restore", "--threads must be a number from 1 to 1024");
                goto done;
            }
            opts.threads = (int)threads;
            break;
        case OPT_NO_OWNER: opts.no_owner = 1; break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_error("restore", argc - optind < 1
                                            ? "give the SNAPSHOT to restore (see 'cleanroom "
                                              "snapshots')"
                                            : "give exactly one SNAPSHOT");
        goto done;
    }
    if (!opts.target || !*opts.target) {
        rc = cli_usage_error("restore", "--target DIR is required (where to restore)");
        goto done;
    }
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, argv[optind])) != 0)
        goto done;

    opts.includes = includes;
    opts.nincludes = nincludes;
    ctx.progress = cli_progress_new("restore");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;
    t0 = cli_now();
    cr_error_clear();
    err = cr_restore(&stats, repo, snap, &opts);
    secs = cli_now() - t0;
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "restore stopped");
        if (stats.files || stats.dirs)
            fprintf(stderr, "%llu files and %llu directories were restored before it stopped.\n",
                    (unsigned long long)stats.files, (unsigned long long)stats.dirs);
        goto done;
    }
    int partial = err == CR_EPARTIAL || stats.failed > 0 || ctx.nlost > 0;
    char sid[9];
    cli_short_id(sid, &snap->id);

    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *o = json_object(), *lost = json_array();
        json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
        json_object_set_new(o, "target", cli_json_str(opts.target));
        json_object_set_new(o, "files", cli_json_u64(stats.files));
        json_object_set_new(o, "dirs", cli_json_u64(stats.dirs));
        json_object_set_new(o, "others", cli_json_u64(stats.others));
        json_object_set_new(o, "bytes", cli_json_u64(stats.bytes));
        json_object_set_new(o, "failed", cli_json_u64(stats.failed));
        json_object_set_new(o, "seconds", json_real(secs));
        for (size_t i = 0; i < ctx.nlost; i++) {
            json_t *l = json_object();
            json_object_set_new(l, "path", cli_json_str(ctx.lost[i].path));
            json_object_set_new(l, "message", cli_json_str(ctx.lost[i].message));
            json_array_append_new(lost, l);
        }
        json_object_set_new(o, "lost", lost);
        cli_json_print(o);
    } else {
        char size[32], d[32];
        char *t = cli_escape(opts.target);
        printf("restored snapshot %s to %s: %llu files, %llu directories, %llu other items, "
               "%s in %s\n",
               sid, t, (unsigned long long)stats.files, (unsigned long long)stats.dirs,
               (unsigned long long)stats.others, cli_human_size(size, sizeof(size), stats.bytes),
               cli_human_duration(d, sizeof(d), secs));
        free(t);
        if (partial) {
            uint64_t n = stats.failed > ctx.nlost ? stats.failed : ctx.nlost;
            printf("NOT RESTORED: %llu item(s):\n", (unsigned long long)n);
            for (size_t i = 0; i < ctx.nlost; i++) {
                char *p = cli_escape(ctx.lost[i].path), *m = cli_escape(ctx.lost[i].message);
                printf("  %s: %s\n", p, m);
                free(p);
                free(m);
            }
        }
    }
    if (partial) {
        cli_hint("run 'cleanroom verify --read-data' to see the damage; an older snapshot may "
                 "still hold the lost files");
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    for (size_t i = 0; i < ctx.nlost; i++) {
        free(ctx.lost[i].path);
        free(ctx.lost[i].message);
    }
    free(ctx.lost);
    cli_progress_free(ctx.progress);
    free(includes);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
