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
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom journal verify FILE [--cut-torn] [--json]\n"
    "       cleanroom journal show FILE [--json]\n"
    "\n"
    "verify  Check the hash chain of a recovery journal: every entry holds the SHA-256 of\n"
    "        the one before it. Prints 'journal FILE: intact, N entries, head HASH', or the\n"
    "        first line that is edited, removed, reordered or duplicated, and why. Removing\n"
    "        entries at the end can only be seen against a head hash written down before\n"
    "        (reports quote it).\n"
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
    "Exit codes: 0 intact, 2 usage, 4 the journal is damaged (the line is named),\n"
    "6 the journal is in use by a running recovery (--cut-torn), 7 no such file.\n";

static int journal_verify(const char *file, int cut_torn)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0, cut = 0;
    int err, rc;
    char *ef = cli_escape(file);

    cr_error_clear();
    if (cut_torn && (err = cr_journal_cut_torn(&cut, file)) < 0) {
        rc = cli_fail(err, NULL);
        if (err == CR_ECORRUPT)
            cli_hint("only an incomplete last line can be cut; keep this journal as evidence "
                     "and compare it with its copies");
        goto done;
    }
    cr_error_clear();
    err = cr_journal_read(&e, &n, &bad, file);
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
        cli_json_print(o);
    }
    if (err == CR_ECORRUPT) {
        if (!cli_g.json) {
            char *m = cli_escape(cr_error_last());
            cli_error("%s", m);
            free(m);
            cli_hint("the %zu entries before line %llu are intact; keep the file as evidence",
                     n, (unsigned long long)bad);
        }
        rc = CLI_EXIT_INTEGRITY;
        goto done;
    }
    if (!cli_g.json) {
        if (cut)
            printf("moved the incomplete last line (%llu bytes) to %s.torn\n",
                   (unsigned long long)cut, ef);
        printf("journal %s: intact, %zu entries, head %s\n", ef, n, head);
    }
    rc = CLI_EXIT_OK;
done:
    cr_journal_entries_free(e, n);
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
