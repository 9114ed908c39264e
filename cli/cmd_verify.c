/*
 * cleanroom verify: check the vault for damage.
 *
 * Without --read-data this checks structure: every stored file is named by
 * its hash, every index entry points into a pack, every tree and blob that a
 * snapshot needs is present. With --read-data every blob is decrypted and its
 * keyed hash checked. Damage is reported as the damaged objects and, more
 * usefully at 3 a.m., the files of each snapshot that can no longer be
 * restored in full.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char help_text[] =
    "usage: cleanroom verify [--read-data | --read-data-subset N/M] [--unhide] [--json]\n"
    "\n"
    "Check the vault. Prints 'vault OK: N packs, M blobs, K snapshots checked', or each\n"
    "damaged object as 'damaged pack <id>: <why>' followed by the files it affects:\n"
    "'  affects <source> snapshot <id8>: <path>'.\n"
    "\n"
    "Options:\n"
    "  --read-data             also decrypt and check every stored blob (reads the\n"
    "                          whole vault)\n"
    "  --read-data-subset N/M  read only the packs of part N of M (1 <= N <= M), e.g.\n"
    "                          1/7 on Mondays, 2/7 on Tuesdays ...\n"
    "  --threads N             worker threads (default: number of cores)\n"
    "  --unhide                S3 vaults: first bring back the objects that a plain S3\n"
    "                          DELETE hid behind delete markers (the one change verify\n"
    "                          makes; cleanroom never makes such markers)\n"
    "  --json                  {ok, packs, packs_read, blobs, blobs_read, snapshots, trees,\n"
    "                          bytes_read, problems:[{what,id,message}],\n"
    "                          affected:[{snapshot,source,path}]}\n"
    "\n"
    "Exit codes: 0 no damage found, 2 usage, 3 wrong passphrase, 4 damage found,\n"
    "6 locked, 7 no vault.\n";

static int parse_subset(unsigned int *n, unsigned int *m, const char *s)
{
    unsigned long a, b;
    const char *slash = strchr(s, '/');
    char left[32];
    if (!slash || (size_t)(slash - s) >= sizeof(left))
        return -1;
    memcpy(left, s, (size_t)(slash - s));
    left[slash - s] = '\0';
    if (cli_parse_uint(&a, left, 1, 1000000) < 0 || cli_parse_uint(&b, slash + 1, 1, 1000000) < 0 ||
        a > b)
        return -1;
    *n = (unsigned int)a;
    *m = (unsigned int)b;
    return 0;
}

static void print_json(const cr_verify_report *r, int ok)
{
    json_t *o = json_object(), *p = json_array(), *a = json_array();
    json_object_set_new(o, "ok", json_boolean(ok));
    json_object_set_new(o, "packs", cli_json_u64(r->packs));
    json_object_set_new(o, "packs_read", cli_json_u64(r->packs_read));
    json_object_set_new(o, "blobs", cli_json_u64(r->blobs));
    json_object_set_new(o, "blobs_read", cli_json_u64(r->blobs_read));
    json_object_set_new(o, "snapshots", cli_json_u64(r->snapshots));
    json_object_set_new(o, "trees", cli_json_u64(r->trees));
    json_object_set_new(o, "bytes_read", cli_json_u64(r->bytes_read));
    for (size_t i = 0; i < r->nproblems; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "what", cli_json_str(r->problems[i].what));
        json_object_set_new(e, "id", cli_json_str(r->problems[i].id));
        json_object_set_new(e, "message", cli_json_str(r->problems[i].message));
        json_array_append_new(p, e);
    }
    for (size_t i = 0; i < r->naffected; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "snapshot", cli_json_str(r->affected[i].snapshot));
        json_object_set_new(e, "source", cli_json_str(r->affected[i].source));
        json_object_set_new(e, "path", cli_json_str(r->affected[i].path));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "problems", p);
    json_object_set_new(o, "affected", a);
    json_t *nt = json_array();
    for (size_t i = 0; i < r->nnotices; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "what", cli_json_str(r->notices[i].what));
        json_object_set_new(e, "id", cli_json_str(r->notices[i].id));
        json_object_set_new(e, "message", cli_json_str(r->notices[i].message));
        json_array_append_new(nt, e);
    }
    json_object_set_new(o, "notices", nt);
    cli_json_print(o);
}

static void print_text(const cr_verify_report *r, int ok, int read_data)
{
    char sz[32];
    for (size_t i = 0; i < r->nnotices; i++) {
        char *w = cli_escape(r->notices[i].what), *id = cli_escape(r->notices[i].id),
             *m = cli_escape(r->notices[i].message);
        printf("notice: %s %s: %s\n", w, id, m);
        free(w);
        free(id);
        free(m);
    }
    if (ok) {
        printf("vault OK: %llu packs, %llu blobs, %llu snapshots checked",
               (unsigned long long)r->packs, (unsigned long long)r->blobs,
               (unsigned long long)r->snapshots);
        if (read_data)
            printf(" (data of %llu packs read, %s)", (unsigned long long)r->packs_read,
                   cli_human_size(sz, sizeof(sz), r->bytes_read));
        printf("\n");
        return;
    }
    for (size_t i = 0; i < r->nproblems; i++) {
        char *w = cli_escape(r->problems[i].what), *id = cli_escape(r->problems[i].id),
             *m = cli_escape(r->problems[i].message);
        printf("damaged %s %s: %s\n", w, id, m);
        free(w);
        free(id);
        free(m);
    }
    for (size_t i = 0; i < r->naffected; i++) {
        char *src = cli_escape(r->affected[i].source), *p = cli_escape(r->affected[i].path);
        const char *sid = r->affected[i].snapshot ? r->affected[i].snapshot : "?";
        printf("  affects %s snapshot %.8s: %s\n", src, sid, p);
        free(src);
        free(p);
    }
    printf("vault DAMAGED: %zu problem(s), %zu file(s) affected; %llu packs, %llu blobs, %llu "
           "snapshots checked\n",
           r->nproblems, r->naffected, (unsigned long long)r->packs,
           (unsigned long long)r->blobs, (unsigned long long)r->snapshots);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * A read of the data (--read-data, --read-data-subset) is recorded in the vault
 * as a verify job's run is, so that `status` shows the last verify from any
 * machine. A record that cannot be written is said; the run's exit code stays.
 * The error message of the run is kept for the lines that follow.
 */
