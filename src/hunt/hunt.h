/*
 * Private interfaces of the hunt module (src/hunt). Every .c file of src/hunt
 * includes this header; nothing outside src/ does.
 *
 *   rules.c    the rule set: YARA rules compiled once, the shipped data files
 *              (ransomware extensions, ransom-note names), IOC lists; its version ids
 *   ioc.c      hash IOC lists (one hash per line, or MISP CSV): parsing and lookup
 *   scan.c     reading unique contents from the vault, in parallel, and learning
 *              their facts: hashes, entropy and magic of the head, YARA matches
 *   store.c    the facts cache and the hunt records, stored encrypted under hunt/
 *   judge.c    content and name indicators: YARA, IOC, ransomware names, entropy
 *              against the type a name or magic announces
 *   persist.c  Linux persistence (cron, systemd, rc.local, ld.so.preload, SSH keys,
 *              UID 0 accounts, sudoers, PAM, SUID/SGID, web roots) with dpkg context
 *   dpkg.c     the dpkg database of a snapshot: owned files and their md5sums,
 *              package versions, anchored on the previous snapshot's database
 *   trust.c    trust anchors: .deb files, and the judge of package files changed
 *              without an upgrade and of rewritten package databases
 *   windows.c  Windows persistence in file trees (Startup, Tasks, registry hives, the WMI
 *              repository, the BITS queue, services' programs, SYSVOL, a Samba AD DC's
 *              directory database)
 *   samdb.c    privileged groups, accounts, delegation, GPO links... of a sam.ldb partition
 *   hive.c     Run/RunOnce keys, services, COM servers... read from registry hives (hivex)
 *   lnk.c      Startup shortcuts (liblnk); wmi.c WMI event subscriptions; bits.c BITS jobs;
 *   pever.c    the version of Windows programs; memfile.c bytes as a file for libraries.
 *              hive.c, lnk.c, wmi.c, bits.c and pever.c are pure functions of the bytes.
 *   hunt.c     cr_hunt: snapshots in order, diff, scan, judge, carry forward, store;
 *              cr_findings_*, cr_clean_points
 *
 * Paths given to the judges are relative to the *system root* of a snapshot
 * and start with "/" ("/etc/crontab"): see cr_hunt_system_root (the recorded
 * root, the single path, or the common folder of several paths that holds
 * etc/ or Windows/; else each path that holds one is judged from its own).
 * Findings carry full snapshot paths; hunt.c adds the root back.
 */
#ifndef CR_HUNT_PRIV_H
#define CR_HUNT_PRIV_H

#include "cleanroom/cleanroom.h"
#include "cleanroom/hunt.h"
#include "util/util.h"
#include "vault/vault.h"

#include <yara.h>

/* Version of the judging logic: part of every rule-set id, so that a new
 * release that judges differently re-hunts what it must. Bump on any change
 * to what judge.c, persist.c, windows.c or the change-rate rules report. */
#define HN_ENGINE_VERSION "cleanroom-hunt-4"

/* Bytes at the start of a content used for entropy and magic. */
#define HN_HEAD_BYTES (64u * 1024)
#define HN_MAGIC_BYTES 136 /* enough for DICOM: 128-byte preamble + "DICM" */

/* ================================================================ ioc.c */
typedef enum hn_hash_type { HN_MD5 = 1, HN_SHA1 = 2, HN_SHA256 = 4 } hn_hash_type;

typedef struct hn_ioc_set hn_ioc_set;

int hn_ioc_new(hn_ioc_set **out);
void hn_ioc_free(hn_ioc_set *set);
/**
 * Add the hashes of one IOC list. Accepts: one hash per line (hex MD5, SHA-1
 * or SHA-256, told apart by length, optional "# comment" lines and trailing
 * text after whitespace), or a MISP CSV export (header line with "type" and
 * "value" columns; rows of type md5/sha1/sha256 or "filename|sha256" style
 * composites are used, others ignored). Lines that are neither are counted in
 * *bad (and reported through warn with the line number if not NULL).
 * @param name the list's name as shown in findings (e.g. its file name)
 * @return 0, CR_EINPUT (nothing usable and not empty), CR_ERROR (memory).
 */
int hn_ioc_add_list(hn_ioc_set *set, const char *name, const void *data, size_t len,
                    size_t *bad, cr_warning_cb warn, void *payload);
/** Bitmask of hn_hash_type present in the set. */
unsigned hn_ioc_types(const hn_ioc_set *set);
size_t hn_ioc_count(const hn_ioc_set *set);
/**
 * Look a digest up. @return 1 when listed, with *list (the list's name) and
 * *comment (text that came with the hash, may be NULL) borrowed; 0 otherwise.
 */
int hn_ioc_lookup(const hn_ioc_set *set, hn_hash_type type, const uint8_t *digest,
                  const char **list, const char **comment);
/** Feed every list's bytes into a SHA-256 context for the rule-set id (deterministic order). */
void hn_ioc_fingerprint(const hn_ioc_set *set, void *sha256_ctx /* EVP_MD_CTX* */);
/**
 * Copy at most outmax - 1 bytes of untrusted text s (n bytes) into out as
 * valid UTF-8 without control characters (invalid bytes become '?', controls
 * and runs of blanks one space, ends trimmed; never cuts a character).
 * @return the length written (out is NUL-terminated).
 */
size_t hn_text_clean(char *out, size_t outmax, const char *s, size_t n);

/* ============================================================== rules.c */
/** What the rule set knows of one YARA rule. */
typedef struct hn_rule_info {
    const YR_RULE *rule;
    const char *name;         /**< as in hn_facts.yara: the identifier, or "ns:identifier"
                                   for a rule of a file compiled in its own namespace */
    cr_category category;     /**< meta "category"; default malware */
    cr_severity severity;     /**< meta "severity"; default high */
    const char *description;  /**< meta "description" (clean UTF-8), or NULL */
} hn_rule_info;

