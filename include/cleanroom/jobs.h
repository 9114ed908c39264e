/*
 * cleanroom: operating the vault day to day — the jobs file (what to back up,
 * when, how long to keep it, how late is too late), running a job (backup,
 * hunt, forget), the systemd units that schedule them, and the RPO status of
 * each source. Format: docs/jobs.md.
 */
#ifndef CLEANROOM_JOBS_H
#define CLEANROOM_JOBS_H

#include "common.h"
#include "ops.h"
#include "repo.h"
#include "snapshot.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where the jobs file is looked for when --jobs is not given. */
#define CR_JOBS_DEFAULT_FILE "/etc/cleanroom/jobs.yaml"

/** Limits applied to a jobs file. */
#define CR_JOBS_MAX_BYTES (1024u * 1024)
#define CR_JOBS_MAX_JOBS 1000u
#define CR_JOBS_MAX_NODES 100000u
#define CR_JOBS_MAX_DEPTH 16u

/**
 * When the files a backup read make it suspect (ransomware at backup time):
 * at least `renamed` new files got a ransomware extension; or at least
 * `changed` files got one or became near-random and they are at least
 * `percent` % of the parent snapshot's files; or at least `notes` ransom
 * notes appeared. The parent must hold at least 50 files (the first backup
 * of a source, or a tiny one, is never judged on its change rate). A 0 in
 * renamed, changed or notes turns that test off; percent 0 asks no share.
 * The defaults are the hunt's change-rate rule (docs/hunt.md).
 */
typedef struct cr_ransom_thresholds {
    unsigned int renamed, changed, percent, notes;
} cr_ransom_thresholds;
#define CR_RANSOM_THRESHOLDS_DEFAULT {20, 20, 10, 5}

/** One job of the jobs file. */
typedef struct cr_job {
    char *name;                  /**< letters, digits, '-', '_', '.' (a systemd unit name) */
    char *source;                /**< the source of its snapshots (default: the name) */
    char **paths; size_t npaths; /**< folders and files to back up, or */
    char **images; size_t nimages; /**< disk images (one of the two) */
    char **excludes; size_t nexcludes;
    char *root;                  /**< the folder that is the system's "/" (NULL: found) */
    char *schedule;              /**< as written ("daily 02:00", "every 4h", OnCalendar) */
    char *on_calendar;           /**< the same in systemd OnCalendar= syntax */
    int64_t rpo_ns;              /**< the oldest a last backup may be (0: none set) */
    /** Retention (the `forget` keep rules); has_retention 0: never forgets. */
    int has_retention;
    unsigned int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
    int64_t keep_within_ns;
    int hunt;                    /**< 1 (default): hunt the new snapshot */
    int ransomware_check;        /**< 1 (default): ransomware signals during the backup */
    cr_ransom_thresholds ransom; /**< `ransomware:` thresholds (default: the defaults) */
    char **notify; size_t nnotify; /**< "syslog", "mail" (mail.to) or "mail:ADDRESS" */
    /** `verify: M`: this job backs up nothing; it reads and checks one M-th of the vault's
     *  packs per run (verify --read-data-subset N/M, N turning with the day), so that
     *  everything is read every M runs. 0: a backup job. source is then NULL. */
    unsigned int verify_subset;
    unsigned int line;           /**< where the job starts in the file */
} cr_job;

/** `mail: digest:` how alert mails are grouped. */
typedef enum cr_digest_mode {
    CR_DIGEST_NONE = 0,          /**< one mail per event, when it happens (default) */
    CR_DIGEST_DAILY = 1,         /**< one mail a day listing the day's events (cr_digest_send) */
} cr_digest_mode;

/** `mail:` of the jobs file: how alerts are mailed (SMTP through libcurl). */
typedef struct cr_mail_config {
    char *relay;                 /**< smtp://host[:port] or smtps://host[:port]; NULL: no mail */
    int starttls;                /**< 1 (default for smtp://): refuse to send without STARTTLS */
    char *from;
    char **to; size_t nto;       /**< recipients of the targets written `mail` */
    char *user;                  /**< SMTP login, or NULL */
    char *password_file;         /**< its password: first line of this file, or */
    char *password_env;          /**< the value of this environment variable */
    char *language;              /**< "en" (default) or "fr" */
    char *ca_file;               /**< CA certificates of the relay (an internal CA), or NULL */
    cr_digest_mode digest;       /**< `digest: daily [HH:MM]` */
    char *digest_on_calendar;    /**< when the digest is sent (OnCalendar=; default 07:00) */
} cr_mail_config;

