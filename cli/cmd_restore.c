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
    "at the end and the exit code is 5. Items restored whose owner, permissions, times,\n"
    "xattrs or ACLs could not all be set (not root, a filesystem without ACLs...) are\n"
    "listed apart, as restored with incomplete metadata: their data is intact; the\n"
    "exit code is 5 too, since the copy is not identical to the snapshot.\n"
    "\n"
    "Options:\n"
    "  --target DIR    required: where to restore\n"
    "  --include PATH  restore only this path of the snapshot (repeatable), e.g. /srv/db\n"
    "  --threads N     worker threads (default: number of cores)\n"
    "  --no-owner      do not restore owners even when running as root\n"
    "  --json          print {snapshot, target, files, dirs, others, bytes, failed,\n"
    "                  seconds, lost:[{path, message}], metadata:[{path, message}]}\n"
    "\n"
    "Exit codes: 0 restored, 2 usage, 3 wrong passphrase, 4 damaged vault data stopped\n"
    "the restore, 5 restored except the listed items, 6 locked, 7 no vault or no such\n"
    "snapshot.\n";

typedef struct lost_item {
    char *path, *message;
} lost_item;

typedef struct item_list {
    lost_item *v;
    size_t n, cap;
} item_list;

typedef struct restore_ctx {
    cli_progress *progress;
    item_list lost; /* items not restored */
    item_list meta; /* items restored with incomplete metadata */
} restore_ctx;

/* Warnings may come from worker threads: cli_warn serialises the printing. */
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;

static void add_item(item_list *l, const char *path, const char *message)
{
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
    pthread_mutex_lock(&lost_lock);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = cli_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].path = cli_xstrdup(path);
    l->v[l->n].message = cli_xstrdup(message);
    l->n++;
    pthread_mutex_unlock(&lost_lock);
}

static void on_warning(const char *path, const char *message, void *payload)
{
    add_item(&((restore_ctx *)payload)->lost, path, message);
}

static void on_notice(const char *path, const char *message, void *payload)
{
    add_item(&((restore_ctx *)payload)->meta, path, message);
}

static json_t *items_json(const item_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "path", cli_json_str(l->v[i].path));
        json_object_set_new(o, "message", cli_json_str(l->v[i].message));
        json_array_append_new(a, o);
    }
    return a;
}

static void items_print(const item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        char *p = cli_escape(l->v[i].path), *m = cli_escape(l->v[i].message);
        printf("  %s: %s\n", p, m);
        free(p);
        free(m);
    }
}

static void items_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].message);
    }
    free(l->v);
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
    opts.notice = on_notice;
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
    int lost = stats.failed > 0 || ctx.lost.n > 0;
    int partial = err == CR_EPARTIAL || lost || ctx.meta.n > 0;
    char sid[9];
    cli_short_id(sid, &snap->id);

    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *o = json_object();
        json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
        json_object_set_new(o, "target", cli_json_str(opts.target));
        json_object_set_new(o, "files", cli_json_u64(stats.files));
        json_object_set_new(o, "dirs", cli_json_u64(stats.dirs));
        json_object_set_new(o, "others", cli_json_u64(stats.others));
        json_object_set_new(o, "bytes", cli_json_u64(stats.bytes));
        json_object_set_new(o, "failed", cli_json_u64(stats.failed));
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "lost", items_json(&ctx.lost));
        json_object_set_new(o, "metadata", items_json(&ctx.meta));
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
        if (lost) {
            uint64_t n = stats.failed > ctx.lost.n ? stats.failed : ctx.lost.n;
            printf("NOT RESTORED: %llu item(s):\n", (unsigned long long)n);
            items_print(&ctx.lost);
        }
        if (ctx.meta.n > 0) {
            printf("RESTORED WITH INCOMPLETE METADATA (data intact): %zu item(s):\n", ctx.meta.n);
            items_print(&ctx.meta);
        }
    }
    if (partial) {
        if (lost)
            cli_hint("run 'cleanroom verify --read-data' to see the damage; an older snapshot "
                     "may still hold the lost files");
        else
            cli_hint("the data is restored; run as root, or onto a filesystem with xattrs and "
                     "ACLs, to restore owners and attributes too");
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    items_free(&ctx.lost);
    items_free(&ctx.meta);
    cli_progress_free(ctx.progress);
    free(includes);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
