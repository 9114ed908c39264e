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
#include "plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Output formats (a bit set). */
#define CR_REPORT_MD 1u
#define CR_REPORT_HTML 2u

/** Languages of the report. */
typedef enum cr_report_lang {
    CR_REPORT_EN = 0,
} cr_report_lang;

/**
 * Parse a language code ("en").
 * @return 0, or CR_EINPUT (not a language the report is written in; message set).
 */
int cr_report_lang_parse(cr_report_lang *out, const char *code);

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

#define CR_REPORT_OPTIONS_VERSION 1
typedef struct cr_report_options {
    unsigned int version;
    const char *journal;   /**< required: the journal file */
    const char *out_dir;   /**< folder of the report files (created); NULL: the journal's folder */
    unsigned int formats;  /**< CR_REPORT_MD | CR_REPORT_HTML; 0 = both */
    cr_report_lang lang;
} cr_report_options;
#define CR_REPORT_OPTIONS_INIT {CR_REPORT_OPTIONS_VERSION, NULL, NULL, 0, CR_REPORT_EN}

/** What cr_report_write did. */
typedef struct cr_report_result {
    char *md_path;         /**< the Markdown file written, or NULL */
    char *html_path;       /**< the HTML file written, or NULL */
    uint64_t entries;      /**< entries in the journal */
    char head[CR_ID_HEX_LEN + 1]; /**< the journal's head hash */
    uint64_t bad_line;     /**< CR_ECORRUPT: the first line that breaks the chain */
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