typedef struct hn_ruleset {
    YR_RULES *yara;              /**< NULL when there is no YARA rule */
    size_t yara_count;
    char yara_id[CR_ID_HEX_LEN + 1]; /**< SHA-256 of the rule sources (+ libyara version):
                                          key of the cached YARA verdicts */
    hn_ioc_set *iocs;            /**< never NULL (maybe empty) */
    char **ransom_ext;           /**< lowercase extensions without the dot, sorted */
    size_t nransom_ext;
    char **ransom_notes;         /**< lowercase file names or fnmatch patterns, sorted */
    size_t nransom_notes;
    char id[CR_ID_HEX_LEN + 1];  /**< SHA-256 of everything above + HN_ENGINE_VERSION */
    /* private to rules.c: */
    hn_rule_info *rule_info;     /**< by rule index in yara->rules_table */
    hn_rule_info **rule_by_name; /**< sorted by name */
    size_t nrule_info;
    int yara_ref;                /**< holds a hn_yara_init reference */
    int yara_externals;          /**< some rule names an external variable: YARA verdicts
                                      depend on the file's path and owner (hn_facts_key) */
    size_t yara_files_skipped;   /**< rule files left out (skip_broken_rules) */
    size_t yara_rules_skipped;   /**< rules they declared */
} hn_ruleset;

/** The YARA external variables defined for every scanned file (LOKI's and THOR's):
 *  filename, filepath, extension, filetype, owner (docs/hunt.md, "YARA externals"). */
#define HN_YARA_NEXTERNALS 5
extern const char *const hn_yara_externals[HN_YARA_NEXTERNALS];
/** The file type word LOKI gives a content from its first bytes ("EXE", "ELF", "ZIP",
 *  "PDF", ... or "UNKNOWN"), from signature-base's misc/file-type-signatures.txt. */
const char *hn_filetype(const uint8_t *magic, size_t len);

/**
 * Build the rule set of a hunt: YARA rules of opts->builtin_dir/yara/ and of
 * opts->rules (files, or folders searched for *.yar / *.yara, sorted),
 * compiled once; the data files opts->builtin_dir/ransomware-extensions.txt
 * and ransom-notes.txt; the IOC lists opts->iocs.
 * @return 0; CR_EINPUT with a message naming file and line for a rule that
 *         does not compile or a list that cannot be read; an error.
 */
int hn_ruleset_load(hn_ruleset **out, const cr_hunt_options *opts);
/** Only the ransomware names of the shipped rules folder (ransomware-extensions.txt,
 *  ransom-notes.txt): no YARA, no IOC; for the ransomware signals of a backup. */
int hn_ruleset_load_names(hn_ruleset **out, const char *builtin_dir);
void hn_ruleset_free(hn_ruleset *rs);
/** The extension (borrowed, lowercase) if `name` ends with a known ransomware extension, else NULL. */
const char *hn_ruleset_ransom_ext(const hn_ruleset *rs, const char *name);
/** 1 if `name` is a known ransom-note file name. */
int hn_ruleset_ransom_note(const hn_ruleset *rs, const char *name);
/** The info of a rule of rs->yara (as given to a scan callback), or NULL. O(1). */
const hn_rule_info *hn_ruleset_rule(const hn_ruleset *rs, const YR_RULE *rule);
/** The info of a rule by its name (as in hn_facts.yara), or NULL. O(log n). */
const hn_rule_info *hn_ruleset_rule_by_name(const hn_ruleset *rs, const char *name);
/** libyara is process-wide: hn_yara_init before the first use, hn_yara_fini after the last
 *  (refcounted). hn_ruleset_load takes a reference of its own, released by hn_ruleset_free. */
int hn_yara_init(void);
void hn_yara_fini(void);

/* ============================================================== scan.c */
#define HN_HAVE_HEAD 1u    /* entropy + magic */
#define HN_HAVE_MD5 2u
#define HN_HAVE_SHA1 4u
#define HN_HAVE_SHA256 8u
#define HN_HAVE_YARA 16u   /* yara_id + matches */

/** What is known of one content (a file's data, identified by its content id). */
typedef struct hn_facts {
    cr_id content;
    uint64_t size;
    unsigned have;                 /**< HN_HAVE_* */
    uint8_t md5[16], sha1[20], sha256[32];
    double entropy;                /**< Shannon entropy, bits per byte, of the first HN_HEAD_BYTES */
    uint32_t head_len;             /**< bytes the entropy was computed on */
    uint8_t magic[HN_MAGIC_BYTES]; /**< first bytes */
    uint8_t magic_len;
    char yara_id[CR_ID_HEX_LEN + 1]; /**< rule set the matches belong to */
    char **yara;                   /**< names of the rules that matched ("rule" or "ns:rule"), sorted */
    size_t nyara;
    int partial;                   /**< 1: larger than max_scan_bytes, scanned chunk by chunk */
} hn_facts;

void hn_facts_clear(hn_facts *f);
int hn_facts_copy(hn_facts *out, const hn_facts *src);

/**
 * The content id of a file node: SHA-256 over its size and its extents
 * (offset, length, blob id, and the blob offset when one is not 0). Equal for
 * two files with the same bytes, since chunking is deterministic within a
 * vault. Costs nothing to read.
 */
void hn_content_id(cr_id *out, const cr_node *file);

/**
 * The key of what is known of the file at `relpath` in the facts cache: its
 * content id, unless the rule set's YARA rules use external variables (then
 * the verdicts depend on the name, folder and owner too, and the key is the
 * SHA-256 of the content id, the path and the owner's user id).
 */
void hn_facts_key(cr_id *out, const hn_ruleset *rs, const char *relpath, const cr_node *file);