static void record_run(cr_repo *repo, const cr_verify_options *o, const cr_verify_report *r,
                       int err, int herr, int64_t start_ns)
{
    char msg[1024], text[1200];
    int rc;
    unsigned int n = o->subset_m ? o->subset_n : 1, m = o->subset_m ? o->subset_m : 1;
    snprintf(msg, sizeof(msg), "%s", cr_error_last());
    text[0] = '\0';
    if (err < 0 && (err != CR_ECORRUPT || r->nproblems == 0))
        rc = err, snprintf(text, sizeof(text), "verify could not run to the end: %s", msg);
    else if (herr < 0 && herr != CR_ECORRUPT)
        rc = herr, snprintf(text, sizeof(text), "verify could not check the hunt results: %s", msg);
    else if (err < 0 || r->nproblems)
        rc = CR_ECORRUPT, snprintf(text, sizeof(text),
                                   "verify found %zu problem(s) in part %u/%u of the vault: run "
                                   "cleanroom verify --read-data-subset %u/%u to see them",
                                   r->nproblems, n, m, n, m);
    else
        rc = 0;
    if (cr_verify_record_save(NULL, repo, rc, n, m, r->packs_read, r->nproblems,
                              text[0] ? text : NULL, start_ns, now_ns()) < 0)
        cli_warn("this verify could not be recorded in the vault (status will not show it): %s",
                 cr_error_last());
    cr_error_set("%s", msg);
}

