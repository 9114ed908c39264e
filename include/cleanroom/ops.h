/*
 * cleanroom: the vault's operations — backup, restore, verify, diff.
 */
#ifndef CLEANROOM_OPS_H
#define CLEANROOM_OPS_H

#include "common.h"
#include "repo.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Progress of a long operation, reported a few times per second. */
typedef struct cr_progress {
    uint64_t files_done, files_total; /**< total 0 when not known yet; for a backup,
                                           an estimate from the source's previous snapshot */
    uint64_t bytes_done, bytes_total;
    uint64_t errors;
    double elapsed;                   /**< seconds since the start */
    const char *current;              /**< path being worked on, or NULL (borrowed) */
} cr_progress;

typedef void (*cr_progress_cb)(const cr_progress *p, void *payload);

/** A non-fatal problem with one item (unreadable file, lost blob, unsafe name...). */
typedef void (*cr_warning_cb)(const char *path, const char *message, void *payload);

/* ---------------------------------------------------------------- backup */

#define CR_BACKUP_OPTIONS_VERSION 3
/** The first bytes of a file given to cr_backup_options.file_read (what the hunt judges
 *  a content's entropy and format on). */
#define CR_BACKUP_HEAD_BYTES (64u * 1024)
typedef struct cr_backup_options {
    unsigned int version;
    const char *source;      /**< required: the system the snapshot protects */
    int64_t time_ns;         /**< time of the restore point; 0 = now */
    const char *const *tags; size_t ntags;
    const char *const *excludes; size_t nexcludes; /**< fnmatch patterns on names or paths */
    int force_read;          /**< 1: read every file even if unchanged */
    int threads;             /**< threads besides the calling one (which works too), 1-64;
                                  0 = one per core beyond the first, at least 1 */
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
    /** Version 2: the folder holding the system's "/" (its etc/, or Windows/), recorded as
     *  the snapshot's system_root for the hunt: one of the paths, a folder above them, or a
     *  folder below one of them. NULL: the hunt works it out (cr_hunt_system_root). */
    const char *root;
    /** Version 3: each file the backup reads — added, or changed since the parent snapshot
     *  (unchanged files are neither read nor reported) — with its first bytes, already read
     *  for the backup (no extra I/O): at most CR_BACKUP_HEAD_BYTES, fewer for a short file
     *  or a sparse file starting with a hole. Called from the backup's threads, at once
     *  (make it thread-safe). NULL: none. */
    void (*file_read)(const char *path, int is_new, uint64_t size, const uint8_t *head,
                      size_t head_len, void *read_payload);
    /** Version 3: called once, when every file is done and before the snapshot is written,
     *  with the snapshot as it will be saved (counts filled, tags not yet added) and the
     *  file count of its parent (0: none); returns tags to add (NULL-terminated, borrowed
     *  until the backup returns), or NULL. */
    const char *const *(*tags_before_save)(const cr_snapshot *snap, uint64_t parent_files,
                                           void *read_payload);
    void *read_payload;      /**< version 3: given to file_read and tags_before_save */
} cr_backup_options;
#define CR_BACKUP_OPTIONS_INIT                                                                     \
    {CR_BACKUP_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL,       \
     NULL, NULL, NULL}

/**
 * Back up `paths` (absolute or relative to the working directory) as a new
 * snapshot of opts->source. Items that vanish or cannot be read are reported
 * through opts->warning and counted in the snapshot's `errors`.
 * @param[out] out the new snapshot (may be NULL if not wanted).
 * @return 0; CR_EPARTIAL if the snapshot was written but some items failed; an error.
 */
int cr_backup(cr_snapshot **out, cr_repo *repo, const char *const *paths, size_t npaths,
              const cr_backup_options *opts);

/* --------------------------------------------------------------- restore */

#define CR_RESTORE_OPTIONS_VERSION 3
typedef struct cr_restore_options {
    unsigned int version;
    const char *target;      /**< required: the folder to restore into (created) */
    const char *const *includes; size_t nincludes; /**< snapshot paths to restore; none = all */
    int no_owner;            /**< 1: do not chown (default: chown when running as root) */
    int threads;             /**< 0 = number of cores */
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
    /**
     * Metadata that could not be set on an item whose data is restored (owner,
     * permissions, times, xattrs, ACLs: e.g. not root, or a filesystem without
     * ACLs). NULL: reported through `warning`.
     */
    cr_warning_cb notice;
    /**
     * Snapshot paths NOT to restore (version 2): each names a file, or a
     * folder and everything below it. Used to set aside flagged files.
     */
    const char *const *skips; size_t nskips;
    /**
     * Version 3. overwrite: restore into a target that already holds data
     * (without it such a target is refused with CR_EEXISTS, see
     * cr_restore_target_check); files in the way are replaced, other entries
     * are kept, and folders that already existed above the snapshot's backed-up
     * paths (/srv for a backup of /srv/www) keep their own metadata.
     * dry_run: write nothing, count what a restore would write (stats).
     */
    int overwrite, dry_run;
    /** Items deliberately not restored (sockets: their server creates them again); may be NULL. */
    cr_warning_cb skipped;
} cr_restore_options;
#define CR_RESTORE_OPTIONS_INIT {CR_RESTORE_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL}

