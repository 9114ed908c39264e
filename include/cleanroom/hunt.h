/*
 * cleanroom: hunting indicators of compromise in restore points, and finding
 * the last clean restore point of every system.
 *
 * cr_hunt() scans every snapshot not yet hunted with the current rule set and
 * stores one *hunt record* per snapshot in the vault (encrypted, write-once,
 * under hunt/). A record holds every finding present in that snapshot: those
 * that fired on content added or changed since the previous snapshot of the
 * source, and those carried forward from the previous snapshot because the
 * file they are about is still there, unchanged. What is known of each unique
 * content (hashes, entropy, YARA matches) is cached in the vault by content id,
 * so a content is read and scanned once, whatever the number of snapshots and
 * systems that hold it.
 */
#ifndef CLEANROOM_HUNT_H
#define CLEANROOM_HUNT_H

#include "common.h"
#include "ops.h"
#include "repo.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cr_severity {
    CR_SEV_INFO = 0,
    CR_SEV_LOW = 1,
    CR_SEV_MEDIUM = 2,
    CR_SEV_HIGH = 3,
    CR_SEV_CRITICAL = 4,
} cr_severity;

typedef enum cr_category {
    CR_CAT_MALWARE = 1,
    CR_CAT_RANSOMWARE = 2,
    CR_CAT_PERSISTENCE = 3,
    CR_CAT_ANOMALY = 4,
} cr_category;

/** "info", "low", "medium", "high", "critical" (static string). */
const char *cr_severity_name(cr_severity s);
/** Parse a severity name (case-insensitive). @return 0 or CR_EINPUT. */
int cr_severity_parse(cr_severity *out, const char *s);
/** "malware", "ransomware", "persistence", "anomaly" (static string). */
const char *cr_category_name(cr_category c);
/** Parse a category name. @return 0 or CR_EINPUT. */
int cr_category_parse(cr_category *out, const char *s);

/** One indicator that fired on one path of one snapshot. Strings are owned. */
typedef struct cr_finding {
    cr_id snapshot;       /**< the snapshot it is in */
    char *source;
    int64_t time_ns;      /**< time of that snapshot */
    char *path;           /**< full path in the snapshot ("/srv/www/x.php"); "/" for findings
                               about the whole snapshot (e.g. its change rate). Untrusted bytes. */
    cr_category category;
    cr_severity severity;
    char *indicator;      /**< what fired, stable across snapshots: "yara:<rule>",
                               "ioc:sha256", "ransomware:extension", "persistence:cron", ... */
    char *detail;         /**< in words, for a technician */
    char *evidence;       /**< the exact item that fired when a file holds several (a line of
                               crontab or authorized_keys, a registry value), or NULL */
    int has_content;
    cr_id content;        /**< content id of the file judged (files only) */
    cr_id first_seen;     /**< the snapshot where this same finding (path + indicator) first appeared */
    int64_t first_seen_ns;
} cr_finding;

/** Release what a finding owns. */
void cr_finding_clear(cr_finding *f);
/** Free an array of findings. Accepts NULL. */
void cr_findings_free(cr_finding *f, size_t n);
/** Deep copy. @return 0 or CR_ERROR. */
int cr_finding_copy(cr_finding *out, const cr_finding *src);
/** 1 if two findings are "the same finding": same path, category, indicator and evidence. */
int cr_finding_same(const cr_finding *a, const cr_finding *b);