int cmd_verify(int argc, char **argv)
{
    enum { OPT_READ_DATA = CLI_OPT_FIRST_CMD, OPT_SUBSET, OPT_THREADS, OPT_UNHIDE };
    static const struct option longopts[] = {
        {"read-data", no_argument, NULL, OPT_READ_DATA},
        {"unhide", no_argument, NULL, OPT_UNHIDE},
        {"read-data-subset", required_argument, NULL, OPT_SUBSET},
        {"threads", required_argument, NULL, OPT_THREADS},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_verify_options opts = CR_VERIFY_OPTIONS_INIT;
    cr_verify_report report;
    cr_repo *repo = NULL;
    cli_progress *progress = NULL;
    unsigned long threads;
    int c, rc, err, full = 0, subset = 0, unhide = 0;
    int64_t start_ns;

    memset(&report, 0, sizeof(report));
    while ((c = cli_getopt(argc, argv, "", longopts, "verify")) != -1) {
        switch (c) {
        case OPT_READ_DATA: full = 1; break;
        case OPT_UNHIDE: unhide = 1; break;
        case OPT_SUBSET:
            if (parse_subset(&opts.subset_n, &opts.subset_m, optarg) < 0)
                return cli_usage_error("verify", "--read-data-subset needs N/M with 1 <= N <= M, "
                                                 "e.g. 1/7");
            subset = 1;
            break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 1024) < 0)
                return cli_usage_error("verify", "--threads must be a number from 1 to 1024");
            opts.threads = (int)threads;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
    if (full && subset)
        return cli_usage_error("verify", "give either --read-data or --read-data-subset, not both");
    opts.read_data = full || subset;

    if (unhide) {
        const char *path = cli_repo_path();
        size_t restored = 0;
        if (!path)
            return CLI_EXIT_USAGE;
        cr_error_clear();
        if ((err = cr_repo_unhide(path, &restored)) < 0)
            return cli_fail(err, "could not bring back hidden objects");
        if (restored)
            cli_warn("%zu object(s) of the vault had been hidden by a plain S3 DELETE (delete "
                     "markers, not made by cleanroom): they are back; find out who holds the "
                     "vault's S3 keys",
                     restored);
    }
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    progress = cli_progress_new("verify");
    opts.progress = cli_progress_cb;
    opts.payload = progress;
    cr_error_clear();
    start_ns = now_ns();
    err = cr_verify(&report, repo, &opts);
    /* The hunt's files: records removed or damaged, snapshots a record names. */
    int herr = 0;
    if (err == 0 || (err == CR_ECORRUPT && report.nproblems > 0)) {
        char vmsg[1024];
        snprintf(vmsg, sizeof(vmsg), "%s", cr_error_last());
        herr = cr_hunt_verify(&report, repo);
        if (herr == CR_ECORRUPT)
            err = herr;
        else if (herr == 0 && err < 0)
            cr_error_set("%s", vmsg);
    }
    {
        cli_total t[] = {{"packs", report.packs},         {"packs_read", report.packs_read},
                         {"blobs", report.blobs},         {"blobs_read", report.blobs_read},
                         {"snapshots", report.snapshots}, {"bytes_read", report.bytes_read},
                         {"problems", report.nproblems}};
        cli_progress_done(progress, err, NULL, t, sizeof(t) / sizeof(t[0]));
    }
    cli_progress_free(progress);
    if (opts.read_data)
        record_run(repo, &opts, &report, err, herr, start_ns);
    /* CR_ECORRUPT without a problem in the report: the check itself could not
     * run (e.g. a folder of the vault is missing); say why instead of an empty list. */
    if (err < 0 && (err != CR_ECORRUPT || report.nproblems == 0)) {
        rc = cli_fail(err, "verify could not run to the end");
        goto done;
    }
    if (herr < 0 && herr != CR_ECORRUPT) {
        rc = cli_fail(herr, "verify could not check the hunt results");
        goto done;
    }
    int ok = err == 0 && report.nproblems == 0;
    if (cli_g.json)
        print_json(&report, ok);
    else
        print_text(&report, ok, opts.read_data);
    if (!ok) {
        if (!cli_g.json)
            cli_hint("restore the affected files from a snapshot not listed above or from "
                     "another copy of the vault; never delete this vault's data to 'repair' it");
        rc = CLI_EXIT_INTEGRITY;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    cr_verify_report_clear(&report);
    cr_repo_free(repo);
    return rc;
}