/** Summary of a restore. */
typedef struct cr_restore_stats {
    uint64_t files, dirs, others, bytes;
    uint64_t failed;  /**< items that could not be restored (damaged data, unsafe names, data
                           that could not be written: such a file is never left under its
                           own name, see cr_restore) */
    uint64_t meta_incomplete; /**< notices: items restored whose metadata could not all be set */
    uint64_t damaged; /**< of the failed: files whose data is lost because vault data is damaged
                           (the others: something in the way, permissions, unsafe names) */
    uint64_t skipped; /**< sockets, not restored on purpose (reported through opts->skipped) */
    int no_space;     /**< 1: writing stopped because the target's device is full */
} cr_restore_stats;

/** What a restore target already holds (cr_restore_target_check). */
typedef struct cr_target_entries {
    int exists;        /**< 0: absent; 1: a folder; 2: something else (a file, a symlink...) */
    uint64_t count;    /**< entries in the folder */
    char **names;      /**< some of them (at most `max`), sorted, for a message */
    size_t nnames;
} cr_target_entries;

/**
 * May a restore (or a recovery) write into `path` without overwriting
 * anything? Only an absent path or an empty folder may be restored into;
 * cleanroom never writes over data unless told to (restore --overwrite).
 * @param[out] out what is there (cleared with cr_target_entries_clear).
 * @param max how many entry names to list in out->names.
 * @return 0 (absent or empty folder); CR_EEXISTS (it holds data: out says
 *         what; no error message is set, the caller words it); an error
 *         (cannot be read).
 */
int cr_restore_target_check(cr_target_entries *out, const char *path, size_t max);
void cr_target_entries_clear(cr_target_entries *e);

/**
 * Restore a snapshot (or the included paths of it) under opts->target.
 * Items whose metadata could not all be set are reported through opts->notice
 * and counted in stats->meta_incomplete; they also make the result CR_EPARTIAL
 * (the restore is not identical to the snapshot), but their data is intact.
 * Never writes outside the target: unsafe names are refused, symlinks in the
 * target are never followed. A target that holds data is refused (CR_EEXISTS,
 * nothing written) unless opts->overwrite.
 * A file whose data could not all be written (damaged vault data, a full
 * disk) never keeps the look of a good copy: what could be written is left as
 * NAME.cleanroom-damaged (mode 0600, the time of the restore), or removed; it
 * is reported through opts->warning, once, and counted in stats->failed. When
 * the target's device fills up, writing stops, every file not written is
 * reported so, stats->no_space is set and the result is CR_EPARTIAL.
 * @return 0; CR_EPARTIAL if some items failed; CR_EEXISTS; an error.
 */
int cr_restore(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
               const cr_restore_options *opts);

/* ---------------------------------------------------------------- verify */

#define CR_VERIFY_OPTIONS_VERSION 1
typedef struct cr_verify_options {
    unsigned int version;
    int read_data;               /**< 1: decrypt and hash every blob of the selected packs */
    unsigned int subset_n, subset_m; /**< read only packs of subset N of M (1 <= N <= M); 0/0 = all */
    int threads;
    cr_progress_cb progress; void *payload;
} cr_verify_options;
#define CR_VERIFY_OPTIONS_INIT {CR_VERIFY_OPTIONS_VERSION, 0, 0, 0, 0, NULL, NULL}

/** One problem found by verify. */
typedef struct cr_verify_problem {
    char *what;      /**< "pack", "index", "snapshot", "hunt", "tree" or "blob" */
    char *id;        /**< hex id of the damaged object */
    char *message;   /**< what is wrong, in words */
} cr_verify_problem;

/** A file (in a snapshot) that can no longer be restored in full. */
typedef struct cr_verify_affected {
    char *snapshot;  /**< hex id */
    char *source;
    char *path;
} cr_verify_affected;

