/*
 * cleanroom: recovery plans (docs/plan.md) and the recovery journal.
 *
 * A plan is a YAML file that names the site and its services: for each, the
 * vault source to restore, which restore point (the hunt's clean point by
 * default), where to restore it (a folder, a disk image, or a VM exported for
 * a hypervisor), the command that starts it, the probes that say it is back,
 * its tier (0 core infrastructure .. 3 workstations), what it depends on and
 * its recovery time objective. cr_plan_load() reads and checks a plan and
 * reports every problem with its line and column; cr_plan_check_vault() adds
 * the checks that need the vault; cr_plan_order() gives the start order.
 *
 * The journal is the evidence of a recovery: an append-only file of JSON
 * lines, each entry carrying the SHA-256 of the previous one (docs/format.md
 * §16).
 */
#ifndef CLEANROOM_PLAN_H
#define CLEANROOM_PLAN_H

#include "common.h"
#include "image.h"
#include "probe.h"
#include "repo.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which restore point a service comes back from. */
typedef enum cr_plan_point {
    CR_PLAN_POINT_CLEAN = 0,  /**< the hunt's clean point (default) */
    CR_PLAN_POINT_LATEST = 1, /**< the newest snapshot */
    CR_PLAN_POINT_ID = 2,     /**< a given snapshot id (prefix of >= 4 hex digits) */
} cr_plan_point;

typedef enum cr_plan_target_kind {
    CR_PLAN_TARGET_FOLDER = 1, /**< `folder: DIR`: restore the files into a folder */
    CR_PLAN_TARGET_IMAGE = 2,  /**< `image: FILE`: restore one disk as an image file (format) */
    CR_PLAN_TARGET_VM = 3,     /**< `vm: DIR`: export the VM for a hypervisor into a folder */
} cr_plan_target_kind;

/** Where a service is restored. Paths are absolute and normalised (no "//", ".", ".."). */
typedef struct cr_plan_target {
    cr_plan_target_kind kind;
    char *path;                  /**< folder, image file or export folder; with count > 1 it
                                      holds "%n" (see cr_plan_instance_path) */
    cr_image_format format;      /**< image: from `format:` or the file's extension */
    char *disk;                  /**< image: "disk0"... or NULL (the only disk) */
    cr_hypervisor hypervisor;    /**< vm */
    unsigned int line, col;      /**< of the `target:` value */
} cr_plan_target;

/**
 * A manual action of a service (`steps:`): what a person must do once the
 * service is back (seize the FSMO roles, reset krbtgt...). A blocking step
 * holds what comes after the service (its dependents and the next tiers)
 * until it is acknowledged (`recover PLAN --ack SERVICE --step ID --by ...`).
 */
typedef struct cr_plan_step {
    char *id;         /**< letters, digits, '-' and '_' */
    char *text_fr;    /**< what to do, in French (either text may be NULL, not both) */
    char *text_en;    /**< ... in English */
    int blocks;       /**< 1 (default): dependents and next tiers wait for its acknowledgement */
    unsigned int line, col;
} cr_plan_step;

/** The text of a step in `lang` ("fr" or "en"), else in the other language. */
const char *cr_plan_step_text(const cr_plan_step *st, const char *lang);

/** `gate: {kev: ...}`: what recover and drill do with a service whose restore point holds a
 *  known-exploited vulnerability used by ransomware (cleanroom/reconnect.h). */
typedef enum cr_plan_kev_gate {
    CR_PLAN_KEV_REFUSE = 0, /**< the default: not started until each such match is acknowledged
                                 (`recover PLAN --ack SERVICE --step kev:CVE-... --by ...`) */
    CR_PLAN_KEV_WARN = 1,   /**< started; the matches are journaled and reported */
} cr_plan_kev_gate;