#define CR_HUNT_OPTIONS_VERSION 3
typedef struct cr_hunt_options {
    unsigned int version;
    const char *source;                 /**< NULL: every source */
    const char *const *rules;           /**< YARA rule files or folders (*.yar, *.yara) */
    size_t nrules;
    const char *const *iocs;            /**< hash IOC lists: one hash per line, or MISP CSV */
    size_t niocs;
    const char *builtin_dir;            /**< the shipped rules/ folder (YARA starter pack and the
                                             ransomware data files); NULL: none */
    uint64_t max_scan_bytes;            /**< files larger are scanned chunk by chunk; 0 = 256 MiB */
    int yara_timeout;                   /**< seconds per file; 0 = 60 */
    int threads;                        /**< 0 = one per core */
    int force;                          /**< 1: hunt every snapshot again, even if current */
    cr_progress_cb progress;
    cr_warning_cb warning;              /**< a content that could not be read or scanned */
    void *payload;
    /* Version 2. */
    const char *packages;               /**< folder of trusted .deb files (e.g. from a trusted
                                             mirror): the sums of a package's files come from
                                             its .deb when it is there; NULL: none */
    const cr_id *baseline;              /**< a snapshot the operator knows good: hunted as the
                                             first of its source (nothing compared with what
                                             came before it), and the later ones against it;
                                             NULL: the first snapshot of each source */
    /* Version 3. */
    int skip_broken_rules;              /**< 1: a rule file that does not compile is left out
                                             (named through warning, counted in the stats)
                                             instead of stopping the hunt */
} cr_hunt_options;
#define CR_HUNT_OPTIONS_INIT                                                                       \
    {CR_HUNT_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL, NULL,          \
     NULL, NULL, 0}

typedef struct cr_hunt_stats {
    uint64_t snapshots;          /**< snapshots considered */
    uint64_t snapshots_hunted;   /**< hunted by this run */
    uint64_t snapshots_current;  /**< already hunted with this rule set: skipped */
    uint64_t files_judged;       /**< files added or changed since the previous snapshot */
    uint64_t contents_scanned;   /**< unique contents read and scanned by this run */
    uint64_t contents_cached;    /**< contents whose verdict came from the cache */
    uint64_t bytes_scanned;
    uint64_t findings;           /**< findings in the snapshots hunted by this run */
    uint64_t errors;             /**< contents that could not be read or scanned (warned) */
    size_t yara_rules;           /**< YARA rules in the rule set */
    size_t ioc_hashes;           /**< hashes in the IOC lists */
    char ruleset[CR_ID_HEX_LEN + 1]; /**< version of the rule set (hex) */
    double seconds;
    size_t yara_files_skipped;   /**< rule files left out (skip_broken_rules) */
    size_t yara_rules_skipped;   /**< rules those files declared */
} cr_hunt_stats;

/**
 * Hunt every snapshot (of opts->source, or of every source) not yet hunted
 * with the current rule set, oldest first, and store the findings.
 * @return 0; CR_EPARTIAL if some contents could not be scanned (findings are
 *         still stored, and those contents will be scanned again next time);
 *         CR_EINPUT for a rule file that does not compile (message names file
 *         and line) or an unreadable IOC list; an error.
 */
int cr_hunt(cr_hunt_stats *stats, cr_repo *repo, const cr_hunt_options *opts);

/**
 * The findings stored for one snapshot (its newest hunt record).
 * @param[out] hunted_ns when it was hunted (may be NULL)
 * @return 0; CR_ENOTFOUND if the snapshot was never hunted; CR_ECORRUPT if it
 *         was hunted but its record is gone or damaged (the record of the next
 *         snapshot of its source names it, or a hunt file cannot be read): the
 *         restore gate refuses such a snapshot until it is hunted again; an error.
 */
int cr_findings_get(cr_finding **out, size_t *count, int64_t *hunted_ns, cr_repo *repo,
                    const cr_snapshot *snap);

/**
 * The hunt's part of `cleanroom verify`, added to a report filled by
 * cr_verify: hunt files that cannot be read or decoded, hunt records that are
 * missing (a later record of the source names their snapshot as hunted
 * before it), and snapshots that are missing while a hunt record names them.
 * @return 0 if the report has no problem; CR_ECORRUPT if it has; an error.
 */
int cr_hunt_verify(cr_verify_report *report, cr_repo *repo);

/**
 * The evidence a retention policy must keep: every snapshot whose hunt record
 * holds a finding at or above `min` (for cr_forget_options.protect).
 * @param[out] out ids, freed with free() (NULL if none)
 */
int cr_hunt_evidence(cr_id **out, size_t *count, cr_repo *repo, cr_severity min);