typedef struct cr_verify_report {
    uint64_t packs, packs_read, blobs, blobs_read, snapshots, trees, bytes_read;
    cr_verify_problem *problems; size_t nproblems;
    cr_verify_affected *affected; size_t naffected;
    /** Not damage, worth knowing: packs that no index file and no snapshot refers to
     *  ("pack": left by an interrupted backup, or by one running now) and temporary files of
     *  writes that did not finish ("temp", id = the file's path in the vault). */
    cr_verify_problem *notices; size_t nnotices;
} cr_verify_report;

void cr_verify_report_clear(cr_verify_report *r);

/**
 * Check the vault: every stored file named by its hash, every index entry in
 * a pack, every tree and blob of every snapshot present. With read_data, every
 * blob is decrypted, decompressed and its keyed hash checked.
 * @return 0 if no problem; CR_ECORRUPT if problems were found (in the report); an error.
 */
int cr_verify(cr_verify_report *report, cr_repo *repo, const cr_verify_options *opts);

/* ---------------------------------------------------------- forget, prune */

#define CR_FORGET_OPTIONS_VERSION 1

/**
 * Which snapshots to forget: by id, or by a retention policy (restic's
 * --keep-* names and meanings, applied to each source on its own; times in
 * UTC). A snapshot kept by any rule is kept.
 */
typedef struct cr_forget_options {
    unsigned int version;
    const char *source;                /**< NULL: every source */
    unsigned int last, hourly, daily, weekly, monthly, yearly; /**< 0: rule not used */
    int64_t within_ns;                 /**< keep those within this of the source's newest (0: no) */
    const char *const *tags; size_t ntags; /**< keep those holding any of these tags */
    const cr_id *ids; size_t nids;     /**< forget exactly these (no policy then) */
    const cr_id *protect; size_t nprotect; /**< never forgotten by a policy (evidence) */
    int dry_run;                       /**< decide, write nothing */
    const char *by;                    /**< who asks (recorded), or NULL for user@host */
    int64_t now_ns;                    /**< "now" (0: the clock): a snapshot dated later does
                                            not move the reference of --keep-within */
} cr_forget_options;
#define CR_FORGET_OPTIONS_INIT {CR_FORGET_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, 0, \
                                NULL, 0, NULL, 0, 0, NULL, 0}

/**
 * Parse a --keep-within duration as restic writes it: numbers with units y
 * (365 days), m (months of 30 days), w, d, h, e.g. "1y6m", "7d", "36h".
 * @return 0, or CR_EINPUT (message set).
 */
int cr_forget_duration_parse(int64_t *out_ns, const char *s);

/** The decision about one snapshot. */
typedef struct cr_forget_item {
    cr_snapshot *snap;                 /**< owned by the result */
    int keep;
    char reason[96];                   /**< "last", "daily", "within", "tag", "evidence",
                                            "by id"... (several joined by ", ") */
} cr_forget_item;

typedef struct cr_forget_result {
    cr_forget_item *items; size_t n;   /**< every snapshot considered, oldest first */
    size_t nforget;
    int has_record; cr_id record;      /**< the forget record written (not with dry_run) */
} cr_forget_result;

void cr_forget_result_clear(cr_forget_result *r);

/**
 * Forget snapshots: record them in a write-once forget record (forget/ of the
 * vault, docs/format.md), after which listings no longer show them and
 * `verify` knows they went legitimately. Nothing is deleted: `cr_prune`
 * removes their data later.
 * @return 0; CR_EINPUT (no rule and no id; an id that is not a snapshot of
 *         the vault); CR_ENOTFOUND (no snapshot of the source); an error.
 */
int cr_forget(cr_forget_result *out, cr_repo *repo, const cr_forget_options *opts);

#define CR_PRUNE_OPTIONS_VERSION 1
#define CR_PRUNE_GRACE_MIN_NS (86400LL * 1000000000LL)      /**< never less than one day */
#define CR_PRUNE_GRACE_DEFAULT_NS (7 * CR_PRUNE_GRACE_MIN_NS) /**< seven days */

typedef struct cr_prune_options {
    unsigned int version;
    int64_t grace_ns;        /**< nothing younger is removed; >= CR_PRUNE_GRACE_MIN_NS */
    int dry_run;             /**< decide and count, remove nothing */
    double wait_s;           /**< how long to wait for commands that were running when the
                                  prune began (backups may use what it removes); 0: 3600 */
    cr_warning_cb warning; void *payload; /**< what is left alone, and why */
    int extend_locks_only;   /**< remove nothing: only extend the retention of what is in use */
    int64_t now_s;           /**< the clock retention dates are compared with; 0: now */
} cr_prune_options;
#define CR_PRUNE_OPTIONS_INIT {CR_PRUNE_OPTIONS_VERSION, CR_PRUNE_GRACE_DEFAULT_NS, 0, 0, NULL, NULL, 0, 0}