typedef struct cr_jobs {
    char *file;                  /**< the file read ("-" for a buffer) */
    cr_mail_config mail;
    char *vault;                 /**< `vault:` the vault the jobs write to, or NULL */
    char *password_file;         /**< `password_file:` for the scheduled runs, or NULL */
    cr_job *jobs; size_t n;
} cr_jobs;

void cr_jobs_free(cr_jobs *jobs);
/** The job called `name`, or NULL (borrowed). */
const cr_job *cr_jobs_find(const cr_jobs *jobs, const char *name);

/**
 * Read and check a jobs file. Every problem is collected with its line and
 * column (sorted), not only the first: syntax, unknown keys (with the closest
 * known one), wrong types, missing or repeated names, a job with both or
 * neither of paths and images, a schedule or RPO that cannot be read, an RPO
 * shorter than the schedule's interval (warning), notification targets.
 * @param[out] out the jobs (NULL unless 0 is returned).
 * @param[out] problems errors and warnings, freed with cr_problems_free (may be
 *             NULL). Filled for CR_EINPUT too.
 * @return 0 (there may be warnings); CR_EINPUT (errors: nothing may run);
 *         CR_ENOTFOUND (no such file); an error.
 */
int cr_jobs_load(cr_jobs **out, cr_problem **problems, size_t *nproblems, const char *path);
/** cr_jobs_load on a file held in memory (`file` names it in messages). */
int cr_jobs_parse(cr_jobs **out, cr_problem **problems, size_t *nproblems, const char *file,
                  const void *data, size_t len);

/**
 * Translate a schedule into systemd's OnCalendar= syntax: "daily 02:00" ->
 * "*-*-* 02:00:00", "every 4h" -> "*-*-* 00/4:00:00", "every 30m" ->
 * "*-*-* *:00/30:00", "hourly"/"daily"/"weekly" kept; anything else made of
 * the characters of OnCalendar is passed on as written.
 * @param[out] interval_ns the time between two runs when it is known (0 otherwise).
 * @return 0 or CR_EINPUT (message set).
 */
int cr_job_schedule_parse(char **out, int64_t *interval_ns, const char *schedule);

/* ------------------------------------------------- ransomware at backup time */

/** The tag of a snapshot saved while ransomware signals were seen (it is evidence). */
#define CR_TAG_SUSPECT "suspect"

/** What a backup saw of the files it read, against its parent snapshot. */
typedef struct cr_ransom_signals {
    uint64_t files_before;       /**< files of the parent snapshot (0: first backup) */
    uint64_t added, modified;    /**< files read: new, changed */
    uint64_t near_random;        /**< of those, changed files (or new ones with a ransomware
                                      extension) whose first bytes are near-random and start
                                      like no known format: what encryption leaves */
    uint64_t ransom_named;       /**< new files with an extension of the shipped list */
    uint64_t notes;              /**< new files named as ransom notes */
    int suspect;                 /**< 1: the snapshot was tagged CR_TAG_SUSPECT */
    char reason[300];            /**< one line, when suspect */
    char example[200];           /**< a file that got a ransomware extension, or "" */
} cr_ransom_signals;

/** Counts during a backup; see cr_ransom_watch_attach. */
typedef struct cr_ransom_watch cr_ransom_watch;

/**
 * Prepare to watch a backup for ransomware, with the ransomware extensions
 * and ransom-note names of the shipped rules folder (those the hunt uses).
 * @return 0; CR_EINPUT when the folder lacks its lists (message set); an error.
 */
int cr_ransom_watch_new(cr_ransom_watch **out, const char *builtin_dir);
void cr_ransom_watch_free(cr_ransom_watch *w);

