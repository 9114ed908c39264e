/*
 * cleanroom: running a recovery plan (`cleanroom recover`) or a drill of it
 * (`cleanroom drill`).
 *
 * cr_recover_run() restores the services of a checked plan tier by tier:
 * a service starts when every service of a lower tier has finished and every
 * service it depends on came back OK, up to `parallel` at once. Each service
 * is restored into a staging path beside its target (TARGET.cleanroom-partial)
 * and renamed into place only when complete, then its `start` command runs,
 * then its probes. A service that fails blocks the services that depend on
 * it; the others go on. Every action goes into the recovery journal
 * (plan.h), whose entries are also what makes a recovery resumable: see
 * docs/design.md, "Recover", for the crash points and what a resume does at
 * each.
 *
 * A drill runs the same plan with every target moved below a scratch folder
 * and removes it afterwards; it never writes to a production target.
 */
#ifndef CLEANROOM_RECOVER_H
#define CLEANROOM_RECOVER_H

#include "common.h"
#include "ops.h"
#include "plan.h"
#include "reconnect.h"
#include "repo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- scheduler */

/** State of one unit of work: one instance of a service. */
typedef enum cr_unit_state {
    CR_UNIT_WAITING = 0,
    CR_UNIT_RUNNING = 1,
    CR_UNIT_OK = 2,
    CR_UNIT_FAILED = 3,
    CR_UNIT_BLOCKED = 4, /**< a service it depends on failed or was blocked */
    CR_UNIT_STEP = 5,    /**< back, and waiting for a person: a blocking step of its service
                              is not acknowledged yet (holds dependents and next tiers) */
} cr_unit_state;

/** One instance (1..count) of a service of the plan. */
typedef struct cr_recover_unit {
    size_t service;        /**< index into plan->services */
    unsigned int instance; /**< 1..count */
    cr_unit_state state;
    size_t blocked_by; /**< CR_UNIT_BLOCKED: index of the service that failed or was blocked */
} cr_recover_unit;

/**
 * The scheduling rule, as a pure function. First marks BLOCKED every waiting
 * unit one of whose dependencies has a unit FAILED or BLOCKED (transitively;
 * blocked_by names that dependency); then lists the waiting units that may
 * start now: every unit of a lower tier is finished (OK, FAILED or BLOCKED)
 * and every unit of every service it depends on is OK. Units are listed in
 * array order, at most `max`.
 * @param[out] ready indexes into units
 * @return the number listed.
 */
size_t cr_recover_schedule(size_t *ready, size_t max, const cr_plan *plan, cr_recover_unit *units,
                           size_t nunits);

/* ---------------------------------------------------------------- events */

/**
 * Called for every journal entry written (same type, service and key/value
 * pairs as the journal) and, a few times per second, for "progress" entries
 * that are not journaled (keys: bytes_done, bytes_total, files_done, rate,
 * eta, elapsed). Calls are serialised (never two at once) and may come from
 * worker threads. Strings are borrowed for the call.
 */
typedef void (*cr_recover_event_cb)(const char *type, const char *service, const char *const *kv,
                                    size_t nkv, void *payload);

#define CR_RECOVER_OPTIONS_VERSION 1
typedef struct cr_recover_options {
    unsigned int version;
    const char *journal;        /**< required: the journal file (created if missing) */
    const char *plan_file;      /**< the plan's file, for the journal (plan_sha256) */
    int drill;                  /**< 1: a drill: every target moved below `scratch` */
    const char *scratch;        /**< drill: the scratch folder (created; must be empty or absent) */
    int keep;                   /**< drill: keep the scratch folder at the end */
    int resume;                 /**< 1: continue the last recovery of the journal */
    unsigned int parallel;      /**< services restored at once; 0 = 2 */
    double start_timeout;       /**< seconds a start (or stop) command may run; 0 = 600 */
    double throughput;          /**< bytes/s for the estimate; 0 = measured or remembered */
    const char *log_dir;        /**< folder of the start commands' logs; NULL = JOURNAL.logs */
    int threads;                /**< threads of each restore; 0 = cores / parallel */
    const volatile int *cancel; /**< set non-zero (e.g. by SIGINT) to stop between steps */
    cr_recover_event_cb event;
    void *payload;
    /* The known-exploited vulnerability gate (`gate: {kev: ...}`): the offline data to
     * match each restore point against (cr_vulndata_load), or NULL: not checked (a
     * warning is journaled). */
    const cr_vulndata *vulndata;
} cr_recover_options;
#define CR_RECOVER_OPTIONS_INIT                                                                    \
    {                                                                                              \
        CR_RECOVER_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL, NULL, \
            NULL                                                                                   \
    }

/** Outcome of a recovery. */
typedef struct cr_recover_result {
    size_t ok, failed, blocked; /**< units (instances) */
    size_t skipped;             /**< resume: units already OK in the journal */
    size_t waiting;             /**< units back but waiting for a blocking step's
                                     acknowledgement: the recovery paused (continue it with
                                     resume once acknowledged) */
    double seconds;
} cr_recover_result;

/**
 * Restore, start and probe every service of a plan (already checked with
 * cr_plan_load and cr_plan_check_vault) in tier and dependency order.
 * Before anything is written, every target is checked: an existing target
 * that is not an empty folder is refused (CR_EEXISTS, nothing touched), as is
 * a journal holding an unfinished recovery without `resume` (CR_EEXISTS).
 * @return 0 (every service OK); CR_EPARTIAL (some failed or were blocked:
 *         see the result and the journal); CR_EEXISTS (refused, see above);
 *         CR_ENOTFOUND (a restore point is missing); CR_ECORRUPT (the journal
 *         is damaged; a torn last line is cut when resuming); CR_ELOCKED
 *         (another process holds the journal); CR_EINTR (cancelled); an error.
 */
int cr_recover_run(cr_recover_result *result, cr_repo *repo, const cr_plan *plan,
                   const cr_recover_options *opts);

/**
 * Acknowledge a manual step of a service of `plan` (`steps:`) in the journal
 * of its recovery: who (`by`, "NAME, ROLE") did it, with an optional message.
 * A blocking step's acknowledgement lets the recovery go on (resume).
 * @return 0; CR_ENOTFOUND (no such service or step, or no recovery in the
 *         journal: the message lists what exists); CR_ELOCKED (in use).
 */
int cr_recover_ack_step(cr_repo *repo, const cr_plan *plan, const char *journal,
                        const char *service, const char *step, const char *by,
                        const char *message);

/**
 * Append an operator acknowledgement ("ack" entry: by, message) to the
 * journal of a recovery or drill, about a service of the plan (or NULL: the
 * whole recovery), keyed with the vault `repo` (cr_journal_open_keyed), which
 * records the new head. `by` says who ("NAME, ROLE").
 * @return 0; CR_ENOTFOUND (the journal does not exist or holds no recovery:
 *         nothing is written); CR_ELOCKED (the recovery is running: wait, or
 *         ack later); an error.
 */
int cr_recover_ack(cr_repo *repo, const char *journal, const char *service, const char *by,
                   const char *message);

/**
 * The default journal path of a plan: PLANDIR/NAME.journal for a recovery,
 * PLANDIR/NAME-drill-YYYYmmddTHHMMSSZ.journal for a drill.
 * @return a new string (free()), or NULL (out of memory).
 */
char *cr_recover_journal_path(const char *plan_file, int drill);

#ifdef __cplusplus
}
#endif
#endif