/** One content to learn about. */
typedef struct hn_scan_job {
    const cr_node *node;           /**< a file node holding the content (borrowed) */
    const char *path;              /**< a path of it, for messages (borrowed) */
    unsigned need;                 /**< HN_HAVE_* wanted */
    hn_facts *facts;               /**< in/out: content, size set; what is learnt is added */
    int error;                     /**< out: 0, or the error that stopped this content */
    const char *x_filename;        /**< YARA externals of this file (borrowed; NULL: "") */
    const char *x_filepath;
    const char *x_owner;
    char hostile_why[320];         /**< out: with error CR_EHOSTILE, the sandbox's words */
} hn_scan_job;

typedef struct hn_scan_stats {
    uint64_t contents, bytes; /**< contents learnt without error, and their sizes */
    uint64_t errors;          /**< contents with job->error set */
    uint64_t blob_decodes;    /**< shared blobs decoded for extents that are parts of them */
    uint64_t blob_hits;       /**< such extents served from a worker's cache of decoded blobs */
} hn_scan_stats;

/**
 * Decode the answer of a sandboxed YARA scanner (untrusted: fuzz/fuzz_sandbox.c):
 * the YARA result code and the indexes of the rules that matched, each checked
 * against `rules`. @return 0, or CR_EHOSTILE when malformed.
 */
int hn_scan_reply_decode(const YR_RULES *rules, const void *data, size_t len, int *rc,
                         uint32_t *idx, size_t maxidx, size_t *nidx);

/** The next answer of a batch (SC_REQ_SCAN_MANY) from `rd`; as hn_scan_reply_decode. */
int hn_scan_reply_next(const YR_RULES *rules, cr_rd *rd, int *rc, uint32_t *idx, size_t maxidx,
                       size_t *nidx);

/**
 * Check a whole batch answer before any of it is used: exactly `count`
 * answers, each well formed against `rules`, nothing after them (`idx` is
 * scratch of `maxidx` entries). @return 0, or CR_EHOSTILE when malformed.
 */
int hn_scan_replies_check(const YR_RULES *rules, const void *data, size_t len, size_t count,
                          uint32_t *idx, size_t maxidx);

/**
 * Read the contents of `jobs` from the vault (holes read as zeros) with
 * `threads` threads and learn what each job needs: HEAD (entropy + magic),
 * MD5/SHA1/SHA256 of the whole content, YARA (matches of rs->yara, with a
 * per-content timeout; a content larger than max_scan_bytes is scanned one
 * stored extent at a time and marked partial). A content that cannot be read
 * (damaged pack) or scanned gets job->error and a warning; the others go on.
 * @return 0 or a fatal error (memory); per-content errors are not fatal.
 */
int hn_scan(hn_scan_stats *stats, cr_repo *repo, const hn_ruleset *rs, hn_scan_job *jobs,
            size_t njobs, const cr_hunt_options *opts);

/**
 * Read a whole small file of a snapshot into out (at most `max` bytes:
 * CR_EINPUT beyond). Used by the judges for passwd, sudoers, dpkg lists, hives.
 * Holes read as zeros; a NUL byte follows the data (not counted in out->len).
 * @return 0, CR_EINPUT, CR_ECORRUPT (damaged tree or blob), CR_ENOTFOUND (lost blob).
 */
int hn_read_node(cr_buf *out, cr_repo *repo, const cr_node *file, size_t max);

/* ============================================================== store.c */
/** The facts cache: content id -> facts. Not thread-safe (hunt.c serialises). */
typedef struct hn_cache hn_cache;

/** Load every facts file under hunt/ (damaged ones are warned about and skipped). */
int hn_cache_load(hn_cache **out, cr_repo *repo, cr_warning_cb warn, void *payload);
void hn_cache_free(hn_cache *c);
/** Borrowed (stays valid as the cache grows, until hn_cache_free; change it only through
 * hn_cache_put, which marks it for the next save); NULL if unknown. */
hn_facts *hn_cache_get(hn_cache *c, const cr_id *content);
/** Insert or merge what `f` knows (newer YARA verdicts replace older ones). */
int hn_cache_put(hn_cache *c, const hn_facts *f);
size_t hn_cache_count(const hn_cache *c);
/** Write the facts added or changed since the last save as one file under hunt/. */
int hn_cache_save(hn_cache *c, cr_repo *repo);
/** An empty cache (tests, or a hunt that must not read the vault's). */
int hn_cache_new(hn_cache **out);
/**
 * Codec of a facts file (exposed for tests and fuzzing). Encode writes every
 * fact (only_dirty 0) or those changed since the last save (1), *count of them.
 * Merge decodes a facts file's plaintext (hostile-input safe; all or nothing)
 * into c; `file` (its name) orders the YARA verdicts of files saved at the same time.
 */
int hn_cache_encode(cr_buf *out, size_t *count, const hn_cache *c, int only_dirty,
                    int64_t saved_ns);
int hn_cache_merge_file(hn_cache *c, const void *data, size_t len, const cr_id *file);

/** The findings of one snapshot under one rule set. */
typedef struct hn_record {
    cr_id snapshot;
    int has_pred;
    cr_id pred;                    /**< previous snapshot of the source when hunted */
    char ruleset[CR_ID_HEX_LEN + 1];
    int64_t hunted_ns;
    cr_finding *findings;
    size_t nfindings;
    uint64_t files_judged, contents_scanned, contents_cached, errors;
    /* Stored once per record: a finding whose snapshot, source or time_ns
     * equals these costs nothing in the file (others are stored with it). */
    char *source;                  /**< source of the snapshot (owned, may be NULL) */
    int64_t time_ns;               /**< time of the snapshot */
} hn_record;

void hn_record_clear(hn_record *r);
/** JSON codec of a record file (exposed for tests and fuzzing; decode is hostile-input safe). */
int hn_record_encode(cr_buf *out, const hn_record *r);
int hn_record_decode(hn_record *out, const void *data, size_t len);
/** Store a record as a new file under hunt/. */
int hn_record_save(cr_repo *repo, const hn_record *r);

