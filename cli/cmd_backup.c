/*
 * cleanroom backup: save folders as a new snapshot of a source.
 *
 * A file that cannot be read (permissions, vanished during the run) does not
 * stop the backup: it is reported as a warning, counted in the snapshot, and
 * the command exits 5 so a scheduler notices. A path named on the command
 * line that does not exist stops the command before anything is written,
 * because a snapshot silently missing a whole folder is worse than no snapshot.
 */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_text[] =
    "usage: cleanroom backup --source NAME [--time ISO8601] [--tag T]... [--exclude PATTERN]...\n"
    "                        [--force] [--threads N] PATH...\n"
    "\n"
    "Save PATH... as a new snapshot (restore point) of the source NAME (the system the\n"
    "backup protects, e.g. dpi-server). Only data not already in the vault is stored.\n"
    "\n"
    "Options:\n"
    "  --source NAME      required: the system this snapshot protects\n"
    "  --time ISO8601     time of the restore point (default: now), e.g. 2026-11-22T10:00:00Z\n"
    "  --tag T            label the snapshot (repeatable)\n"
    "  --exclude PATTERN  skip names or paths matching this shell pattern (repeatable)\n"
    "  --force            read every file, even those unchanged since the last snapshot\n"
    "  --threads N        helper threads besides the main one, 1-64\n"
    "                     (default: one per core beyond the first)\n"
    "  --json             print the new snapshot as JSON (fields as in 'snapshots --json')\n"
    "\n"
    "Unreadable or vanished items are reported on stderr as 'warning: PATH: MESSAGE'; the\n"
    "snapshot is still saved and the exit code is 5.\n"
    "\n"
    "Exit codes: 0 saved, 2 usage, 3 wrong passphrase, 4 damaged vault, 5 saved with\n"
    "unreadable items, 6 locked, 7 no vault or a PATH does not exist.\n";

typedef struct backup_ctx {
    cli_progress *progress;
} backup_ctx;

static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
}

static void on_progress(const cr_progress *p, void *payload)
{
    backup_ctx *ctx = payload;
    cli_progress_cb(p, ctx->progress);
}

/* A source name is typed at 3 a.m. and used in "SOURCE:latest": keep it plain. */
static int valid_source(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':' || *p == '/')
            return 0;
    return 1;
}

int cmd_backup(int argc, char **argv)
{
    enum { OPT_SOURCE = CLI_OPT_FIRST_CMD, OPT_TIME, OPT_TAG, OPT_EXCLUDE, OPT_FORCE, OPT_THREADS };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"time", required_argument, NULL, OPT_TIME},
        {"tag", required_argument, NULL, OPT_TAG},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"force", no_argument, NULL, OPT_FORCE},
        {"threads", required_argument, NULL, OPT_THREADS},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_backup_options opts = CR_BACKUP_OPTIONS_INIT;
    const char **tags = cli_xmalloc(sizeof(char *) * (size_t)argc);
    const char **excludes = cli_xmalloc(sizeof(char *) * (size_t)argc);
    size_t ntags = 0, nexcludes = 0;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    backup_ctx ctx = {NULL};
    unsigned long threads;
    int c, rc = CLI_EXIT_USAGE, err;
    double t0;

    while ((c = cli_getopt(argc, argv, "", longopts, "backup")) != -1) {
        switch (c) {
        case OPT_SOURCE: opts.source = optarg; break;
        case OPT_TIME:
            if (cr_time_parse(&opts.time_ns, optarg) < 0) {
                rc = cli_usage_error("backup",
                                     "--time '%s' is not a date/time; use e.g. 2026-11-22 or "
                                     "2026-11-22T10:00:00Z",
                                     optarg);
                goto done;
            }
            break;
        case OPT_TAG:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--tag needs a non-empty value");
                goto done;
            }
            tags[ntags++] = optarg;
            break;
        case OPT_EXCLUDE:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--exclude needs a non-empty pattern");
                goto done;
            }
            excludes[nexcludes++] = optarg;
            break;
        case OPT_FORCE: opts.force_read = 1; break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 64) < 0) {
                rc = cli_usage_error("backup", "--threads must be a number from 1 to 64");
                goto done;
            }
            opts.threads = (int)threads;
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (!opts.source) {
        rc = cli_usage_error("backup", "--source NAME is required (the system this backup "
                                       "protects, e.g. --source dpi-server)");
        goto done;
    }
    if (!valid_source(opts.source)) {
        rc = cli_usage_error("backup", "--source must be a plain name (no '/', ':' or control "
                                       "characters, at most 200 bytes)");
        goto done;
    }
    if (optind >= argc) {
        rc = cli_usage_error("backup", "give at least one PATH to back up");
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (lstat(argv[i], &st) != 0) {
            char *e = cli_escape(argv[i]);
            cli_error("cannot back up %s: %s; nothing was saved", e, strerror(errno));
            if (errno == ENOENT)
                cli_hint("check the path (is the disk mounted?)");
            free(e);
            rc = errno == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
            goto done;
        }
    }

    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;

    opts.tags = tags;
    opts.ntags = ntags;
    opts.excludes = excludes;
    opts.nexcludes = nexcludes;
    ctx.progress = cli_progress_new("backup");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;

    t0 = cli_now();
    cr_error_clear();
    err = cr_backup(&snap, repo, (const char *const *)(argv + optind), (size_t)(argc - optind),
                    &opts);
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "backup failed");
        cli_hint("nothing of this run is visible in the vault; earlier snapshots are intact");
        goto done;
    }
    if (!snap) {
        cli_error("backup finished but returned no snapshot");
        rc = CLI_EXIT_ERROR;
        goto done;
    }

    if (cli_g.json) {
        cli_json_print(cli_snapshot_json(snap));
    } else {
        char sid[9], a[32], b[32], d[32];
        printf("snapshot %s saved\n", cli_short_id(sid, &snap->id));
        if (!cli_g.quiet) {
            printf("  files: %llu (%llu new, %llu changed, %llu unchanged), dirs: %llu",
                   (unsigned long long)snap->files, (unsigned long long)snap->files_new,
                   (unsigned long long)snap->files_changed,
                   (unsigned long long)snap->files_unchanged, (unsigned long long)snap->dirs);
            if (snap->others)
                printf(", other items: %llu", (unsigned long long)snap->others);
            printf("\n  size: %s, added to the vault: %s, time: %s\n",
                   cli_human_size(a, sizeof(a), snap->bytes),
                   cli_human_size(b, sizeof(b), snap->bytes_new),
                   cli_human_duration(d, sizeof(d), cli_now() - t0));
        }
    }
    if (err == CR_EPARTIAL || snap->errors) {
        char sid[9];
        cli_warn("%llu item(s) could not be read and are missing from snapshot %s (see the "
                 "warnings above)",
                 (unsigned long long)snap->errors, cli_short_id(sid, &snap->id));
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    cli_progress_free(ctx.progress);
    free(tags);
    free(excludes);
    return rc;
}
