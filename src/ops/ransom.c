/*
 * Ransomware seen at backup time: the night 3,000 files become x.docx.lockbit,
 * the backup itself says so, instead of a hunt hours later.
 *
 * No extra read: the backup hands over the first bytes of every file it reads
 * anyway (added or changed since the parent snapshot; unchanged files are not
 * read and cannot have been encrypted), and the signals are counted from them:
 *
 *   - new files with a ransomware extension (the hunt's shipped list);
 *   - changed files, and new files with such an extension, whose first bytes
 *     are near-random and start like no known format (the hunt's per-file
 *     test, hn_judge_near_random, on the same head facts);
 *   - new files named as ransom notes.
 *
 * The decision is the hunt's change-rate rule (hn_change_rate_verdict_at, one
 * implementation), against the parent snapshot's file count; or at least
 * CR_RANSOM_NOTES_MIN ransom notes (ransomware leaves one per folder). A job
 * (or `backup --ransomware-threshold`) may move those thresholds. When it
 * holds, the snapshot is still saved — it is evidence — but tagged "suspect".
 *
 * Image backups (cr_ransom_watch_attach_image) count the same signals for
 * the files inside the disks' filesystems: src/image/backup.c judges, during
 * its chunk pass, every CR_IMAGE_HEAD_BLOCK block of the chunks that changed
 * since the parent image snapshot (on_block: the same per-file test on a
 * block), then compares the filesystems' trees with the parent's and reports
 * each added or changed file with the verdict of the block its data starts
 * in. The child that lists the filesystems only gives extents, which the
 * parent checks; it can hide signals on its own disk, nothing more.
 *
 * Not seen at backup time, left to the hunt: files removed (the backup does
 * not list what disappeared), and the change rate of a source against its own
 * history.
 */
#include "cleanroom/jobs.h"
#include "hunt/hunt.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A ransom note is a short message (as in judge.c). */
#define NOTE_MAX_SIZE (4u * 1024 * 1024)

struct cr_ransom_watch {
    hn_ruleset *rs;
    pthread_mutex_t mu;
    cr_ransom_signals sig;
    cr_ransom_thresholds th;
    const char *tags[2];
};

int cr_ransom_watch_new(cr_ransom_watch **out, const char *builtin_dir)
{
    cr_ransom_watch *w;
    int err;
    *out = NULL;
    if (!(w = cr_calloc(1, sizeof(*w))))
        return CR_ERROR;
    if ((err = hn_ruleset_load_names(&w->rs, builtin_dir)) < 0) {
        free(w);
        return err;
    }
    pthread_mutex_init(&w->mu, NULL);
    w->th = (cr_ransom_thresholds)CR_RANSOM_THRESHOLDS_DEFAULT;
    *out = w;
    return 0;
}

