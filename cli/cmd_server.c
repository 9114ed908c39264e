/*
 * cleanroom server: serve a vault over HTTPS to production machines that may
 * add backups and never remove them (init, run, token add/list/revoke).
 */
#include "common.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char help_text[] =
    "usage: cleanroom server init DIR [--kdf PROFILE]\n"
    "       cleanroom server run --config FILE [--listen ADDR:PORT]\n"
    "       cleanroom server token add --config FILE --role backup|read|admin --name LABEL\n"
    "                                  [--source NAME]... [--expires DURATION]\n"
    "       cleanroom server token list --config FILE\n"
    "       cleanroom server token revoke --config FILE LABEL|ID\n"
    "\n"
    "The vault server owns the vault's storage and serves it over HTTPS. A production\n"
    "machine that sends backups gets a 'backup' token: it can add objects and read what\n"
    "deduplication needs, never delete, replace or hide one, never touch the keys or the\n"
    "vault's config. Every refused request is logged with the token's label.\n"
    "\n"
    "  init DIR      create the vault in DIR if there is none (asks for its passphrase),\n"
    "                DIR/server/server.json, and a self-signed TLS certificate; prints the\n"
    "                config file and the fingerprint clients pin\n"
    "  run           serve in the foreground until stopped (SIGTERM, Ctrl-C); listens on\n"
    "                127.0.0.1:8443 unless --listen or the config say otherwise\n"
    "  token add     print a new token once (only its hash is kept); roles: backup (add,\n"
    "                read), read (read only), admin (everything, from the vault host only)\n"
    "  token list    the tokens: id, label, role, sources, created, expires, revoked\n"
    "  token revoke  a token stops working at once (401)\n"
    "\n"
    "Options:\n"
    "  --config FILE        the server's config (DIR/server/server.json)\n"
    "  --kdf PROFILE        init: the new vault's passphrase cost, as 'cleanroom init --kdf'\n"
    "  --listen ADDR:PORT   e.g. 0.0.0.0:8443 or [::]:8443 (default: the config's)\n"
    "  --role ROLE          backup, read or admin\n"
    "  --name LABEL         names the token in 'token list' and in the log\n"
    "  --source NAME        the sources a backup token is meant for (recorded; see\n"
    "                       docs/security.md for what the server can and cannot check)\n"
    "  --expires DURATION   the token stops working after it (e.g. 30d, 12h)\n"
    "\n"
    "Clients: --repo https://HOST:PORT/ with CLEANROOM_TOKEN_FILE (or CLEANROOM_TOKEN) and\n"
    "CLEANROOM_SERVER_FINGERPRINT=sha256//... (or CLEANROOM_CACERT=FILE).\n"
    "\n"
    "Exit codes: 0 done, 1 error, 2 usage, 4 a damaged tokens file, 7 no such config,\n"
    "vault or token.\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void srv_log(int refused, const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "cleanroom server: %s%s\n", refused ? "WARNING " : "", line);
}

static void srv_ready(int port, void *payload)
{
    (void)payload;
    /* A machine-readable line for scripts and systemd's journal. */
    printf("listening on port %d\n", port);
    fflush(stdout);
}

