/*
 * cleanroom command: helpers shared by the subcommands.
 *
 * The command sees only the public API (include/cleanroom/). Everything a
 * subcommand needs besides the library lives here: option parsing that accepts
 * the global options anywhere, getting the passphrase, opening the vault with
 * messages a technician can act on, the mapping of library codes to exit
 * codes, escaping of untrusted names, JSON output, human sizes and the
 * progress line.
 */
#ifndef CLEANROOM_CLI_COMMON_H
#define CLEANROOM_CLI_COMMON_H

#include "cleanroom/cleanroom.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

/* Exit codes: docs/exit-codes.md. Only ever add. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_AUTH = 3,
    CLI_EXIT_INTEGRITY = 4,
    CLI_EXIT_PARTIAL = 5,
    CLI_EXIT_LOCKED = 6,
    CLI_EXIT_NOTFOUND = 7,
    CLI_EXIT_REFUSED = 8,  /**< restore refused: the restore point is compromised */
    CLI_EXIT_FINDINGS = 9, /**< hunt --fail-on: a finding at or above the severity */
    CLI_EXIT_PROBE_FAILED = 10, /**< probe: the service did not answer as expected */
    CLI_EXIT_SUSPECT = 11, /**< backup, job run: saved, but ransomware signals: tagged suspect */
    CLI_EXIT_WAITING = 12, /**< recover: paused, a manual step waits for its acknowledgement */
};

/** Global options, accepted before or after the subcommand. */
typedef struct cli_global {
    const char *repo; /**< --repo, else $CLEANROOM_REPO */
    int json;         /**< --json */
    int quiet;        /**< --quiet / -q */
} cli_global;

extern cli_global cli_g;

/* Values returned by cli_getopt() besides the command's own options. */
#define CLI_OPT_HELP 'h'
#define CLI_OPT_USAGE (-2) /**< bad option: message printed, exit 2 */
enum {
    CLI_OPT_REPO = 0x1000,
    CLI_OPT_JSON,
    CLI_OPT_VERSION,
    CLI_OPT_FIRST_CMD = 0x1100, /**< subcommands number their long-only options from here */
};

/**
 * Long options every subcommand accepts; put at the end of its table, before the zero row.
 * --vault is --repo (the word the documentation uses; plan, recover and drill had it).
 */
#define CLI_GLOBAL_LONGOPTS                                                                        \
    {"repo", required_argument, NULL, CLI_OPT_REPO}, {"vault", required_argument, NULL, CLI_OPT_REPO}, \
        {"json", no_argument, NULL, CLI_OPT_JSON}, {"quiet", no_argument, NULL, 'q'},              \
        {"help", no_argument, NULL, 'h'}

/**
 * getopt_long() for a subcommand: handles the global options itself (they
 * never reach the caller), returns CLI_OPT_HELP for --help/-h, and prints a
 * message and returns CLI_OPT_USAGE for an unknown option or a missing value.
 * Returns -1 at the end; positional arguments are then argv[optind..argc-1].
 */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd);

/**
 * From now on, cli_getopt() prints the options of its command to `f` as shell
 * variables (for the bash completion) and returns CLI_OPT_USAGE.
 */
void cli_list_options(FILE *f);

/**
 * Report the unknown option `arg` of `cmd` (NULL: the global options), with
 * "did you mean `--NAME`?" when a long option of `longopts` is close.
 * @return CLI_EXIT_USAGE.
 */
int cli_unknown_option(const char *arg, const struct option *longopts, const char *cmd);

/** Print "cleanroom: error: <fmt>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Print "hint: <fmt>" on stderr. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Print "warning: <fmt>" on stderr (clears the progress line first). */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Report a usage error for `cmd` and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The exit code of a library error code. */
int cli_exit_code(int err);

/**
 * Print the library's message for `err` (or `context: message` when context is
 * not NULL), a hint when one helps, and return the exit code.
 */
int cli_fail(int err, const char *context);

/** Parse a decimal unsigned integer within [min, max]. @return 0 or -1. */
int cli_parse_uint(unsigned long *out, const char *s, unsigned long min, unsigned long max);