void cr_ransom_watch_free(cr_ransom_watch *w)
{
    if (!w)
        return;
    hn_ruleset_free(w->rs);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* One file read (or, for an image, seen changed): random is whether its head is near-random. */
static void count_file(cr_ransom_watch *w, const char *path, int is_new, uint64_t size,
                       const uint8_t *head, size_t head_len, int head_random)
{
    const char *name = strrchr(path, '/');
    int named, note, random = 0;
    name = name ? name + 1 : path;
    named = is_new && hn_ruleset_ransom_ext(w->rs, name) != NULL;
    note = is_new && size <= NOTE_MAX_SIZE && hn_ruleset_ransom_note(w->rs, name) == 1;
    if (!is_new || named) {
        if (head && head_len) {
            hn_facts f;
            memset(&f, 0, sizeof(f));
            hn_head_facts(&f, head, head_len);
            random = hn_judge_near_random(&f);
        } else {
            random = head_random != 0;
        }
    }
    pthread_mutex_lock(&w->mu);
    if (is_new)
        w->sig.added++;
    else
        w->sig.modified++;
    w->sig.ransom_named += named;
    w->sig.near_random += random;
    w->sig.notes += note;
    if (named && !w->sig.example[0])
        snprintf(w->sig.example, sizeof(w->sig.example), "%s", path);
    pthread_mutex_unlock(&w->mu);
}

static void on_file(const char *path, int is_new, uint64_t size, const uint8_t *head,
                    size_t head_len, void *payload)
{
    count_file(payload, path, is_new, size, head, head_len, 0);
}

/*
 * Image backups: a block of a chunk that changed since the parent snapshot,
 * judged as if it were the head of a file (the hunt's test, on the block the
 * chunk pass holds anyway); then each changed file with the verdict of the
 * block holding its first byte.
 */
static int on_block(const uint8_t *block, size_t len, void *payload)
{
    hn_facts f;
    (void)payload;
    memset(&f, 0, sizeof(f));
    hn_head_facts(&f, block, len);
    return hn_judge_near_random(&f);
}

static void on_image_file(const char *path, int is_new, uint64_t size, int head_random,
                          void *payload)
{
    count_file(payload, path, is_new, size, NULL, 0, head_random);
}

static const char *const *before_save(const cr_snapshot *snap, uint64_t parent_files,
                                      void *payload)
{
    cr_ransom_watch *w = payload;
    cr_ransom_signals *s = &w->sig;
    hn_change_stats st;
    (void)snap;
    memset(&st, 0, sizeof(st));
    s->files_before = parent_files;
    st.files_before = parent_files;
    st.files_after = snap->files;
    st.added = s->added;
    st.modified = s->modified;
    st.modified_high_entropy = s->near_random;
    st.ransom_named = s->ransom_named;
    if (parent_files && hn_change_rate_verdict_at(&st, w->th.renamed, w->th.changed,
                                                  w->th.percent) == HN_RATE_RANSOMWARE)
        snprintf(s->reason, sizeof(s->reason),
                 "%llu file(s) got a ransomware extension and %llu became near-random, of "
                 "%llu files (%llu added, %llu changed)",
                 (unsigned long long)s->ransom_named, (unsigned long long)s->near_random,
                 (unsigned long long)parent_files, (unsigned long long)s->added,
                 (unsigned long long)s->modified);
    else if (w->th.notes && s->notes >= w->th.notes)
        snprintf(s->reason, sizeof(s->reason), "%llu ransom note(s) appeared",
                 (unsigned long long)s->notes);
    else
        return NULL;
    s->suspect = 1;
    w->tags[0] = CR_TAG_SUSPECT;
    w->tags[1] = NULL;
    return w->tags;
}

void cr_ransom_watch_attach(cr_ransom_watch *w, cr_backup_options *opts)
{
    opts->file_read = on_file;
    opts->tags_before_save = before_save;
    opts->read_payload = w;
}

void cr_ransom_watch_attach_image(cr_ransom_watch *w, cr_image_backup_options *opts)
{
    opts->block_random = on_block;
    opts->file_seen = on_image_file;
    opts->tags_before_save = before_save;
    opts->read_payload = w;
}

void cr_ransom_watch_set_thresholds(cr_ransom_watch *w, const cr_ransom_thresholds *t)
{
    w->th = *t;
}

void cr_ransom_watch_result(const cr_ransom_watch *w, cr_ransom_signals *out)
{
    *out = w->sig;
}

int cr_ransom_thresholds_parse(cr_ransom_thresholds *out, const char *text)
{
    static const char *const keys[] = {"renamed", "changed", "percent", "notes"};
    cr_ransom_thresholds t = *out;
    const char *p = text;

    if (!*p)
        goto bad;
    while (*p) {
        size_t klen = strcspn(p, "=,");
        unsigned int *field = NULL;
        char *end;
        unsigned long v;
        for (size_t i = 0; i < 4; i++)
            if (strlen(keys[i]) == klen && strncmp(p, keys[i], klen) == 0)
                field = i == 0 ? &t.renamed : i == 1 ? &t.changed : i == 2 ? &t.percent : &t.notes;
        if (!field || p[klen] != '=') {
            cr_error_set("ransomware threshold '%.*s': say renamed=N, changed=N, percent=N or "
                         "notes=N",
                         (int)strcspn(p, ","), p);
            return CR_EINPUT;
        }
        p += klen + 1;
        if (*p < '0' || *p > '9')
            goto bad;
        errno = 0;
        v = strtoul(p, &end, 10);
        if (errno || v > 100000000ul || (field == &t.percent && v > 100) ||
            (*end && *end != ','))
            goto bad;
        *field = (unsigned int)v;
        p = *end ? end + 1 : end;
    }
    *out = t;
    return 0;
bad:
    cr_error_set("ransomware threshold '%s' is not KEY=N[,KEY=N...] (renamed, changed, percent "
                 "at most 100, notes; 0 turns a test off)",
                 text);
    return CR_EINPUT;
}