/** Every record of the vault, the newest per snapshot (by hunted_ns, then file id). */
typedef struct hn_records {
    hn_record *r;
    size_t n;
    /* Chain of custody: each record names the snapshot hunted before it
     * (`pred`), which had a record then. Every such name, sorted by pred, with
     * the record (snapshot, hunted_ns) that gave it. */
    struct hn_pred_ref {
        cr_id pred, by;
        int64_t by_ns;
    } *preds;
    size_t npreds;
    size_t unreadable; /* hunt files that could not be read or decoded */
} hn_records;
int hn_records_load(hn_records *out, cr_repo *repo, cr_warning_cb warn, void *payload);
void hn_records_clear(hn_records *rs);
/** The newest record of a snapshot (borrowed), or NULL. */
const hn_record *hn_records_find(const hn_records *rs, const cr_id *snapshot);
/** A record naming `snapshot` as hunted before it (borrowed), or NULL. */
const struct hn_pred_ref *hn_records_named(const hn_records *rs, const cr_id *snapshot);

/* ============================================================= judges */
/** What the judges see of a snapshot being hunted. */
typedef struct hn_ctx {
    cr_repo *repo;
    const hn_ruleset *rs;
    const cr_snapshot *snap;
    const cr_snapshot *pred;       /**< NULL for the first snapshot of a source */
    int baseline;                  /**< 1: first snapshot (persistence reported as info inventory) */
    const char *root;              /**< system root in the snapshot ("/" or "/srv/vm1") */
    hn_cache *cache;               /**< facts of every judged content (filled by hunt.c before judging) */
    struct hn_dpkg *dpkg;          /**< dpkg database of snap, loaded on first use (dpkg.c),
                                        its sums anchored (hn_dpkg_anchor) */
    int dpkg_loaded;
    /* The trust anchor: the database of the predecessor as judged when it was
     * hunted (hunt.c keeps it from one snapshot to the next), or NULL: then
     * hn_dpkg_load reads the predecessor's own for the time of anchoring. */
    const struct hn_dpkg *anchor;
    int dpkg_reused;               /**< 1: dpkg is the anchor itself (the database folder did
                                        not change): every package kept its version */
    /* Trusted .deb files given by the operator (cr_hunt_options.packages), or NULL. */
    const char *packages_dir;
    char **sshd_keyfiles;          /**< AuthorizedKeysFile patterns of snap's sshd_config other
                                        than the defaults, loaded on first use (persist.c) */
    size_t nsshd_keyfiles;
    char **sshd_files;             /**< files sshd_config Includes outside sshd_config.d
                                        (relative to the root), judged as sshd configuration */
    size_t nsshd_files;
    int sshd_loaded;
    /* Findings of the previous snapshot on the node being judged (relative
     * paths), so that a judge of items inside a file (lines, registry values)
     * can re-emit those still present in a changed file: a key added on day 3
     * stays flagged on day 5 after someone edited the file for other reasons. */
    const cr_finding *prev;
    size_t nprev;
    /* Findings are appended here; path relative to the system root, hunt.c
     * completes snapshot, source, time, full path and first_seen. */
    cr_finding *out;
    size_t nout, capout;
    cr_warning_cb warning;
    void *payload;
} hn_ctx;

/**
 * Append a finding to ctx->out (strings copied). @return 0 or CR_ERROR.
 * `content` and `evidence` may be NULL. Judges of items inside a file (lines,
 * registry values) set evidence to the item, and on a changed file re-emit
 * the ctx->prev findings whose evidence is still in the new content.
 */
int hn_emit(hn_ctx *ctx, const char *relpath, cr_category cat, cr_severity sev,
            const char *indicator, const cr_id *content, const char *evidence,
            const char *detail_fmt, ...) __attribute__((format(printf, 8, 9)));

/**
 * judge.c: indicators of one file added or changed (new_node, with its facts
 * in ctx->cache when it has content; old_node NULL when added): YARA matches
 * (severity from the rule's meta "severity", else high; category from meta
 * "category", else malware), IOC hashes (critical malware), ransomware
 * extension (high; medium when the content is plainly intact: empty, text or
 * a known format) and ransom-note names (high; not on paths a dpkg package of
 * the snapshot installed, which loads ctx->dpkg), near-random content under
 * an extension that announces a text or structured type (high ransomware;
 * medium anomaly when only the entropy is odd). Only regular files are judged.
 */
int hn_judge_file(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                  const cr_node *new_node);

/** judge.c: counts of the changes between two snapshots, for the change-rate rule. */
typedef struct hn_change_stats {
    uint64_t files_before, files_after;
    uint64_t added, removed, modified;
    uint64_t modified_high_entropy;  /**< modified or added files whose head became near-random */
    uint64_t ransom_named;           /**< added files with a ransomware extension */
} hn_change_stats;
/**
 * judge.c: the change-rate finding of a snapshot (path "/"), if any: with at
 * least 50 files before, ransomware:change-rate (critical) when ransom_named
 * >= 20, or when modified_high_entropy + ransom_named >= 20 and >= 10% of
 * files_before; else anomaly:change-rate (medium) when modified + removed >=
 * 100 and >= 50% of files_before.
 */
int hn_judge_change_rate(hn_ctx *ctx, const hn_change_stats *st);
/** judge.c: the change-rate rule alone (hn_judge_change_rate's decision; also used at
 *  backup time, src/ops/ransom.c): HN_RATE_NONE, HN_RATE_ANOMALY or HN_RATE_RANSOMWARE. */
enum { HN_RATE_NONE = 0, HN_RATE_ANOMALY = 1, HN_RATE_RANSOMWARE = 2 };
int hn_change_rate_verdict(const hn_change_stats *st);
/** The default thresholds of hn_change_rate_verdict (cr_ransom_thresholds documents them). */
#define HN_RATE_RENAMED 20u
#define HN_RATE_CHANGED 20u
#define HN_RATE_PERCENT 10u
/** hn_change_rate_verdict with other ransomware thresholds (0 turns renamed or changed off). */
int hn_change_rate_verdict_at(const hn_change_stats *st, unsigned int renamed,
                              unsigned int changed, unsigned int percent);
