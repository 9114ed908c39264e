/*
 * The incident recovery report: Markdown and HTML written from a verified
 * recovery journal.
 *
 * The report is evidence sent to a regional health agency and a CERT, so it
 * says only what the journal says, and says where it came from: the journal's
 * entry count and head hash are printed, so anyone can run `cleanroom journal
 * verify` on the journal later and compare. cr_report_write() refuses a
 * journal whose chain is broken: no file is written at all.
 *
 * Everything taken from the journal is untrusted (a journal is a plain file;
 * a chain proves that it was not changed after it was written, not who wrote
 * it), so every such text goes through esc() for the output's syntax: HTML
 * entities, or backslash escapes of the Markdown characters that could make
 * a link, an image, raw HTML, emphasis or a new table cell. Control
 * characters are shown as \xNN. The HTML has no script and forbids any with a
 * Content-Security-Policy.
 *
 * The sentences of the report live in one table per language (tr_en below),
 * as templates whose %1..%9 are replaced by escaped values, so a language can
 * put them in its own order.
 *
 * Data model: the report covers the last recovery of the journal (from its
 * last "recover-start" that is not a resume to the end, resumed runs and
 * later acknowledgements included). Entries about a service are grouped by
 * the name in their `service` field (a unit: "dpi", or "workstation#3" for an
 * instance); units are then grouped into services ("workstation#3" belongs
 * to "workstation" when the journal chose a restore point for "workstation").
 */
#include "cleanroom/report.h"
#include "cleanroom/snapshot.h"

#include "util/i18n.h"
#include "util/util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================ strings */

typedef enum msg {
    M_TITLE_RECOVERY,
    M_TITLE_DRILL,
    M_SEC_SUMMARY,
    M_SEC_RECOVERY,
    M_SEC_JOURNAL,
    M_SEC_TIERS,
    M_SEC_SERVICES,
    M_SEC_POINTS,
    M_SEC_PROBLEMS,
    M_SEC_ACKS,
    M_SEC_KEV,
    M_H_CVE,
    M_H_RANSOMWARE,
    M_H_INSTALLED,
    M_H_FIXED,
    M_H_EVIDENCE,
    M_H_DECISION,
    M_KEV_REFUSED,
    M_KEV_ACKED,         /* %1 by */
    M_KEV_WARNED,
    M_KEV_UNCERTAIN,
    M_SEC_EVIDENCE,
    M_SEC_TIMELINE,
    M_SUM_LINE,          /* %1 ok units, %2 total, %3 failed, %4 blocked, %5 duration */
    M_SUM_OK,
    M_SUM_PARTIAL,
    M_SUM_INTERRUPTED,
    M_SUM_UNFINISHED,
    M_SUM_RESUMED,       /* %1 runs */
    M_SUM_EARLIER,       /* %1 earlier recoveries in the journal */
    M_K_MODE,
    M_K_SITE,
    M_K_STARTED,
    M_K_ENDED,
    M_K_DURATION,
    M_K_OPERATOR,
    M_K_HOST,
    M_K_VAULT,
    M_K_PLAN,
    M_K_PLAN_SHA,
    M_K_SERVICES,
    M_K_SCRATCH,
    M_K_STATUS,
    M_V_RECOVERY,
    M_V_DRILL,
    M_V_NOT_ENDED,
    M_K_JFILE,
    M_K_JENTRIES,
    M_K_JHEAD,
    M_K_JREPORTED,
    M_J_CHECK,           /* %1 journal file, %2 entries, %3 head */
    M_J_RANGE,           /* %1 first line, %2 last line */
    M_H_TIER,
    M_H_SERVICES,
    M_H_SERVICE,
    M_H_STATUS,
    M_H_POINT,
    M_H_TARGET,
    M_H_FILES,
    M_H_BYTES,
    M_H_RESTORE_TIME,
    M_H_PROBES,
    M_H_BACK_AT,
    M_H_RTO,
    M_H_MEASURED,
    M_H_MET,
    M_H_ESTIMATE,
    M_H_TIME,
    M_H_SINCE,
    M_H_EVENT,
    M_H_BY,
    M_H_MESSAGE,
    M_H_SNAPSHOT,
    M_H_SNAP_TIME,
    M_H_CHOSEN,
    M_H_REASON,
    M_TIER_NAME_0,
    M_TIER_NAME_1,
    M_TIER_NAME_2,
    M_TIER_NAME_3,
    M_ST_OK,
    M_ST_FAILED,
    M_ST_BLOCKED,
    M_ST_NOT_DONE,
    M_ST_MIXED,          /* %1 ok, %2 failed, %3 blocked, %4 not finished */
    M_YES,
    M_NO,
    M_NONE,
    M_UNKNOWN,
    M_PROBES_CELL,       /* %1 passed, %2 failed */
    M_MET_CELL,          /* %1 met, %2 of */
    M_INSTANCES,         /* %1 instances */
    M_TARGETS_MANY,      /* %1 first target, %2 count */
    M_NO_PROBLEMS,
    M_P_FAILED,          /* %1 unit */
    M_P_BLOCKED,         /* %1 unit, %2 by */
    M_P_NOT_DONE,        /* %1 unit */
    M_P_ERROR,           /* %1 message */
    M_P_PROBE,           /* %1 probe, %2 kind, %3 attempts, %4 message */
    M_P_START,           /* %1 exit code, %2 log */
    M_NO_ACKS,
    M_EV_INTRO,          /* %1 scratch */
    M_EV_INSIDE,         /* %1 count, %2 scratch */
    M_EV_OUTSIDE,        /* %1 target */
    M_EV_REMOVED,        /* %1 yes/no */
    M_EV_TIERS,
    M_EV_NOTHING,
    M_T_MODE_RECOVERY,
    M_T_MODE_DRILL,
    M_T_START,           /* %1 mode, %2 user, %3 host, %4 plan, %5 services */
    M_T_RESUME,
    M_T_ESTIMATE,        /* %1 tier, %2 bytes, %3 seconds, %4 rto */
    M_T_POINT,           /* %1 snapshot, %2 time, %3 point, %4 reason */
    M_T_RSTART,          /* %1 target */
    M_T_RDONE,           /* %1 files, %2 bytes, %3 target, %4 seconds, %5 failed */
    M_T_SCMD,            /* %1 exit code, %2 seconds, %3 log */
    M_T_STOPCMD,         /* %1 exit code, %2 seconds */
    M_T_PROBE_OK,        /* %1 probe, %2 kind, %3 attempts, %4 seconds, %5 message */
    M_T_PROBE_FAIL,
    M_T_DONE,            /* %1 status, %2 since */
    M_T_BLOCKED,         /* %1 by */
    M_T_ERROR,           /* %1 message */
    M_T_ACK,             /* %1 by, %2 message */
    M_T_STEP_WAIT,       /* %1 step id, %2 its text */
    M_T_STEP_DONE,
    M_T_STEP_TODO,
    M_T_STEP_DRILL,
    M_T_ACK_STEP,        /* %1 step id, %2 by, %3 message */
    M_T_PAUSE,           /* %1 ok, %2 failed, %3 blocked, %4 seconds */
    M_T_END,             /* %1 status, %2 ok, %3 failed, %4 blocked, %5 seconds */
    M_T_CLEANUP,         /* %1 scratch, %2 removed */
    M_T_TORN,            /* %1 bytes, %2 moved to */
    M_WHOLE,
    M_FOOTER,            /* %1 version, %2 journal, %3 time */
    M_RESUMED_NOTE,
    M_SEC_IDENTITY,
    M_K_ESTAB,
    M_K_FINESS,
    M_K_INCIDENT,
    M_K_AUTHOR,
    M_K_ROLE,
    M_K_MADE,
    M_V_NOT_GIVEN,
    M_SEC_RPO,
    M_RPO_INTRO,
    M_RPO_GIVEN,         /* %1 time */
    M_RPO_FOUND,         /* %1 time, %2 snapshot, %3 source */
    M_RPO_UNKNOWN,
    M_RPO_LINE,          /* %1 service, %2 restore point time, %3 duration */
    M_RPO_AFTER,         /* %1 service, %2 restore point time */
    M_RPO_NOPOINT,       /* %1 service */
    M_FIND_HEAD,         /* %1 source, %2 snapshot, %3 time, %4 rule set */
    M_FIND_NONE,         /* %1 service */
    M_FIND_MORE,         /* %1 count */
    M_H_SEVERITY,
    M_H_RULE,
    M_H_PATH,
    M_H_FIRST_SEEN,
    M_J_KEYED,           /* %1 vault, %2 heads, %3 entries covered */
    M_J_KEYED_NOHEAD,    /* %1 vault */
    M_J_UNKEYED,
    M_K_JCHAIN,
    M_V_KEYED,
    M_V_UNKEYED,
    M_MON_1, M_MON_2, M_MON_3, M_MON_4, M_MON_5, M_MON_6,
    M_MON_7, M_MON_8, M_MON_9, M_MON_10, M_MON_11, M_MON_12,
    M_DATE,              /* %1 day, %2 month, %3 HH:MM */
    M__COUNT
} msg;

/* The English text is the msgid: po/fr.po translates it (tr()). The %1..%9
 * are not printf directives. */