typedef struct cr_prune_result {
    size_t snapshots_removed;    /**< forgotten snapshot files removed */
    size_t snapshots_waiting;    /**< forgotten, but younger than the grace period: kept for now */
    size_t packs_total, packs_removed;
    uint64_t bytes_removed;
    size_t packs_young;          /**< unused by kept snapshots, younger than the grace period */
    uint64_t bytes_young;
    size_t packs_shared;         /**< hold blobs of kept and of forgotten snapshots: kept whole */
    size_t index_rewritten;      /**< index files replaced (they named removed packs) */
    size_t waited_for;           /**< commands that were running when the prune began */
    double waited_s;
    /* Stores with retention (S3 Object Lock): what cannot be removed yet. */
    size_t snapshots_locked;     /**< forgotten, old enough, but under retention: kept */
    size_t packs_locked;         /**< unused, old enough, but under retention (or named by an
                                      index file under retention): kept */
    uint64_t bytes_locked;
    int64_t locked_until_s;      /**< the latest retain-until date among those (Unix s), 0 none */
    size_t locks_extended;       /**< objects in use whose retention was extended */
} cr_prune_result;

/**
 * Remove the data that no kept snapshot uses: the files of forgotten
 * snapshots and the packs none of whose blobs a kept snapshot needs, never
 * anything younger than the grace period (by file time and, for snapshots,
 * restore-point time). A pack holding blobs of a kept snapshot is kept whole.
 * Safe while backups run: the packs to remove are announced first (a backup
 * that starts later stores those blobs again), the prune waits for the
 * commands already running, then checks again which packs the snapshots
 * saved meanwhile use. Hunt records of removed snapshots are kept (small;
 * `verify` knows their snapshots were forgotten). On a store with retention
 * (S3 Object Lock) nothing still locked is deleted (counted in *_locked), and
 * the locks of what is in use with under half the period left are extended
 * to a full period (not with dry_run; only that with extend_locks_only).
 * @return 0; CR_EINPUT (grace under a day); CR_ELOCKED (another prune runs,
 *         or a command still runs after wait_s: nothing removed); CR_ECORRUPT
 *         (a snapshot or tree cannot be read: nothing removed, run verify); an error.
 */
int cr_prune(cr_prune_result *out, cr_repo *repo, const cr_prune_options *opts);

/* ------------------------------------------------------------------ diff */

typedef enum cr_diff_kind { CR_DIFF_ADDED = 1, CR_DIFF_REMOVED = 2, CR_DIFF_MODIFIED = 3 } cr_diff_kind;

/** Called for each difference; old_node or new_node is NULL when absent. */
typedef int (*cr_diff_cb)(cr_diff_kind kind, const char *path, const cr_node *old_node,
                          const cr_node *new_node, void *payload);

/**
 * Compare two snapshots. A node is modified if its type, content, size, mode,
 * owner, link target, xattrs or ACLs differ; directories are reported only when
 * their own metadata changed. Unchanged subtrees (same tree id) are skipped.
 * @return 0, CR_EPARTIAL (see cr_diff_trees), or an error.
 */
int cr_diff(cr_repo *repo, const cr_snapshot *a, const cr_snapshot *b, cr_diff_cb cb, void *payload);

/**
 * Like cr_diff, for the entries of two folders given by their tree ids
 * (e.g. the same system below different paths of two snapshots). Either may
 * be NULL: an empty folder (everything of the other is added or removed).
 * Paths are relative to those folders ("/etc/passwd").
 * @return 0; CR_EPARTIAL when folders nested CR_TREE_MAX_DEPTH (512) levels
 *         deep or deeper were not compared (everything else was); an error.
 */
int cr_diff_trees(cr_repo *repo, const cr_id *a, const cr_id *b, cr_diff_cb cb, void *payload);
/** As cr_diff_trees, for folders `depth` levels below the root of their snapshots (the
 *  depth limit counts from that root). */
int cr_diff_trees_at(cr_repo *repo, const cr_id *a, const cr_id *b, int depth, cr_diff_cb cb,
                     void *payload);

#ifdef __cplusplus
}
#endif
#endif