/**
 * Have the backup of `opts` report each file it reads to `w` (file_read) and
 * tag its snapshot CR_TAG_SUSPECT before it is saved when the signals pass
 * the thresholds (cr_ransom_watch_set_thresholds; by default the hunt's
 * change-rate rule — at least 20 files got a ransomware extension, or at
 * least 20 files and 10% of the parent's files became near-random or got one
 * — or at least CR_RANSOM_NOTES_MIN ransom notes appeared). Costs no read:
 * the signals come from the bytes the backup reads anyway.
 */
#define CR_RANSOM_NOTES_MIN 5
void cr_ransom_watch_attach(cr_ransom_watch *w, cr_backup_options *opts);
/**
 * The same for an image backup: the files inside the disks' filesystems,
 * against the parent image snapshot, judged on the blocks the chunk pass
 * reads anyway (cr_image_backup_options.block_random; a file's head is its
 * first CR_IMAGE_HEAD_BLOCK-byte block). Same signals, thresholds and tag.
 */
void cr_ransom_watch_attach_image(cr_ransom_watch *w, cr_image_backup_options *opts);
/** Judge with other thresholds than CR_RANSOM_THRESHOLDS_DEFAULT (before the backup). */
void cr_ransom_watch_set_thresholds(cr_ransom_watch *w, const cr_ransom_thresholds *t);
/**
 * Parse `backup --ransomware-threshold` text: comma-separated KEY=N with keys
 * renamed, changed, percent, notes (e.g. "renamed=500,changed=500"), over
 * the values already in *out.
 * @return 0 or CR_EINPUT (message set).
 */
int cr_ransom_thresholds_parse(cr_ransom_thresholds *out, const char *text);
/** The signals of the backup watched (after cr_backup returned). */
void cr_ransom_watch_result(const cr_ransom_watch *w, cr_ransom_signals *out);

/* ------------------------------------------------------------------ run */

#define CR_JOB_RUN_OPTIONS_VERSION 1
typedef struct cr_job_run_options {
    unsigned int version;
    int64_t time_ns;             /**< time of the restore point (0: now) */
    const char *builtin_dir;     /**< the shipped rules/ folder for the hunt (NULL: none) */
    int threads;
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
} cr_job_run_options;
#define CR_JOB_RUN_OPTIONS_INIT {CR_JOB_RUN_OPTIONS_VERSION, 0, NULL, 0, NULL, NULL, NULL}

/** What one run of a job did: each step's return code (1: not run). */
typedef struct cr_job_result {
    int backup, hunt, forget;
    cr_snapshot *snap;           /**< the new snapshot (owned), NULL if the backup failed */
    uint64_t findings;           /**< findings of the hunt */
    size_t forgotten;            /**< snapshots forgotten by the retention rules */
    int watched;                 /**< 1: ransomware signals were counted during the backup */
    cr_ransom_signals ransom;    /**< what they saw (ransom.suspect: tagged "suspect") */
    /* A verify job (job->verify_subset): */
    int verify;                  /**< cr_verify's return (1: not run) */
    unsigned int subset_n, subset_m; /**< the part read */
    uint64_t packs_read;
    size_t problems;             /**< damage found */
    char *message;               /**< the first failure, in words (owned), or NULL */
    /* The record of the run in the vault (cr_job_record_save): */
    int64_t start_ns, end_ns;    /**< when the run began and ended (shifted with time_ns) */
    int record;                  /**< 0 written; 1 not tried; else the error (message in
                                      record_message) */
    cr_id record_id;
    char *record_message;        /**< why the record could not be written (owned), or NULL */
} cr_job_result;

void cr_job_result_clear(cr_job_result *r);

/**
 * Run a job: back up its paths or images as a snapshot of its source, then
 * (job->hunt) hunt the snapshots of the source not yet hunted (the new one),
 * then (job->has_retention) forget by its keep rules. A failed backup stops
 * the job; a failed hunt or forget does not stop the other. With
 * job->ransomware_check and opts->builtin_dir, the backup counts ransomware
 * signals (cr_ransom_watch_attach): a suspect snapshot is saved, tagged, and
 * said in out->ransom; the job goes on (the hunt looks at it too).
 * A verify job (job->verify_subset = M) runs cr_verify with read_data on the
 * packs of part N of M, N = (days since 1970 at opts->time_ns or now) mod M + 1.
 * Every run, whatever its outcome, ends by writing its record in the vault
 * (cr_job_record_save, with the alerts of cr_job_alerts): out->record says
 * whether it could; a record that could not be written does not change the
 * return (the run's own result), the caller says it.
 * @return 0; CR_EPARTIAL (saved, with unreadable items; or the hunt could not
 *         scan everything); the backup's error; or the first error of the
 *         later steps (out says which).
 */
