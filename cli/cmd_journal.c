/*
 * cleanroom journal: verify and show a recovery journal.
 *
 * The journal is the evidence of a recovery (what was restored, from which
 * restore point, which probes passed); `verify` proves that no entry was
 * edited, removed, reordered or duplicated since it was written, and prints
 * the head hash to be quoted in a report. A crash while an entry was being
 * written leaves an incomplete last line: `verify --cut-torn` moves it to
 * FILE.torn and records the cut in the journal itself, so a recovery can be
 * resumed without losing or hiding anything.
 *
 * A keyed journal (docs/format.md §16) is verified with its vault: the vault
 * of --repo or CLEANROOM_REPO, else the one the journal names, when it is
 * there. A journal that is not keyed is still verified, with a notice.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_text[] =
    "usage: cleanroom journal verify FILE [--repo DIR] [--cut-torn] [--json]\n"
    "       cleanroom journal show FILE [--json]\n"
    "\n"
    "verify  Check the chain of a recovery journal: every entry holds the MAC (keyed with\n"
    "        the vault's key) or, in journals written before keying, the SHA-256 of the\n"
    "        one before it; then the heads the vault recorded at the end of each recovery\n"
    "        and acknowledgement. Prints 'journal FILE: intact, N entries, head HASH', or\n"
    "        the first line that is edited, removed, reordered or duplicated, and why; a\n"
    "        journal cut at its end or replaced by another is named too. The vault is\n"
    "        --repo, CLEANROOM_REPO, else the vault the journal names (its passphrase is\n"
    "        asked as usual).\n"
    "        --cut-torn  when the only damage is an incomplete last line (the program was\n"
    "                    stopped while writing it), move that line to FILE.torn, cut it off,\n"
    "                    and record the cut as a new entry; any other damage: nothing is\n"
    "                    changed (exit 4)\n"
    "show    Print the entries, one per line: SEQ TIME TYPE [SERVICE] key=value...\n"
    "        (the entries before a damaged line, then the error).\n"
    "\n"
    "Options:\n"
    "  --json   verify: {file, intact, entries, head, bad_line, message};\n"
    "           show: [{seq, time, type, service, data:{}, hash}]\n"
    "\n"
    "Exit codes: 0 intact, 2 usage or a keyed journal without its vault, 3 wrong\n"
    "passphrase, 4 the journal is damaged, cut or replaced (the line is named), 6 the\n"
    "journal is in use by a running recovery (--cut-torn), 7 no such file.\n";

/* The vault of --repo or CLEANROOM_REPO, else the one the journal names when
 * it is there, else none (*out NULL). @return an exit code. */
int cli_journal_vault(cr_repo **out, const char *file)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad;
    struct stat st;
    int rc = 0;

    *out = NULL;
    if ((cli_g.repo && *cli_g.repo) || (getenv("CLEANROOM_REPO") && *getenv("CLEANROOM_REPO")))
        return cli_open_repo(out);
    cr_journal_read(&e, &n, &bad, file); /* its damage is named by the verification */
    const char *v = cr_journal_vault_named(e, n);
    if (v && *v) {
        char *cfg = cli_xmalloc(strlen(v) + sizeof("/config"));
        sprintf(cfg, "%s/config", v);
        if (stat(cfg, &st) == 0) {
            cli_g.repo = cli_xstrdup(v); /* lives as long as the command */
            rc = cli_open_repo(out);
        }
        free(cfg);
    }
    cr_journal_entries_free(e, n);
    return rc;
}

/* The lines that say how a journal was checked. */
void cli_journal_says(const cr_journal_check *ck, cr_repo *repo)
{
    if (cli_g.quiet || cli_g.json)
        return;
    if (!ck->keyed) {
        printf("note: this journal is not keyed (written by an older cleanroom): its hash chain "
               "shows accidental damage, but whoever can write the file can rewrite it and "
               "compute the hashes again%s\n",
               repo ? "" : "; give its vault (--repo) to check that it did not replace a keyed one");
        return;
    }
    char *ev = cli_escape(cr_repo_path(repo));
    printf("keyed with the vault %s", ev);
    if (ck->keyed_from > 1)
        printf(" from line %llu", (unsigned long long)ck->keyed_from);
    if (ck->heads)
        printf("; %zu head(s) recorded in the vault, the last covers %llu entries\n", ck->heads,
               (unsigned long long)ck->sealed);
    else
        printf("; no head recorded in the vault yet (a recovery still running, or stopped "
               "before its end)\n");
    free(ev);
}