static const char *const tr_en[M__COUNT] = {
    [M_TITLE_RECOVERY] = N_("Incident recovery report: %1"),
    [M_TITLE_DRILL] = N_("Recovery drill report: %1"),
    [M_SEC_SUMMARY] = N_("Summary"),
    [M_SEC_RECOVERY] = N_("Recovery"),
    [M_SEC_JOURNAL] = N_("Journal (evidence)"),
    [M_SEC_TIERS] = N_("By tier"),
    [M_SEC_SERVICES] = N_("By service"),
    [M_SEC_POINTS] = N_("Restore points and why they were judged clean"),
    [M_SEC_PROBLEMS] = N_("Failures and blocked services"),
    [M_SEC_ACKS] = N_("Operator acknowledgements"),
    [M_SEC_KEV] = N_("Known exploited vulnerabilities"),
    [M_H_CVE] = N_("Vulnerability"),
    [M_H_RANSOMWARE] = N_("Used by ransomware"),
    [M_H_INSTALLED] = N_("Installed"),
    [M_H_FIXED] = N_("Fixed in"),
    [M_H_EVIDENCE] = N_("Evidence"),
    [M_H_DECISION] = N_("Decision"),
    [M_KEV_REFUSED] = N_("refused: not started until acknowledged"),
    [M_KEV_ACKED] = N_("acknowledged by %1"),
    [M_KEV_WARNED] = N_("started (gate: warn)"),
    [M_KEV_UNCERTAIN] = N_("(uncertain)"),
    [M_SEC_EVIDENCE] = N_("Restore test evidence"),
    [M_SEC_TIMELINE] = N_("Timeline"),
    [M_SUM_LINE] = N_("%1 of %2 services back in %5; %3 failed, %4 blocked."),
    [M_SUM_OK] = N_("Outcome: every service of the plan was restored, started and passed its probes."),
    [M_SUM_PARTIAL] = N_("Outcome: partial recovery: some services failed or were blocked (see below)."),
    [M_SUM_INTERRUPTED] = N_("Outcome: the recovery was interrupted before every service was done."),
    [M_SUM_UNFINISHED] = N_("Outcome: the journal has no end entry: the recovery was still running, or "
                         "stopped (crash, reboot) and was not resumed, when this report was made."),
    [M_SUM_RESUMED] = N_("The recovery ran in %1 parts (it was interrupted and resumed)."),
    [M_SUM_EARLIER] = N_("The journal also holds %1 earlier run(s), not covered by this report."),
    [M_K_MODE] = N_("Mode"),
    [M_K_SITE] = N_("Site"),
    [M_K_STARTED] = N_("Started"),
    [M_K_ENDED] = N_("Ended"),
    [M_K_DURATION] = N_("Duration"),
    [M_K_OPERATOR] = N_("Run by (user)"),
    [M_K_HOST] = N_("On host"),
    [M_K_VAULT] = N_("Vault"),
    [M_K_PLAN] = N_("Plan file"),
    [M_K_PLAN_SHA] = N_("Plan SHA-256"),
    [M_K_SERVICES] = N_("Services in the plan"),
    [M_K_SCRATCH] = N_("Drill scratch folder"),
    [M_K_STATUS] = N_("Status"),
    [M_V_RECOVERY] = N_("recovery"),
    [M_V_DRILL] = N_("drill (rehearsal into a scratch folder; production untouched)"),
    [M_V_NOT_ENDED] = N_("not ended"),
    [M_K_JFILE] = N_("Journal file"),
    [M_K_JENTRIES] = N_("Entries"),
    [M_K_JHEAD] = N_("Head hash (SHA-256 of the last entry)"),
    [M_K_JREPORTED] = N_("Entries covered by this report"),
    [M_J_CHECK] = N_("The journal's hash chain was verified intact when this report was made. To "
                  "check this report against the journal later, run: cleanroom journal verify "
                  "%1 — it must print %2 entries and head %3 (more entries if acknowledgements "
                  "were added since)."),
    [M_J_RANGE] = N_("lines %1 to %2"),
    [M_H_TIER] = N_("Tier"),
    [M_H_SERVICES] = N_("Services"),
    [M_H_SERVICE] = N_("Service"),
    [M_H_STATUS] = N_("Status"),
    [M_H_POINT] = N_("Restore point"),
    [M_H_TARGET] = N_("Target"),
    [M_H_FILES] = N_("Files"),
    [M_H_BYTES] = N_("Bytes"),
    [M_H_RESTORE_TIME] = N_("Restore time"),
    [M_H_PROBES] = N_("Probes"),
    [M_H_BACK_AT] = N_("Back at"),
    [M_H_RTO] = N_("RTO target"),
    [M_H_MEASURED] = N_("Measured (last back)"),
    [M_H_MET] = N_("RTO met"),
    [M_H_ESTIMATE] = N_("Estimate"),
    [M_H_TIME] = N_("Time (UTC)"),
    [M_H_SINCE] = N_("Since start"),
    [M_H_EVENT] = N_("Event"),
    [M_H_BY] = N_("By"),
    [M_H_MESSAGE] = N_("Message"),
    [M_H_SNAPSHOT] = N_("Snapshot"),
    [M_H_SNAP_TIME] = N_("Taken at"),
    [M_H_CHOSEN] = N_("Chosen as"),
    [M_H_REASON] = N_("Why"),
    [M_TIER_NAME_0] = N_("0 core infrastructure"),
    [M_TIER_NAME_1] = N_("1 clinical and business"),
    [M_TIER_NAME_2] = N_("2 other services"),
    [M_TIER_NAME_3] = N_("3 workstations"),
    [M_ST_OK] = N_("ok"),
    [M_ST_FAILED] = N_("FAILED"),
    [M_ST_BLOCKED] = N_("BLOCKED"),
    [M_ST_NOT_DONE] = N_("not finished"),
    [M_ST_MIXED] = N_("%1 ok, %2 failed, %3 blocked, %4 not finished"),
    [M_YES] = N_("yes"),
    [M_NO] = N_("NO"),
    [M_NONE] = N_("no target"),
    [M_UNKNOWN] = N_("?"),
    [M_PROBES_CELL] = N_("%1 passed, %2 failed"),
    [M_MET_CELL] = N_("%1 of %2"),
    [M_INSTANCES] = N_("%1 instances"),
    [M_TARGETS_MANY] = N_("%1 (and %2 more)"),
    [M_NO_PROBLEMS] = N_("None: no service failed or was blocked."),
    [M_P_FAILED] = N_("%1 failed."),
    [M_P_BLOCKED] = N_("%1 was blocked: %2, which it depends on, did not come back."),
    [M_P_NOT_DONE] = N_("%1 was not finished when the journal ends."),
    [M_P_ERROR] = N_("Error: %1"),
    [M_P_PROBE] = N_("Probe %1 (%2) failed after %3 attempt(s): %4"),
    [M_P_START] = N_("Start command exit code %1; its output is in %2"),
    [M_NO_ACKS] = N_("None."),
    [M_EV_INTRO] = N_("This drill restored the services below for real, from the vault into the "
                   "scratch folder %1, started them with their start commands and checked them "
                   "with their probes. The times are measured from the start of the drill: they "
                   "are the recovery times (RTO) this site can achieve with this plan, this vault "
                   "and this machine."),
    [M_EV_INSIDE] = N_("All %1 restore targets lie inside the scratch folder %2: no production target "
                    "was written."),
    [M_EV_OUTSIDE] = N_("WARNING: the restore target %1 is outside the scratch folder."),
    [M_EV_REMOVED] = N_("Scratch folder removed after the drill: %1."),
    [M_EV_TIERS] = N_("Measured recovery time per tier"),
    [M_EV_NOTHING] = N_("No service was restored by this drill."),
    [M_T_MODE_RECOVERY] = N_("Recovery"),
    [M_T_MODE_DRILL] = N_("Drill"),
    [M_T_START] = N_("%1 started by %2 on %3 with plan %4 (%5 services)"),
    [M_T_RESUME] = N_("%1 resumed by %2 on %3 with plan %4 (%5 services)"),
    [M_T_ESTIMATE] = N_("Estimate: tier %1, %2 to restore, back after about %3 (RTO target %4)"),
    [M_T_POINT] = N_("Restore point %1 (%2) chosen as %3: %4"),
    [M_T_RSTART] = N_("Restore started into %1"),
    [M_T_RDONE] = N_("Restored %1 files (%2) into %3 in %4; %5 could not be restored"),
    [M_T_SCMD] = N_("Start command ended with exit code %1 after %2 (log: %3)"),
    [M_T_STOPCMD] = N_("Stop command ended with exit code %1 after %2"),
    [M_T_PROBE_OK] = N_("Probe %1 (%2) passed after %3 attempt(s) in %4: %5"),
    [M_T_PROBE_FAIL] = N_("Probe %1 (%2) FAILED after %3 attempt(s) in %4: %5"),
    [M_T_DONE] = N_("Service done: %1, %2 after the start"),
    [M_T_BLOCKED] = N_("Blocked: %1, which it depends on, did not come back"),
    [M_T_ERROR] = N_("Error: %1"),
    [M_T_ACK] = N_("Acknowledged by %1: %2"),
    [M_T_STEP_WAIT] = N_("Manual step %1, waiting for a person: %2"),
    [M_T_STEP_DONE] = N_("Manual step %1, already acknowledged: %2"),
    [M_T_STEP_TODO] = N_("Manual step %1, to do (does not block): %2"),
    [M_T_STEP_DRILL] = N_("Manual step %1 (a drill does not wait for it): %2"),
    [M_T_ACK_STEP] = N_("Step %1 done, acknowledged by %2: %3"),
    [M_T_PAUSE] = N_("Paused: a manual step waits for its acknowledgement (%1 ok, %2 failed, %3 blocked, in %4)"),
    [M_T_END] = N_("Ended: %1; %2 ok, %3 failed, %4 blocked, in %5"),
    [M_T_CLEANUP] = N_("Drill scratch folder %1 removed: %2"),
    [M_T_TORN] = N_("An incomplete last line (%1 bytes) was cut and moved to %2"),
    [M_WHOLE] = N_("(whole recovery)"),
    [M_FOOTER] = N_("Written by cleanroom %1 from the journal %2 on %3."),
    [M_RESUMED_NOTE] = N_("As the recovery was interrupted and resumed, times count from its first "
                       "start, the interruption included."),
    [M_SEC_IDENTITY] = N_("Identification"),
    [M_K_ESTAB] = N_("Establishment"),
    [M_K_FINESS] = N_("FINESS number"),
    [M_K_INCIDENT] = N_("Incident / ARS report number"),
    [M_K_AUTHOR] = N_("Report written by"),
    [M_K_ROLE] = N_("Role"),
    [M_K_MADE] = N_("Report made on"),
    [M_V_NOT_GIVEN] = N_("not given"),
    [M_SEC_RPO] = N_("Data-loss window (RPO)"),
    [M_RPO_INTRO] = N_("Each service is back to its restore point: what was written after it must be "
                       "entered again."),
    [M_RPO_GIVEN] = N_("Time of the incident: %1 (as given by the operator)."),
    [M_RPO_FOUND] = N_("Time of the incident: %1, the time of snapshot %2 of %3, the first one "
                       "found compromised (the attack may have begun earlier)."),
    [M_RPO_UNKNOWN] = N_("The time of the incident is not known (no compromised snapshot was found "
                         "and none was given with --incident-time): the data to re-enter cannot "
                         "be measured."),
    [M_RPO_LINE] = N_("%1: back to %2 — %3 of data to re-enter"),
    [M_RPO_AFTER] = N_("%1: back to %2, after the time of the incident: check this restore point"),
    [M_RPO_NOPOINT] = N_("%1: no restore point in the journal"),
    [M_FIND_HEAD] = N_("Findings that made %2 of %1 (%3) compromised, rule set %4"),
    [M_FIND_NONE] = N_("%1: the hunt found no snapshot of its source compromised."),
    [M_FIND_MORE] = N_("… and %1 more findings (cleanroom findings --snapshot shows them all)."),
    [M_H_SEVERITY] = N_("Severity"),
    [M_H_RULE] = N_("Rule"),
    [M_H_PATH] = N_("Path"),
    [M_H_FIRST_SEEN] = N_("First seen"),
    [M_J_KEYED] = N_("The journal is keyed with the key of the vault %1 (HMAC-SHA-256): only a "
                     "holder of the vault's passphrase can write an entry that verifies. Its "
                     "chain, and the %2 head(s) the vault recorded at the end of the recovery "
                     "and of each acknowledgement (the last one covering %3 entries), were "
                     "verified intact when this report was made."),
    [M_J_KEYED_NOHEAD] = N_("The journal is keyed with the key of the vault %1 (HMAC-SHA-256) and "
                            "its chain was verified intact; the vault recorded no head of it yet "
                            "(the recovery had not ended)."),
    [M_J_UNKEYED] = N_("WARNING: this journal is not keyed (it was written by an older version "
                       "of cleanroom, or without its vault). Its SHA-256 chain shows accidental "
                       "damage only: whoever could write the file could have rewritten it and "
                       "computed the chain again."),
    [M_K_JCHAIN] = N_("Chain"),
    [M_V_KEYED] = N_("keyed (HMAC-SHA-256 under the vault's key), checked against the vault"),
    [M_V_UNKEYED] = N_("NOT keyed (plain SHA-256)"),
    [M_MON_1] = N_("Jan"),
    [M_MON_2] = N_("Feb"),
    [M_MON_3] = N_("Mar"),
    [M_MON_4] = N_("Apr"),
    [M_MON_5] = N_("May"),
    [M_MON_6] = N_("Jun"),
    [M_MON_7] = N_("Jul"),
    [M_MON_8] = N_("Aug"),
    [M_MON_9] = N_("Sep"),
    [M_MON_10] = N_("Oct"),
    [M_MON_11] = N_("Nov"),
    [M_MON_12] = N_("Dec"),
    [M_DATE] = N_("%1 %2 %3"),
};

