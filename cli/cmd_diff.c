/*
 * cleanroom diff: what changed between two snapshots.
 *
 * Useful after an attack to see what the attacker touched between the last
 * good restore point and the next one. The exit code is 0 whether or not
 * there are differences (unlike diff(1)): a difference is not an error.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom diff SNAP_A SNAP_B [--json]\n"
    "\n"
    "Show what changed from SNAP_A to SNAP_B, one line per item:\n"
    "  + PATH (SIZE)         added in SNAP_B\n"
    "  - PATH (SIZE)         removed in SNAP_B\n"
    "  M PATH (OLD -> NEW)   modified: content, size, mode, owner, link target, xattrs\n"
    "                        or ACLs differ\n"
    "then a summary line 'N added, N removed, N modified'. SIZE is a size for files and\n"
    "the type (dir, symlink, ...) for other items. Directories are listed as modified\n"
    "only when their own metadata changed. Names are escaped as in 'ls'.\n"
    "\n"
    "Options:\n"
    "  --json  {\"added\":[{path,type,size}], \"removed\":[...],\n"
    "           \"modified\":[{path,type,old_size,new_size}]}\n"
    "\n"
    "Exit codes: 0 ok (with or without differences), 2 usage, 3 wrong passphrase,\n"
    "4 damaged vault data, 7 no vault or no such snapshot.\n";

typedef struct diff_ctx {
    int json;
    uint64_t added, removed, modified;
    json_t *jadded, *jremoved, *jmodified;
} diff_ctx;

static const char *size_or_type(char *buf, size_t len, const cr_node *n)
{
    if (n->type == CR_NODE_FILE)
        return cli_human_size(buf, len, n->size);
    return cli_node_type_name(n->type);
}

static int on_diff(cr_diff_kind kind, const char *path, const cr_node *old_node,
                   const cr_node *new_node, void *payload)
{
    diff_ctx *ctx = payload;
    char a[32], b[32];
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "path", cli_json_str(path));
        if (kind == CR_DIFF_MODIFIED && old_node && new_node) {
            json_object_set_new(o, "type", json_string(cli_node_type_name(new_node->type)));
            json_object_set_new(o, "old_size", cli_json_u64(old_node->size));
            json_object_set_new(o, "new_size", cli_json_u64(new_node->size));
            json_array_append_new(ctx->jmodified, o);
        } else {
            const cr_node *n = new_node ? new_node : old_node;
            json_object_set_new(o, "type", json_string(n ? cli_node_type_name(n->type) : "unknown"));
            json_object_set_new(o, "size", cli_json_u64(n ? n->size : 0));
            json_array_append_new(kind == CR_DIFF_ADDED ? ctx->jadded : ctx->jremoved, o);
        }
    } else {
        char *e = cli_escape(path);
        if (kind == CR_DIFF_ADDED && new_node)
            printf("+ %s (%s)\n", e, size_or_type(a, sizeof(a), new_node));
        else if (kind == CR_DIFF_REMOVED && old_node)
            printf("- %s (%s)\n", e, size_or_type(a, sizeof(a), old_node));
        else if (kind == CR_DIFF_MODIFIED && old_node && new_node)
            printf("M %s (%s -> %s)\n", e, size_or_type(a, sizeof(a), old_node),
                   size_or_type(b, sizeof(b), new_node));
        free(e);
    }
    if (kind == CR_DIFF_ADDED)
        ctx->added++;
    else if (kind == CR_DIFF_REMOVED)
        ctx->removed++;
    else
        ctx->modified++;
    return ferror(stdout) ? 1 : 0;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    diff_ctx ctx;
    cr_repo *repo = NULL;
    cr_snapshot *a = NULL, *b = NULL;
    int c, rc, err;

    memset(&ctx, 0, sizeof(ctx));
    while ((c = cli_getopt(argc, argv, "", longopts, "diff")) != -1) {
        switch (c) {
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("diff", "give two snapshots: diff SNAP_A SNAP_B");
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&a, repo, argv[optind])) != 0 ||
        (rc = cli_find_snapshot(&b, repo, argv[optind + 1])) != 0)
        goto done;

    ctx.json = cli_g.json;
    if (ctx.json) {
        ctx.jadded = json_array();
        ctx.jremoved = json_array();
        ctx.jmodified = json_array();
    }
    cr_error_clear();
    err = cr_diff(repo, a, b, on_diff, &ctx);
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "comparison stopped");
        goto done;
    }
    if (err == CR_EPARTIAL) /* printed after the listing, which is complete otherwise */
        cli_warn("%s", cr_error_last());
    if (ctx.json) {
        json_t *o = json_object();
        json_object_set_new(o, "added", ctx.jadded);
        json_object_set_new(o, "removed", ctx.jremoved);
        json_object_set_new(o, "modified", ctx.jmodified);
        ctx.jadded = ctx.jremoved = ctx.jmodified = NULL;
        cli_json_print(o);
    } else {
        printf("%llu added, %llu removed, %llu modified\n", (unsigned long long)ctx.added,
               (unsigned long long)ctx.removed, (unsigned long long)ctx.modified);
    }
    rc = err == CR_EPARTIAL ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
done:
    json_decref(ctx.jadded);
    json_decref(ctx.jremoved);
    json_decref(ctx.jmodified);
    cr_snapshot_free(a);
    cr_snapshot_free(b);
    cr_repo_free(repo);
    return rc;
}
