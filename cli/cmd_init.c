/*
 * cleanroom init: create a new, empty vault.
 *
 * After creating the vault the command opens it with the same passphrase: the
 * technician learns at once, not on the day of the disaster, that the
 * passphrase really opens what was just made.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom init [--kdf interactive|moderate|sensitive] [--compression LEVEL]\n"
    "                      [--object-lock PERIOD] --repo DIR|s3:URL\n"
    "\n"
    "Create a new, empty vault in DIR (created if missing; it must be empty), or in\n"
    "an S3 bucket: s3:http(s)://HOST:PORT/BUCKET[/PREFIX] with the keys in\n"
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the bucket is created if missing;\n"
    "the prefix must hold nothing).\n"
    "The passphrase comes from CLEANROOM_PASSWORD_FILE, CLEANROOM_PASSWORD_COMMAND or\n"
    "CLEANROOM_PASSWORD, or is asked twice on the terminal. Prints the vault id.\n"
    "\n"
    "Options:\n"
    "  --kdf PROFILE        cost of the passphrase derivation (Argon2id):\n"
    "                       interactive (64 MiB), moderate (256 MiB, default),\n"
    "                       sensitive (1 GiB)\n"
    "  --compression LEVEL  zstd level 1..19 for file data (default 3)\n"
    "  --object-lock PERIOD S3 only: create the bucket with Object Lock and keep every\n"
    "                       object for PERIOD (30d: days, 1y: years) in COMPLIANCE\n"
    "                       mode: nobody with S3 keys can delete it before\n"
    "  --json               print {\"id\": ..., \"path\": ...}\n"
    "\n"
    "Exit codes: 0 created, 1 error (e.g. DIR not empty), 2 usage or no passphrase.\n";

int cli_parse_kdf(cr_kdf_profile *out, const char *s)
{
    if (strcmp(s, "interactive") == 0)
        *out = CR_KDF_INTERACTIVE;
    else if (strcmp(s, "moderate") == 0)
        *out = CR_KDF_MODERATE;
    else if (strcmp(s, "sensitive") == 0)
        *out = CR_KDF_SENSITIVE;
    else
        return -1;
    return 0;
}

int cmd_init(int argc, char **argv)
{
    enum { OPT_KDF = CLI_OPT_FIRST_CMD, OPT_COMPRESSION, OPT_OBJECT_LOCK };
    static const struct option longopts[] = {
        {"kdf", required_argument, NULL, OPT_KDF},
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"object-lock", required_argument, NULL, OPT_OBJECT_LOCK},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_init_options opts = CR_INIT_OPTIONS_INIT;
    cr_repo *repo = NULL;
    char *pass = NULL;
    unsigned long level;
    int c, rc, err;
    const char *path;

    while ((c = cli_getopt(argc, argv, "", longopts, "init")) != -1) {
        switch (c) {
        case OPT_KDF:
            if (cli_parse_kdf(&opts.kdf, optarg) < 0)
                return cli_usage_error("init", "--kdf must be interactive, moderate or sensitive");
            break;
        case OPT_COMPRESSION:
            if (cli_parse_uint(&level, optarg, 1, 19) < 0)
                return cli_usage_error("init", "--compression must be a number from 1 to 19");
            opts.compression_level = (int)level;
            break;
        case OPT_OBJECT_LOCK: {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            unsigned long mult = !strcmp(end, "d") ? 1 : !strcmp(end, "y") ? 365 : 0;
            if (end == optarg || optarg[0] == '-' || !mult || n == 0 || n > 36500 / mult)
                return cli_usage_error("init", "--object-lock takes a number of days or years "
                                               "up to 100 years, e.g. 30d or 1y");
            opts.object_lock_days = (unsigned)(n * mult);
            break;
        }
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("init", "unexpected argument '%s' (the vault is given with --repo)",
                               argv[optind]);
    if (!(path = cli_repo_path()))
        return CLI_EXIT_USAGE;

    if ((rc = cli_passphrase(&pass, "CLEANROOM_PASSWORD_FILE", "CLEANROOM_PASSWORD",
                             "Passphrase for the new vault: ", 1)) != 0)
        return rc;
    if (!*pass) {
        cli_passphrase_free(pass);
        cli_error("the passphrase is empty; choose one (it protects every backup in the vault)");
        return CLI_EXIT_USAGE;
    }

    cr_error_clear();
    if ((err = cr_repo_init(path, pass, &opts)) < 0) {
        rc = cli_fail(err, NULL);
        if (err == CR_EEXISTS)
            cli_hint("choose an empty or new folder; an existing vault is never overwritten");
        goto done;
    }
    cr_error_clear();
    if ((err = cr_repo_open(&repo, path, pass)) < 0) {
        rc = cli_fail(err, "the vault was created but does not open");
        goto done;
    }
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(cr_repo_id(repo)));
        json_object_set_new(o, "path", cli_json_str(path));
        json_object_set_new(o, "object_lock_days",
                            json_integer((json_int_t)(cr_repo_object_lock(repo) / 86400)));
        cli_json_print(o);
    } else {
        char *esc = cli_escape(path);
        printf("created vault %s at %s\n", cr_repo_id(repo), esc);
        free(esc);
        if (cr_repo_object_lock(repo) > 0)
            printf("Every object is locked for %lld days (S3 Object Lock, COMPLIANCE): nobody "
                   "with S3 keys can delete it before.\n",
                   (long long)(cr_repo_object_lock(repo) / 86400));
        if (!cli_g.quiet)
            printf("Keep the passphrase safe: without it nothing in this vault can be restored.\n"
                   "Add a second passphrase (kept elsewhere) with 'cleanroom key add'.\n");
    }
    rc = CLI_EXIT_OK;
done:
    cr_repo_free(repo);
    cli_passphrase_free(pass);
    return rc;
}