/** judge.c: the head facts (entropy, magic; HN_HAVE_HEAD) of a content's first `len`
 *  bytes, as the scan learns them, for hn_judge_near_random on bytes a backup read. */
/** Shannon entropy in bits per byte of a histogram of n bytes (0 for none). */
double hn_entropy(const uint64_t hist[256], uint64_t n);
void hn_head_facts(hn_facts *f, const uint8_t *head, size_t len);
/**
 * judge.c: 1 when facts show a near-random head (at least 256 bytes, entropy
 * near that of random bytes of that length) that starts neither like text nor
 * like any known compressed, media or encrypted-by-design format: what
 * encryption by ransomware leaves. The per-file test of modified_high_entropy.
 */
int hn_judge_near_random(const hn_facts *f);

/**
 * persist.c: Linux persistence of one node added, changed or (new_node NULL)
 * removed. In a baseline, every persistence item found is reported at info
 * level. dpkg context: a file owned by a package and matching its md5sums or
 * conffile md5 is routine (info); unowned or modified is not.
 */
int hn_persist_linux(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                     const cr_node *new_node);
/**
 * persist.c: the facts hn_persist_linux wants in the cache before it judges
 * `node` (added or changed) at `relpath`: HN_HAVE_MD5 for a file in a
 * persistence location or with the setuid/setgid bit, else 0. (It computes
 * a missing md5 itself, reading up to 64 MiB, but the scan does it better.)
 */
unsigned hn_persist_linux_need(const char *relpath, const cr_node *node);
/** persist.c: free what hn_persist_linux loaded into ctx (sshd_keyfiles). */
void hn_persist_ctx_clear(hn_ctx *ctx);

/* Indicators of trust.c. */
#define HN_IND_PACKAGE_MODIFIED "package:modified"
#define HN_IND_PACKAGE_DB "package:database-tampered"
#define HN_IND_PACKAGE_DEB "package:deb-mismatch"
#define HN_IND_PACKAGE_VERSION "package:version-rewritten"
#define HN_IND_NO_ROOT "anomaly:no-system-root"

/**
 * trust.c: a node added, changed or removed, judged against what the attacker
 * cannot rewrite (the earlier restore points, trusted .deb files): a package's
 * file whose content changed while the package's version did not
 * (package:modified: high; critical for programs, libraries, PAM modules and
 * anything in a persistence place; a configuration file only in a persistence
 * place, high); the database files (status, info/<pkg>.md5sums) when the sums
 * of a package at an unchanged version changed (package:database-tampered,
 * critical); a file of an upgraded package that does not match the package's
 * .deb (package:deb-mismatch). Nothing in a baseline.
 */
int hn_judge_package(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                     const cr_node *new_node);
/**
 * trust.c: the facts hn_judge_package wants in the cache for a node of snapshot s
 * at relpath: HN_HAVE_MD5 for a package's folder in an image snapshot (where a
 * changed content id does not mean changed bytes), else 0.
 */
unsigned hn_judge_package_need(const cr_snapshot *s, const char *relpath, const cr_node *n);
/**
 * trust.c: the md5 of a file node's content, from the facts cache or read
 * (up to 64 MiB). @return 1 known, 0 not (too large, unreadable).
 */
int hn_node_md5(uint8_t md5[16], hn_ctx *ctx, const cr_node *n);

/** windows.c: Windows persistence of one node added, changed or removed (Startup, Tasks, hives). */
int hn_persist_windows(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                       const cr_node *new_node);

/* =============================================================== dpkg.c */
typedef struct hn_dpkg hn_dpkg;
/**
 * Load the dpkg database of a snapshot below ctx->root: /var/lib/dpkg/status
 * (packages, conffiles with md5) and /var/lib/dpkg/info/<pkg>[:arch].md5sums.
 * A snapshot without one gets an empty database (not an error).
 */
int hn_dpkg_load(hn_dpkg **out, hn_ctx *ctx);
void hn_dpkg_free(hn_dpkg *d);
typedef enum hn_owned {
    HN_UNOWNED = 0,        /**< no package lists this path */
    HN_OWNED_MATCH = 1,    /**< listed, and the md5 matches */
    HN_OWNED_MODIFIED = 2, /**< listed, md5 differs */
    HN_OWNED_NOSUM = 3,    /**< listed without md5 */
} hn_owned;
/**
 * Whether a path ("/usr/bin/x", relative to the system root) belongs to a
 * package, and whether `md5` (NULL: unknown) matches. *pkg borrowed, may be NULL.
 */
hn_owned hn_dpkg_owner(const hn_dpkg *d, const char *relpath, const uint8_t *md5,
                       const char **pkg);
/* A listed path looked up with md5 NULL gives HN_OWNED_NOSUM (owned, not verified).
 * When the snapshot's /lib or /bin is a symlink (usrmerge), "/lib/x" and
 * "/usr/lib/x" are the same path. Also read: diversions, statoverride, *.list. */
/** 1 and the mode (permission bits) if dpkg-statoverride sets the mode of relpath. */
int hn_dpkg_statoverride(const hn_dpkg *d, const char *relpath, uint32_t *mode);
/** Number of paths known (0: no package database in the snapshot). */
size_t hn_dpkg_count(const hn_dpkg *d);
/** The version (borrowed) of an installed package (name without ":arch"), or NULL. */
const char *hn_dpkg_version(const hn_dpkg *d, const char *pkg);
/** The architecture (borrowed) of an installed package, or NULL. */
const char *hn_dpkg_arch(const hn_dpkg *d, const char *pkg);
/** 1 if both databases have `pkg` installed at the same version. */
int hn_dpkg_same_version(const hn_dpkg *a, const hn_dpkg *b, const char *pkg);
/**
 * The version `pkg` had in the anchor (borrowed) when its version changed while its
 * changelog did not (no real upgrade does that: the version was rewritten), else NULL.
 */