int cr_job_run(cr_job_result *out, cr_repo *repo, const cr_job *job,
               const cr_job_run_options *opts);

/* -------------------------------------------------------------- systemd */

/**
 * The systemd units of a job: cleanroom-job-NAME.service (a oneshot that runs
 * `PROGRAM --repo VAULT job run NAME --jobs FILE`, at idle I/O priority and
 * Nice=10) and cleanroom-job-NAME.timer (OnCalendar=, Persistent=true: a run
 * missed while the machine was off happens at the next boot).
 * @param program the cleanroom command (absolute path).
 * @param jobs_file the jobs file (absolute path).
 * @return 0; CR_EINPUT (a path that is not absolute, or holds characters a
 *         unit file cannot quote); an error.
 */
int cr_job_units(char **service, char **timer, const cr_jobs *jobs, const cr_job *job,
                 const char *program, const char *jobs_file);

/**
 * The units of the daily digest (mail: digest: daily): cleanroom-digest.service
 * (`PROGRAM --repo VAULT job digest --jobs FILE`) and cleanroom-digest.timer
 * (OnCalendar= the digest's time, Persistent=true).
 * @return 0; CR_EINPUT (no digest asked, or paths as in cr_job_units); an error.
 */
int cr_digest_units(char **service, char **timer, const cr_jobs *jobs, const char *program,
                    const char *jobs_file);

/**
 * Write the units of every job (and of the digest, when asked) into `unit_dir` (each file written whole and
 * renamed into place). Does not enable them.
 * @param[out] written the file names written, NULL-terminated (free with
 *             cr_strv_free, image.h); may be NULL.
 */
int cr_jobs_install(char ***written, const cr_jobs *jobs, const char *unit_dir,
                    const char *program, const char *jobs_file);

/**
 * `systemctl daemon-reload`, then `systemctl enable --now` the timer of every
 * job (after cr_jobs_install into /etc/systemd/system).
 * @return 0, or CR_ERROR with systemctl's message.
 */
int cr_jobs_enable(const cr_jobs *jobs);

/* --------------------------------------------------------------- alerts */

/** What an alert is about. Each has a stable journald MESSAGE_ID (docs/jobs.md). */
typedef enum cr_alert_kind {
    CR_ALERT_JOB_FAILED = 1,     /**< the backup of a job failed: no snapshot */
    CR_ALERT_JOB_PARTIAL = 2,    /**< saved, with unreadable items */
    CR_ALERT_RPO = 3,            /**< a source's last backup is older than its RPO */
    CR_ALERT_FINDINGS = 4,       /**< the hunt of a new snapshot found something >= high */
    CR_ALERT_RANSOMWARE = 5,     /**< ransomware signals in what a backup saw */
    CR_ALERT_HUNT_FAILED = 6,    /**< the hunt or the retention of a job failed */
    CR_ALERT_VERIFY = 7,         /**< a verify job found damage, or could not run */
} cr_alert_kind;

/** One event: one alert (one mail, one journal entry), not one per file. */
typedef struct cr_alert {
    cr_alert_kind kind;
    const char *job, *source;    /**< borrowed; job may be NULL */
    char snapshot[CR_ID_HEX_LEN + 1]; /**< "" when none */
    uint64_t count;              /**< unreadable items, findings, files (by kind) */
    int64_t age_ns, rpo_ns;      /**< CR_ALERT_RPO */
    const char *grade;           /**< CR_ALERT_RPO: cr_rpo_grade_name (borrowed) */
    const char *detail;          /**< one line more (an error message), or NULL (borrowed) */
} cr_alert;

/** "job-failed", "job-partial", "rpo", "findings", "ransomware", "hunt-failed", "verify". */
const char *cr_alert_kind_name(cr_alert_kind k);