/* The text of a message in the language of the report (cr_i18n_begin). */
static const char *tr(cr_report_lang lang, msg m)
{
    (void)lang;
    return tr_en[m] ? cr_i18n(tr_en[m]) : "?";
}

static const char *const lang_codes[] = {[CR_REPORT_EN] = "en", [CR_REPORT_FR] = "fr"};

/* "fr", "fr_FR.UTF-8", "fr-CA": the language is the first two letters. */
static int lang_of(cr_report_lang *out, const char *code)
{
    for (size_t i = 0; code && i < sizeof(lang_codes) / sizeof(lang_codes[0]); i++)
        if (strncmp(code, lang_codes[i], 2) == 0 &&
            (code[2] == '\0' || strchr("_-.:@", code[2]))) {
            *out = (cr_report_lang)i;
            return 0;
        }
    return -1;
}

int cr_report_lang_parse(cr_report_lang *out, const char *code)
{
    if (lang_of(out, code) == 0)
        return 0;
    cr_error_set("the report is written in English ('--lang en') or French ('--lang fr'), not "
                 "'%.16s'",
                 code ? code : "");
    return CR_EINPUT;
}

cr_report_lang cr_report_lang_default(void)
{
    static const char *const vars[] = {"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"};
    cr_report_lang l = CR_REPORT_EN;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return lang_of(&l, v) == 0 ? l : CR_REPORT_EN;
    }
    return l;
}

/* ================================================================ output */

typedef struct rp {
    cr_buf b;
    int html;
    int err;
    cr_report_lang lang;
    const cr_report_context *ctx;
} rp;

static void raw(rp *r, const char *s)
{
    if (!r->err && cr_buf_put(&r->b, s, strlen(s)) < 0)
        r->err = CR_ERROR;
}

static void rawn(rp *r, const char *s, size_t n)
{
    if (!r->err && cr_buf_put(&r->b, s, n) < 0)
        r->err = CR_ERROR;
}

/* Untrusted text, escaped for the output's syntax. */
static void esc_n(rp *r, const char *s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n && !r->err; i++) {
        unsigned char c = (unsigned char)s[i];
        char t[16];
        if (c == '\n' || c == '\r' || c == '\t') {
            raw(r, " ");
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(t, sizeof(t), r->html ? "\\x%02x" : "\\\\x%02x", c);
            raw(r, t);
            continue;
        }
        if (r->html) {
            switch (c) {
            case '&': raw(r, "&amp;"); continue;
            case '<': raw(r, "&lt;"); continue;
            case '>': raw(r, "&gt;"); continue;
            case '"': raw(r, "&quot;"); continue;
            case '\'': raw(r, "&#39;"); continue;
            default: break;
            }
        } else if (strchr("\\`*_[]<>|~&$!{}#", c)) {
            t[0] = '\\';
            t[1] = (char)c;
            rawn(r, t, 2);
            continue;
        }
        rawn(r, (const char *)&s[i], 1);
    }
}

static void esc(rp *r, const char *s)
{
    if (s)
        esc_n(r, s, strlen(s));
}

/* A template of the language: its text and the arguments %1..%9 escaped. */
static void put_t(rp *r, msg m, const char *const *args, size_t nargs)
{
    const char *t = tr(r->lang, m);
    const char *p = t;
    while (*p) {
        const char *q = strchr(p, '%');
        if (!q) {
            esc(r, p);
            break;
        }
        esc_n(r, p, (size_t)(q - p));
        if (q[1] >= '1' && q[1] <= '9') {
            size_t k = (size_t)(q[1] - '1');
            if (k < nargs && args[k])
                esc(r, args[k]);
            p = q + 2;
        } else {
            esc_n(r, q, 1);
            p = q + 1;
        }
    }
}

static void put_m(rp *r, msg m)
{
    put_t(r, m, NULL, 0);
}

static void h1_t(rp *r, msg m, const char *const *args, size_t n)
{
    raw(r, r->html ? "<h1>" : "# ");
    put_t(r, m, args, n);
    raw(r, r->html ? "</h1>\n" : "\n\n");
}

static void h2(rp *r, msg m)
{
    raw(r, r->html ? "<h2>" : "## ");
    put_m(r, m);
    raw(r, r->html ? "</h2>\n" : "\n\n");
}

static void p_begin(rp *r) { raw(r, r->html ? "<p>" : ""); }
static void p_end(rp *r) { raw(r, r->html ? "</p>\n" : "\n\n"); }

static void para_t(rp *r, msg m, const char *const *args, size_t n)
{
    p_begin(r);
    put_t(r, m, args, n);
    p_end(r);
}

static void table_begin(rp *r, const msg *heads, size_t n)
{
    if (r->html) {
        raw(r, "<table>\n<thead><tr>");
        for (size_t i = 0; i < n; i++) {
            raw(r, "<th>");
            put_m(r, heads[i]);
            raw(r, "</th>");
        }
        raw(r, "</tr></thead>\n<tbody>\n");
    } else {
        raw(r, "|");
        for (size_t i = 0; i < n; i++) {
            raw(r, " ");
            put_m(r, heads[i]);
            raw(r, " |");
        }
        raw(r, "\n|");
        for (size_t i = 0; i < n; i++)
            raw(r, "---|");
        raw(r, "\n");
    }
}

static void table_end(rp *r) { raw(r, r->html ? "</tbody>\n</table>\n" : "\n"); }
static void row_begin(rp *r) { raw(r, r->html ? "<tr>" : "|"); }
static void row_end(rp *r) { raw(r, r->html ? "</tr>\n" : "\n"); }

/* cls: a trusted CSS class or NULL. */
static void cell_begin(rp *r, const char *cls)
{
    if (!r->html) {
        raw(r, " ");
        return;
    }
    if (cls) {
        raw(r, "<td class=\"");
        raw(r, cls);
        raw(r, "\">");
    } else {
        raw(r, "<td>");
    }
}

static void cell_end(rp *r) { raw(r, r->html ? "</td>" : " |"); }

/* A cell of a trusted CSS class: "n" never wraps (numbers, sizes,
 * durations, times), "id" may break anywhere (hashes, long ids). */
static void cell_cls(rp *r, const char *cls, const char *s)
{
    cell_begin(r, cls);
    esc(r, s && *s ? s : "-");
    cell_end(r);
}

static void cell_esc(rp *r, const char *s)
{
    cell_begin(r, NULL);
    esc(r, s && *s ? s : "-");
    cell_end(r);
}

static void cell_m(rp *r, msg m, const char *cls)
{
    cell_begin(r, cls);
    put_m(r, m);
    cell_end(r);
}

static void cell_t(rp *r, msg m, const char *const *args, size_t n)
{
    cell_begin(r, NULL);
    put_t(r, m, args, n);
    cell_end(r);
}

/* A key/value list (untrusted value). */
static void kv_begin(rp *r) { raw(r, r->html ? "<table class=\"kv\">\n" : ""); }
static void kv_end(rp *r) { raw(r, r->html ? "</table>\n" : "\n"); }

static void kv_row_begin(rp *r, msg k)
{
    raw(r, r->html ? "<tr><th>" : "- **");
    put_m(r, k);
    raw(r, r->html ? "</th><td>" : ":** ");
}

static void kv_row_end(rp *r) { raw(r, r->html ? "</td></tr>\n" : "\n"); }

static void kv_esc(rp *r, msg k, const char *v)
{
    kv_row_begin(r, k);
    esc(r, v && *v ? v : "?");
    kv_row_end(r);
}

static void list_begin(rp *r) { raw(r, r->html ? "<ul>\n" : ""); }
static void list_end(rp *r) { raw(r, r->html ? "</ul>\n" : "\n"); }
static void item_begin(rp *r) { raw(r, r->html ? "<li>" : "- "); }
static void item_end(rp *r) { raw(r, r->html ? "</li>\n" : "\n"); }

/* ================================================================ values */

static const char *val(const cr_journal_entry *e, const char *key)
{
    if (!e)
        return NULL;
    for (size_t i = 0; i < e->nkv; i++)
        if (strcmp(e->keys[i], key) == 0)
            return e->values[i];
    return NULL;
}

static int is(const cr_journal_entry *e, const char *type)
{
    return strcmp(e->type, type) == 0;
}