const char *hn_dpkg_version_rewritten(const hn_dpkg *d, const char *pkg);
/**
 * The package (borrowed) that owned relpath in the anchor and that d no longer lists
 * (removed from the database), or NULL. hn_dpkg_owner does not count such files.
 */
const char *hn_dpkg_gone_owner(const hn_dpkg *d, const char *relpath);
/** 1 if d was anchored (hn_dpkg_anchor) and `pkg` was at the same version in the anchor. */
int hn_dpkg_unchanged(const hn_dpkg *d, const char *pkg);
/** 1 if relpath is a conffile (listed in Conffiles of status) of some package. */
int hn_dpkg_is_conffile(const hn_dpkg *d, const char *relpath);
/** A sum the anchor corrected: the database of a package at an unchanged version changed. */
typedef struct hn_dpkg_tamper {
    const char *pkg;   /**< borrowed */
    char *path;        /**< the file whose sum changed */
    int conffile;      /**< 1: a conffile sum of status; 0: a line of info/<pkg>.md5sums */
    uint8_t was[16];   /**< the trusted sum */
    int has_now;       /**< 0: the sum is gone from the database */
    uint8_t now[16];
} hn_dpkg_tamper;
/**
 * Anchor d on a trusted database (the predecessor's, as judged then): for
 * every package installed at the same version in both, the sums of `trusted`
 * replace those of d, and each one that differed (or vanished) is noted.
 * @return 0 or CR_ERROR.
 */
int hn_dpkg_anchor(hn_dpkg *d, const hn_dpkg *trusted);
/** Installed packages (with a version), and the i-th one's name, version, arch (borrowed). */
size_t hn_dpkg_npackages(const hn_dpkg *d);
/** The source package of package i and its version ("Source:" of status; none: the package's
 *  own name and version), as new strings (NULL on out of memory). */
void hn_dpkg_package_source(const hn_dpkg *d, size_t i, char **name, char **version);
/** 1 if the files of package i are installed (its status is not "config-files"). */
int hn_dpkg_package_present(const hn_dpkg *d, size_t i);
void hn_dpkg_package(const hn_dpkg *d, size_t i, const char **name, const char **version,
                     const char **arch);
/** 1 if the sums of `pkg` come from its .deb (hn_dpkg_anchor_deb). */
int hn_dpkg_from_deb(const hn_dpkg *d, const char *pkg);
/** ctx->dpkg, loaded (and anchored) on first use. */
int hn_ctx_dpkg(hn_ctx *ctx, const hn_dpkg **out);
/**
 * trust.c: anchor d (the database of ctx->snap) on the .deb files of its
 * packages that are new or at another version than in `anchor` (every package
 * when anchor is NULL): from ctx->packages_dir, else (not in a baseline) the
 * snapshot's own /var/cache/apt/archives. A .deb is used only when its control names the
 * package and version installed. @return 0 or CR_ERROR (unreadable .deb files
 * are warned about).
 */
int hn_deb_anchor(hn_ctx *ctx, hn_dpkg *d, const hn_dpkg *anchor);
/**
 * trust.c: the md5 of every regular file of a .deb's data archive (paths as
 * in the archive, "./usr/bin/x"), and the Package and Version of its control.
 * Hostile-input safe. @return 0, CR_EINPUT (not a .deb), CR_ERROR.
 */
typedef struct hn_deb {
    char *package, *version;
    char **paths;
    uint8_t (*md5)[16];
    size_t n, cap;
} hn_deb;
int hn_deb_read(hn_deb *out, const void *data, size_t len);
void hn_deb_clear(hn_deb *deb);
/** hn_deb_read in the parser sandbox ("files" child of hive.c), or in-process when
 *  CLEANROOM_SANDBOX=off; CR_EHOSTILE when the package made the reader fail. */
int hn_deb_examine(hn_deb *out, const void *data, size_t len);
/** That reader's answer, decoded as untrusted input (fuzz/fuzz_sandbox.c). */
int hn_deb_decode(hn_deb *out, const void *data, size_t len);
/** What hn_dpkg_anchor corrected (borrowed list). */
size_t hn_dpkg_tampers(const hn_dpkg *d, const hn_dpkg_tamper **out);
/**
 * Anchor the files of package `pkg` on its .deb (md5 of every regular file of
 * its data archive): entries of d whose sum differs take the .deb's, and are
 * noted as tampers. @return 0, CR_ERROR.
 */
int hn_dpkg_anchor_deb(hn_dpkg *d, const char *pkg, const char *const *paths,
                       const uint8_t (*md5s)[16], size_t n);
/** An empty database, and the parsers of its files (for tests and fuzzing; hostile-input
 *  safe: malformed lines are skipped). hn_dpkg_load feeds them in this order: diversions,
 *  statoverride, status, every info/<pkg>.md5sums, every info/<pkg>.list. */
int hn_dpkg_new(hn_dpkg **out, int usrmerge);
int hn_dpkg_parse_diversions(hn_dpkg *d, const void *data, size_t len);
int hn_dpkg_parse_statoverride(hn_dpkg *d, const void *data, size_t len);
int hn_dpkg_parse_status(hn_dpkg *d, const void *data, size_t len);
/** name: "<pkg>[:arch].md5sums" or "<pkg>[:arch].list" (other names are ignored). */
int hn_dpkg_parse_info(hn_dpkg *d, const char *name, const void *data, size_t len);

/* ================================================================ lnk.c */
/** What a Windows shortcut starts (strings clean UTF-8, owned; NULL when absent). */
typedef struct hn_lnk {
    char *target;  /**< local path, network path, environment-variable path or relative path */
    char *args;    /**< command line arguments */
    char *workdir; /**< working folder */
} hn_lnk;
/**
 * Read a shortcut (.lnk) given as bytes, with liblnk. Hostile input: anything
 * that is not a readable shortcut is CR_ECORRUPT with a message, never a crash.
 * Opens nothing but a memfd. @return 0, CR_ECORRUPT, CR_ERROR.
 */
