/*
 * cleanroom key add|list|remove: the vault's passphrases (key files).
 *
 * Every key file seals the same master key, so a passphrase can be added or
 * removed without touching the backups. The library refuses to remove the key
 * that opened the vault, so nobody locks themselves out by mistake.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom key add [--kdf interactive|moderate|sensitive]\n"
    "       cleanroom key list [--json]\n"
    "       cleanroom key remove ID\n"
    "\n"
    "Manage the passphrases of the vault. Each passphrase is a key file in keys/;\n"
    "any of them opens the vault.\n"
    "\n"
    "  add     add a passphrase. The current one comes from CLEANROOM_PASSWORD_FILE /\n"
    "          CLEANROOM_PASSWORD_COMMAND / CLEANROOM_PASSWORD / the terminal; the new\n"
    "          one from CLEANROOM_NEW_PASSWORD_FILE / CLEANROOM_NEW_PASSWORD_COMMAND /\n"
    "          CLEANROOM_NEW_PASSWORD / the terminal (asked twice). Prints the id of the\n"
    "          new key.\n"
    "  list    list the keys: id, creation time, host, user; '*' marks the key that\n"
    "          opened the vault.\n"
    "  remove  remove the key ID (full id or unique prefix). The key that opened\n"
    "          the vault cannot be removed: open it with another passphrase first.\n"
    "\n"
    "Options:\n"
    "  --kdf PROFILE  cost of the derivation of the new passphrase (add only)\n"
    "  --json         machine-readable output\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 wrong passphrase, 6 locked, 7 no vault or no such key.\n";

static int key_add(cr_repo *repo, cr_kdf_profile kdf)
{
    char *pass = NULL, id[CR_ID_HEX_LEN + 1];
    int rc, err;
    if ((rc = cli_passphrase(&pass, "CLEANROOM_NEW_PASSWORD_FILE", "CLEANROOM_NEW_PASSWORD",
                             "New passphrase: ", 1)) != 0)
        return rc;
    if (!*pass) {
        cli_passphrase_free(pass);
        cli_error("the new passphrase is empty");
        return CLI_EXIT_USAGE;
    }
    cr_error_clear();
    err = cr_key_add(repo, pass, kdf, id);
    cli_passphrase_free(pass);
    if (err < 0)
        return cli_fail(err, "could not add the key");
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        cli_json_print(o);
    } else {
        printf("added key %s\n", id);
    }
    return CLI_EXIT_OK;
}

static int key_list(cr_repo *repo)
{
    cr_key_info *keys = NULL;
    size_t n = 0;
    int err;
    char t[64];
    cr_error_clear();
    if ((err = cr_key_list(repo, &keys, &n)) < 0)
        return cli_fail(err, "could not list the keys");
    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(keys[i].id));
            cr_time_format(t, sizeof(t), keys[i].created * 1000000000LL);
            json_object_set_new(o, "created", json_string(t));
            json_object_set_new(o, "hostname", cli_json_str(keys[i].hostname));
            json_object_set_new(o, "username", cli_json_str(keys[i].username));
            json_object_set_new(o, "current", json_boolean(keys[i].current));
            json_array_append_new(a, o);
        }
        cli_json_print(a);
    } else {
        printf("  %-8s  %-20s  %s\n", "ID", "CREATED", "HOST / USER");
        for (size_t i = 0; i < n; i++) {
            char *h = cli_escape(keys[i].hostname), *u = cli_escape(keys[i].username);
            cr_time_format(t, sizeof(t), keys[i].created * 1000000000LL);
            printf("%c %.8s  %-20s  %s / %s\n", keys[i].current ? '*' : ' ', keys[i].id, t,
                   *h ? h : "-", *u ? u : "-");
            free(h);
            free(u);
        }
    }
    free(keys);
    return CLI_EXIT_OK;
}

static int key_remove(cr_repo *repo, const char *id)
{
    cr_key_info *keys = NULL;
    size_t n = 0, matches = 0;
    char full[CR_ID_HEX_LEN + 1] = "";
    int err;

    /* Learn the full id first so the output names exactly what was removed. */
    if (cr_key_list(repo, &keys, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (strncmp(keys[i].id, id, strlen(id)) == 0 && matches++ == 0)
                memcpy(full, keys[i].id, sizeof(full));
        free(keys);
    }
    cr_error_clear();
    if ((err = cr_key_remove(repo, id)) < 0)
        return cli_fail(err, "could not remove the key");
    if (matches != 1) {
        char *e = cli_escape(id);
        snprintf(full, sizeof(full), "%s", e);
        free(e);
    }
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", cli_json_str(full));
        cli_json_print(o);
    } else {
        printf("removed key %s\n", full);
    }
    return CLI_EXIT_OK;
}

int cmd_key(int argc, char **argv)
{
    enum { OPT_KDF = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"kdf", required_argument, NULL, OPT_KDF},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_kdf_profile kdf = CR_KDF_MODERATE;
    int c, rc, have_kdf = 0;
    cr_repo *repo = NULL;

    while ((c = cli_getopt(argc, argv, "", longopts, "key")) != -1) {
        switch (c) {
        case OPT_KDF:
            if (cli_parse_kdf(&kdf, optarg) < 0)
                return cli_usage_error("key", "--kdf must be interactive, moderate or sensitive");
            have_kdf = 1;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("key", "say what to do: key add, key list or key remove ID");
    const char *action = argv[optind];
    int nargs = argc - optind - 1;
    if (strcmp(action, "add") == 0 || strcmp(action, "list") == 0) {
        if (nargs != 0)
            return cli_usage_error("key", "'key %s' takes no argument", action);
    } else if (strcmp(action, "remove") == 0) {
        if (nargs != 1)
            return cli_usage_error("key", "'key remove' needs exactly one key ID");
    } else {
        static const char *const actions[] = {"add", "list", "remove"};
        const char *near = cr_suggest(action, actions, 3);
        char *e = cli_escape(action);
        if (near)
            rc = cli_usage_error("key", "unknown action '%s': did you mean `key %s`?", e, near);
        else
            rc = cli_usage_error("key", "unknown action '%s' (use add, list or remove)", e);
        free(e);
        return rc;
    }
    if (have_kdf && strcmp(action, "add") != 0)
        return cli_usage_error("key", "--kdf applies only to 'key add'");

    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    if (strcmp(action, "add") == 0)
        rc = key_add(repo, kdf);
    else if (strcmp(action, "list") == 0)
        rc = key_list(repo);
    else
        rc = key_remove(repo, argv[optind + 1]);
    cr_repo_free(repo);
    return rc;
}
