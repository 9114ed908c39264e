/*
 * cleanroom inventory: what a restore point has installed, from the snapshot
 * alone (dpkg packages, Windows programs and build, applications the
 * detectors recognise), before it is started anywhere.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom inventory SNAPSHOT [--kind deb|windows|app] [--json]\n"
    "\n"
    "Lists what the snapshot (ID, prefix, latest or SOURCE:latest) has installed, read\n"
    "from the snapshot in the vault: Debian/Ubuntu packages (var/lib/dpkg/status),\n"
    "Windows programs of the SOFTWARE hive's Uninstall keys (64- and 32-bit) and the\n"
    "Windows build (CurrentBuild.UBR), and applications found by the detectors (Zimbra,\n"
    "Exchange, NetScaler, FortiOS backups, Ivanti, Apache, nginx, Tomcat, OpenSSH, PHP,\n"
    "Java: docs/commands/inventory.md lists the file each reads). One line per item:\n"
    "  KIND  NAME  VERSION  (EVIDENCE FILE)\n"
    "What could not be read is a warning on stderr.\n"
    "\n"
    "Options:\n"
    "  --kind K  only items of this kind: deb, windows or app\n"
    "  --json    {snapshot, root, os, debian_suite, windows_build, items:[{kind, name,\n"
    "            version, product, source, source_version, arch, evidence}], warnings}\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 wrong passphrase, 4 damaged vault, 7 no such snapshot\n"
    "or no system recognised in it.\n";

int cmd_inventory(int argc, char **argv)
{
    enum { OPT_KIND = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *kind = NULL, *spec = NULL;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    cr_inventory *inv = NULL;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "inventory")) != -1) {
        switch (c) {
        case OPT_KIND:
            if (strcmp(optarg, "deb") && strcmp(optarg, "windows") && strcmp(optarg, "app"))
                return cli_usage_error("inventory", "--kind must be deb, windows or app");
            kind = optarg;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("inventory", "which snapshot? (an id, latest or SOURCE:latest)");
    spec = argv[optind++];
    if (optind < argc)
        return cli_unexpected_argument("inventory", argv[optind], "one snapshot at a time");
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    if ((rc = cli_find_snapshot(&snap, repo, spec)) != 0)
        goto done;
    if ((err = cr_inventory_load(&inv, repo, snap)) < 0) {
        rc = cli_fail(err, "could not list what the snapshot has installed");
        goto done;
    }
    for (size_t i = 0; i < inv->nwarnings; i++) {
        char *e = cli_escape(inv->warnings[i]);
        cli_warn("%s", e);
        free(e);
    }
    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *items = json_array(), *w = json_array();
        for (size_t i = 0; i < inv->nitems; i++) {
            const cr_inv_item *it = &inv->items[i];
            if (kind && strcmp(kind, cr_inv_kind_name(it->kind)))
                continue;
            json_t *o = json_object();
            json_object_set_new(o, "kind", json_string(cr_inv_kind_name(it->kind)));
            json_object_set_new(o, "name", cli_json_str(it->name));
            json_object_set_new(o, "version", it->version ? cli_json_str(it->version) : json_null());
            json_object_set_new(o, "product", it->product ? json_string(it->product) : json_null());
            json_object_set_new(o, "source", it->source ? cli_json_str(it->source) : json_null());
            json_object_set_new(o, "source_version",
                                it->source_version ? cli_json_str(it->source_version) : json_null());
            json_object_set_new(o, "arch", it->arch ? cli_json_str(it->arch) : json_null());
            json_object_set_new(o, "evidence", cli_json_str(it->evidence));
            json_array_append_new(items, o);
        }
        for (size_t i = 0; i < inv->nwarnings; i++)
            json_array_append_new(w, cli_json_str(inv->warnings[i]));
        json_t *o = json_object();
        json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
        json_object_set_new(o, "root", cli_json_str(inv->root));
        json_object_set_new(o, "os", inv->os ? cli_json_str(inv->os) : json_null());
        json_object_set_new(o, "debian_suite", inv->suite ? cli_json_str(inv->suite) : json_null());
        json_object_set_new(o, "windows_build",
                            inv->windows_build ? cli_json_str(inv->windows_build) : json_null());
        json_object_set_new(o, "items", items);
        json_object_set_new(o, "warnings", w);
        cli_json_print(o);
    } else {
        char sid[9];
        printf("snapshot %s: %s%s%s\n", cli_short_id(sid, &snap->id),
               inv->os ? inv->os : "operating system not recognised",
               inv->windows_build ? ", build " : "", inv->windows_build ? inv->windows_build : "");
        for (size_t i = 0; i < inv->nitems; i++) {
            const cr_inv_item *it = &inv->items[i];
            if (kind && strcmp(kind, cr_inv_kind_name(it->kind)))
                continue;
            char *n = cli_escape(it->name), *v = cli_escape(it->version ? it->version : "?"),
                 *e = cli_escape(it->evidence);
            printf("%-8s %-40s %-24s (%s)\n", cr_inv_kind_name(it->kind), n, v, e);
            free(n);
            free(v);
            free(e);
        }
    }
    rc = CLI_EXIT_OK;
done:
    cr_inventory_free(inv);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
