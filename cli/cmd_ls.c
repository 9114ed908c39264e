/*
 * cleanroom ls: list the files of a snapshot.
 *
 * Listings of a whole server run to millions of lines, so both the text and
 * the JSON forms are streamed as the tree is walked, never built in memory.
 * Names come from the backed-up machine and may be hostile: text output is
 * escaped (see cli_escape), JSON output is valid JSON whatever the bytes.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom ls SNAPSHOT [PATH] [--long|-l] [--recursive|-r] [--json]\n"
    "\n"
    "List the files of SNAPSHOT (an id, a unique prefix of at least 4 hex digits, 'latest'\n"
    "or 'SOURCE:latest'). Without PATH: everything, recursively. With PATH of a directory:\n"
    "its entries (all below it with -r); with PATH of another item: that item.\n"
    "\n"
    "Paths are shown from the snapshot root, e.g. /srv/data/a.txt. Control characters,\n"
    "backslashes and bytes that are not UTF-8 in names are shown escaped (\\n, \\\\, \\x1b).\n"
    "\n"
    "Options:\n"
    "  -l, --long       mode, owner, group, size in bytes, modification time (UTC)\n"
    "  -r, --recursive  with PATH: list everything below it\n"
    "  --json           an array of {path, type, size, mode, uid, gid, mtime} (+ target for\n"
    "                   symlinks); type: file, dir, symlink, fifo, chardev, blockdev, socket;\n"
    "                   mode: permission bits as a number; mtime: RFC 3339 UTC. Bytes of a\n"
    "                   name that are not UTF-8 are written as the text \\xNN.\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 wrong passphrase, 4 damaged vault data, 7 no vault,\n"
    "no such snapshot or no such PATH.\n";

typedef struct ls_ctx {
    int lng, json;
    size_t count;
} ls_ctx;

static void mode_string(char out[11], const cr_node *n)
{
    static const char types[] = "?-dlpcbs";
    uint32_t m = n->mode;
    out[0] = (n->type >= 1 && n->type <= 7) ? types[n->type] : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    if (m & 04000)
        out[3] = (m & 0100) ? 's' : 'S';
    if (m & 02000)
        out[6] = (m & 0010) ? 's' : 'S';
    if (m & 01000)
        out[9] = (m & 0001) ? 't' : 'T';
    out[10] = '\0';
}

static json_t *node_json(const char *path, const cr_node *n)
{
    char t[64];
    json_t *o = json_object();
    json_object_set_new(o, "path", cli_json_str(path));
    json_object_set_new(o, "type", json_string(cli_node_type_name(n->type)));
    json_object_set_new(o, "size", cli_json_u64(n->size));
    json_object_set_new(o, "mode", json_integer(n->mode));
    json_object_set_new(o, "uid", json_integer(n->uid));
    json_object_set_new(o, "gid", json_integer(n->gid));
    cr_time_format(t, sizeof(t), n->mtime_ns);
    json_object_set_new(o, "mtime", json_string(t));
    if (n->type == CR_NODE_SYMLINK)
        json_object_set_new(o, "target", cli_json_str(n->link_target ? n->link_target : ""));
    return o;
}

static int print_node(const char *path, const cr_node *n, void *payload)
{
    ls_ctx *ctx = payload;
    if (ctx->json) {
        json_t *o = node_json(path, n);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
            return -1;
        printf("%s\n  %s", ctx->count ? "," : "", s);
        free(s);
    } else if (ctx->lng) {
        char mode[11], t[32], own[32], grp[32];
        char *u = NULL, *g = NULL;
        if (n->user && *n->user)
            u = cli_escape(n->user);
        else
            snprintf(own, sizeof(own), "%u", n->uid);
        if (n->group && *n->group)
            g = cli_escape(n->group);
        else
            snprintf(grp, sizeof(grp), "%u", n->gid);
        mode_string(mode, n);
        printf("%s %-8s %-8s %12llu %s ", mode, u ? u : own, g ? g : grp,
               (unsigned long long)n->size, cli_time_sec(t, sizeof(t), n->mtime_ns));
        cli_fputs_esc(path, stdout);
        if (n->type == CR_NODE_SYMLINK) {
            fputs(" -> ", stdout);
            cli_fputs_esc(n->link_target ? n->link_target : "", stdout);
        }
        fputc('\n', stdout);
        free(u);
        free(g);
    } else {
        cli_fputs_esc(path, stdout);
        fputc('\n', stdout);
    }
    ctx->count++;
    /* Stop early when the reader went away (e.g. "| head"). */
    return ferror(stdout) ? 1 : 0;
}

/* "/a/b" from a user's "a/b/" so that printed paths look alike. */
static char *norm_path(const char *p)
{
    size_t n = strlen(p);
    char *out = cli_xmalloc(n + 2);
    size_t o = 0;
    out[o++] = '/';
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '/' && out[o - 1] == '/')
            continue;
        out[o++] = p[i];
    }
    while (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return out;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"long", no_argument, NULL, 'l'},
        {"recursive", no_argument, NULL, 'r'},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    ls_ctx ctx = {0, 0, 0};
    int c, rc, err, recursive = 0;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    cr_node node;
    int have_node = 0;
    char *path = NULL;

    while ((c = cli_getopt(argc, argv, "lr", longopts, "ls")) != -1) {
        switch (c) {
        case 'l': ctx.lng = 1; break;
        case 'r': recursive = 1; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1)
        return cli_usage_error("ls", "give the SNAPSHOT to list (see 'cleanroom snapshots')");
    if (nargs > 2)
        return cli_usage_error("ls", "too many arguments: SNAPSHOT [PATH]");
    ctx.json = cli_g.json;
    if (nargs == 2)
        path = norm_path(argv[optind + 1]);
    else
        recursive = 1;

    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, argv[optind])) != 0)
        goto done;

    memset(&node, 0, sizeof(node));
    if (path) {
        cr_error_clear();
        if ((err = cr_snapshot_lookup(&node, repo, snap, path)) < 0) {
            if (err == CR_ENOTFOUND) {
                char *e = cli_escape(path), sid[9];
                cli_error("no %s in snapshot %s", e, cli_short_id(sid, &snap->id));
                cli_hint("list the top of the snapshot with 'cleanroom ls %s /'", sid);
                free(e);
                rc = CLI_EXIT_NOTFOUND;
            } else {
                rc = cli_fail(err, NULL);
            }
            goto done;
        }
        have_node = 1;
    }

    if (ctx.json)
        fputs("[", stdout);
    if (have_node && node.type != CR_NODE_DIR) {
        print_node(path, &node, &ctx);
        err = 0;
    } else {
        cr_error_clear();
        err = cr_snapshot_walk(repo, snap, path ? path : "/", recursive, print_node, &ctx);
    }
    if (ctx.json)
        fputs(ctx.count ? "\n]\n" : "]\n", stdout);
    if (err < 0) {
        rc = cli_fail(err, "listing stopped");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    if (have_node)
        cr_node_clear(&node);
    free(path);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