/* A decimal number from the journal; 0 if it is not one. */
static int num_u64(uint64_t *out, const char *s)
{
    char *end;
    *out = 0;
    if (!s || !*s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int num_d(double *out, const char *s)
{
    char *end;
    *out = 0;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v != v || v < 0 || v > 1e12)
        return -1;
    *out = v;
    return 0;
}

static char *human_size(char *b, size_t n, uint64_t v)
{
    cr_fmt_size(b, n, v);
    return b;
}

static char *human_dur(char *b, size_t n, double s)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(b, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(b, n, "%d min %02d s", (int)(s / 60), (int)s % 60);
    else
        snprintf(b, n, "%d h %02d min", (int)(s / 3600), ((int)s % 3600) / 60);
    return b;
}

/* A journal value of seconds, as a duration; the raw text if it is not a number. */
static const char *dur_val(char *b, size_t n, const char *s)
{
    double d;
    if (num_d(&d, s) < 0)
        return s ? s : "?";
    return human_dur(b, n, d);
}

static const char *size_val(char *b, size_t n, const char *s)
{
    uint64_t v;
    if (num_u64(&v, s) < 0)
        return s ? s : "?";
    return human_size(b, n, v);
}

static char *utc(char *b, size_t n, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(b, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(b, n, "?");
    return b;
}

/* ================================================================ model */

typedef struct unit {
    const char *name;
    size_t first;                 /* index of its first entry */
    size_t ibeg, icnt;            /* its entries: model.idx[ibeg .. ibeg + icnt) */
    const cr_journal_entry *point, *estimate, *rstart, *rdone, *scmd, *done, *blocked;
    size_t probes_ok, probes_fail, nerrors;
    int has_work;                 /* any entry besides point-chosen / estimate / ack */
    int container;                /* only the restore point of instances */
    const char *base;             /* service name (allocated when it differs from name) */
    struct unit *svc_unit;        /* the unit holding the service's point-chosen */
    unsigned long instance;
} unit;

typedef struct svc {
    const char *name;
    unit **m;
    size_t nm;
    int tier;                     /* -1 unknown */
    size_t order;
    unit *head;                   /* point / estimate holder */
} svc;

typedef struct model {
    const cr_journal_entry *e;
    size_t n, rs;                 /* recovery entries: e[rs..n) */
    const cr_journal_entry *start, *end, *cleanup;
    size_t runs, earlier;
    int drill, resumed;
    unit *u;
    size_t nu;
    svc *s;
    size_t ns;
    size_t *idx;                  /* entries about a service, grouped by unit */
    char **bases;                 /* allocated base names */
    size_t nbases;
} model;

static int cmp_by_service(const void *a, const void *b, void *arg)
{
    const cr_journal_entry *e = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(e[x].service, e[y].service);
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_unit_name(const void *key, const void *el)
{
    return strcmp(key, ((const unit *)el)->name);
}

static unit *find_unit(model *m, const char *name)
{
    return bsearch(name, m->u, m->nu, sizeof(*m->u), cmp_unit_name);
}

static int unit_tier(const unit *u)
{
    uint64_t t;
    const char *v = val(u->done, "tier");
    if (!v && u->svc_unit)
        v = val(u->svc_unit->estimate, "tier");
    if (!v)
        v = val(u->estimate, "tier");
    if (num_u64(&t, v) < 0 || t > 1000)
        return -1;
    return (int)t;
}

static int cmp_members(const void *a, const void *b)
{
    const unit *x = *(unit *const *)a, *y = *(unit *const *)b;
    int c = strcmp(x->base, y->base);
    if (c)
        return c;
    if (x->instance != y->instance)
        return x->instance < y->instance ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_svc(const void *a, const void *b)
{
    const svc *x = a, *y = b;
    unsigned int tx = (unsigned int)x->tier, ty = (unsigned int)y->tier; /* -1 last */
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void model_free(model *m)
{
    free(m->u);
    free(m->idx);
    for (size_t i = 0; i < m->ns; i++)
        free(m->s[i].m);
    free(m->s);
    for (size_t i = 0; i < m->nbases; i++)
        free(m->bases[i]);
    free(m->bases);
}

static int model_build(model *m, const cr_journal_entry *e, size_t n)
{
    size_t *idx = NULL, ni = 0;
    unit **mem = NULL;
    int err = 0;

    memset(m, 0, sizeof(*m));
    m->e = e;
    m->n = n;
    /* The recovery: from the last recover-start that is not a resume. */
    size_t rs = SIZE_MAX, any = SIZE_MAX;
    for (size_t i = n; i-- > 0;) {
        if (!is(&e[i], "recover-start"))
            continue;
        if (any == SIZE_MAX)
            any = i;
        const char *res = val(&e[i], "resume");
        if (!res || strcmp(res, "yes") != 0) {
            rs = i;
            break;
        }
    }
    if (rs == SIZE_MAX)
        rs = any;
    if (rs == SIZE_MAX) {
        cr_error_set("the journal holds no recovery (no 'recover-start' entry): it was not "
                     "written by 'cleanroom recover' or 'cleanroom drill'");
        return CR_EINPUT;
    }
    m->rs = rs;
    m->start = &e[rs];
    const char *mode = val(m->start, "mode");
    m->drill = mode && strcmp(mode, "drill") == 0;
    for (size_t i = 0; i < rs; i++)
        m->earlier += is(&e[i], "recover-start") &&
                      !(val(&e[i], "resume") && !strcmp(val(&e[i], "resume"), "yes"));
    size_t last_start = rs;
    for (size_t i = rs; i < n; i++) {
        if (is(&e[i], "recover-start")) {
            m->runs++;
            last_start = i;
        }
    }
    m->resumed = m->runs > 1;
    for (size_t i = last_start; i < n; i++) {
        if (is(&e[i], "recover-end"))
            m->end = &e[i];
        if (is(&e[i], "drill-cleanup"))
            m->cleanup = &e[i];
    }

    /* Units: entries grouped by their service field. */
    if (!(idx = cr_calloc(n - rs + 1, sizeof(*idx)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = rs; i < n; i++)
        if (e[i].service)
            idx[ni++] = i;
    qsort_r(idx, ni, sizeof(*idx), cmp_by_service, (void *)e);
    if (!(m->u = cr_calloc(ni + 1, sizeof(*m->u)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t k = 0; k < ni; k++) {
        const cr_journal_entry *x = &e[idx[k]];
        unit *u;
        if (m->nu == 0 || strcmp(m->u[m->nu - 1].name, x->service) != 0) {
            u = &m->u[m->nu++];
            u->name = x->service;
            u->first = idx[k];
            u->ibeg = k;
            u->base = u->name;
        }
        u = &m->u[m->nu - 1];
        u->icnt++;
        if (is(x, "point-chosen"))
            u->point = x;
        else if (is(x, "estimate"))
            u->estimate = x;
        else if (is(x, "ack"))
            ;
        else {
            u->has_work = 1;
            if (is(x, "restore-start"))
                u->rstart = x;
            else if (is(x, "restore-done"))
                u->rdone = x;
            else if (is(x, "start-command"))
                u->scmd = x;
            else if (is(x, "service-done"))
                u->done = x;
            else if (is(x, "service-blocked"))
                u->blocked = x;
            else if (is(x, "error"))
                u->nerrors++;
            else if (is(x, "probe")) {
                const char *ok = val(x, "ok");
                if (ok && !strcmp(ok, "yes"))
                    u->probes_ok++;
                else
                    u->probes_fail++;
            }
        }
    }
    /* Instances "name#N" belong to the service "name" when it has a restore point. */
    if (!(m->bases = cr_calloc(m->nu + 1, sizeof(*m->bases)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < m->nu; i++) {
        unit *u = &m->u[i];
        u->svc_unit = u;
        const char *h = strrchr(u->name, '#');
        if (!h || h == u->name || !h[1] || strspn(h + 1, "0123456789") != strlen(h + 1) ||
            strlen(h + 1) > 9)
            continue;
        char *b = cr_strndup(u->name, (size_t)(h - u->name));
        if (!b) {
            err = CR_ERROR;
            goto done;
        }
        unit *bu = find_unit(m, b);
        if (!bu || !bu->point || bu->has_work) {
            free(b);
            continue;
        }
        m->bases[m->nbases++] = b;
        u->base = b;
        u->svc_unit = bu;
        u->instance = strtoul(h + 1, NULL, 10);
        bu->container = 1;
    }
    /* Services: units grouped by base. */
    if (!(mem = cr_calloc(m->nu + 1, sizeof(*mem)))) {
        err = CR_ERROR;
        goto done;
    }
    size_t nmem = 0;
    for (size_t i = 0; i < m->nu; i++)
        if (!m->u[i].container)
            mem[nmem++] = &m->u[i];
    qsort(mem, nmem, sizeof(*mem), cmp_members);
    if (!(m->s = cr_calloc(nmem + 1, sizeof(*m->s)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nmem;) {
        size_t j = i;
        while (j < nmem && strcmp(mem[j]->base, mem[i]->base) == 0)
            j++;
        svc *s = &m->s[m->ns++];
        s->name = mem[i]->base;
        s->nm = j - i;
        if (!(s->m = cr_calloc(s->nm, sizeof(*s->m)))) {
            err = CR_ERROR;
            goto done;
        }
        memcpy(s->m, mem + i, s->nm * sizeof(*s->m));
        s->head = mem[i]->svc_unit;
        s->tier = unit_tier(mem[i]);
        s->order = s->head->point ? (size_t)(s->head->point - e) : s->head->first;
        i = j;
    }
    qsort(m->s, m->ns, sizeof(*m->s), cmp_svc);
done:
    m->idx = idx;
    free(mem);
    if (err == CR_ERROR)
        cr_error_set("out of memory while making the report");
    return err;
}

/* Every time of the report counts from one origin, the recovery's
 * recover-start entry, and is read from the entries' own times: "back at"
 * in the tables and "+..." in the timeline are then the same number. */
static double since_start(const model *m, const cr_journal_entry *e)
{
    return (double)(e->time_ns - m->start->time_ns) / 1e9;
}

/* Seconds from the recovery's start at which a unit was done; <0 unknown. */
static double unit_back_at(const model *m, const unit *u)
{
    if (!u->done)
        return -1;
    return since_start(m, u->done);
}

static double svc_rto(const svc *s)
{
    double d;
    for (size_t i = 0; i < s->nm; i++)
        if (num_d(&d, val(s->m[i]->done, "rto")) == 0)
            return d;
    if (num_d(&d, val(s->head->estimate, "rto")) == 0)
        return d;
    return 0;
}

/* "yes", "no" or "none" for a unit. */
static const char *unit_met(const model *m, const unit *u, double rto)
{
    if (rto <= 0)
        return "none";
    if (!u->done)
        return "no";
    const char *st = val(u->done, "status");
    return st && !strcmp(st, "ok") && unit_back_at(m, u) <= rto ? "yes" : "no";
}

typedef struct agg {
    size_t ok, failed, blocked, notdone, met, with_rto;
    uint64_t bytes, files;
    double back, restore;
    size_t pok, pfail;
    int back_known;
} agg;

static void agg_unit(agg *a, const model *m, const unit *u, double rto)
{
    uint64_t v;
    double d;
    const char *st = val(u->done, "status");
    if (!st)
        a->notdone++;
    else if (!strcmp(st, "ok"))
        a->ok++;
    else if (!strcmp(st, "blocked"))
        a->blocked++;
    else
        a->failed++;
    if (num_u64(&v, val(u->rdone, "bytes")) == 0)
        a->bytes += v;
    if (num_u64(&v, val(u->rdone, "files")) == 0)
        a->files += v;
    if (num_d(&d, val(u->rdone, "seconds")) == 0 && d > a->restore)
        a->restore = d;
    d = st && !strcmp(st, "ok") ? unit_back_at(m, u) : -1;
    if (d >= 0) {
        a->back_known = 1;
        if (d > a->back)
            a->back = d;
    }
    a->pok += u->probes_ok;
    a->pfail += u->probes_fail;
    if (rto > 0) {
        a->with_rto++;
        a->met += !strcmp(unit_met(m, u, rto), "yes");
    }
}

static const char *status_class(const agg *a)
{
    if (a->failed)
        return "st-failed";
    if (a->blocked)
        return "st-blocked";
    if (a->notdone)
        return "st-notdone";
    return "st-ok";
}

static void cell_status(rp *r, const agg *a)
{
    size_t total = a->ok + a->failed + a->blocked + a->notdone;
    if (total == 1 || a->ok == total || a->failed == total || a->blocked == total ||
        a->notdone == total) {
        msg st = a->ok ? M_ST_OK : a->failed ? M_ST_FAILED : a->blocked ? M_ST_BLOCKED
                                                                       : M_ST_NOT_DONE;
        cell_m(r, st, status_class(a));
        return;
    }
    char b[4][24];
    snprintf(b[0], sizeof(b[0]), "%zu", a->ok);
    snprintf(b[1], sizeof(b[1]), "%zu", a->failed);
    snprintf(b[2], sizeof(b[2]), "%zu", a->blocked);
    snprintf(b[3], sizeof(b[3]), "%zu", a->notdone);
    const char *args[] = {b[0], b[1], b[2], b[3]};
    cell_begin(r, status_class(a));
    put_t(r, M_ST_MIXED, args, 4);
    cell_end(r);
}

static void cell_met(rp *r, const agg *a)
{
    if (!a->with_rto) {
        cell_esc(r, "-");
        return;
    }
    if (a->with_rto == 1) {
        cell_m(r, a->met ? M_YES : M_NO, a->met ? "st-ok" : "st-failed");
        return;
    }
    char b[2][24];
    snprintf(b[0], sizeof(b[0]), "%zu", a->met);
    snprintf(b[1], sizeof(b[1]), "%zu", a->with_rto);
    const char *args[] = {b[0], b[1]};
    cell_begin(r, a->met == a->with_rto ? "st-ok" : "st-failed");
    put_t(r, M_MET_CELL, args, 2);
    cell_end(r);
}

static void cell_dur(rp *r, double s, int known)
{
    char b[32];
    cell_cls(r, "n", known ? human_dur(b, sizeof(b), s) : "-");
}

static void cell_service(rp *r, const svc *s)
{
    cell_begin(r, NULL);
    esc(r, s->name);
    if (s->nm > 1) {
        char b[24];
        snprintf(b, sizeof(b), "%zu", s->nm);
        const char *args[] = {b};
        raw(r, " (");
        put_t(r, M_INSTANCES, args, 1);
        raw(r, ")");
    }
    cell_end(r);
}

static void cell_tier(rp *r, int tier)
{
    if (tier >= 0 && tier <= 3) {
        cell_m(r, (msg)(M_TIER_NAME_0 + tier), NULL);
    } else {
        char b[24];
        snprintf(b, sizeof(b), "%d", tier);
        cell_esc(r, tier < 0 ? "?" : b);
    }
}

/* ================================================================ identity, RPO, findings */

/* "21 Nov 02:00" (UTC), month names from the catalogue. */
static char *short_date(rp *r, char *b, size_t n, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    char day[8], hm[8];
    if (!gmtime_r(&t, &tm)) {
        snprintf(b, n, "?");
        return b;
    }
    snprintf(day, sizeof(day), "%d", tm.tm_mday);
    snprintf(hm, sizeof(hm), "%02d:%02d", tm.tm_hour, tm.tm_min);
    const char *mon = tr(r->lang, (msg)(M_MON_1 + tm.tm_mon));
    /* The template of M_DATE puts the three in the language's order. */
    const char *tpl = tr(r->lang, M_DATE), *args[] = {day, mon, hm};
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < n; p++) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '3') {
            o += (size_t)snprintf(b + o, n - o, "%s", args[p[1] - '1']);
            if (o >= n)
                o = n - 1;
            p++;
        } else {
            b[o++] = *p;
        }
    }
    b[o] = '\0';
    return b;
}

/* "2 days", "5 hours", "40 minutes": the data-loss window in words. */
static char *loss_words(char *b, size_t n, double s)
{
    unsigned long v;
    if (s >= 86400) {
        v = (unsigned long)(s / 86400);
        snprintf(b, n, cr_i18n_n("%lu day", "%lu days", v), v);
    } else if (s >= 3600) {
        v = (unsigned long)(s / 3600);
        snprintf(b, n, cr_i18n_n("%lu hour", "%lu hours", v), v);
    } else {
        v = (unsigned long)(s / 60);
        snprintf(b, n, cr_i18n_n("%lu minute", "%lu minutes", v), v);
    }
    return b;
}

static const cr_report_point *point_of(const rp *r, const char *snapshot)
{
    for (size_t i = 0; snapshot && r->ctx && i < r->ctx->npoints; i++)
        if (r->ctx->points[i].snapshot && !strcmp(r->ctx->points[i].snapshot, snapshot))
            return &r->ctx->points[i];
    return NULL;
}

static void kv_given(rp *r, msg k, const char *v)
{
    kv_row_begin(r, k);
    if (v && *v)
        esc(r, v);
    else
        put_m(r, M_V_NOT_GIVEN);
    kv_row_end(r);
}

static void sec_identity(rp *r, const model *m, const char *when)
{
    const cr_report_context *c = r->ctx;
    h2(r, M_SEC_IDENTITY);
    kv_begin(r);
    kv_given(r, M_K_ESTAB, c && c->site ? c->site : val(m->start, "site"));
    kv_given(r, M_K_FINESS, c ? c->finess : NULL);
    kv_given(r, M_K_INCIDENT, c ? c->incident : NULL);
    kv_given(r, M_K_AUTHOR, c ? c->author : NULL);
    kv_given(r, M_K_ROLE, c ? c->role : NULL);
    kv_esc(r, M_K_MADE, when);
    kv_end(r);
}

/* The incident: the operator's time, else the earliest first compromised
 * snapshot of the restore points. *from: that point, or NULL. */
static int64_t incident_time(const rp *r, const cr_report_point **from)
{
    *from = NULL;
    if (!r->ctx)
        return 0;
    if (r->ctx->incident_ns)
        return r->ctx->incident_ns;
    for (size_t i = 0; i < r->ctx->npoints; i++) {
        const cr_report_point *p = &r->ctx->points[i];
        if (p->compromised && (!*from || p->first_compromised_ns < (*from)->first_compromised_ns))
            *from = p;
    }
    return *from ? (*from)->first_compromised_ns : 0;
}

static void sec_rpo(rp *r, const model *m)
{
    const cr_report_point *from;
    int64_t inc = incident_time(r, &from);
    char b[3][64];
    h2(r, M_SEC_RPO);
    if (!inc) {
        para_t(r, M_RPO_UNKNOWN, NULL, 0);
    } else {
        utc(b[0], sizeof(b[0]), inc);
        if (from) {
            snprintf(b[1], sizeof(b[1]), "%.8s", from->first_compromised);
            const char *a[] = {b[0], b[1], from->source};
            para_t(r, M_RPO_FOUND, a, 3);
        } else {
            const char *a[] = {b[0]};
            para_t(r, M_RPO_GIVEN, a, 1);
        }
        para_t(r, M_RPO_INTRO, NULL, 0);
    }
    list_begin(r);
    for (size_t i = 0; i < m->ns; i++) {
        const cr_journal_entry *p = m->s[i].head->point;
        int64_t t;
        item_begin(r);
        if (!p || cr_time_parse(&t, val(p, "snapshot_time") ? val(p, "snapshot_time") : "") < 0) {
            const char *a[] = {m->s[i].name};
            put_t(r, M_RPO_NOPOINT, a, 1);
        } else if (inc && t > inc) {
            const char *a[] = {m->s[i].name, short_date(r, b[0], sizeof(b[0]), t)};
            put_t(r, M_RPO_AFTER, a, 2);
        } else if (inc) {
            const char *a[] = {m->s[i].name, short_date(r, b[0], sizeof(b[0]), t),
                               loss_words(b[1], sizeof(b[1]), (double)(inc - t) / 1e9)};
            put_t(r, M_RPO_LINE, a, 3);
        } else {
            esc(r, m->s[i].name);
            raw(r, ": ");
            esc(r, short_date(r, b[0], sizeof(b[0]), t));
        }
        item_end(r);
    }
    list_end(r);
}

/* The findings that made a source's snapshot compromised, named. */
static void sec_findings(rp *r, const model *m)
{
    static const msg heads[] = {M_H_SEVERITY, M_H_RULE, M_H_PATH, M_H_FIRST_SEEN};
    enum { SHOWN = 20 };
    const cr_report_point *done[64];
    size_t ndone = 0;
    for (size_t i = 0; i < m->ns; i++) {
        const cr_report_point *p = point_of(r, val(m->s[i].head->point, "snapshot"));
        if (!p || !p->compromised)
            continue;
        int seen = 0;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = !strcmp(done[k]->first_compromised, p->first_compromised);
        if (seen || ndone == sizeof(done) / sizeof(done[0]))
            continue;
        done[ndone++] = p;
        char t[64], id[16];
        snprintf(id, sizeof(id), "%.8s", p->first_compromised);
        const char *a[] = {p->source, id, utc(t, sizeof(t), p->first_compromised_ns),
                           p->ruleset && *p->ruleset ? p->ruleset : "?"};
        raw(r, r->html ? "<h3>" : "### ");
        put_t(r, M_FIND_HEAD, a, 4);
        raw(r, r->html ? "</h3>\n" : "\n\n");
        table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
        for (size_t k = 0; k < p->nfindings && k < SHOWN; k++) {
            const cr_finding *f = &p->findings[k];
            row_begin(r);
            cell_cls(r, "n", cr_severity_name(f->severity));
            cell_esc(r, f->indicator);
            cell_cls(r, "id", f->path);
            cell_cls(r, "n", utc(t, sizeof(t), f->first_seen_ns ? f->first_seen_ns : f->time_ns));
            row_end(r);
        }
        table_end(r);
        if (p->nfindings > SHOWN) {
            char more[24];
            snprintf(more, sizeof(more), "%zu", p->nfindings - SHOWN);
            const char *a2[] = {more};
            para_t(r, M_FIND_MORE, a2, 1);
        }
    }
}

/* ================================================================ sections */

/* Length of the recovery, from the same origin as every other time. */
static double run_seconds(const model *m, double fallback)
{
    if (!m->end)
        return fallback;
    return since_start(m, m->end);
}

static void sec_recovery(rp *r, const model *m)
{
    char b[64], c[64];
    const cr_journal_entry *s = m->start;
    h2(r, M_SEC_RECOVERY);
    kv_begin(r);
    kv_row_begin(r, M_K_MODE);
    put_m(r, m->drill ? M_V_DRILL : M_V_RECOVERY);
    kv_row_end(r);
    kv_esc(r, M_K_SITE, val(s, "site"));
    kv_esc(r, M_K_STARTED, utc(b, sizeof(b), s->time_ns));
    kv_row_begin(r, M_K_ENDED);
    if (m->end)
        esc(r, utc(b, sizeof(b), m->end->time_ns));
    else
        put_m(r, M_V_NOT_ENDED);
    kv_row_end(r);
    if (m->end)
        kv_esc(r, M_K_DURATION, human_dur(c, sizeof(c), run_seconds(m, 0)));
    kv_esc(r, M_K_STATUS, m->end ? val(m->end, "status") : NULL);
    kv_esc(r, M_K_OPERATOR, val(s, "user"));
    kv_esc(r, M_K_HOST, val(s, "host"));
    kv_esc(r, M_K_VAULT, val(s, "vault"));
    kv_esc(r, M_K_PLAN, val(s, "plan"));
    kv_esc(r, M_K_PLAN_SHA, val(s, "plan_sha256"));
    kv_esc(r, M_K_SERVICES, val(s, "services"));
    if (m->drill)
        kv_esc(r, M_K_SCRATCH, val(s, "scratch"));
    kv_end(r);
}

static void sec_journal(rp *r, const model *m, const char *jname)
{
    char b[2][32];
    const char *head = m->n ? m->e[m->n - 1].hash : "";
    h2(r, M_SEC_JOURNAL);
    kv_begin(r);
    kv_esc(r, M_K_JFILE, jname);
    snprintf(b[0], sizeof(b[0]), "%zu", m->n);
    kv_esc(r, M_K_JENTRIES, b[0]);
    kv_esc(r, M_K_JHEAD, head);
    snprintf(b[0], sizeof(b[0]), "%zu", m->rs + 1);
    snprintf(b[1], sizeof(b[1]), "%zu", m->n);
    const char *rg[] = {b[0], b[1]};
    kv_row_begin(r, M_K_JREPORTED);
    put_t(r, M_J_RANGE, rg, 2);
    kv_row_end(r);
    kv_row_begin(r, M_K_JCHAIN);
    put_m(r, r->ctx && r->ctx->check && r->ctx->check->keyed ? M_V_KEYED : M_V_UNKEYED);
    kv_row_end(r);
    kv_end(r);
    snprintf(b[0], sizeof(b[0]), "%zu", m->n);
    const char *args[] = {jname, b[0], head};
    para_t(r, M_J_CHECK, args, 3);
    const cr_journal_check *ck = r->ctx ? r->ctx->check : NULL;
    if (ck && ck->keyed && ck->vault) {
        snprintf(b[0], sizeof(b[0]), "%zu", ck->heads);
        snprintf(b[1], sizeof(b[1]), "%llu", (unsigned long long)ck->sealed);
        const char *a[] = {r->ctx->vault ? r->ctx->vault : "?", b[0], b[1]};
        para_t(r, ck->heads ? M_J_KEYED : M_J_KEYED_NOHEAD, a, 3);
    } else if (!ck || !ck->keyed) {
        para_t(r, M_J_UNKEYED, NULL, 0);
    }
}

static void sec_summary(rp *r, const model *m)
{
    agg a;
    memset(&a, 0, sizeof(a));
    for (size_t i = 0; i < m->ns; i++)
        for (size_t k = 0; k < m->s[i].nm; k++)
            agg_unit(&a, m, m->s[i].m[k], 0);
    char b[4][32], d[32];
    size_t total = a.ok + a.failed + a.blocked + a.notdone;
    snprintf(b[0], sizeof(b[0]), "%zu", a.ok);
    snprintf(b[1], sizeof(b[1]), "%zu", total);
    snprintf(b[2], sizeof(b[2]), "%zu", a.failed);
    snprintf(b[3], sizeof(b[3]), "%zu", a.blocked);
    double secs = run_seconds(m, a.back);
    const char *args[] = {b[0], b[1], b[2], b[3], human_dur(d, sizeof(d), secs)};
    h2(r, M_SEC_SUMMARY);
    const char *st = m->end ? val(m->end, "status") : NULL;
    msg outcome = !m->end                          ? M_SUM_UNFINISHED
                  : st && !strcmp(st, "ok")         ? M_SUM_OK
                  : st && !strcmp(st, "interrupted") ? M_SUM_INTERRUPTED
                                                      : M_SUM_PARTIAL;
    raw(r, r->html ? "<p class=\"" : "**");
    if (r->html) {
        raw(r, outcome == M_SUM_OK ? "outcome st-ok" : "outcome st-failed");
        raw(r, "\">");
    }
    put_m(r, outcome);
    raw(r, r->html ? "</p>\n" : "**\n\n");
    para_t(r, M_SUM_LINE, args, 5);
    if (m->resumed) {
        snprintf(b[0], sizeof(b[0]), "%zu", m->runs);
        const char *a1[] = {b[0]};
        para_t(r, M_SUM_RESUMED, a1, 1);
        para_t(r, M_RESUMED_NOTE, NULL, 0);
    }
    if (m->earlier) {
        snprintf(b[0], sizeof(b[0]), "%zu", m->earlier);
        const char *a1[] = {b[0]};
        para_t(r, M_SUM_EARLIER, a1, 1);
    }
}

static void tier_rows(rp *r, const model *m)
{
    static const msg heads[] = {M_H_TIER,     M_H_SERVICES, M_H_STATUS, M_H_BYTES,
                                M_H_ESTIMATE, M_H_MEASURED, M_H_RTO,    M_H_MET};
    table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
    for (size_t i = 0; i < m->ns;) {
        size_t j = i;
        agg a;
        double rto_min = 0, est_max = 0, d;
        int est_known = 0;
        memset(&a, 0, sizeof(a));
        size_t units = 0;
        while (j < m->ns && m->s[j].tier == m->s[i].tier) {
            double rto = svc_rto(&m->s[j]);
            if (rto > 0 && (rto_min == 0 || rto < rto_min))
                rto_min = rto; /* the tier's target: its tightest RTO */
            if (num_d(&d, val(m->s[j].head->estimate, "seconds")) == 0) {
                est_known = 1;
                if (d > est_max)
                    est_max = d;
            }
            for (size_t k = 0; k < m->s[j].nm; k++, units++)
                agg_unit(&a, m, m->s[j].m[k], rto);
            j++;
        }
        char b[32], c[32];
        row_begin(r);
        cell_tier(r, m->s[i].tier);
        snprintf(b, sizeof(b), "%zu", j - i);
        if (units != j - i)
            snprintf(b, sizeof(b), "%zu (%zu)", j - i, units);
        cell_cls(r, "n", b);
        cell_status(r, &a);
        cell_cls(r, "n", human_size(c, sizeof(c), a.bytes));
        cell_dur(r, est_max, est_known);
        cell_dur(r, a.back, a.back_known && !a.notdone);
        cell_dur(r, rto_min, rto_min > 0);
        cell_met(r, &a);
        row_end(r);
        i = j;
    }
    table_end(r);
}

static void sec_tiers(rp *r, const model *m)
{
    h2(r, M_SEC_TIERS);
    tier_rows(r, m);
}

static void cell_point(rp *r, const svc *s)
{
    const char *id = val(s->head->point, "snapshot");
    const char *t = val(s->head->point, "snapshot_time");
    cell_begin(r, NULL);
    if (id) {
        esc_n(r, id, strlen(id) > 12 ? 12 : strlen(id));
        if (t) {
            raw(r, " (");
            esc(r, t);
            raw(r, ")");
        }
    } else {
        esc(r, "-");
    }
    cell_end(r);
}

static void sec_services(rp *r, const model *m)
{
    static const msg heads[] = {M_H_TIER,    M_H_SERVICE, M_H_STATUS,       M_H_POINT,
                                M_H_TARGET,  M_H_FILES,   M_H_BYTES,        M_H_RESTORE_TIME,
                                M_H_PROBES,  M_H_BACK_AT, M_H_RTO,          M_H_MET};
    h2(r, M_SEC_SERVICES);
    table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
    for (size_t i = 0; i < m->ns; i++) {
        const svc *s = &m->s[i];
        double rto = svc_rto(s);
        agg a;
        char b[3][32];
        memset(&a, 0, sizeof(a));
        for (size_t k = 0; k < s->nm; k++)
            agg_unit(&a, m, s->m[k], rto);
        row_begin(r);
        cell_tier(r, s->tier);
        cell_service(r, s);
        cell_status(r, &a);
        cell_point(r, s);
        const char *target = val(s->m[0]->rdone, "target");
        if (!target)
            target = val(s->m[0]->rstart, "target");
        if (s->nm > 1 && target) {
            snprintf(b[0], sizeof(b[0]), "%zu", s->nm - 1);
            const char *args[] = {target, b[0]};
            cell_t(r, M_TARGETS_MANY, args, 2);
        } else {
            cell_esc(r, target);
        }
        snprintf(b[0], sizeof(b[0]), "%llu", (unsigned long long)a.files);
        cell_cls(r, "n", b[0]);
        cell_cls(r, "n", human_size(b[1], sizeof(b[1]), a.bytes));
        cell_dur(r, a.restore, a.bytes || a.files);
        snprintf(b[0], sizeof(b[0]), "%zu", a.pok);
        snprintf(b[1], sizeof(b[1]), "%zu", a.pfail);
        const char *pargs[] = {b[0], b[1]};
        cell_t(r, M_PROBES_CELL, pargs, 2);
        cell_dur(r, a.back, a.back_known && !a.notdone);
        cell_dur(r, rto, rto > 0);
        cell_met(r, &a);
        row_end(r);
    }
    table_end(r);
}

static void sec_points(rp *r, const model *m)
{
    static const msg heads[] = {M_H_SERVICE, M_H_SNAPSHOT, M_H_SNAP_TIME, M_H_CHOSEN, M_H_REASON};
    h2(r, M_SEC_POINTS);
    table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
    for (size_t i = 0; i < m->ns; i++) {
        const cr_journal_entry *p = m->s[i].head->point;
        if (!p)
            continue;
        row_begin(r);
        cell_esc(r, m->s[i].name);
        cell_cls(r, "id", val(p, "snapshot"));
        cell_cls(r, "n", val(p, "snapshot_time"));
        cell_esc(r, val(p, "point"));
        cell_esc(r, val(p, "reason"));
        row_end(r);
    }
    table_end(r);
}

static void sec_problems(rp *r, const model *m)
{
    size_t shown = 0;
    h2(r, M_SEC_PROBLEMS);
    for (size_t i = 0; i < m->ns; i++) {
        for (size_t k = 0; k < m->s[i].nm; k++) {
            const unit *u = m->s[i].m[k];
            const char *st = val(u->done, "status");
            if (st && !strcmp(st, "ok"))
                continue;
            if (!shown++)
                list_begin(r);
            item_begin(r);
            const char *a1[] = {u->name, val(u->blocked, "by")};
            if (st && !strcmp(st, "blocked"))
                put_t(r, M_P_BLOCKED, a1, 2);
            else if (st)
                put_t(r, M_P_FAILED, a1, 1);
            else
                put_t(r, M_P_NOT_DONE, a1, 1);
            /* The reasons, from the unit's own entries (in journal order). */
            for (size_t k2 = 0; k2 < u->icnt; k2++) {
                const cr_journal_entry *e = &m->e[m->idx[u->ibeg + k2]];
                if (is(e, "error")) {
                    const char *a[] = {val(e, "message")};
                    raw(r, " ");
                    put_t(r, M_P_ERROR, a, 1);
                } else if (is(e, "probe") && !(val(e, "ok") && !strcmp(val(e, "ok"), "yes"))) {
                    const char *a[] = {val(e, "probe"), val(e, "kind"), val(e, "attempts"),
                                       val(e, "message")};
                    raw(r, " ");
                    put_t(r, M_P_PROBE, a, 4);
                } else if (is(e, "start-command") && val(e, "exit_code") &&
                           strcmp(val(e, "exit_code"), "0") != 0) {
                    const char *a[] = {val(e, "exit_code"), val(e, "log")};
                    raw(r, " ");
                    put_t(r, M_P_START, a, 2);
                }
            }
            item_end(r);
        }
    }
    if (shown)
        list_end(r);
    else
        para_t(r, M_NO_PROBLEMS, NULL, 0);
}

static void sec_acks(rp *r, const model *m)
{
    static const msg heads[] = {M_H_TIME, M_H_SERVICE, M_H_BY, M_H_MESSAGE};
    size_t shown = 0;
    h2(r, M_SEC_ACKS);
    for (size_t x = m->rs; x < m->n; x++) {
        const cr_journal_entry *e = &m->e[x];
        if (!is(e, "ack"))
            continue;
        if (!shown++)
            table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
        char b[64];
        row_begin(r);
        cell_cls(r, "n", utc(b, sizeof(b), e->time_ns));
        if (e->service)
            cell_esc(r, e->service);
        else
            cell_m(r, M_WHOLE, NULL);
        cell_esc(r, val(e, "by"));
        /* A manual step of the plan: its id first. */
        const char *st = val(e, "step");
        const char *mv = val(e, "message");
        char *text = st && *st ? cr_sprintf("[%s] %s", st, mv ? mv : "") : NULL;
        cell_esc(r, text ? text : mv);
        free(text);
        row_end(r);
    }
    if (shown)
        table_end(r);
    else
        para_t(r, M_NO_ACKS, NULL, 0);
}

/* The known-exploited vulnerabilities of the restore points (recover.c's gate, "kev"
 * entries): one row per service and CVE, as the last run that checked it decided. */
static void sec_kev(rp *r, const model *m)
{
    static const msg heads[] = {M_H_SERVICE, M_H_CVE,      M_H_RANSOMWARE, M_H_INSTALLED,
                                M_H_FIXED,   M_H_EVIDENCE, M_H_DECISION};
    size_t shown = 0;
    h2(r, M_SEC_KEV);
    for (size_t x = m->rs; x < m->n; x++) {
        const cr_journal_entry *e = &m->e[x];
        if (!is(e, CR_JOURNAL_KEV) || !e->service || !val(e, "cve"))
            continue;
        int later = 0;
        for (size_t y = x + 1; y < m->n && !later; y++)
            later = is(&m->e[y], CR_JOURNAL_KEV) && m->e[y].service &&
                    !strcmp(m->e[y].service, e->service) && val(&m->e[y], "cve") &&
                    !strcmp(val(&m->e[y], "cve"), val(e, "cve"));
        if (later)
            continue;
        if (!shown++)
            table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
        const char *d = val(e, "decision"), *rw = val(e, "ransomware");
        char *inst = cr_sprintf("%s %s", val(e, "product") ? val(e, "product") : "",
                                val(e, "installed") ? val(e, "installed") : "");
        row_begin(r);
        cell_esc(r, e->service);
        cell_cls(r, "id", val(e, "cve"));
        cell_m(r, rw && !strcmp(rw, "known") ? M_YES : M_UNKNOWN, NULL);
        cell_esc(r, inst);
        cell_begin(r, NULL);
        esc(r, val(e, "fixed") && *val(e, "fixed") ? val(e, "fixed") : "-");
        if (val(e, "uncertain") && !strcmp(val(e, "uncertain"), "yes")) {
            raw(r, " ");
            put_m(r, M_KEV_UNCERTAIN);
        }
        cell_end(r);
        cell_esc(r, val(e, "evidence"));
        const char *by[] = {val(e, "by")};
        if (d && !strcmp(d, "refused"))
            cell_m(r, M_KEV_REFUSED, NULL);
        else if (d && !strcmp(d, "acknowledged"))
            cell_t(r, M_KEV_ACKED, by, 1);
        else
            cell_m(r, M_KEV_WARNED, NULL);
        row_end(r);
        free(inst);
    }
    if (shown)
        table_end(r);
    else
        para_t(r, M_NO_ACKS, NULL, 0);
}

static void sec_evidence(rp *r, const model *m)
{
    const char *scratch = val(m->start, "scratch");
    h2(r, M_SEC_EVIDENCE);
    const char *a1[] = {scratch};
    para_t(r, M_EV_INTRO, a1, 1);
    size_t restored = 0, outside = 0, sl = scratch ? strlen(scratch) : 0;
    for (size_t i = 0; i < m->ns; i++)
        for (size_t k = 0; k < m->s[i].nm; k++) {
            const char *t = val(m->s[i].m[k]->rdone, "target");
            if (!t)
                continue;
            restored++;
            if (!sl || strncmp(t, scratch, sl) != 0 || t[sl] != '/') {
                const char *a[] = {t};
                para_t(r, M_EV_OUTSIDE, a, 1);
                outside++;
            }
        }
    if (!restored) {
        para_t(r, M_EV_NOTHING, NULL, 0);
    } else if (!outside) {
        char b[24];
        snprintf(b, sizeof(b), "%zu", restored);
        const char *a[] = {b, scratch};
        para_t(r, M_EV_INSIDE, a, 2);
    }
    if (m->cleanup) {
        const char *rm = val(m->cleanup, "removed");
        p_begin(r);
        const char *a[] = {rm && !strcmp(rm, "yes") ? tr(r->lang, M_YES) : tr(r->lang, M_NO)};
        put_t(r, M_EV_REMOVED, a, 1);
        p_end(r);
    }
    raw(r, r->html ? "<h3>" : "### ");
    put_m(r, M_EV_TIERS);
    raw(r, r->html ? "</h3>\n" : "\n\n");
    tier_rows(r, m);
}

static void timeline_event(rp *r, const model *m, const cr_journal_entry *e)
{
    char b[6][48];
    if (is(e, "recover-start")) {
        const char *res = val(e, "resume");
        const char *mo = val(e, "mode");
        const char *a[] = {mo && !strcmp(mo, "drill") ? tr(r->lang, M_T_MODE_DRILL)
                           : mo && !strcmp(mo, "recover") ? tr(r->lang, M_T_MODE_RECOVERY)
                                                          : mo,
                           val(e, "user"), val(e, "host"), val(e, "plan"),
                           val(e, "services")};
        put_t(r, res && !strcmp(res, "yes") ? M_T_RESUME : M_T_START, a, 5);
    } else if (is(e, "estimate")) {
        double rto;
        int no_rto = num_d(&rto, val(e, "rto")) == 0 && rto <= 0;
        const char *a[] = {val(e, "tier"), size_val(b[0], sizeof(b[0]), val(e, "bytes")),
                           dur_val(b[1], sizeof(b[1]), val(e, "seconds")),
                           no_rto ? tr(r->lang, M_NONE) : dur_val(b[2], sizeof(b[2]), val(e, "rto"))};
        put_t(r, M_T_ESTIMATE, a, 4);
    } else if (is(e, "point-chosen")) {
        const char *a[] = {val(e, "snapshot"), val(e, "snapshot_time"), val(e, "point"),
                           val(e, "reason")};
        put_t(r, M_T_POINT, a, 4);
    } else if (is(e, "restore-start")) {
        const char *a[] = {val(e, "target")};
        put_t(r, M_T_RSTART, a, 1);
    } else if (is(e, "restore-done")) {
        const char *a[] = {val(e, "files"), size_val(b[0], sizeof(b[0]), val(e, "bytes")),
                           val(e, "target"), dur_val(b[1], sizeof(b[1]), val(e, "seconds")),
                           val(e, "failed")};
        put_t(r, M_T_RDONE, a, 5);
    } else if (is(e, "start-command")) {
        const char *a[] = {val(e, "exit_code"), dur_val(b[0], sizeof(b[0]), val(e, "seconds")),
                           val(e, "log")};
        put_t(r, M_T_SCMD, a, 3);
    } else if (is(e, "stop-command")) {
        const char *a[] = {val(e, "exit_code"), dur_val(b[0], sizeof(b[0]), val(e, "seconds"))};
        put_t(r, M_T_STOPCMD, a, 2);
    } else if (is(e, "probe")) {
        const char *ok = val(e, "ok");
        const char *a[] = {val(e, "probe"), val(e, "kind"), val(e, "attempts"),
                           dur_val(b[0], sizeof(b[0]), val(e, "seconds")), val(e, "message")};
        put_t(r, ok && !strcmp(ok, "yes") ? M_T_PROBE_OK : M_T_PROBE_FAIL, a, 5);
    } else if (is(e, "service-done")) {
        const char *a[] = {val(e, "status"), human_dur(b[0], sizeof(b[0]), since_start(m, e))};
        put_t(r, M_T_DONE, a, 2);
    } else if (is(e, "service-blocked")) {
        const char *a[] = {val(e, "by")};
        put_t(r, M_T_BLOCKED, a, 1);
    } else if (is(e, "error")) {
        const char *a[] = {val(e, "message")};
        put_t(r, M_T_ERROR, a, 1);
    } else if (is(e, "ack") && val(e, "step")) {
        const char *a[] = {val(e, "step"), val(e, "by"), val(e, "message")};
        put_t(r, M_T_ACK_STEP, a, 3);
    } else if (is(e, "ack")) {
        const char *a[] = {val(e, "by"), val(e, "message")};
        put_t(r, M_T_ACK, a, 2);
    } else if (is(e, "step")) {
        /* The step's text in the report's language, else the other one. */
        const char *fr = val(e, "text_fr"), *en = val(e, "text_en"), *st = val(e, "state");
        const char *want = r->lang == CR_REPORT_FR ? fr : en, *other = r->lang == CR_REPORT_FR ? en : fr;
        const char *a[] = {val(e, "step"), want && *want ? want : other ? other : ""};
        put_t(r,
              !st                           ? M_T_STEP_TODO
              : !strcmp(st, "waiting")      ? M_T_STEP_WAIT
              : !strcmp(st, "acknowledged") ? M_T_STEP_DONE
              : !strcmp(st, "to do")        ? M_T_STEP_TODO
                                            : M_T_STEP_DRILL,
              a, 2);
    } else if (is(e, "recover-pause")) {
        const char *a[] = {val(e, "ok"), val(e, "failed"), val(e, "blocked"),
                           human_dur(b[0], sizeof(b[0]), since_start(m, e))};
        put_t(r, M_T_PAUSE, a, 4);
    } else if (is(e, "recover-end")) {
        const char *a[] = {val(e, "status"), val(e, "ok"), val(e, "failed"), val(e, "blocked"),
                           human_dur(b[0], sizeof(b[0]), since_start(m, e))};
        put_t(r, M_T_END, a, 5);
    } else if (is(e, "drill-cleanup")) {
        const char *a[] = {val(e, "scratch"), val(e, "removed")};
        put_t(r, M_T_CLEANUP, a, 2);
    } else if (is(e, "torn-tail-cut")) {
        const char *a[] = {val(e, "bytes"), val(e, "moved_to")};
        put_t(r, M_T_TORN, a, 2);
    } else {
        /* An entry this version does not know: shown as it is. */
        esc(r, e->type);
        for (size_t k = 0; k < e->nkv; k++) {
            raw(r, k ? ", " : ": ");
            esc(r, e->keys[k]);
            raw(r, "=");
            esc(r, e->values[k]);
        }
    }
}

static void sec_timeline(rp *r, const model *m)
{
    static const msg heads[] = {M_H_TIME, M_H_SINCE, M_H_SERVICE, M_H_EVENT};
    h2(r, M_SEC_TIMELINE);
    table_begin(r, heads, sizeof(heads) / sizeof(heads[0]));
    for (size_t x = m->rs; x < m->n; x++) {
        const cr_journal_entry *e = &m->e[x];
        char b[64], c[32];
        row_begin(r);
        cell_cls(r, "n", utc(b, sizeof(b), e->time_ns));
        snprintf(c, sizeof(c), "+%s", human_dur(b, sizeof(b), since_start(m, e)));
        cell_cls(r, "n", c);
        cell_esc(r, e->service ? e->service : "");
        cell_begin(r, NULL);
        timeline_event(r, m, e);
        cell_end(r);
        row_end(r);
    }
    table_end(r);
}

static const char css[] =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:10.5pt;color:#111;"
    "max-width:1200px;margin:1.5em auto;padding:0 1em;line-height:1.35}"
    "h1{font-size:1.6em;border-bottom:2px solid #333;padding-bottom:.2em}"
    "h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #999}"
    "h3{font-size:1.05em}"
    "table{border-collapse:collapse;margin:.5em 0 1em;width:100%}"
    "th,td{border:1px solid #aaa;padding:.25em .45em;text-align:left;vertical-align:top;"
    "overflow-wrap:break-word}"
    "th,td.n{white-space:nowrap}td.id{word-break:break-all}"
    "thead th{background:#e8e8e8}"
    "table.kv{width:auto}table.kv th{background:#f2f2f2;font-weight:600;white-space:nowrap}"
    ".st-ok{color:#0a5d1a;font-weight:600}.st-failed{color:#a00000;font-weight:700}"
    ".st-blocked{color:#9a5200;font-weight:700}.st-notdone{color:#555;font-weight:600}"
    ".outcome{font-size:1.1em}"
    "footer{margin-top:2em;color:#555;font-size:.9em;border-top:1px solid #ccc}"
    "@media print{body{max-width:none;margin:0}h2{page-break-after:avoid}"
    "tr{page-break-inside:avoid}}";

int cr_report_render(char **out, const cr_journal_entry *entries, size_t n,
                     const char *journal_name, unsigned int format, cr_report_lang lang,
                     int64_t now_ns)
{
    cr_report_context c;
    memset(&c, 0, sizeof(c));
    c.lang = lang;
    return cr_report_render_with(out, entries, n, journal_name, format, now_ns, &c);
}

static int render(char **out, const cr_journal_entry *entries, size_t n, const char *journal_name,
                  unsigned int format, int64_t now_ns, const cr_report_context *ctx);

int cr_report_render_with(char **out, const cr_journal_entry *entries, size_t n,
                          const char *journal_name, unsigned int format, int64_t now_ns,
                          const cr_report_context *ctx)
{
    size_t l = (size_t)ctx->lang < sizeof(lang_codes) / sizeof(lang_codes[0]) ? ctx->lang : 0;
    cr_i18n_begin(lang_codes[l]);
    int err = render(out, entries, n, journal_name, format, now_ns, ctx);
    cr_i18n_end();
    return err;
}

static int render(char **out, const cr_journal_entry *entries, size_t n, const char *journal_name,
                  unsigned int format, int64_t now_ns, const cr_report_context *ctx)
{
    model m;
    rp r;
    int err;

    *out = NULL;
    assert(format == CR_REPORT_MD || format == CR_REPORT_HTML);
    memset(&r, 0, sizeof(r));
    r.html = format == CR_REPORT_HTML;
    r.lang = ctx->lang;
    r.ctx = ctx;
    if ((err = model_build(&m, entries, n)) < 0) {
        model_free(&m);
        return err;
    }
    const char *site = ctx->site ? ctx->site : val(m.start, "site");
    const char *targs[] = {site ? site : "?"};
    char when[64];
    utc(when, sizeof(when), now_ns);

    if (r.html) {
        raw(&r, r.lang == CR_REPORT_FR ? "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>"
                                       : "<!DOCTYPE html>\n<html lang=\"en\">\n<head>");
        raw(&r, "\n<meta charset=\"utf-8\">\n"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'\">\n<meta name=\"generator\" content=\"cleanroom ");
        raw(&r, CR_VERSION_STRING);
        raw(&r, "\">\n<title>");
        put_t(&r, m.drill ? M_TITLE_DRILL : M_TITLE_RECOVERY, targs, 1);
        raw(&r, "</title>\n<style>");
        raw(&r, css);
        raw(&r, "</style>\n</head>\n<body>\n");
    }
    h1_t(&r, m.drill ? M_TITLE_DRILL : M_TITLE_RECOVERY, targs, 1);
    sec_identity(&r, &m, when);
    sec_summary(&r, &m);
    sec_rpo(&r, &m);
    sec_recovery(&r, &m);
    sec_journal(&r, &m, journal_name);
    sec_tiers(&r, &m);
    sec_services(&r, &m);
    sec_points(&r, &m);
    sec_findings(&r, &m);
    sec_problems(&r, &m);
    sec_kev(&r, &m);
    sec_acks(&r, &m);
    if (m.drill)
        sec_evidence(&r, &m);
    sec_timeline(&r, &m);
    const char *fargs[] = {CR_VERSION_STRING, journal_name, when};
    raw(&r, r.html ? "<footer><p>" : "---\n\n");
    put_t(&r, M_FOOTER, fargs, 3);
    raw(&r, r.html ? "</p></footer>\n</body>\n</html>\n" : "\n");
    if (!r.err && cr_buf_put_u8(&r.b, 0) < 0)
        r.err = CR_ERROR;
    model_free(&m);
    if (r.err) {
        cr_buf_free(&r.b);
        cr_error_set("out of memory while making the report");
        return r.err;
    }
    *out = (char *)r.b.ptr;
    return 0;
}

/* ================================================================ files */

void cr_report_result_free(cr_report_result *r)
{
    if (!r)
        return;
    free(r->md_path);
    free(r->html_path);
    r->md_path = r->html_path = NULL;
}

/* What the vault's hunt says about the restore points of the journal. */
typedef struct points {
    cr_report_point *p;
    cr_clean_point **cp; /* owned, one per point */
    size_t *ncp;
    char (*hex)[CR_ID_HEX_LEN + 1]; /* first compromised snapshot of each */
    size_t n;
} points;

static void points_free(points *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        cr_clean_points_free(ps->cp[i], ps->ncp[i]);
    free(ps->p);
    free(ps->cp);
    free(ps->ncp);
    free(ps->hex);
    memset(ps, 0, sizeof(*ps));
}

/* Best effort: a restore point the vault no longer holds, or a source never
 * hunted, is simply not described. */
static int points_gather(points *ps, cr_repo *repo, const cr_journal_entry *e, size_t n)
{
    memset(ps, 0, sizeof(*ps));
    if (!repo || !n)
        return 0;
    if (!(ps->p = cr_calloc(n, sizeof(*ps->p))) || !(ps->cp = cr_calloc(n, sizeof(*ps->cp))) ||
        !(ps->ncp = cr_calloc(n, sizeof(*ps->ncp))) || !(ps->hex = cr_calloc(n, sizeof(*ps->hex))))
        return CR_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *id = strcmp(e[i].type, CR_JOURNAL_POINT_CHOSEN) ? NULL : val(&e[i], "snapshot");
        cr_snapshot *snap = NULL;
        int dup = 0;
        if (!id)
            continue;
        for (size_t k = 0; k < ps->n && !dup; k++)
            dup = !strcmp(ps->p[k].snapshot, id);
        if (dup || cr_snapshot_find(&snap, repo, id) < 0)
            continue;
        cr_clean_point *cp = NULL;
        size_t ncp = 0;
        if (cr_clean_points(&cp, &ncp, repo, snap->source, CR_SEV_HIGH) == 0 && ncp) {
            cr_report_point *p = &ps->p[ps->n];
            ps->cp[ps->n] = cp;
            ps->ncp[ps->n] = ncp;
            p->snapshot = id;
            p->source = cp[0].source;
            p->compromised = cp[0].compromised;
            p->first_compromised = cr_id_to_hex(ps->hex[ps->n], &cp[0].first_compromised);
            p->first_compromised_ns = cp[0].first_compromised_ns;
            p->ruleset = cp[0].ruleset;
            p->findings = cp[0].reasons;
            p->nfindings = cp[0].nreasons;
            ps->n++;
        } else {
            cr_clean_points_free(cp, ncp);
        }
        cr_snapshot_free(snap);
    }
    return 0;
}

int cr_report_write(cr_report_result *result, const cr_report_options *opts)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    char *dir = NULL, *stem = NULL, *md = NULL, *html = NULL;
    points pts;
    int err;

    memset(&pts, 0, sizeof(pts));
    assert(result && opts && opts->journal);
    memset(result, 0, sizeof(*result));
    unsigned int formats = opts->formats ? opts->formats : CR_REPORT_MD | CR_REPORT_HTML;

    cr_error_clear();
    err = cr_journal_verify(&e, &n, &bad, &result->check, opts->journal, opts->repo);
    if (err == CR_ECORRUPT) {
        char *m = cr_strdup(cr_error_last());
        result->bad_line = bad;
        cr_error_set("%s; no report was written: a report must never be made from a damaged or "
                     "altered journal",
                     m ? m : "the journal is damaged");
        free(m);
        goto done;
    }
    if (err < 0)
        goto done;
    result->entries = n;
    snprintf(result->head, sizeof(result->head), "%s",
             n ? e[n - 1].hash : "0000000000000000000000000000000000000000000000000000000000000000");

    /* Names: JOURNAL without ".journal", in the output folder. */
    const char *base = strrchr(opts->journal, '/');
    size_t dl = base ? (size_t)(base - opts->journal) : 0;
    base = base ? base + 1 : opts->journal;
    size_t bl = strlen(base);
    if (bl > 8 && strcmp(base + bl - 8, ".journal") == 0)
        bl -= 8;
    if (!(stem = cr_strndup(base, bl))) {
        err = CR_ERROR;
        goto done;
    }
    if (opts->out_dir)
        dir = cr_strdup(opts->out_dir);
    else
        dir = dl ? cr_strndup(opts->journal, dl) : cr_strdup(opts->journal[0] == '/' ? "/" : ".");
    if (!dir) {
        err = CR_ERROR;
        goto done;
    }
    if ((formats & CR_REPORT_MD) && !(md = cr_sprintf("%s/%s-report.md", dir, stem))) {
        err = CR_ERROR;
        goto done;
    }
    if ((formats & CR_REPORT_HTML) && !(html = cr_sprintf("%s/%s-report.html", dir, stem))) {
        err = CR_ERROR;
        goto done;
    }
    /* Render everything before writing anything. */
    char *docs[2] = {NULL, NULL};
    int64_t now = cr_time_now_ns();
    cr_report_context ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.lang = opts->lang;
    ctx.site = opts->site;
    ctx.finess = opts->finess;
    /* What the plan said (recorded by recover-start) when the options do not say it. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].type, "recover-start") != 0)
            continue;
        for (size_t k = 0; k < e[i].nkv; k++) {
            cr_report_lang l;
            if (!opts->lang_given && !strcmp(e[i].keys[k], "lang") &&
                lang_of(&l, e[i].values[k]) == 0)
                ctx.lang = l;
            if (!opts->finess && !strcmp(e[i].keys[k], "finess") && e[i].values[k][0])
                ctx.finess = e[i].values[k];
        }
        break;
    }
    ctx.incident = opts->incident;
    ctx.author = opts->author;
    ctx.role = opts->role;
    ctx.incident_ns = opts->incident_ns;
    ctx.check = &result->check;
    ctx.vault = opts->repo ? cr_repo_path(opts->repo) : NULL;
    if ((err = points_gather(&pts, opts->repo, e, n)) < 0)
        goto done;
    ctx.points = pts.p;
    ctx.npoints = pts.n;
    if (md && (err = cr_report_render_with(&docs[0], e, n, base, CR_REPORT_MD, now, &ctx)) < 0)
        goto done;
    if (html &&
        (err = cr_report_render_with(&docs[1], e, n, base, CR_REPORT_HTML, now, &ctx)) < 0) {
        free(docs[0]);
        goto done;
    }
    if ((err = cr_fs_mkdir_p(AT_FDCWD, dir, 0755)) < 0) {
        char *m = cr_strdup(cr_error_last());
        cr_error_set("cannot create the report folder %s: %s", dir, m ? m : "");
        free(m);
        free(docs[0]);
        free(docs[1]);
        goto done;
    }
    const char *paths[2] = {md, html};
    for (int k = 0; k < 2 && err == 0; k++) {
        if (!paths[k])
            continue;
        err = cr_fs_write_atomic(AT_FDCWD, paths[k], docs[k], strlen(docs[k]), 0644, 0);
        if (err < 0) {
            char *m = cr_strdup(cr_error_last());
            cr_error_set("cannot write the report %s: %s", paths[k], m ? m : "");
            free(m);
        }
    }
    free(docs[0]);
    free(docs[1]);
    if (err < 0)
        goto done;
    result->md_path = md;
    result->html_path = html;
    md = html = NULL;
done:
    points_free(&pts);
    cr_journal_entries_free(e, n);
    free(dir);
    free(stem);
    free(md);
    free(html);
    return err;
}
