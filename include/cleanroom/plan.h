/*
 * cleanroom: recovery plans (docs/plan.md) and the recovery journal.
 *
 * OWNER NOTE (remove when done): the plan/journal helper owns this header and
 * may change anything below; the probe types come from probe.h (fixed).
 */
#ifndef CLEANROOM_PLAN_H
#define CLEANROOM_PLAN_H

#include "common.h"
#include "image.h"
#include "probe.h"
#include "repo.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which restore point a service comes back from. */
typedef enum cr_plan_point {
    CR_PLAN_POINT_CLEAN = 0,  /**< the hunt's clean point (default) */
    CR_PLAN_POINT_LATEST = 1, /**< the newest snapshot */
    CR_PLAN_POINT_ID = 2,     /**< a given snapshot id (prefix) */
} cr_plan_point;

typedef enum cr_plan_target_kind {
    CR_PLAN_TARGET_FOLDER = 1, /**< restore the files into a folder */
    CR_PLAN_TARGET_IMAGE = 2,  /**< restore a disk image (format) or export a VM (hypervisor) */
} cr_plan_target_kind;

typedef struct cr_plan_target {
    cr_plan_target_kind kind;
    char *path;                  /**< folder, image file, or export folder */
    cr_image_format format;      /**< image targets */
    int has_hypervisor;
    cr_hypervisor hypervisor;    /**< image targets exported as a VM */
    unsigned int line, col;
} cr_plan_target;

typedef struct cr_plan_service {
    char *name;
    int tier;                    /**< 0 core infrastructure .. 3 workstations */
    char **depends_on; size_t ndepends;
    char *source;                /**< vault source */
    cr_plan_point point; char *point_id;
    cr_plan_target target;
    char *start;                 /**< shell command run after the restore (or NULL) */
    cr_probe_spec *probes; size_t nprobes;
    double rto;                  /**< target, seconds (0 = none) */
    unsigned int count;          /**< instances (workstations: 50) — 1 by default */
    unsigned int line, col;
} cr_plan_service;

typedef struct cr_plan {
    char *file;                  /**< the plan file as given */
    char *site;
    char *vault;                 /**< vault path (may be overridden on the command line) */
    cr_plan_service *services; size_t nservices;
} cr_plan;

/** One problem in a plan: "FILE:LINE:COL: error: message". */
typedef struct cr_plan_problem {
    unsigned int line, col;
    int is_error;                /**< 0: warning */
    char *message;
} cr_plan_problem;

void cr_plan_free(cr_plan *plan);
void cr_plan_problems_free(cr_plan_problem *p, size_t n);

/**
 * Parse a plan file (YAML). Every problem is collected (not only the first):
 * syntax errors, unknown keys, wrong types, duplicate service names, unknown
 * dependencies, dependency cycles (naming the cycle), a dependency on a
 * service of a higher tier, targets that would overwrite each other.
 * @param[out] out the plan (NULL when it has errors); freed with cr_plan_free.
 * @param[out] problems freed with cr_plan_problems_free (may be NULL if not wanted).
 * @return 0; CR_EINPUT if the plan has errors; CR_ENOTFOUND; an error.
 */
int cr_plan_load(cr_plan **out, cr_plan_problem **problems, size_t *nproblems, const char *path);

/**
 * Checks that need the vault: each source has snapshots, the restore point
 * exists (a service asking for `clean` whose source has no clean point is an
 * error naming the first compromised snapshot; never hunted: an error saying
 * to run `cleanroom hunt`). Appends to problems.
 * @return 0, or CR_EINPUT if errors were found.
 */
int cr_plan_check_vault(cr_plan_problem **problems, size_t *nproblems, const cr_plan *plan,
                        cr_repo *repo);

/**
 * Services in the order they may be started: by tier, then so that every
 * service comes after what it depends on. @param[out] order indexes into
 * plan->services, freed with free().
 */
int cr_plan_order(size_t **order, const cr_plan *plan);

/* ------------------------------------------------------------- journal */

/**
 * The recovery journal: an append-only file of JSON lines, each entry carrying
 * the SHA-256 of the previous one, fsynced one by one. Editing, removing or
 * reordering any entry breaks the chain at that point.
 */
typedef struct cr_journal cr_journal;

/** Open (create) a journal for appending; an existing one is verified first (CR_ECORRUPT if broken). */
int cr_journal_open(cr_journal **out, const char *path);
void cr_journal_close(cr_journal *j);

/**
 * Append one entry: `type` ("plan-loaded", "point-chosen", "restore-done",
 * "probe", "ack", "error"...), the service it is about (or NULL), and
 * key/value pairs (kv[0]=key, kv[1]=value, ...; nkv pairs). Durable on return.
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
 * Read and verify a journal. On a broken chain: CR_ECORRUPT, *bad_line = the
 * first line that does not follow (1-based), the message says why; the
 * entries before it are returned.
 */
int cr_journal_read(cr_journal_entry **out, size_t *n, uint64_t *bad_line, const char *path);

#ifdef __cplusplus
}
#endif
#endif
