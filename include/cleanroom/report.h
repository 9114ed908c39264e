/*
 * cleanroom: the incident recovery report (`cleanroom report`).
 *
 * A report is written from a recovery journal (plan.h, docs/format.md §16),
 * never from anything else, and only when the journal's hash chain is intact:
 * a report made from an edited journal would be false evidence. It covers the
 * last recovery (or drill) of the journal, its resumed runs and the operator
 * acknowledgements written after it, and quotes the journal's head hash and
 * entry count so that a reader can check the report against the journal
 * later (`cleanroom journal verify`). Every text taken from the journal is
 * treated as untrusted and escaped for Markdown or HTML.
 */
#ifndef CLEANROOM_REPORT_H
#define CLEANROOM_REPORT_H

#include "common.h"
#include "hunt.h"
#include "plan.h"
#include "repo.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Output formats (a bit set). */
#define CR_REPORT_MD 1u
#define CR_REPORT_HTML 2u

/** Languages of the report. */
typedef enum cr_report_lang {
    CR_REPORT_EN = 0,
    CR_REPORT_FR = 1,
} cr_report_lang;

/**
 * Parse a language code ("en", "fr"; "fr_FR.UTF-8" and the like too).
 * @return 0, or CR_EINPUT (not a language the report is written in; message set).
 */
int cr_report_lang_parse(cr_report_lang *out, const char *code);

/**
 * The language of the report when none is asked: French when the locale
 * (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, in that order) is French, else English.
 */
cr_report_lang cr_report_lang_default(void);

/** What the vault says about one restore point of the report (cr_report_write gathers it). */
typedef struct cr_report_point {
    const char *snapshot;        /**< full id, as in the journal's point-chosen entry */
    const char *source;
    int compromised;             /**< a snapshot of the source holds a finding at or above high */
    const char *first_compromised; /**< its id (64 hex) */
    int64_t first_compromised_ns;
    const char *ruleset;         /**< id of the rule set that judged it, or NULL */
    const cr_finding *findings;  /**< the findings of the first compromised snapshot */
    size_t nfindings;
} cr_report_point;

/** Everything a report says besides the journal. Strings are borrowed; NULL: not given. */
typedef struct cr_report_context {
    cr_report_lang lang;
    const char *site;            /**< overrides the site the journal names */
    const char *finess;          /**< FINESS number of the establishment */
    const char *incident;        /**< incident or ARS report number */
    const char *author, *role;   /**< who writes the report, and their role */
    int64_t incident_ns;         /**< time of the incident; 0: the first compromised snapshot's */
    const cr_journal_check *check; /**< how the journal was verified (NULL: form and links only) */
    const char *vault;           /**< the vault it was verified with */
    const cr_report_point *points;
    size_t npoints;
} cr_report_context;

/**
 * Render the report of journal entries already read and verified (as
 * cr_journal_read returns them) into memory.
 * @param[out] out the document (NUL-terminated), freed with free().
 * @param entries,n the whole journal
 * @param journal_name the journal's file name as printed in the report
 * @param format CR_REPORT_MD or CR_REPORT_HTML (one of them)
 * @param now_ns when the report is made (printed), ns since the epoch
 * @return 0; CR_EINPUT (the journal holds no recovery: no "recover-start"
 *         entry); an error (out of memory).
 */
int cr_report_render(char **out, const cr_journal_entry *entries, size_t n,
                     const char *journal_name, unsigned int format, cr_report_lang lang,
                     int64_t now_ns);

/** As cr_report_render, with what the report says besides the journal. */
int cr_report_render_with(char **out, const cr_journal_entry *entries, size_t n,
                          const char *journal_name, unsigned int format, int64_t now_ns,
                          const cr_report_context *ctx);

#define CR_REPORT_OPTIONS_VERSION 1
typedef struct cr_report_options {
    unsigned int version;
    const char *journal;   /**< required: the journal file */
    const char *out_dir;   /**< folder of the report files (created); NULL: the journal's folder */
    unsigned int formats;  /**< CR_REPORT_MD | CR_REPORT_HTML; 0 = both */
    cr_report_lang lang;
    cr_repo *repo;         /**< the journal's vault (MACs, recorded heads, hunt findings);
                                NULL: only a journal that is not keyed can be reported */
    int64_t incident_ns;   /**< time of the incident; 0: the first compromised snapshot's */
    const char *site, *finess, *incident, *author, *role; /**< identity block (or NULL: the
                                FINESS number the plan gave, recorded in the journal) */
    int lang_given;        /**< 0: the plan's `lang:` (recorded in the journal) wins over `lang` */
} cr_report_options;
#define CR_REPORT_OPTIONS_INIT                                                                     \
    {CR_REPORT_OPTIONS_VERSION, NULL, NULL, 0, CR_REPORT_EN, NULL, 0, NULL, NULL, NULL, NULL, NULL, 0}

/** What cr_report_write did. */
typedef struct cr_report_result {
    char *md_path;         /**< the Markdown file written, or NULL */
    char *html_path;       /**< the HTML file written, or NULL */
    uint64_t entries;      /**< entries in the journal */
    char head[CR_ID_HEX_LEN + 1]; /**< the journal's head hash */
    uint64_t bad_line;     /**< CR_ECORRUPT: the first line that breaks the chain */
    cr_journal_check check; /**< how the journal was verified */
} cr_report_result;

/** Free the paths of a result (the struct itself is the caller's). */
void cr_report_result_free(cr_report_result *r);

/**
 * Read and verify a journal, then write its report as JOURNAL-report.md and
 * JOURNAL-report.html (JOURNAL: the journal's file name without ".journal")
 * into the output folder, each durably (write, fsync, rename). Nothing is
 * written unless the whole journal is intact.
 * @param[out] result what was written (free with cr_report_result_free)
 * @return 0; CR_ECORRUPT (the chain is broken or the last line is torn:
 *         result->bad_line names the line, no file is written);
 *         CR_ENOTFOUND (no journal); CR_EINPUT (no recovery in the journal);
 *         an error (writing the files: CR_ENOSPACE...).
 */
int cr_report_write(cr_report_result *result, const cr_report_options *opts);

#ifdef __cplusplus
}
#endif
#endif