/** Filters of cr_findings_list. */
typedef struct cr_findings_query {
    const char *source;          /**< NULL: every source */
    const cr_id *snapshot;       /**< NULL: every snapshot */
    cr_severity min_severity;
} cr_findings_query;

/**
 * Findings of every hunted snapshot matching the query, ordered by snapshot
 * time, then severity (highest first), then path.
 * @param[out] unhunted number of matching snapshots that were never hunted (may be NULL)
 */
int cr_findings_list(cr_finding **out, size_t *count, size_t *unhunted, cr_repo *repo,
                     const cr_findings_query *q);

/**
 * The folder of a snapshot the hunt judges as the system's "/" (persistence
 * places, package database): the snapshot's recorded system root (backup
 * --root, or the system volume of an image); else its single path; else,
 * with several paths, their longest common folder when it holds etc/ or
 * Windows/ (backup of /mnt/dpi/etc and /mnt/dpi/var: /mnt/dpi).
 * @param[out] out the root ("/" or "/mnt/dpi"), freed with free()
 * @return 0; CR_ENOTFOUND when the snapshot has several paths and no common
 *         system root (*out is then "/": the hunt judges contents from there,
 *         and judges as its own system each path that holds etc/ or Windows/;
 *         when none does, no persistence place matches and it warns); an error.
 */
int cr_hunt_system_root(char **out, cr_repo *repo, const cr_snapshot *snap);

/** The last clean restore point of one source. */
typedef struct cr_clean_point {
    char *source;
    size_t snapshots;            /**< snapshots of the source */
    size_t unhunted;             /**< of which never hunted, or hunted with contents that could
                                      not be read (they are never called clean) */
    int has_clean;
    cr_id clean_snapshot;        /**< newest hunted snapshot strictly before the first
                                      compromised one (or the newest, if none is) */
    int64_t clean_time_ns;
    int compromised;             /**< 1 if some snapshot holds a finding at or above the severity */
    cr_id first_compromised;
    int64_t first_compromised_ns;
    cr_finding *reasons;         /**< findings at or above the severity in the first compromised
                                      snapshot, highest severity first */
    size_t nreasons;
    char ruleset[CR_ID_HEX_LEN + 1]; /**< rule set of the hunt that judged the first
                                          compromised snapshot ("" if none is) */
    int no_system_root;          /**< 1: in the newest hunted snapshot of the source no system
                                      root was recognised (no etc/ nor Windows/ where the hunt
                                      looked): persistence was not judged */
    size_t after_cutoff;         /**< cr_clean_points_before: snapshots left out, taken at or
                                      after the cut-off (not counted in `snapshots`) */
} cr_clean_point;

void cr_clean_points_free(cr_clean_point *p, size_t n);

/**
 * For each source (or just `source`), the last clean restore point: the
 * newest hunted snapshot strictly before the first snapshot holding a finding
 * at or above `min` (CR_SEV_HIGH is the usual choice). When even the first
 * snapshot is compromised, has_clean is 0: there is no clean point.
 * @return 0, CR_ENOTFOUND if the source has no snapshot, or an error.
 */
int cr_clean_points(cr_clean_point **out, size_t *count, cr_repo *repo, const char *source,
                    cr_severity min);

/**
 * As cr_clean_points, with one incident-wide cut-off: only snapshots taken
 * strictly before `before_ns` (ns since the epoch) are considered; those after
 * are counted in after_cutoff. A source whose snapshots are all after the
 * cut-off is listed with snapshots 0 (no clean point).
 */
int cr_clean_points_before(cr_clean_point **out, size_t *count, cr_repo *repo, const char *source,
                           cr_severity min, int64_t before_ns);

/* ------------------------------------------------------------- restore gate */