/**
 * Send one alert: always to the journal (journald's native socket, else
 * syslog), with a stable MESSAGE_ID and fields CLEANROOM_EVENT, CLEANROOM_SOURCE,
 * CLEANROOM_JOB, CLEANROOM_SNAPSHOT; and by mail to the `mail` targets of
 * job->notify (job may be NULL: the mail.to recipients), in mail.language.
 * The journal socket is $CLEANROOM_JOURNAL_SOCKET when set (tests: then never
 * syslog).
 * @return 0; an error when a mail could not be sent (the journal entry is
 *         written first, whatever happens to the mail).
 */
int cr_alert_send(const cr_jobs *cfg, const cr_job *job, const cr_alert *a);

/**
 * The alerts a job's run raises (the policy): a failed backup, a partial one,
 * findings >= high in the new snapshot, a failed hunt or retention.
 * @param[out] out freed with free() (the alerts borrow from job and r).
 */
int cr_job_alerts(cr_alert **out, size_t *n, cr_repo *repo, const cr_job *job,
                  const cr_job_result *r);

/* ---------------------------------------------------------- job records */

/*
 * Each run of a job leaves a record in the vault (runs/<sha256>, an encrypted
 * write-once file: docs/format.md §18), so that `status` tells the outcome of
 * the last run from any machine that opens the vault, and the daily digest
 * lists the day's events. A record is never replaced: its name is the hash of
 * its bytes and the store never overwrites a name; a record changed on disk
 * no longer matches its name and is left out (and `verify` reports it).
 */

/** How a run ended. */
typedef enum cr_run_outcome {
    CR_RUN_NONE = 0,             /**< no record: never ran (or its records are unreadable) */
    CR_RUN_OK = 1,               /**< every step did its work */
    CR_RUN_PARTIAL = 2,          /**< saved with unreadable items; or the hunt could not scan
                                      everything, or the hunt or the retention failed */
    CR_RUN_FAILED = 3,           /**< no snapshot saved; a verify job: damage, or no check */
    CR_RUN_SUSPECT = 4,          /**< saved, tagged suspect (ransomware signals) */
} cr_run_outcome;

/** "never ran", "ok", "partial", "failed", "suspect". */
const char *cr_run_outcome_name(cr_run_outcome o);

/** What the hunt after a backup said. */
typedef enum cr_run_hunt {
    CR_RUN_HUNT_NONE = 0,        /**< not hunted (hunt: false, or the backup failed) */
    CR_RUN_HUNT_CLEAN = 1,       /**< nothing at or above high */
    CR_RUN_HUNT_FINDINGS = 2,    /**< findings at or above high */
    CR_RUN_HUNT_FAILED = 3,      /**< the hunt could not run */
} cr_run_hunt;

/** "not hunted", "clean", "findings", "failed". */
const char *cr_run_hunt_name(cr_run_hunt h);

/** One alert a run raised, as recorded. */
typedef struct cr_run_alert {
    cr_alert_kind kind;
    uint64_t count;
    char *detail;                /**< or NULL */
} cr_run_alert;

/** One run of a job, as recorded in the vault. */
typedef struct cr_job_record {
    cr_id id;                    /**< the record's file, runs/<hex> */
    char *job;
    char *source;                /**< NULL for a verify job */
    char *by;                    /**< user@host that ran it */
    int64_t start_ns, end_ns;
    cr_run_outcome outcome;
    int has_snapshot; cr_id snapshot;
    uint64_t files, bytes, bytes_new, errors; /**< of the snapshot */
    cr_run_hunt hunt;
    uint64_t findings;           /**< every finding of the hunt */
    uint64_t findings_high;      /**< of those, at or above high */
    int is_verify;               /**< a verify job's run: the four below */
    unsigned int subset_n, subset_m;
    uint64_t packs_read, problems;
    int64_t rpo_ns;              /**< the job's RPO when it ran (0: none) */
    char *message;               /**< the first failure, or NULL */
    cr_run_alert *alerts; size_t nalerts;
} cr_job_record;

void cr_job_record_clear(cr_job_record *r);
void cr_job_records_free(cr_job_record *r, size_t n);