typedef struct cr_plan_service {
    char *name;
    char *site;                  /**< the service's `site:`, else the plan's */
    int tier;                    /**< 0 core infrastructure .. 3 workstations */
    char **depends_on; size_t ndepends;
    char *source;                /**< vault source (default: the name) */
    cr_plan_point point;
    char *point_id;              /**< CR_PLAN_POINT_ID: the id or prefix, else NULL */
    cr_plan_target target;
    char *start;                 /**< shell command run after the restore (or NULL) */
    cr_probe_spec *probes; size_t nprobes;
    double rto;                  /**< target, seconds (0 = none) */
    unsigned int count;          /**< instances (workstations: 50); 1 by default */
    unsigned int line, col;      /**< of the service's `name:` */
    unsigned int source_line, source_col;  /**< of `source:` (else of `name:`) */
    unsigned int point_line, point_col;    /**< of `restore_point:` (else of `name:`) */
    char *stop;                  /**< shell command that stops what `start` started (drills
                                      run it before removing their scratch folder), or NULL */
    double max_age;              /**< `max_age:` (else the defaults'): the restore point should
                                      be at most this old, seconds (0 = not checked) */
    unsigned int max_age_line, max_age_col; /**< of `max_age:` (else of `name:`) */
    cr_plan_step *steps; size_t nsteps;     /**< `steps:`, in order */
    cr_plan_kev_gate gate_kev;   /**< `gate: {kev: refuse|warn}` (else the defaults') */
    int64_t cutoff_ns;           /**< `restore_point: {before: TIME}`, else `defaults: cutoff`:
                                      the clean point is chosen among the snapshots taken
                                      strictly before it (ns; 0 = none) */
} cr_plan_service;

typedef struct cr_plan {
    char *file;                  /**< the plan file as given */
    char *site;
    char *finess;                /**< `finess:` the establishment's FINESS number, or NULL */
    char *lang;                  /**< `lang:` "fr" or "en" (the report's language), or NULL */
    char *vault;                 /**< `vault:` (NULL if absent) */
    unsigned int vault_line, vault_col;
    double probe_timeout;        /**< defaults: seconds per probe attempt (5) */
    unsigned int probe_retries;  /**< defaults: extra attempts (2) */
    double probe_interval;       /**< defaults: seconds between attempts (2) */
    cr_plan_service *services; size_t nservices;
    double max_age;              /**< defaults: `max_age:` in seconds (0 = none) */
    cr_plan_kev_gate gate_kev;   /**< defaults: `gate: {kev: ...}` (refuse) */
    int64_t cutoff_ns;           /**< defaults: `cutoff:` the incident's cut-off (0 = none) */
} cr_plan;

/** One problem in a plan: "FILE:LINE:COL: error: message" (line and column from 1; 0 = none). */
typedef cr_problem cr_plan_problem; /* the problem type shared with jobs files */

/** Limits applied to a plan file. */
#define CR_PLAN_MAX_BYTES (1024u * 1024)
#define CR_PLAN_MAX_SERVICES 10000u
#define CR_PLAN_MAX_NODES 200000u
#define CR_PLAN_MAX_DEPTH 64u
#define CR_PLAN_MAX_COUNT 10000u
#define CR_PLAN_MAX_STEPS 32

/**
 * Parse a duration such as "4h", "30m", "90s", "1h30m", "7d" or "4 hours".
 * @param unit_optional 1: a bare number is seconds
 * @return 0 or CR_EINPUT.
 */
int cr_plan_duration_parse(double *out, const char *s, int unit_optional);

void cr_plan_free(cr_plan *plan);
void cr_plan_problems_free(cr_plan_problem *p, size_t n);

/**
 * Parse and check a plan file (YAML). Every problem is collected, not only the
 * first: syntax errors, unknown keys (with the closest known key), wrong
 * types, missing or duplicate keys, duplicate service names, unknown
 * dependencies, dependency cycles (naming the cycle), a dependency on a
 * service of a higher tier, targets that would overwrite each other, bad RTO
 * and probe specs. Anchors and aliases are refused. Problems are sorted by
 * line and column.
 * @param[out] out the plan (NULL when it has errors); freed with cr_plan_free.
 * @param[out] problems freed with cr_plan_problems_free (may be NULL if not wanted).
 * @return 0 (warnings only); CR_EINPUT if the plan has errors; CR_ENOTFOUND
 *         (no such file); an error (unreadable file, out of memory).
 */
int cr_plan_load(cr_plan **out, cr_plan_problem **problems, size_t *nproblems, const char *path);

/**
 * Checks that need the vault: each source has snapshots (else an error that
 * suggests close source names), the restore point resolves (`clean`: an
 * error naming the first compromised snapshot when there is no clean point,
 * or saying to run `cleanroom hunt` when the source was never hunted; an id:
 * found, of that source), image and vm targets come from image snapshots and
 * folder targets from file snapshots; a warning when the restore point is
 * older than the service's `max_age` (backups may have stopped). Appends to
 * problems (kept sorted).
 * @return 0 (warnings only), CR_EINPUT if errors were found, or an error
 *         reading the vault (its code).
 */
int cr_plan_check_vault(cr_plan_problem **problems, size_t *nproblems, const cr_plan *plan,
                        cr_repo *repo);

