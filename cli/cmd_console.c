/*
 * cleanroom console: serve the web console on the vault (French first), and
 * manage its accounts (user add, user remove). The console itself is the
 * library's (cr_console_run); this file opens the vault, finds the pages and
 * reads passwords.
 */
#include "common.h"

#include "cleanroom/console.h"
#include "cleanroom/jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help_text[] =
    "usage: cleanroom console [--config FILE] [--listen ADDR:PORT] [--jobs FILE]\n"
    "       cleanroom console user add NAME --role lecteur|opérateur|admin\n"
    "                                  [--password-file FILE] [--config FILE]\n"
    "       cleanroom console user remove NAME [--config FILE]\n"
    "\n"
    "The web console shows the vault given by --repo (or $CLEANROOM_REPO, or the jobs\n"
    "file's vault) in a browser, in French by default: every source, its last backup\n"
    "against its RPO, its hunt verdict and clean point. It listens on 127.0.0.1:8444\n"
    "with TLS; the self-signed certificate is made on the first start and its\n"
    "fingerprint printed. It refuses an address other than loopback without TLS.\n"
    "\n"
    "  user add     add an account; its password is read from --password-file, else\n"
    "               from standard input (first line), else asked on the terminal; kept\n"
    "               as an Argon2id hash. Roles: lecteur (sees), opérateur (restores,\n"
    "               drills), admin (recoveries, accounts)\n"
    "  user remove  remove an account; its sessions end at once\n"
    "\n"
    "Options:\n"
    "  --config FILE         the console's config (default: " CR_CONSOLE_DEFAULT_CONFIG ");\n"
    "                        it may not exist: defaults, files beside it\n"
    "  --listen ADDR:PORT    e.g. 0.0.0.0:8444 (default: the config's, 127.0.0.1:8444)\n"
    "  --jobs FILE           the jobs file with the RPOs (default: " CR_JOBS_DEFAULT_FILE
    ", used\n"
    "                        when it exists)\n"
    "  --role ROLE           lecteur, opérateur or admin\n"
    "  --password-file FILE  the new account's password (first line)\n"
    "\n"
    "Exit codes: 0 done, 1 error (an account of that name exists), 2 usage (also a bad\n"
    "config or password), 3 wrong passphrase, 4 damaged vault or\n"
    "accounts file, 7 no vault, account or pages.\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void con_log(int refused, const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "cleanroom console: %s%s\n", refused ? "WARNING " : "", line);
}

static void con_ready(const cr_console_ready *info, void *payload)
{
    (void)payload;
    if (cli_g.json) {
        cli_json_print(json_pack("{s:i, s:s, s:s, s:b}", "port", info->port, "url", info->url,
                                 "fingerprint", info->fingerprint, "certificate_made",
                                 info->cert_made));
    } else {
        /* Machine-readable lines for scripts and the journal. */
        printf("listening on port %d\n", info->port);
        printf("url: %s\n", info->url);
        if (info->fingerprint[0])
            printf("fingerprint: %s%s\n", info->fingerprint,
                   info->cert_made ? " (new self-signed certificate)" : "");
    }
    fflush(stdout);
}

static int is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The console's pages: $CLEANROOM_CONSOLE_ASSETS, else the source tree this command was built
 * from (as the shipped rules: a build never serves the pages of an older install), else
 * where `make install` put them. */
static const char *assets_dir(void)
{
    const char *env = getenv("CLEANROOM_CONSOLE_ASSETS");
    if (env && *env)
        return env;
#ifdef CR_CONSOLE_BUILD_DIR
    if (is_dir(CR_CONSOLE_BUILD_DIR))
        return CR_CONSOLE_BUILD_DIR;
#endif
#ifdef CR_CONSOLE_INSTALL_DIR
    if (is_dir(CR_CONSOLE_INSTALL_DIR))
        return CR_CONSOLE_INSTALL_DIR;
#endif
    return NULL;
}

static int do_run(const char *config, const char *listen, const char *jobs_file)
{
    cr_jobs *jobs = NULL;
    cr_problem *pr = NULL;
    size_t npr = 0;
    cr_repo *repo = NULL;
    int rc, err;

    if (jobs_file || access(CR_JOBS_DEFAULT_FILE, F_OK) == 0) {
        const char *f = jobs_file ? jobs_file : CR_JOBS_DEFAULT_FILE;
        cr_error_clear();
        if ((err = cr_jobs_load(&jobs, &pr, &npr, f)) < 0) {
            int e = 0, w = 0;
            if (npr)
                cli_print_problems(f, pr, npr, &e, &w);
            rc = cli_fail(err, NULL);
            goto done;
        }
    }
    if ((!cli_g.repo || !*cli_g.repo) && jobs && jobs->vault)
        cli_g.repo = jobs->vault;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cr_console_options o = CR_CONSOLE_OPTIONS_INIT;
    o.config = config;
    o.listen = listen;
    o.assets = assets_dir();
    o.repo = repo;
    o.jobs = jobs;
    o.log = con_log;
    o.ready = con_ready;
    o.stop = &stop_flag;
    cr_error_clear();
    err = cr_console_run(&o);
    rc = err < 0 ? cli_fail(err, "the console stopped") : CLI_EXIT_OK;
done:
    cr_repo_free(repo);
    cr_jobs_free(jobs);
    cr_problems_free(pr, npr);
    return rc;
}