/**
 * Write the record of a run (cr_job_run does it): the job, the result, the
 * alerts it raised (may be none).
 * @param[out] out the record's id (may be NULL).
 */
int cr_job_record_save(cr_id *out, cr_repo *repo, const cr_job *job, const cr_job_result *r,
                       const cr_alert *alerts, size_t nalerts);

/** The job name of the record of a `verify` run by hand (no job of a jobs file has
 *  parentheses in its name). */
#define CR_JOB_BY_HAND "(by hand)"

/**
 * Write the record of a `verify --read-data` (part 1/1) or `--read-data-subset N/M`
 * run by hand, as a verify job's run named CR_JOB_BY_HAND, so that `status` shows it
 * as the last verify from any machine (one way: the records). verify_rc is what the
 * run came to (0: no damage; CR_ECORRUPT: damage, `problems` of it; another error:
 * the check did not run to the end, said in `message`).
 * @param[out] out the record's id (may be NULL).
 */
int cr_verify_record_save(cr_id *out, cr_repo *repo, int verify_rc, unsigned int n,
                          unsigned int m, uint64_t packs_read, size_t problems,
                          const char *message, int64_t start_ns, int64_t end_ns);

/**
 * The records of the vault status needs, oldest end first (cr_job_records_read: those a
 * summary covers are there by the newest of each job and source). A record that cannot be read
 * (damaged, changed: its hash no longer matches its name; or not what this
 * program writes) is left out and counted in *unreadable (may be NULL).
 * @return 0 or an error (I/O, out of memory).
 */
int cr_job_records_load(cr_job_record **out, size_t *n, size_t *unreadable, cr_repo *repo);

/** What cr_job_records_read found. */
typedef struct cr_job_records_stats {
    size_t total;                /**< records in the vault (those summaries cover included) */
    size_t unreadable;           /**< records and summaries that could not be read */
    size_t files_read;           /**< files read: summaries, then records no summary covers */
    size_t summaries;            /**< summaries used */
} cr_job_records_stats;

/**
 * The records status needs, at a bounded cost (docs/format.md §18, "Summaries"):
 * the newest record of each job and source (and of each verify) among those a
 * summary (runsum/) covers, and every record none covers (the last 7 days', and
 * fewer than 64 older ones), oldest end first.
 * @return 0 or an error (I/O, out of memory).
 */
int cr_job_records_read(cr_job_record **out, size_t *n, cr_job_records_stats *st,
                        cr_repo *repo);

/**
 * When at least 64 records older than 7 days before `now_ns` are covered by no
 * summary, write a summary (runsum/, once) that covers them, the summaries read
 * and what they cover, carrying the newest record of each job and source.
 * cr_job_run calls it after its record.
 * @param[out] out the summary's id (may be NULL).
 * @return 0 written; 1 nothing to sum up yet; an error (message set).
 */
int cr_job_records_compact(cr_id *out, cr_repo *repo, int64_t now_ns);

/** Parse a record's plaintext (JSON). Exposed for the fuzzer. @return 0, CR_ECORRUPT,
 *  CR_EVERSION. */
int cr_job_record_decode(cr_job_record *out, const void *data, size_t len);

/* ---------------------------------------------------------------- digest */

/** The period a digest sums up: the day before it. */
#define CR_DIGEST_PERIOD_NS (86400LL * 1000000000LL)

/**
 * The daily digest (mail.digest): one mail listing the alerts recorded by the
 * runs that ended in the CR_DIGEST_PERIOD_NS before now_ns (0: the clock),
 * and one line per source past its RPO at now_ns, to mail.to and every `mail:ADDRESS` target of the jobs (once
 * each). Nothing to say: no mail (*nevents 0).
 * @param[out] nevents how many events the mail listed (may be NULL).
 * @return 0; CR_EINPUT (no mail relay, or no recipient); an error (the mail
 *         could not be sent).
 */
int cr_digest_send(size_t *nevents, cr_repo *repo, const cr_jobs *jobs, int64_t now_ns);

/* --------------------------------------------------------------- status */