int hn_lnk_read(hn_lnk *out, const void *data, size_t len);
void hn_lnk_clear(hn_lnk *l);

/* ============================================================ memfile.c */
/** Bytes as a file that a library opening only files can read (hivex, liblnk). */
typedef struct hn_memfile {
    int fd;
    char path[64];
    char *tmp; /* the temporary file when there is no memfd or /proc */
} hn_memfile;
/** Write data and `pad` zero bytes into a memfd (or a private temporary file). @return 0, <0. */
int hn_memfile_open(hn_memfile *m, const void *data, size_t len, size_t pad);
/** The name to open it by (valid until hn_memfile_close). */
const char *hn_memfile_path(const hn_memfile *m);
/** Close it (and unlink the temporary file). */
void hn_memfile_close(hn_memfile *m);
/**
 * In the parser sandbox's child, before confinement: every hn_memfile_open
 * afterwards rewrites this one file instead of creating one. @return its fd, or <0.
 */
int hn_memfile_scratch(const char *path);

/* =============================================================== hive.c */
/** One autostart entry read from a registry hive. */
typedef struct hn_autorun {
    char *key;     /**< e.g. "Microsoft\\Windows\\CurrentVersion\\Run" or "ControlSet001\\Services\\X" */
    char *name;    /**< value name (Run) or service name */
    char *data;    /**< command line / ImagePath, UTF-8 */
    int kind;      /**< HN_AUTORUN_RUN, _RUNONCE, _SERVICE, _WINLOGON */
} hn_autorun;
#define HN_AUTORUN_RUN 1
#define HN_AUTORUN_RUNONCE 2
#define HN_AUTORUN_SERVICE 3
#define HN_AUTORUN_WINLOGON 4
#define HN_AUTORUN_APPINIT 5   /* AppInit_DLLs: a DLL loaded into every program */
#define HN_AUTORUN_IFEO 6      /* Image File Execution Options debugger, silent-exit monitor */
#define HN_AUTORUN_LSA 7       /* LSA security, authentication, notification packages */
#define HN_AUTORUN_PRINTMON 8  /* print monitor DLL (loaded by the spooler as SYSTEM) */
#define HN_AUTORUN_COM 9       /* a user's COM server (UsrClass.dat CLSID InprocServer32,
                                  LocalServer32): runs wherever that object is used */
#define HN_AUTORUN_WMI 10      /* a WMI event subscription (wmi.c): name "<Consumer class>
                                  \"<consumer>\" <- __EventFilter \"<filter>\"", data what it
                                  runs and when */
#define HN_AUTORUN_GPO_TASK 12     /* a Group Policy scheduled task (gpo.c) */
#define HN_AUTORUN_GPO_SCRIPT 13   /* a Group Policy startup/shutdown/logon/logoff script */
#define HN_AUTORUN_GPO_REGISTRY 14 /* a Group Policy registry setting under an autostart key */
#define HN_AUTORUN_GPO_GROUP 15    /* a member a Group Policy adds to (or removes from) a group */
#define HN_AUTORUN_GPO_PASSWORD 16 /* a password stored in a Group Policy preference */
#define HN_AUTORUN_GPO_RIGHT 17    /* a privilege right or restricted group of a security template */
#define HN_AUTORUN_BITS 11     /* a BITS job's notify command line (bits.c): key "BITS\\{job
                                  id}", name the job's name, data the command, arguments, owner */
/* Items of a directory database (samdb.c): data "<value> @ <when>", compared up to the last
 * " @ " (hn_samdb_value_len). */
#define HN_AUTORUN_AD_MEMBER 18        /* a member of a privileged group: key the group */
#define HN_AUTORUN_AD_ACCOUNT 19       /* an account: key "account" or "computer", "enabled"... */
#define HN_AUTORUN_AD_ADMINCOUNT 20    /* adminCount set on an account */
#define HN_AUTORUN_AD_SPN 21           /* service principal names of a user account */
#define HN_AUTORUN_AD_DELEGATION 22    /* unconstrained, constrained or resource-based delegation */
#define HN_AUTORUN_AD_NOPREAUTH 23     /* Kerberos pre-authentication not required */
#define HN_AUTORUN_AD_SIDHISTORY 24    /* SIDs in an account's sIDHistory */
#define HN_AUTORUN_AD_ADMINSDHOLDER 25 /* the hash of AdminSDHolder's security descriptor */
#define HN_AUTORUN_AD_GPLINK 26        /* the GPO links of the domain, an OU or a site */
#define HN_AUTORUN_AD_KRBTGT 27        /* when krbtgt's password was last set */

/**
 * Read the autostart entries of a hive given as bytes (SOFTWARE, SYSTEM,
 * NTUSER.DAT or UsrClass.dat; others give none). Hostile input: a malformed hive is
 * CR_ECORRUPT with a message, never a crash; at most a bounded number of
 * entries and bytes are read. Strings are valid UTF-8 without control
 * characters. Evidence of an entry: key + "\\" + name, or + "\\ImagePath" for
 * a service (name is then the service's name; data ImagePath, with
 * " (ServiceDll: ...)" when the service has one).
 * @return 0 (*out NULL when none); CR_ECORRUPT; CR_EINPUT (over 1 GiB);
 *         CR_ERROR or CR_ENOTFOUND when no memfd nor temporary file could hold it.
 */
int hn_hive_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len);
void hn_autoruns_free(hn_autorun *a, size_t n);
/* Entries of hn_hive_software (the reconnection inventory, not autostart places). */
#define HN_SOFTWARE_APP 40 /* key: the Uninstall subkey; name DisplayName|DisplayVersion|Publisher */
#define HN_SOFTWARE_OS 41  /* key "Microsoft\\Windows NT\\CurrentVersion"; name ProductName,
                              DisplayVersion, CurrentBuild, CurrentBuildNumber or UBR */