static int do_init(const char *dir, const cr_init_options *vopts)
{
    cr_server_init_result res;
    char *pass = NULL, vcfg[4200];
    int rc, err;
    FILE *f;
    snprintf(vcfg, sizeof(vcfg), "%s/config", dir);
    if (!(f = fopen(vcfg, "r"))) {
        /* No vault there yet: one is made, with a passphrase. */
        if ((rc = cli_passphrase(&pass, "CLEANROOM_PASSWORD_FILE", "CLEANROOM_PASSWORD",
                                 "Passphrase for the new vault: ", 1)) != 0)
            return rc;
    } else {
        fclose(f);
    }
    cr_error_clear();
    err = cr_server_init(&res, dir, pass, vopts);
    cli_passphrase_free(pass);
    if (err < 0) {
        rc = cli_fail(err, NULL);
        if (err == CR_EEXISTS && res.config[0]) {
            if (res.fingerprint[0])
                fprintf(stderr, "fingerprint: %s\n", res.fingerprint);
            cli_hint("to change it, edit that file; to start over, remove the server folder");
        }
        return rc;
    }
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "config", cli_json_str(res.config));
        json_object_set_new(o, "fingerprint", json_string(res.fingerprint));
        json_object_set_new(o, "vault_created", json_boolean(res.vault_created));
        cli_json_print(o);
    } else {
        char *esc = cli_escape(res.config);
        if (res.vault_created)
            printf("created a vault in %s\n", dir);
        printf("server config: %s\n", esc);
        printf("fingerprint:   %s\n", res.fingerprint);
        if (!cli_g.quiet)
            printf("Next: add a token for each production machine with 'cleanroom server token "
                   "add --config %s --role backup --name LABEL', then 'cleanroom server run "
                   "--config %s'. Clients set CLEANROOM_SERVER_FINGERPRINT to the fingerprint "
                   "above.\n",
                   esc, esc);
        free(esc);
    }
    return CLI_EXIT_OK;
}

static int do_run(const char *config, const char *listen)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cr_server_options o = {listen, srv_log, NULL, &stop_flag, srv_ready};
    cr_error_clear();
    int err = cr_server_run(config, &o);
    return err < 0 ? cli_fail(err, "the vault server stopped") : CLI_EXIT_OK;
}

static int do_token_list(const char *config)
{
    cr_token_info *t = NULL;
    size_t n = 0;
    char c[48], e[48];
    cr_error_clear();
    int err = cr_server_token_list(&t, &n, config);
    if (err < 0)
        return cli_fail(err, "could not read the tokens");
    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            cr_time_format(c, sizeof(c), t[i].created_s * 1000000000LL);
            cr_time_format(e, sizeof(e), t[i].expires_s * 1000000000LL);
            json_array_append_new(
                a, json_pack("{s:s, s:o, s:s, s:s, s:s, s:o, s:b}", "id", t[i].id, "label",
                             cli_json_str(t[i].label), "role", cr_token_role_name(t[i].role),
                             "sources", t[i].sources, "created", c, "expires",
                             t[i].expires_s ? json_string(e) : json_null(), "revoked",
                             t[i].revoked));
        }
        cli_json_print(a);
    } else {
        printf("%-16s  %-7s  %-20s  %-20s  %s\n", "ID", "ROLE", "CREATED", "EXPIRES", "LABEL");
        for (size_t i = 0; i < n; i++) {
            char *l = cli_escape(t[i].label);
            cr_time_format(c, sizeof(c), t[i].created_s * 1000000000LL);
            cr_time_format(e, sizeof(e), t[i].expires_s * 1000000000LL);
            printf("%-16s  %-7s  %-20.20s  %-20.20s  %s%s%s%s\n", t[i].id,
                   cr_token_role_name(t[i].role), c, t[i].expires_s ? e : "never", l,
                   t[i].sources[0] ? " (sources: " : "", t[i].sources,
                   t[i].sources[0] ? ")" : "");
            if (t[i].revoked)
                printf("%-16s  revoked\n", "");
            free(l);
        }
    }
    free(t);
    return CLI_EXIT_OK;
}