static int journal_verify(const char *file, int cut_torn)
{
    cr_journal_entry *e = NULL;
    cr_journal_check ck;
    cr_repo *repo = NULL;
    size_t n = 0;
    uint64_t bad = 0, cut = 0;
    int err, rc;
    char *ef = cli_escape(file);

    memset(&ck, 0, sizeof(ck));
    if ((rc = cli_journal_vault(&repo, file)) != 0)
        goto done;
    cr_error_clear();
    if (cut_torn && (err = cr_journal_cut_torn(&cut, file, repo)) < 0) {
        rc = cli_fail(err, NULL);
        if (err == CR_ECORRUPT)
            cli_hint("only an incomplete last line can be cut; keep this journal as evidence "
                     "and compare it with its copies");
        goto done;
    }
    cr_error_clear();
    err = cr_journal_verify(&e, &n, &bad, &ck, file, repo);
    if (err < 0 && err != CR_ECORRUPT) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    const char *head = n ? e[n - 1].hash
                         : "0000000000000000000000000000000000000000000000000000000000000000";
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", cli_json_str(file));
        json_object_set_new(o, "intact", json_boolean(err == 0));
        json_object_set_new(o, "entries", json_integer((json_int_t)n));
        json_object_set_new(o, "head", json_string(head));
        json_object_set_new(o, "bad_line", err ? json_integer((json_int_t)bad) : json_null());
        json_object_set_new(o, "message", err ? cli_json_str(cr_error_last()) : json_null());
        json_object_set_new(o, "cut_bytes", json_integer((json_int_t)cut));
        json_object_set_new(o, "keyed", json_boolean(ck.keyed));
        json_object_set_new(o, "vault", repo ? cli_json_str(cr_repo_path(repo)) : json_null());
        json_object_set_new(o, "heads", json_integer((json_int_t)ck.heads));
        json_object_set_new(o, "sealed_entries", json_integer((json_int_t)ck.sealed));
        cli_json_print(o);
    }
    if (err == CR_ECORRUPT) {
        if (!cli_g.json) {
            char *m = cli_escape(cr_error_last());
            cli_error("%s", m);
            free(m);
            if (ck.missing)
                cli_hint("the %zu entries of the file are intact, but entries were removed at "
                         "its end; keep the file as evidence and compare it with its copies",
                         n);
            else
                cli_hint("the %llu entries before line %llu are intact; keep the file as "
                         "evidence",
                         (unsigned long long)(bad ? bad - 1 : 0), (unsigned long long)bad);
        }
        rc = CLI_EXIT_INTEGRITY;
        goto done;
    }
    if (!cli_g.json) {
        if (cut)
            printf("moved the incomplete last line (%llu bytes) to %s.torn\n",
                   (unsigned long long)cut, ef);
        printf("journal %s: intact, %zu entries, head %s\n", ef, n, head);
        cli_journal_says(&ck, repo);
    }
    rc = CLI_EXIT_OK;
done:
    cr_journal_entries_free(e, n);
    cr_repo_free(repo);
    free(ef);
    return rc;
}

static int journal_show(const char *file)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    int err, rc = CLI_EXIT_OK;

    cr_error_clear();
    err = cr_journal_read(&e, &n, &bad, file);
    if (err < 0 && err != CR_ECORRUPT) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            char t[48];
            json_t *d = json_object();
            for (size_t k = 0; k < e[i].nkv; k++)
                json_object_set_new(d, e[i].keys[k], cli_json_str(e[i].values[k]));
            cr_time_format(t, sizeof(t), e[i].time_ns);
            json_array_append_new(
                a, json_pack("{s:I,s:s,s:o,s:o,s:o,s:s}", "seq", (json_int_t)e[i].seq, "time", t,
                             "type", cli_json_str(e[i].type), "service",
                             e[i].service ? cli_json_str(e[i].service) : json_null(), "data", d,
                             "hash", e[i].hash));
        }
        cli_json_print(a);
    } else {
        for (size_t i = 0; i < n; i++) {
            char t[48];
            char *type = cli_escape(e[i].type);
            cli_time_sec(t, sizeof(t), e[i].time_ns);
            printf("%4llu  %s  %-16s", (unsigned long long)e[i].seq, t, type);
            free(type);
            if (e[i].service) {
                char *s = cli_escape(e[i].service);
                printf("  [%s]", s);
                free(s);
            }
            for (size_t k = 0; k < e[i].nkv; k++) {
                char *kk = cli_escape(e[i].keys[k]), *vv = cli_escape(e[i].values[k]);
                printf("  %s=%s", kk, vv);
                free(kk);
                free(vv);
            }
            printf("\n");
        }
    }
    if (err == CR_ECORRUPT) {
        char *m = cli_escape(cr_error_last());
        cli_error("%s", m);
        free(m);
        rc = CLI_EXIT_INTEGRITY;
    }
done:
    cr_journal_entries_free(e, n);
    return rc;
}

int cmd_journal(int argc, char **argv)
{
    enum { OPT_CUT = CLI_OPT_FIRST_CMD };
    static const struct option longopts[] = {
        {"cut-torn", no_argument, NULL, OPT_CUT},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, cut = 0;

    while ((c = cli_getopt(argc, argv, "", longopts, "journal")) != -1) {
        switch (c) {
        case OPT_CUT: cut = 1; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("journal",
                               "say what to do: 'journal verify FILE' or 'journal show FILE'");
    const char *action = argv[optind];
    if (strcmp(action, "verify") != 0 && strcmp(action, "show") != 0) {
        char *esc = cli_escape(action);
        int rc = cli_usage_error("journal", "unknown action '%s' (verify or show)", esc);
        free(esc);
        return rc;
    }
    if (optind + 1 >= argc)
        return cli_usage_error("journal", "'journal %s' needs the journal file", action);
    if (optind + 2 < argc)
        return cli_unexpected_argument("journal", argv[optind + 2], "give one journal file");
    if (strcmp(action, "verify") == 0)
        return journal_verify(argv[optind + 1], cut);
    if (cut)
        return cli_usage_error("journal", "--cut-torn goes with 'journal verify'");
    return journal_show(argv[optind + 1]);
}