/**
 * What is installed according to a SOFTWARE hive given as bytes: the values of
 * the Uninstall keys (both views) and the build of Windows, as entries of
 * kind HN_SOFTWARE_APP and HN_SOFTWARE_OS (see hive.c). Same bounds, errors
 * and string guarantees as hn_hive_autoruns. hn_software_examine runs it in
 * the parser sandbox ("files" child).
 */
int hn_hive_software(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_software_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
/** A program's version resource: file and product version, 16 bits per part. */
typedef struct hn_pe_ver {
    uint64_t file, product;
} hn_pe_ver;
/**
 * The readers of Windows files in the parser sandbox (src/util/sandbox.h,
 * the "files" child, which also reads .deb packages: hn_deb_examine), or
 * in-process when CLEANROOM_SANDBOX=off: hn_hive_autoruns, hn_wmi_autoruns,
 * hn_bits_autoruns, hn_lnk_read and hn_pe_version. @return as those, or
 * CR_EHOSTILE when the bytes made the sandboxed reader crash, hang or
 * misbehave. One child serves them in turn; hn_parsers_release stops it.
 */
int hn_hive_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_gpo_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_wmi_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_bits_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_samdb_examine(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_lnk_examine(hn_lnk *out, const void *data, size_t len);
int hn_pe_version_examine(hn_pe_ver *out, const void *data, size_t len);
void hn_parsers_release(void);
/**
 * persist.c's text parsers (crontabs, sshd, PAM, sudoers, shell files, ...)
 * in the same child: `req` is persist.c's request, the child's answer goes
 * to `reply` for persist.c's decoder. @return 0, CR_EHOSTILE as above.
 */
int hn_text_examine(const void *req, size_t len, cr_buf *reply);
/** The child's side of hn_text_examine (persist.c). */
int hn_persist_text_serve(const void *data, size_t len, cr_buf *reply);
/** Decode an answer of the text parsers and drop it (fuzz/fuzz_sandbox.c). @return 0 or CR_EHOSTILE. */
int hn_persist_reply_check(const void *data, size_t len);
/** The sandboxed readers' answers, decoded as untrusted input (fuzz/fuzz_sandbox.c). */
int hn_autoruns_decode(hn_autorun **out, size_t *count, const void *data, size_t len);
int hn_lnk_decode(hn_lnk *out, const void *data, size_t len);
/** @return 1 found, 0 not, CR_EHOSTILE malformed. */
int hn_pe_version_decode(hn_pe_ver *out, const void *data, size_t len);
/**
 * UTF-16LE text (up to its first NUL; an odd last byte is dropped) as UTF-8:
 * unpaired surrogates become U+FFFD, control characters (C0, DEL, C1) '?'.
 * @return a new string, or NULL when out of memory.
 */
char *hn_utf16_to_utf8(const void *data, size_t len);

/* ================================================================ wmi.c */
/**
 * The permanent WMI event subscriptions found in a CIM repository's
 * OBJECTS.DATA given as bytes, as HN_AUTORUN_WMI entries (key
 * "WMI\\__FilterToConsumerBinding"). A bounded byte search, not a parse
 * (wmi.c says how); hostile-input safe; strings clean UTF-8.
 * @return 0 (*out NULL when none); CR_EINPUT (over 1 GiB); CR_ERROR.
 */
int hn_wmi_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len);

/* ================================================================ gpo.c */
/**
 * What a Group Policy file of a domain controller's SYSVOL makes computers
 * run or grants (Preferences XML, scripts.ini, psscripts.ini, GptTmpl.inf;
 * the kind is told by the content), as HN_AUTORUN_GPO_* entries (gpo.c says
 * which). Hostile-input safe; strings clean UTF-8.
 * @return 0 (*out NULL when none); CR_ECORRUPT (not such a file); CR_ERROR.
 */
int hn_gpo_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len);

/* ============================================================== pever.c */
/** The fixed version of a Windows program (VS_FIXEDFILEINFO): MS << 32 | LS. */
/** Read it from a PE file given as bytes. @return 1 found, 0 not (not a PE, no version). */
int hn_pe_version(hn_pe_ver *out, const void *data, size_t len);

/* =============================================================== bits.c */
/**
 * The BITS jobs with a notify command line found in a queue file given as
 * bytes (qmgr0.dat, qmgr1.dat, qmgr.db), as HN_AUTORUN_BITS entries. A
 * bounded carver of the job control blocks (bits.c says how); hostile-input
 * safe; strings clean UTF-8. @return 0 (*out NULL when none); CR_EINPUT (over
 * 1 GiB); CR_ERROR.
 */
int hn_bits_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len);
/* ============================================================= samdb.c */
/**
 * Read the noteworthy items of one partition of a Samba AD DC's sam.ldb
 * (sam.ldb.d/DC=....ldb, TDB backend) given as bytes, as HN_AUTORUN_AD_*
 * entries (samdb.c says which). Hostile input: a database libtdb or libldb
 * refuses, or one beyond the bounds, is CR_ECORRUPT, never a crash.
 * @return 0; CR_ECORRUPT; CR_EINPUT (too large); CR_ERROR.
 */
int hn_samdb_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len);
/** The same for one packed ldb record (the fuzz target of the record reader). */
int hn_samdb_record(hn_autorun **out, size_t *count, const void *data, size_t len);
/** Make libldb's context now (the sandbox's child calls it before it is confined). */
int hn_samdb_prepare(void);
/** The length of an HN_AUTORUN_AD_* entry's data that is compared (up to the last " @ "). */
size_t hn_samdb_value_len(const char *data);

/** A copy of bytes (up to a NUL) as valid UTF-8: bad sequences and control characters become '?'. */
char *hn_utf8_clean(const void *data, size_t len);

#endif