/** Parse a --kdf value (interactive, moderate, sensitive). @return 0 or -1. */
int cli_parse_kdf(cr_kdf_profile *out, const char *s);

/** The vault directory from --repo or $CLEANROOM_REPO, or NULL (message printed). */
const char *cli_repo_path(void);

/**
 * Get a passphrase: $<file_env> (first line of that file), or $<env>_COMMAND
 * (first line printed by that command; both set: a usage error), else $<env>,
 * else a prompt on the terminal with echo off (asked twice when `confirm`).
 * @param[out] out malloc'd, wipe and free with cli_passphrase_free().
 * @return an exit code: 0, or CLI_EXIT_USAGE with the message printed.
 */
int cli_passphrase(char **out, const char *file_env, const char *env, const char *prompt,
                   int confirm);

/** Wipe and free a passphrase. Accepts NULL. */
void cli_passphrase_free(char *pass);

/**
 * Open the vault named by --repo / $CLEANROOM_REPO with the passphrase from the
 * environment or the terminal.
 * @return an exit code: 0 with *out set, or the code of the printed error.
 */
int cli_open_repo(cr_repo **out);

/**
 * The vault to verify a journal with (cmd_journal.c): --repo or
 * CLEANROOM_REPO, else the vault the journal names when it is there, else
 * none (*out NULL). @return an exit code (0: *out set or NULL).
 */
int cli_journal_vault(cr_repo **out, const char *file);
/** Print how a verified journal was checked (keyed or not, heads in the vault). */
void cli_journal_says(const cr_journal_check *ck, cr_repo *repo);

/**
 * Resolve a snapshot spec (id, prefix, latest, SOURCE:latest), printing a
 * message and a hint when it fails. @return an exit code (0: *out set).
 */
int cli_find_snapshot(cr_snapshot **out, cr_repo *repo, const char *spec);

/** Escape a name for text output: control characters, invalid UTF-8, "\\". Never NULL. */
char *cli_escape(const char *s);

/** Print s escaped. */
void cli_fputs_esc(const char *s, FILE *f);

/**
 * A JSON string for an untrusted name. Valid UTF-8 is kept as is (jansson
 * escapes control characters); bytes that are not valid UTF-8 are written as
 * the four characters \xNN so the output is always valid JSON.
 */
json_t *cli_json_str(const char *s);

/** A JSON integer from an unsigned 64-bit value (clamped to the JSON integer range). */
json_t *cli_json_u64(uint64_t v);

/** Print a JSON value on stdout, indented, followed by a newline; steals the reference. */
int cli_json_print(json_t *j);

/** A snapshot as the JSON object documented in docs/commands/snapshots.md. */
json_t *cli_snapshot_json(const cr_snapshot *s);

/** "1.2 GiB", "512 B". buf: at least 32 bytes. Returns buf. */
char *cli_human_size(char *buf, size_t len, uint64_t bytes);

/** "3.2 s", "4 min 05 s", "2 h 03 min". buf: at least 32 bytes. Returns buf. */
char *cli_human_duration(char *buf, size_t len, double seconds);

/** RFC 3339 UTC to the second: "2026-11-22T10:00:00Z". buf: at least 32 bytes. */
char *cli_time_sec(char *buf, size_t len, int64_t ns);

/** Seconds on a monotonic clock. */
double cli_now(void);

/** The first 8 hex digits of an id. buf: at least 9 bytes. */
char *cli_short_id(char *buf, const cr_id *id);

/** The name of a node type: "file", "dir", "symlink", ... */
const char *cli_node_type_name(cr_node_type t);

/**
 * One JSON event on one line, as `recover --json` prints them:
 * {"type":TYPE,"service":SERVICE,KEY:VALUE,...}, every value a string (kv holds
 * n key/value pairs; service may be NULL). Serialised with the messages on stderr.
 */
void cli_json_event(FILE *f, const char *type, const char *service, const char *const *kv,
                    size_t n);

/**
 * The progress of a long operation ("backup", "restore", "verify"...; `verb`
 * is borrowed). On a terminal (and not --quiet): a line on stderr redrawn in
 * place. With --json: JSON events on stderr (cli_json_event), one per line:
 * "VERB-start" now, "progress" at most once a second (none with --quiet), and
 * "VERB-done" from cli_progress_done (docs/commands/backup.md). Otherwise
 * NULL: nothing is shown. Thread-safe.
 */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(const char *verb);
