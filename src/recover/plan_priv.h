/*
 * Private entry points of the plan and journal code, for the tests, the
 * fuzzers and the recover engine (src/recover/). Not part of the public API.
 */
#ifndef CR_RECOVER_PLAN_PRIV_H
#define CR_RECOVER_PLAN_PRIV_H

#include "cleanroom/plan.h"
#include "util/yaml.h"

#include <stddef.h>
#include <stdint.h>

/** At most this many problems are kept; one more says how many were left out. */
#define CR_PLAN_MAX_PROBLEMS CR_YAML_MAX_PROBLEMS

/**
 * cr_plan_load on a plan held in memory. `file` is only recorded in the plan
 * (plan->file). Same returns as cr_plan_load (never CR_ENOTFOUND).
 */
int cr_plan_parse_buffer(cr_plan **out, cr_plan_problem **problems, size_t *nproblems,
                         const char *file, const void *data, size_t len);

/**
 * Parse a duration: "4h", "30m", "90s", "1h30m", "2d", with a decimal number
 * in each part ("1.5h"); a plain number is seconds when `unit_optional`.
 * @return 0 or CR_EINPUT (no message set).
 */
int cr_plan_duration_parse(double *out, const char *s, int unit_optional);

/**
 * Verify a journal held in memory (the whole file). Same contract as
 * cr_journal_read, plus:
 * @param[out] torn 1 when the only damage is an incomplete last line (no
 *             newline), the entries before it intact (may be NULL).
 * @param[out] good_len bytes of the complete, intact lines (may be NULL).
 * @param[out] head hash of the last intact entry, 64 hex digits + NUL (may be NULL).
 */
int cr_journal_verify_buffer(cr_journal_entry **out, size_t *n, uint64_t *bad_line, int *torn,
                             size_t *good_len, char *head, const void *data, size_t len);

#endif