int cmd_server(int argc, char **argv)
{
    enum {
        OPT_CONFIG = CLI_OPT_FIRST_CMD,
        OPT_LISTEN,
        OPT_ROLE,
        OPT_NAME,
        OPT_SOURCE,
        OPT_EXPIRES,
        OPT_KDF
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"role", required_argument, NULL, OPT_ROLE},
        {"name", required_argument, NULL, OPT_NAME},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"kdf", required_argument, NULL, OPT_KDF},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *listen = NULL, *name = NULL, *role_s = NULL;
    const char **sources = cli_xmalloc((size_t)argc * sizeof(*sources));
    size_t nsources = 0;
    int64_t expires_ns = 0;
    cr_init_options vopts = CR_INIT_OPTIONS_INIT;
    int c, rc = CLI_EXIT_USAGE;

    while ((c = cli_getopt(argc, argv, "", longopts, "server")) != -1) {
        switch (c) {
        case OPT_CONFIG: config = optarg; break;
        case OPT_LISTEN: listen = optarg; break;
        case OPT_ROLE: role_s = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_SOURCE: sources[nsources++] = optarg; break;
        case OPT_EXPIRES:
            if (cr_forget_duration_parse(&expires_ns, optarg) < 0) {
                rc = cli_usage_error("server", "--expires: %s", cr_error_last());
                goto done;
            }
            break;
        case OPT_KDF:
            if (cli_parse_kdf(&vopts.kdf, optarg) < 0) {
                rc = cli_usage_error("server", "--kdf must be interactive, moderate or sensitive");
                goto done;
            }
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); rc = CLI_EXIT_OK; goto done;
        default: goto done;
        }
    }
    const char *action = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    if (!action) {
        rc = cli_usage_error("server", "say what to do: server init, run or token");
        goto done;
    }
    if (!strcmp(action, "init")) {
        rc = nargs == 1 ? do_init(argv[optind + 1], &vopts)
                        : cli_usage_error("server", "'server init' takes the folder: server init DIR");
        goto done;
    }
    if (strcmp(action, "run") != 0 && strcmp(action, "token") != 0) {
        rc = cli_usage_error("server", "unknown action '%s': use init, run or token", action);
        goto done;
    }
    if (!config) {
        rc = cli_usage_error("server", "give the server's config with --config FILE (made by "
                                       "'cleanroom server init DIR': DIR/server/server.json)");
        goto done;
    }
    if (!strcmp(action, "run")) {
        rc = nargs == 0 ? do_run(config, listen)
                        : cli_usage_error("server", "'server run' takes no argument");
        goto done;
    }
    const char *sub = nargs >= 1 ? argv[optind + 1] : "";
    if (!strcmp(sub, "add") && nargs == 1) {
        cr_token_role role;
        char token[80];
        if (!role_s || cr_token_role_parse(&role, role_s) < 0) {
            rc = cli_usage_error("server", "give the token's role: --role backup, read or admin");
            goto done;
        }
        if (!name) {
            rc = cli_usage_error("server", "give the token a label: --name LABEL (who holds it)");
            goto done;
        }
        int64_t expires_s = expires_ns ? (int64_t)time(NULL) + expires_ns / 1000000000LL : 0;
        cr_error_clear();
        int err = cr_server_token_add(token, config, role, sources, nsources, name, expires_s);
        if (err < 0) {
            rc = err == CR_EINPUT ? cli_usage_error("server", "%s", cr_error_last())
                                  : cli_fail(err, "the token was not added");
            goto done;
        }
        if (cli_g.json) {
            cli_json_print(json_pack("{s:s, s:s, s:s}", "token", token, "role", role_s, "label",
                                     name));
        } else {
            printf("%s\n", token);
            if (!cli_g.quiet)
                fprintf(stderr, "This token is shown once: put it in a file readable only by "
                                "the account that runs cleanroom on that machine, and set "
                                "CLEANROOM_TOKEN_FILE to it.\n");
        }
        memset(token, 0, sizeof(token));
        rc = CLI_EXIT_OK;
    } else if (!strcmp(sub, "list") && nargs == 1) {
        rc = do_token_list(config);
    } else if (!strcmp(sub, "revoke") && nargs == 2) {
        cr_error_clear();
        int err = cr_server_token_revoke(config, argv[optind + 2]);
        if (err < 0) {
            rc = cli_fail(err, "the token was not revoked");
            goto done;
        }
        if (!cli_g.quiet)
            printf("revoked token %s: it is refused from now on\n", argv[optind + 2]);
        rc = CLI_EXIT_OK;
    } else {
        rc = cli_usage_error("server", "use: server token add, token list, or token revoke "
                                       "LABEL|ID");
    }
done:
    free(sources);
    return rc;
}
