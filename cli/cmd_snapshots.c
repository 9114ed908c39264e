/*
 * cleanroom snapshots: list the restore points, oldest first.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom snapshots [--source NAME] [--json]\n"
    "\n"
    "List the snapshots of the vault, oldest first: ID (first 8 hex digits), TIME (UTC),\n"
    "SOURCE, HOST, FILES, SIZE and TAGS. A snapshot is named in other commands by its id,\n"
    "a unique prefix of at least 4 hex digits, 'latest' or 'SOURCE:latest'.\n"
    "Image snapshots (disks of a VM, 'backup --image') show '[image, N disks]' before\n"
    "their tags; their SIZE is the disks' virtual size, FILES the files found inside.\n"
    "\n"
    "Options:\n"
    "  --source NAME  only the snapshots of this source\n"
    "  --json         an array of objects: id, short_id, source, time, hostname, username,\n"
    "                 paths, tags, excludes, files, dirs, others, bytes, bytes_new, files_new,\n"
    "                 files_changed, files_unchanged, errors, duration, tree, parent,\n"
    "                 program_version, kind (\"files\" or \"image\"), system_root (the\n"
    "                 folder judged as the system's /, or null); image snapshots also\n"
    "                 vm and disks\n"
    "\n"
    "Exit codes: 0 ok (also when there is none), 2 usage, 3 wrong passphrase, 4 damaged\n"
    "vault, 7 no vault.\n";

typedef struct row {
    char id[9], time[32], files[24], size[32];
    char *source, *host, *tags;
} row;

static size_t width(size_t w, const char *s)
{
    size_t n = strlen(s);
    return n > w ? n : w;
}

/* One table line without trailing blanks (an empty TAGS column leaves none). */
static void print_row(const char *id, const char *time, int wsrc, const char *src, int whost,
                      const char *host, int wfiles, const char *files, int wsize, const char *size,
                      const char *tags)
{
    char *line = NULL;
    if (asprintf(&line, "%-8s  %-20s  %-*s  %-*s  %*s  %*s  %s", id, time, wsrc, src, whost, host,
                 wfiles, files, wsize, size, tags) < 0) {
        cli_error("out of memory");
        exit(CLI_EXIT_ERROR);
    }
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == ' ')
        line[--n] = '\0';
    puts(line);
    free(line);
}

int cmd_snapshots(int argc, char **argv)
{
    enum { OPT_SOURCE = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *source = NULL;
    cr_repo *repo = NULL;
    cr_snapshot **list = NULL;
    size_t n = 0, ndamaged = 0;
    cr_id *damaged = NULL;
    row *rows = NULL;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "snapshots")) != -1) {
        switch (c) {
        case OPT_SOURCE: source = optarg; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("snapshots", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    cr_error_clear();
    if ((err = cr_snapshot_list_checked(&list, &n, &damaged, &ndamaged, repo, source)) < 0) {
        rc = cli_fail(err, "could not list the snapshots");
        goto done;
    }

    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_snapshot_json(list[i]));
        cli_json_print(a);
        rc = CLI_EXIT_OK;
        goto done;
    }
    if (n == 0) {
        if (!cli_g.quiet)
            printf(source ? "no snapshots of this source\n" : "no snapshots in this vault\n");
        rc = CLI_EXIT_OK;
        goto done;
    }

    rows = cli_xmalloc(n * sizeof(*rows));
    size_t wsrc = strlen("SOURCE"), whost = strlen("HOST"), wfiles = strlen("FILES"),
           wsize = strlen("SIZE");
    for (size_t i = 0; i < n; i++) {
        const cr_snapshot *s = list[i];
        row *r = &rows[i];
        size_t tl = 1;
        cli_short_id(r->id, &s->id);
        cli_time_sec(r->time, sizeof(r->time), s->time_ns);
        snprintf(r->files, sizeof(r->files), "%llu", (unsigned long long)s->files);
        cli_human_size(r->size, sizeof(r->size), s->bytes);
        r->source = cli_escape(s->source);
        r->host = cli_escape(s->hostname ? s->hostname : "");
        for (size_t k = 0; k < s->ntags; k++)
            tl += strlen(s->tags[k]) * 6 + 1;
        tl += 48;
        r->tags = cli_xmalloc(tl);
        r->tags[0] = '\0';
        /* Image snapshots are told apart in the TAGS column, so the table keeps its columns. */
        if (s->kind == CR_SNAPSHOT_IMAGE)
            snprintf(r->tags, tl, "[image, %zu disk%s]%s", s->ndisks, s->ndisks == 1 ? "" : "s",
                     s->ntags ? " " : "");
        for (size_t k = 0; k < s->ntags; k++) {
            char *e = cli_escape(s->tags[k]);
            if (k)
                strcat(r->tags, ",");
            strcat(r->tags, e);
            free(e);
        }
        wsrc = width(wsrc, r->source);
        whost = width(whost, r->host);
        wfiles = width(wfiles, r->files);
        wsize = width(wsize, r->size);
    }
    print_row("ID", "TIME", (int)wsrc, "SOURCE", (int)whost, "HOST", (int)wfiles, "FILES",
              (int)wsize, "SIZE", "TAGS");
    for (size_t i = 0; i < n; i++) {
        row *r = &rows[i];
        print_row(r->id, r->time, (int)wsrc, r->source, (int)whost, r->host, (int)wfiles, r->files,
                  (int)wsize, r->size, r->tags);
    }
    rc = CLI_EXIT_OK;
done:
    /* A restore point that cannot be read must not vanish silently from the list. */
    for (size_t i = 0; i < ndamaged; i++) {
        char hex[CR_ID_HEX_LEN + 1];
        fprintf(stderr,
                "warning: snapshot file %s cannot be read (damaged); run 'cleanroom verify' "
                "to see what it affects\n",
                cr_id_to_hex(hex, &damaged[i]));
    }
    if (ndamaged && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_INTEGRITY;
    free(damaged);
    if (rows) {
        for (size_t i = 0; i < n; i++) {
            free(rows[i].source);
            free(rows[i].host);
            free(rows[i].tags);
        }
        free(rows);
    }
    cr_snapshot_list_free(list, n);
    cr_repo_free(repo);
    return rc;
}