/* The first line of f, without its end; NULL with a message when it is too long. */
static char *read_line(FILE *f, const char *what)
{
    char *line = cli_xmalloc(1100);
    if (!fgets(line, 1100, f)) {
        line[0] = '\0';
    } else if (!strchr(line, '\n') && !feof(f)) {
        cli_error("%s: the password is longer than 1024 characters", what);
        cli_passphrase_free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static int do_user_add(const char *config, const char *name, const char *role_s,
                       const char *pass_file)
{
    cr_console_role role;
    char *pass = NULL;
    int rc;
    if (!role_s || cr_console_role_parse(&role, role_s) < 0)
        return cli_usage_error("console", "give the account's role: --role lecteur, opérateur "
                                          "or admin");
    if (pass_file) {
        FILE *f = fopen(pass_file, "r");
        if (!f) {
            cli_error("cannot read %s: %s", pass_file, strerror(errno));
            return errno == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
        }
        pass = read_line(f, pass_file);
        fclose(f);
    } else if (!isatty(STDIN_FILENO)) {
        pass = read_line(stdin, "standard input");
    } else if ((rc = cli_passphrase(&pass, "CLEANROOM_CONSOLE_PASSWORD_FILE",
                                    "CLEANROOM_CONSOLE_PASSWORD",
                                    "Password of the new console account: ", 1)) != 0) {
        return rc;
    }
    if (!pass)
        return CLI_EXIT_USAGE;
    cr_error_clear();
    int err = cr_console_user_add(config, name, role, pass);
    cli_passphrase_free(pass);
    if (err == CR_EINPUT)
        return cli_usage_error("console", "%s", cr_error_last());
    if (err == CR_EEXISTS || err == CR_ECORRUPT) {
        /* not cli_fail: its hints speak of the vault, this is the console's own file */
        cli_error("%s", cr_error_last());
        return err == CR_EEXISTS ? CLI_EXIT_ERROR : CLI_EXIT_INTEGRITY;
    }
    if (err < 0)
        return cli_fail(err, "the account was not added");
    if (!cli_g.quiet)
        printf("added the console account '%s' (%s)\n", name, cr_console_role_name(role));
    return CLI_EXIT_OK;
}

int cmd_console(int argc, char **argv)
{
    enum { OPT_CONFIG = CLI_OPT_FIRST_CMD, OPT_LISTEN, OPT_JOBS, OPT_ROLE, OPT_PASSWORD_FILE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"role", required_argument, NULL, OPT_ROLE},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *listen = NULL, *jobs = NULL, *role = NULL, *pass_file = NULL;
    int c;

    while ((c = cli_getopt(argc, argv, "", longopts, "console")) != -1) {
        switch (c) {
        case OPT_CONFIG: config = optarg; break;
        case OPT_LISTEN: listen = optarg; break;
        case OPT_JOBS: jobs = optarg; break;
        case OPT_ROLE: role = optarg; break;
        case OPT_PASSWORD_FILE: pass_file = optarg; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (nargs == 0)
        return do_run(config, listen, jobs);
    if (strcmp(argv[optind], "user") != 0)
        return cli_usage_error("console", "unknown action '%s': use 'console' alone to serve, "
                                          "or 'console user add|remove NAME'",
                               argv[optind]);
    const char *sub = nargs >= 2 ? argv[optind + 1] : "";
    if (!strcmp(sub, "add") && nargs == 3)
        return do_user_add(config, argv[optind + 2], role, pass_file);
    if (!strcmp(sub, "remove") && nargs == 3) {
        cr_error_clear();
        int err = cr_console_user_remove(config, argv[optind + 2]);
        if (err < 0)
            return cli_fail(err, "the account was not removed");
        if (!cli_g.quiet)
            printf("removed the console account '%s': its sessions end now\n",
                   argv[optind + 2]);
        return CLI_EXIT_OK;
    }
    return cli_usage_error("console", "use: console user add NAME --role ROLE, or console user "
                                      "remove NAME");
}