/** A cr_progress_cb; payload is the cli_progress (or NULL: nothing shown). */
void cli_progress_cb(const cr_progress *p, void *payload);

/** A named count of the "VERB-done" event. */
typedef struct cli_total {
    const char *key;
    uint64_t value;
} cli_total;

/**
 * The operation is over (err: its result): with --json, the last "progress"
 * event if one was held back by the rate limit, then "VERB-done" with status
 * "ok", "partial" (CR_EPARTIAL) or "failed" (and the message), seconds,
 * the snapshot's id (when not NULL) and the counts. Nothing otherwise.
 * Accepts NULL.
 */
void cli_progress_done(cli_progress *pr, int err, const char *snapshot, const cli_total *counts,
                       size_t ncounts);
/** Erase the progress line and free. Accepts NULL. */
void cli_progress_free(cli_progress *pr);

/* ------------------------------------------------------------- hunt results */

/** Parse a severity name (info, low, medium, high, critical). @return 0 or -1. */
int cli_parse_severity(cr_severity *out, const char *s);
/**
 * Parse the severity given to `option` of `cmd`; on a bad value print the
 * usage error. @return 0, or CLI_EXIT_USAGE (message printed).
 */
int cli_severity_option(cr_severity *out, const char *arg, const char *cmd, const char *option);
/**
 * Report a positional argument a command does not take (escaped, as it may be
 * anything) with `how` saying how to give what was probably meant.
 * @return CLI_EXIT_USAGE.
 */
int cli_unexpected_argument(const char *cmd, const char *arg, const char *how);

/**
 * Parse a size: bytes, or a number with K, M, G or T (binary units; "KiB", "MB"
 * are accepted too). @return 0 or -1.
 */
int cli_parse_size(uint64_t *out, const char *s);

/** A count with thousands separators: "2,931". buf: at least 32 bytes. Returns buf. */
char *cli_count(char *buf, size_t len, uint64_t n);

/** A finding as the JSON object documented in docs/commands/findings.md. */
json_t *cli_finding_json(const cr_finding *f);

/**
 * Print one finding on one line: "<indent>SEVERITY CATEGORY PATH INDICATOR DETAIL",
 * every untrusted part escaped; with `first_seen`, "(first seen in ID, TIME)"
 * when the finding appeared in an earlier snapshot.
 */
void cli_finding_print(FILE *out, const char *indent, const cr_finding *f, int first_seen);

/**
 * Print findings highest severity first, one line each, except that more than
 * three of one indicator and severity are told in one line ("SEVERITY
 * CATEGORY INDICATOR on N files, e.g. PATH, PATH, PATH, ..."), as ransomware
 * renames thousands of files. At most `max_lines` lines (0: no limit), then
 * "... and N more finding(s)". `first_seen` as in cli_finding_print.
 * @return the number of findings told in grouped lines.
 */
size_t cli_findings_print_grouped(FILE *out, const char *indent, const cr_finding *const *v,
                                  size_t n, size_t max_lines, int first_seen);

/** cli_findings_print_grouped for an array of findings. */
size_t cli_findings_print_array(FILE *out, const char *indent, const cr_finding *f, size_t n,
                                size_t max_lines, int first_seen);

/**
 * The hunt gate of a restore of a whole snapshot (restore --image, vm-export;
 * in cmd_restore.c): a snapshot never hunted gets a warning; one with a
 * finding at or above high is refused with its top findings and the command
 * "cleanroom CMD CLEAN-ID REDO" that restores the source's clean point
 * instead (`redo` already escaped), unless accept_risk (then a loud warning).
 * @param[out] hunted 1 if the hunt looked at the snapshot
 * @param[out] flagged JSON array of the findings at or above high (caller
 *             decrefs), set when 0 is returned
 * @return 0 to go on, or an exit code (CLI_EXIT_REFUSED; message printed).
 */
int cli_hunt_gate(int *hunted, json_t **flagged, cr_repo *repo, const cr_snapshot *snap,
                  int accept_risk, const char *cmd, const char *redo);