/**
 * Checks of this machine (run where the recovery will run): a warning for
 * each target below a folder that other users cannot traverse (no x bit for
 * others), since the account the `start` command's service runs under is not
 * known and would not reach its data. Folders that do not exist yet are
 * created traversable (0755) by the recovery. Appends to problems (kept
 * sorted).
 * @return 0, or CR_ERROR (out of memory).
 */
int cr_plan_check_host(cr_plan_problem **problems, size_t *nproblems, const cr_plan *plan);

/**
 * The snapshot a service is restored from, and why it was chosen, in words
 * ("clean point: the newest hunted snapshot before 5e6f7a8b (2026-11-03T02:00:00Z),
 * the first compromised one"), for the journal.
 * @param[out] out freed with cr_snapshot_free.
 * @param[out] why freed with free() (may be NULL if not wanted).
 * @return 0; CR_ENOTFOUND (no snapshot, no clean point, never hunted: the
 *         message says which); CR_EAMBIGUOUS; CR_EINPUT (an id of another
 *         source, a snapshot of the wrong kind for the target); an error.
 */
int cr_plan_resolve(cr_snapshot **out, char **why, cr_repo *repo, const cr_plan_service *svc);

/**
 * Services in the order they may be started: by tier, then so that every
 * service comes after what it depends on, otherwise in file order.
 * @param[out] order indexes into plan->services, freed with free().
 * @return 0, CR_EINPUT (a cycle: the plan did not come from cr_plan_load), or CR_ERROR.
 */
int cr_plan_order(size_t **order, const cr_plan *plan);

/**
 * The target path of instance `i` (1..count) of a service: "%n" in the path
 * replaced by i (the path itself when count is 1).
 * @return a new string (free()), or NULL (out of memory).
 */
char *cr_plan_instance_path(const cr_plan_service *svc, unsigned int i);

/** "clean", "latest" or "id". */
const char *cr_plan_point_name(cr_plan_point p);
/** "folder", "image" or "vm". */
const char *cr_plan_target_kind_name(cr_plan_target_kind k);

/* ------------------------------------------------------------- journal */

/**
 * The recovery journal: an append-only file of JSON lines, each entry carrying
 * the hash of the previous one, fsynced one by one. Editing, removing,
 * reordering or duplicating any entry breaks the chain at that point.
 *
 * A journal opened with its vault (cr_journal_open_keyed) is *keyed*: each
 * entry carries an HMAC-SHA-256 under a key derived from the vault's master
 * key instead of a plain SHA-256, so that nobody without the vault's
 * passphrase can rewrite it and compute the chain again; and the head of each
 * finished recovery (and of each acknowledgement) is stored in the vault as a
 * write-once file, so that cr_journal_verify with the vault also detects a
 * journal cut at its end or replaced by another. docs/format.md §16.
 */
typedef struct cr_journal cr_journal;

/** Entry types read by more than the code that writes them. */
#define CR_JOURNAL_RECOVER_START "recover-start"
#define CR_JOURNAL_POINT_CHOSEN "point-chosen"
#define CR_JOURNAL_RECOVER_END "recover-end"
#define CR_JOURNAL_ACK "ack"
/** A known-exploited vulnerability of a service's restore point (the gate of recover.c). */
#define CR_JOURNAL_KEV "kev"
/** The step id prefix that acknowledges one: "kev:CVE-2022-37042". */
#define CR_KEV_STEP_PREFIX "kev:"
#define CR_JOURNAL_TORN_CUT "torn-tail-cut"

/** Longest entry line accepted (bytes, with its newline). */
#define CR_JOURNAL_MAX_LINE (1024u * 1024)
/** Largest journal file read. */
#define CR_JOURNAL_MAX_BYTES (1024ull * 1024 * 1024)

/**
 * Open (create) a journal for appending. An existing one is verified first.
 * Only one process may hold a journal open (an exclusive flock).
 * @return 0; CR_ECORRUPT if it is broken (a torn last line from a crash
 *         included: the message says to run `cleanroom journal verify
 *         --cut-torn`); CR_ELOCKED if another process has it open; an error.
 */
int cr_journal_open(cr_journal **out, const char *path);
/**
 * As cr_journal_open, keyed with the vault `repo` (borrowed; it must stay
 * open until the journal is closed): entries are verified and appended with
 * the vault's journal key, and appending a "recover-end" or an "ack" entry
 * records the journal's head in the vault (if that fails, the entry is
 * written and the error returned). A plain journal given a vault goes on
 * keyed; a keyed journal opened without its vault is refused (CR_EINPUT).
 */
int cr_journal_open_keyed(cr_journal **out, const char *path, cr_repo *repo);
/** Close a journal (accepts NULL). */
void cr_journal_close(cr_journal *j);