/** What the hunt knows of a snapshot, for the restore gate. */
typedef enum cr_gate_hunt {
    CR_GATE_HUNTED = 0,     /**< hunted: its findings are in the gate */
    CR_GATE_NEVER = 1,      /**< never hunted: restored with a warning */
    CR_GATE_UNREADABLE = 2, /**< its hunt results cannot be read (reason in `hunt_error`):
                                 treated as never hunted, with a warning */
    CR_GATE_MISSING = 3,    /**< hunted once, its record removed or damaged (reason in
                                 `hunt_error`): what it found is unknown, not absent, so it is
                                 refused like a compromised one unless accept_risk */
} cr_gate_hunt;

#define CR_RESTORE_GATE_OPTIONS_VERSION 1
typedef struct cr_restore_gate_options {
    unsigned int version;
    const char *const *includes; /**< snapshot paths restored (as typed: "srv//www/" is
                                      "/srv/www"); none = everything */
    size_t nincludes;
    int quarantine;              /**< 1: flagged files can be set aside (restore --quarantine);
                                      0: a finding at or above the threshold refuses (a disk
                                      image, a VM export, a recovery) */
    int accept_risk;             /**< 1: restore anyway (the caller warns loudly) */
    cr_severity threshold;       /**< findings at or above it count (CR_SEV_HIGH, the
                                      clean-point default) */
} cr_restore_gate_options;
#define CR_RESTORE_GATE_OPTIONS_INIT {CR_RESTORE_GATE_OPTIONS_VERSION, NULL, 0, 0, 0, CR_SEV_HIGH}

/** The restore gate's decision about one snapshot. Everything is owned by it. */
typedef struct cr_restore_gate {
    cr_gate_hunt hunt;
    char *hunt_error;            /**< CR_GATE_UNREADABLE, CR_GATE_MISSING: why (untrusted
                                      bytes may be quoted: escape before printing), else NULL */
    int refused;                 /**< 1: nothing may be restored */
    int whole_refused;           /**< refused although quarantine was asked: findings about the
                                      whole snapshot (path "/") cannot be set aside */
    int accepted_risk;           /**< 1: restored although flagged or its record is missing,
                                      because accept_risk was given */
    cr_finding *findings;        /**< every finding of the snapshot (hunted only) */
    size_t nfindings;
    const cr_finding **flagged;  /**< at or above the threshold on the restored paths or about
                                      the whole snapshot, in record order (borrowed from
                                      `findings`) */
    size_t nflagged;
    size_t nwhole;               /**< of which about the whole snapshot */
    size_t nelsewhere;           /**< at or above the threshold outside the included paths */
    char **quarantine;           /**< when quarantine was asked and not refused: the distinct
                                      normalised paths of the flagged files, sorted, none below
                                      another ("/srv/www" covers "/srv/www/x.php"); restore all
                                      but these to the target, and these to the quarantine folder */
    const cr_finding **quarantine_why; /**< the strongest flagged finding on each of them */
    size_t nquarantine;
} cr_restore_gate;

/**
 * The restore gate, one policy for restore, restore --image, vm-export and
 * recover: may `snap` be restored, and which of its files must be set aside?
 * A snapshot never hunted passes (the caller warns: the hunt is a separate
 * step a technician may not have run). A finding at or above the threshold
 * on a restored path, or about the whole snapshot, refuses, unless
 * accept_risk, or unless quarantine is asked and every such finding is about
 * a file (then those files go to quarantine). With includes, findings on
 * other paths do not refuse (they are counted in nelsewhere): restoring a
 * database folder is not restoring the cron job an attacker planted elsewhere.
 * A snapshot whose hunt record is gone is refused unless accept_risk.
 * @param[out] out the decision, freed with cr_restore_gate_free
 * @return 0 (read out->refused); CR_EAUTH, CR_ELOCKED, CR_ENOSPACE when the
 *         hunt results could not be read for those reasons; CR_ERROR (no memory).
 */
int cr_restore_gate_check(cr_restore_gate **out, cr_repo *repo, const cr_snapshot *snap,
                          const cr_restore_gate_options *opts);

/** Free a gate. Accepts NULL. */
void cr_restore_gate_free(cr_restore_gate *g);

#ifdef __cplusplus
}
#endif
#endif