/** How late a source's last backup is against its RPO (Acronis' grades). */
typedef enum cr_rpo_grade {
    CR_RPO_UNKNOWN = 0,          /**< no RPO set */
    CR_RPO_OK = 1,               /**< age <= RPO */
    CR_RPO_EXCEEDED = 2,         /**< RPO < age <= 2 x RPO */
    CR_RPO_SEVERELY = 3,         /**< 2 x RPO < age <= 4 x RPO */
    CR_RPO_CRITICALLY = 4,       /**< age > 4 x RPO */
    CR_RPO_NEVER = 5,            /**< no snapshot at all */
} cr_rpo_grade;

/** "ok", "exceeded", "severely exceeded", "critically exceeded", "never backed up", "no rpo". */
const char *cr_rpo_grade_name(cr_rpo_grade g);
/** The grade of a last backup `age_ns` old against `rpo_ns` (0: CR_RPO_UNKNOWN). */
cr_rpo_grade cr_rpo_grade_of(int64_t age_ns, int64_t rpo_ns);

/** The state of one source. */
typedef struct cr_source_status {
    char *source;
    char *job;                   /**< the job that backs it up, or NULL (not in the jobs file) */
    int64_t rpo_ns;              /**< 0: none */
    int has_last; cr_id last;    /**< the newest snapshot */
    int64_t last_time_ns;
    int64_t age_ns;              /**< now - last_time_ns (0 when none) */
    uint64_t last_errors;        /**< unreadable items of the newest snapshot */
    size_t snapshots;
    cr_rpo_grade grade;
    int suspect;                 /**< the newest snapshot is tagged CR_TAG_SUSPECT */
    /* What the hunt says (cr_clean_points at high): */
    size_t unhunted;             /**< snapshots never hunted */
    int compromised;             /**< some snapshot holds a finding at or above high */
    int64_t first_compromised_ns;
    int has_clean; cr_id clean;  /**< the last clean restore point */
    int64_t clean_time_ns;
    /* The last recorded run of the job of this source (from the vault's records, so known
     * on any machine that opens the vault): */
    cr_run_outcome last_run;     /**< CR_RUN_NONE: no record */
    int64_t last_run_ns;         /**< when it ended */
    uint64_t last_run_errors;    /**< unreadable items of that run's snapshot */
    char *last_run_message;      /**< why it failed, or NULL */
    cr_run_hunt last_run_hunt;
    uint64_t last_run_findings_high;
} cr_source_status;

/** The vault as a whole: size, growth, room left, last verify. */
typedef struct cr_vault_status {
    cr_repo_usage usage;         /**< size; usage.bytes_since: written in the last 7 days */
    double growth_per_day;       /**< bytes per day over the last 7 days */
    double days_until_full;      /**< at that rate; -1 unknown (remote vault, no growth) */
    /* The last run of a verify job (its record): */
    int has_verify;
    int64_t verify_ns;           /**< when it ended */
    cr_run_outcome verify_outcome; /**< CR_RUN_OK or CR_RUN_FAILED */
    unsigned int verify_n, verify_m; /**< the part read */
    uint64_t verify_problems;
    char *verify_job;
    size_t records;              /**< job records in the vault (summed up ones included) */
    size_t records_unreadable;   /**< records left out: damaged or changed */
    size_t records_read;         /**< files status read for them (summaries, then the
                                      records no summary covers): bounded */
} cr_vault_status;

typedef struct cr_status {
    int64_t now_ns;
    cr_source_status *sources; size_t n; /**< sorted by name */
    cr_vault_status vault;
} cr_status;

void cr_status_clear(cr_status *s);

/**
 * The state of every source of the vault and of every job of `jobs` (may be
 * NULL): newest snapshot, its age, the grade against the job's RPO, whether
 * it is tagged suspect, the hunt's verdict (compromised, clean point), and
 * the outcome of its job's last run (the records in the vault; with no jobs
 * file, the job and RPO come from there too). Then the vault: its size,
 * growth over the 7 days before now_ns, free space where it can be known, and
 * the last verify job's result. The one call the CLI and the console use.
 * @param now_ns "now" (0: the clock).
 */
int cr_status_get(cr_status *out, cr_repo *repo, const cr_jobs *jobs, int64_t now_ns);

#ifdef __cplusplus
}
#endif
#endif
