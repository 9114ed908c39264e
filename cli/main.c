/*
 * cleanroom command: global options, dispatch to the subcommands, --help and
 * --version.
 *
 * Global options (--repo, --json, --quiet, --help) are accepted before the
 * subcommand here and after it by every subcommand's option parser
 * (cli_getopt), so "cleanroom --repo V snapshots" and "cleanroom snapshots
 * --repo V" mean the same. Each subcommand returns the process exit code
 * documented in docs/exit-codes.md.
 */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *actions; /**< the words that follow the command ("add list remove"), or NULL */
} cli_cmd;

static const cli_cmd commands[] = {
    {"init", cmd_init, "create a new, empty vault", NULL},
    {"key", cmd_key, "add, list or remove the vault's passphrases", "add list remove"},
    {"backup", cmd_backup, "save folders as a new snapshot (restore point)", NULL},
    {"snapshots", cmd_snapshots, "list the snapshots", NULL},
    {"ls", cmd_ls, "list the files of a snapshot", NULL},
    {"diff", cmd_diff, "show what changed between two snapshots", NULL},
    {"hunt", cmd_hunt, "scan the snapshots for indicators of compromise", NULL},
    {"findings", cmd_findings, "list what the hunt found, snapshot by snapshot", NULL},
    {"clean-point", cmd_clean_point, "show the last clean restore point of each source", NULL},
    {"timeline", cmd_timeline, "tell when each finding of a source appeared and went", NULL},
    {"inventory", cmd_inventory, "list what a snapshot has installed (packages, programs, "
     "applications)", NULL},
    {"vulns", cmd_vulns, "list the known-exploited vulnerabilities a snapshot holds", NULL},
    {"kev", cmd_kev, "import CISA's catalog of known exploited vulnerabilities", "import"},
    {"advisories", cmd_advisories, "import the Debian security tracker's fixed versions",
     "import"},
    {"restore", cmd_restore, "restore a snapshot (or some of its files) into a folder", NULL},
    {"vm-export", cmd_vm_export, "export an image snapshot as a VM for a hypervisor", NULL},
    {"verify", cmd_verify, "check the vault for damage", NULL},
    {"forget", cmd_forget, "stop keeping snapshots (retention policy or ids)", NULL},
    {"prune", cmd_prune, "remove the data no kept snapshot uses (after a grace period)", NULL},
    {"plan", cmd_plan, "check a recovery plan and show its start order", "check show"},
    {"journal", cmd_journal, "verify or show a recovery journal", "verify show"},
    {"probe", cmd_probe,
     "check that a service answers: tcp, http, ldap, postgres, dicom, hl7", NULL},
    {"recover", cmd_recover, "run a recovery plan: restore, start and check every service", NULL},
    {"drill", cmd_drill,
     "rehearse a recovery plan in a scratch folder and measure its RTO", NULL},
    {"report", cmd_report,
     "write the incident recovery report (Markdown, HTML) of a journal", NULL},
    {"job", cmd_job, "check, list, run or schedule the backup jobs of a jobs file",
     "check list run install digest"},
    {"status", cmd_status,
     "how old each source's last backup is, against its RPO; the vault's size and last verify",
     NULL},
    {"server", cmd_server, "serve the vault over HTTPS: backups added, never removed",
     "init run token"},
    {"console", cmd_console, "serve the web console (French first): the dashboard in a browser",
     "user"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fputs("usage: cleanroom [--repo DIR] [--json] [--quiet] COMMAND [ARGS...]\n"
          "       cleanroom --version | --help | help COMMAND\n"
          "\n"
          "cleanroom keeps encrypted, deduplicated, write-once backups (snapshots) in a vault,\n"
          "hunts them for indicators of compromise, and restarts a hospital from them in\n"
          "dependency order (recover, drill) with every step journaled.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Global options (before or after the command):\n"
          "  --repo DIR   the vault (default: $CLEANROOM_REPO); --vault DIR is the same\n"
          "  --json       machine-readable output on stdout\n"
          "  -q, --quiet  no progress line, only essential output\n"
          "  -h, --help   help (of a command, when given after it)\n"
          "  --version    print the version\n"
          "\n"
          "Environment:\n"
          "  CLEANROOM_REPO              the vault when --repo is not given\n"
          "  CLEANROOM_PASSWORD_FILE     file whose first line is the passphrase\n"
          "  CLEANROOM_PASSWORD_COMMAND  command (sh -c) whose first line of output is the\n"
          "                              passphrase (a keyring, a password safe)\n"
          "  CLEANROOM_PASSWORD          the passphrase (when no file or command is given)\n"
          "  Without any, the passphrase is asked on the terminal.\n"
          "\n"
          "Exit codes: 0 ok, 1 error, 2 usage, 3 wrong passphrase, 4 damaged vault data,\n"
          "5 partly done, 6 vault locked, 7 not found, 8 restore refused (compromised restore\n"
          "point), 9 findings at or above 'hunt --fail-on', 10 probe failed\n"
          "(see docs/exit-codes.md).\n",
          f);
}

static const cli_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* "unknown command 'snapshot'", with "did you mean `snapshots`?" when one is close. */
static int unknown_command(const char *name)
{
    const char *names[NCOMMANDS + 1];
    for (size_t i = 0; i < NCOMMANDS; i++)
        names[i] = commands[i].name;
    names[NCOMMANDS] = "help";
    const char *near = cr_suggest(name, names, NCOMMANDS + 1);
    char *esc = cli_escape(name);
    int rc = near ? cli_usage_error(NULL, "unknown command '%s': did you mean `%s`?", esc, near)
                  : cli_usage_error(NULL, "unknown command '%s'", esc);
    free(esc);
    return rc;
}

static int run_help(const char *name)
{
    const cli_cmd *c = find_command(name);
    if (!c)
        return unknown_command(name);
    char *args[] = {(char *)c->name, "--help", NULL};
    optind = 0;
    return c->fn(2, args);
}

/* The bash completion: the shell function, then the commands' option tables. */
static const char completion_head[] =
    "# bash completion for cleanroom (generated by 'cleanroom --bash-completion' from the\n"
    "# option tables the command parses with: do not edit)\n"
    "_cleanroom() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=\"\" cmd=\"\" cmdi=0 i w var\n"
    "    [ \"$COMP_CWORD\" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    COMPREPLY=()\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        case $w in\n"
    "        --repo|--vault) ((i++)) ;;\n"
    "        -*) ;;\n"
    "        *) cmd=$w; cmdi=$i; break ;;\n"
    "        esac\n"
    "    done\n"
    "    if [ -z \"$cmd\" ]; then\n"
    "        case $prev in --repo|--vault) COMPREPLY=($(compgen -d -- \"$cur\")); return ;; esac\n"
    "        if [[ $cur == -* ]]; then\n"
    "            COMPREPLY=($(compgen -W \"$_cleanroom_globals\" -- \"$cur\"))\n"
    "        else\n"
    "            COMPREPLY=($(compgen -W \"$_cleanroom_commands\" -- \"$cur\"))\n"
    "        fi\n"
    "        return\n"
    "    fi\n"
    "    var=${cmd//-/_}\n"
    "    if [ \"$cmd\" = help ]; then\n"
    "        [ \"$COMP_CWORD\" -eq $((cmdi + 1)) ] &&\n"
    "            COMPREPLY=($(compgen -W \"$_cleanroom_commands\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    local opts args actions\n"
    "    eval \"opts=\\${_cleanroom_opts_$var-} args=\\${_cleanroom_args_$var-}\"\n"
    "    eval \"actions=\\${_cleanroom_actions_$var-}\"\n"
    "    if [[ $prev == --* && \" $args \" == *\" $prev \"* ]]; then\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    if [[ $cur == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
    "    elif [ -n \"$actions\" ] && [ \"$COMP_CWORD\" -eq $((cmdi + 1)) ]; then\n"
    "        COMPREPLY=($(compgen -W \"$actions\" -- \"$cur\"))\n"
    "    else\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "    fi\n"
    "}\n"
    "complete -o filenames -F _cleanroom cleanroom\n";

static int print_completion(const struct option *globals)
{
    fputs(completion_head, stdout);
    fputs("_cleanroom_commands=\"", stdout);
    for (size_t i = 0; i < NCOMMANDS; i++)
        printf("%s ", commands[i].name);
    fputs("help\"\n_cleanroom_globals=\"", stdout);
    for (const struct option *o = globals; o->name; o++)
        printf("--%s ", o->name);
    fputs("-h -q\"\n", stdout);
    cli_list_options(stdout);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char *args[] = {(char *)commands[i].name, NULL};
        optind = 0;
        commands[i].fn(1, args);
        if (commands[i].actions) {
            printf("_cleanroom_actions_");
            for (const char *c = commands[i].name; *c; c++)
                putchar(*c == '-' ? '_' : *c);
            printf("=\"%s\"\n", commands[i].actions);
        }
    }
    cli_list_options(NULL);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"version", no_argument, NULL, CLI_OPT_VERSION},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, help = 0, version = 0;

    /* Keep stdout and stderr in order when both go to the same log file. */
    setvbuf(stderr, NULL, _IONBF, 0);
    /* Used by the build to write the bash completion (not for technicians: undocumented). */
    if (argc == 2 && strcmp(argv[1], "--bash-completion") == 0)
        return print_completion(longopts);

    if (cr_init() < 0) {
        cli_error("cannot initialise the crypto library: %s", cr_error_last());
        return CLI_EXIT_ERROR;
    }

    /* '+': stop at the subcommand; its own parser handles what follows. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_REPO: cli_g.repo = optarg; break;
        case CLI_OPT_JSON: cli_g.json = 1; break;
        case 'q': cli_g.quiet = 1; break;
        case 'h': help = 1; break;
        case 'V':
        case CLI_OPT_VERSION: version = 1; break;
        case ':': return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_unknown_option(argv[optind - 1], longopts, NULL);
        }
    }
    if (version) {
        printf("cleanroom %s\n", CR_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    if (optind >= argc) {
        if (help) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        usage(stderr);
        return CLI_EXIT_USAGE;
    }

    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 < argc)
            return run_help(argv[optind + 1]);
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (help)
        return run_help(name);

    const cli_cmd *cmd = find_command(name);
    if (!cmd)
        return unknown_command(name);
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* glibc: re-initialise getopt for the subcommand's own options */
    int rc = cmd->fn(sub_argc, sub_argv);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("could not write the output: %s", strerror(errno));
        if (rc == 0)
            rc = CLI_EXIT_ERROR;
    }
    return rc;
}