/**
 * Check that `source` has snapshots in the vault; if not, print a message
 * naming the sources that do exist. @return an exit code (0: it has).
 */
int cli_check_source(cr_repo *repo, const char *source);

/** A clean point as the JSON object documented in docs/commands/clean-point.md. */
json_t *cli_clean_point_json(const cr_clean_point *c, cr_severity min);

/**
 * Print the clean point of a source in one line ("SOURCE: clean restore point
 * ID (TIME); first compromised ID (TIME)", or the plain "NO CLEAN RESTORE
 * POINT" sentence), plus a warning line when snapshots were never hunted.
 */
void cli_clean_point_line(FILE *out, const cr_clean_point *c, cr_severity min);

/**
 * Add the fields of an image snapshot to its JSON object (documented in
 * docs/commands/snapshots.md): "kind" ("files" or "image") always; for an
 * image snapshot also "system_root", "vm" and "disks". Called by
 * cli_snapshot_json.
 */
void cli_snapshot_image_json(json_t *o, const cr_snapshot *s);

/**
 * A memory size for a VM in MiB: a bare number is MiB ("4096"), else a size in
 * whole MiB ("4G", "512M", "4GiB"). @return 0, or -1 outside [min_mib, max_mib].
 */
int cli_parse_memory_mib(uint64_t *out, const char *s, uint64_t min_mib, uint64_t max_mib);

/**
 * A word for a command shown to the technician: escaped, and in single quotes
 * (shell-safe) when it holds anything but letters, digits and "/._-+:=@" or is
 * empty. Freed with free().
 */
char *cli_shell_word(const char *s);

/* Memory: the command stops with exit 1 and a message when memory runs out. */
void *cli_xmalloc(size_t n);
void *cli_xrealloc(void *p, size_t n);
char *cli_xstrdup(const char *s);

/* Subcommands: each returns the process exit code. argv[0] is the subcommand name. */
int cmd_init(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_vm_export(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_hunt(int argc, char **argv);
int cmd_findings(int argc, char **argv);
int cmd_clean_point(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_drill(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_inventory(int argc, char **argv);
int cmd_vulns(int argc, char **argv);
int cmd_kev(int argc, char **argv);
int cmd_advisories(int argc, char **argv);
/** recover and drill share their code (cmd_recover.c). */
int cli_recover_main(int argc, char **argv, int drill);

/**
 * The vault a plan's commands use (plan check, plan show, recover, drill):
 * --repo/--vault, else the plan's `vault:` (relative to the plan's folder),
 * else $CLEANROOM_REPO. @return a new string, or NULL: none given.
 * Defined in cmd_plan.c.
 */
char *cli_plan_vault(const cr_plan *plan, const char *file);

/**
 * The folder of the rules shipped with cleanroom ($CLEANROOM_RULES, the source tree's, or
 * the installed one). `what` ends the error message ("nothing was <what>"); NULL: no
 * message at all (the caller goes on without the rules).
 * @return an exit code (0: *out set; otherwise the message is printed).
 */
int cli_builtin_rules_dir(const char **out, const char *what);

/**
 * The offline vulnerability data's places: the shipped rules folder and the data folder
 * where imports go ($CLEANROOM_DATA, else /var/lib/cleanroom). @return an exit code.
 */
int cli_vulndata_options(cr_vulndata_options *out, const char *what);
/** Load the vulnerability data and print its age on stderr (every time: docs/commands/vulns.md).
 *  `optional`: no data at all is a warning (*out NULL), not an error (recover, drill).
 *  @return an exit code (0: *out set, or NULL when optional). */
int cli_vulndata_load(cr_vulndata **out, const char *what, int optional);
/** The age of the data as a JSON object (vulns --json). */
json_t *cli_vulndata_json(const cr_vulndata *d);

/** Print the problems of a file an operator wrote (a plan, a jobs file) as
 *  FILE:LINE:COL: error|warning: MESSAGE, counting them into *nerr and *nwarn. */
void cli_print_problems(const char *file, const cr_problem *p, size_t n, int *nerr, int *nwarn);
/** The same as a JSON array of {line, column, severity, message}. */
json_t *cli_problems_json(const cr_problem *p, size_t n);

#endif