/** Entries in the journal (after open: those read, plus those appended). */
uint64_t cr_journal_count(const cr_journal *j);
/** Hash of the newest entry, 64 hex digits (64 zeros for an empty journal); borrowed. */
const char *cr_journal_head(const cr_journal *j);

/**
 * Append one entry: `type` ("recover-start", "point-chosen", "restore-done",
 * "probe", "ack", "error"...: docs/commands/recover.md), the service it is
 * about (or NULL), and
 * key/value pairs (kv[0]=key, kv[1]=value, ...; nkv pairs; keys distinct and
 * non-empty). Text that is not valid UTF-8 is stored with its bad bytes
 * written as the four characters \xNN. Durable on return (fsync).
 * @return 0; CR_EINPUT (bad type or keys); an error (the journal then refuses
 *         further appends: reopen it, which reports a torn line if any).
 */
int cr_journal_append(cr_journal *j, const char *type, const char *service,
                      const char *const *kv, size_t nkv);

/** A journal entry read back. */
typedef struct cr_journal_entry {
    uint64_t seq;
    int64_t time_ns;
    char *type;
    char *service;               /**< or NULL */
    char **keys, **values; size_t nkv;
    char hash[CR_ID_HEX_LEN + 1];
} cr_journal_entry;

void cr_journal_entries_free(cr_journal_entry *e, size_t n);

/**
 * Read a journal and check its form and links. On a broken chain:
 * CR_ECORRUPT, *bad_line = the first line that does not follow (1-based), the
 * message says why; the entries before it are returned. The MACs of a keyed
 * journal are NOT checked (there is no key): for evidence, use
 * cr_journal_verify.
 * @param[out] bad_line 0 when intact (may be NULL).
 * @return 0; CR_ECORRUPT; CR_ENOTFOUND; an error.
 */
int cr_journal_read(cr_journal_entry **out, size_t *n, uint64_t *bad_line, const char *path);

/** What cr_journal_verify found besides the entries. */
typedef struct cr_journal_check {
    int keyed;                  /**< 1: entries carry a MAC under the vault's journal key */
    uint64_t keyed_from;        /**< line of the first keyed entry (0: none) */
    int vault;                  /**< 1: checked with a vault (MACs and recorded heads) */
    char id[CR_ID_HEX_LEN + 1]; /**< the journal's id: the hash (or MAC) of its first entry */
    size_t heads;               /**< heads of this journal recorded in the vault */
    uint64_t sealed;            /**< entries covered by the longest recorded head (0: none) */
    uint64_t missing;           /**< CR_ECORRUPT: entries the vault recorded that the file
                                     lacks at its end (it was cut), else 0 */
} cr_journal_check;

/**
 * Verify a journal as evidence: as cr_journal_read, and with `repo` (may be
 * NULL for a journal that is not keyed) every MAC, then every head the vault
 * recorded for this journal (a journal with fewer entries, or a different
 * entry where a head was recorded: CR_ECORRUPT), and whether the vault
 * recorded a newer journal at the same path (this one replaced it:
 * CR_ECORRUPT, *bad_line = 1).
 * @param[out] check what was found (may be NULL)
 * @return 0; CR_ECORRUPT; CR_EINPUT (a keyed journal and no vault);
 *         CR_ENOTFOUND; an error.
 */
int cr_journal_verify(cr_journal_entry **out, size_t *n, uint64_t *bad_line,
                      cr_journal_check *check, const char *path, cr_repo *repo);

/**
 * The vault a journal names: the "vault" of its first "recover-start" entry
 * (borrowed from the entries), or NULL. Untrusted: a hint of where to look.
 */
const char *cr_journal_vault_named(const cr_journal_entry *e, size_t n);

/**
 * Recover from a crash during an append: when the last line of the journal
 * is incomplete (no newline) and every line before it is intact, move its
 * bytes to PATH.torn (appended, fsynced), cut the journal after its last
 * complete line, and append a "torn-tail-cut" entry that records the cut
 * (bytes and SHA-256 of what was cut). A journal that is intact is left
 * alone (*cut = 0). `repo`: as for cr_journal_open_keyed (needed for a keyed
 * journal; may be NULL for a plain one).
 * @param[out] cut bytes moved to PATH.torn (may be NULL).
 * @return 0; CR_ECORRUPT (damage other than a torn last line: nothing is
 *         changed); CR_ELOCKED; CR_ENOTFOUND; an error.
 */
int cr_journal_cut_torn(uint64_t *cut, const char *path, cr_repo *repo);

#ifdef __cplusplus
}
#endif
#endif
