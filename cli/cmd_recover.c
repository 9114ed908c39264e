/*
 * cleanroom recover / drill: run a recovery plan (or rehearse it in a scratch
 * folder), with the progress on the terminal and a summary at the end.
 *
 * The work is done by cr_recover_run (include/cleanroom/recover.h); this file
 * reads the options, opens the plan and the vault with the same messages as
 * `plan check`, and turns the events of the run into text lines, a progress
 * block on a terminal (one line per running service and one overall, redrawn
 * in place with two ANSI sequences, no curses), or one JSON object per line
 * with --json.
 */
#include "common.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char recover_help[] =
    "usage: cleanroom recover PLAN [--journal FILE] [--resume] [--parallel N]\n"
    "                         [--start-timeout DURATION] [--throughput SIZE] [--repo DIR] "
    "[--json]\n"
    "       cleanroom recover PLAN --ack SERVICE|all --message TEXT [--by \"NAME, ROLE\"]\n"
    "                         [--journal FILE]\n"
    "       cleanroom recover PLAN --ack SERVICE --step ID --by \"NAME, ROLE\" [--message TEXT]\n"
    "\n"
    "Restore every service of the recovery plan PLAN (docs/plan.md) from its restore point,\n"
    "tier by tier and in dependency order, several at once where the dependencies allow;\n"
    "run each service's start command, then its probes. A service that fails blocks the\n"
    "services that depend on it; the others go on. Every step goes into the recovery\n"
    "journal (hash-chained; 'cleanroom journal verify'), which also makes the recovery\n"
    "resumable after a crash or a reboot.\n"
    "\n"
    "Before starting: the plan and its restore points are checked (as 'plan check'), every\n"
    "target is checked (an existing target holding data is refused: cleanroom never\n"
    "overwrites it; a folder above it that other users cannot traverse is warned of), the\n"
    "free space of each target's filesystem is compared with what it will receive, and an\n"
    "RTO estimate per service and tier is printed. Before a service's start command, nothing\n"
    "may answer yet at the addresses its probes test (else the service fails: the probe\n"
    "would prove nothing).\n"
    "\n"
    "Options:\n"
    "  --journal FILE          the journal (default: PLANDIR/PLANNAME.journal); the start\n"
    "                          commands' output goes to FILE.logs/SERVICE.log\n"
    "  --resume                continue the recovery of the journal: services done are kept,\n"
    "                          a service interrupted is restored again (a torn last journal\n"
    "                          line from a crash is cut first, into FILE.torn)\n"
    "  --parallel N            services restored at once (default 2)\n"
    "  --start-timeout DUR     longest a start command may run (default 10m)\n"
    "  --throughput SIZE       bytes per second for the estimate (default: measured)\n"
    "  --ack SERVICE|all       append an operator acknowledgement to the journal, with\n"
    "  --message TEXT          its text (e.g. 'checked by hand: DPI login works'), into the\n"
    "                          journal of a recovery that ran (refused otherwise)\n"
    "  --by \"NAME, ROLE\"       who acknowledges (default: the login name)\n"
    "  --step ID               with --ack: the manual step (the service's `steps:`) that was\n"
    "                          done; a blocking step holds the services after it until\n"
    "                          acknowledged, then 'recover PLAN --resume' goes on\n"
    "  --repo DIR, --vault DIR the vault (default: the plan's `vault:`, else $CLEANROOM_REPO)\n"
    "  --json                  one JSON event per line on stdout\n"
    "\n"
    "Exit codes: 0 every service back, 5 some failed or were blocked, 12 paused: a manual\n"
    "step waits for its acknowledgement (--ack SERVICE --step ID, then --resume), 2 the plan\n"
    "has errors (or a restore point is missing), 7 no vault or no plan file, 8 refused (a target holds\n"
    "data, or the journal holds an unfinished recovery: use --resume), 6 the journal is in\n"
    "use, 4 the journal is damaged, 3 wrong passphrase, 1 other error.\n";

static const char drill_help[] =
    "usage: cleanroom drill PLAN [--scratch DIR] [--keep] [--journal FILE] [--parallel N]\n"
    "                       [--start-timeout DURATION] [--repo DIR] [--json]\n"
    "\n"
    "Rehearse the recovery plan PLAN: every service is restored below a scratch folder\n"
    "(its target path appended to it), started, probed and timed, exactly as 'cleanroom\n"
    "recover' would, without ever touching a production target. Start and stop commands\n"
    "get the restored path in $CLEANROOM_TARGET and CLEANROOM_DRILL=1: plans must use\n"
    "$CLEANROOM_TARGET for drills to work. At the end, each service's `stop:` command runs\n"
    "and the scratch folder is removed (unless --keep). A summary gives the measured RTO of\n"
    "every service and tier against its target: the restore-test evidence; it also lists\n"
    "every service whose start command ran without a `stop:` (left running). A drill is\n"
    "not resumed: after a failure, fix the cause and run the drill again. A drill whose\n"
    "restores do not fit in the scratch folder's filesystem is refused before it starts.\n"
    "\n"
    "Options:\n"
    "  --scratch DIR       the scratch folder (absent or empty; default: a new folder\n"
    "                      under /var/tmp)\n"
    "  --keep              keep the scratch folder\n"
    "  --journal FILE      the drill journal (default: PLANDIR/PLANNAME-drill-TIME.journal)\n"
    "  --parallel N, --start-timeout DUR, --throughput SIZE, --repo DIR, --json: as recover\n"
    "\n"
    "Exit codes: as 'cleanroom recover': 0 every service back, 5 some failed or blocked,\n"
    "1 not enough free space for the drill (nothing restored).\n";

/* ------------------------------------------------------------- events */

typedef struct svc_sum {
    char *name;
    int tier;
    char status[16];
    double seconds, rto, estimate;
} svc_sum;

typedef struct ui {
    int json, tty, quiet;
    int waiting; /* a manual step waits for a person */
    int drawn;    /* lines of the progress block on the terminal */
    char **block; /* progress lines being collected */
    size_t nblock;
    svc_sum *s;
    size_t ns;
    double tier_est[4];
    char *journal;
    char **left; /* services left running (a start without a stop) */
    size_t nleft;
} ui;

static const char *kvget(const char *const *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[2 * i], key) == 0)
            return kv[2 * i + 1];
    return NULL;
}

static double kvnum(const char *const *kv, size_t n, const char *key)
{
    const char *v = kvget(kv, n, key);
    return v ? strtod(v, NULL) : 0;
}

static svc_sum *sum_for(ui *u, const char *name)
{
    for (size_t i = 0; i < u->ns; i++)
        if (strcmp(u->s[i].name, name) == 0)
            return &u->s[i];
    u->s = cli_xrealloc(u->s, (u->ns + 1) * sizeof(*u->s));
    memset(&u->s[u->ns], 0, sizeof(*u->s));
    u->s[u->ns].name = cli_xstrdup(name);
    u->s[u->ns].tier = -1;
    return &u->s[u->ns++];
}

static void clear_block(ui *u)
{
    if (u->drawn) {
        fprintf(stderr, "\033[%dF\033[J", u->drawn);
        u->drawn = 0;
    }
}

static void line(ui *u, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void line(ui *u, const char *service, const char *fmt, ...)
{
    va_list ap;
    if (u->quiet)
        return;
    clear_block(u);
    if (service) {
        char *e = cli_escape(service);
        printf("%-16s ", e);
        free(e);
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void on_event(const char *type, const char *service, const char *const *kv_, size_t n,
                     void *payload)
{
    ui *u = payload;
    const char *const *kv = kv_;
    char b1[32], b2[32], b3[32];

    if (u->json) {
        if (strcmp(type, "progress") == 0 && u->quiet)
            return;
        cli_json_event(stdout, type, service, kv, n);
    }
    /* Summary bookkeeping. */
    if (service && strcmp(type, "service-done") == 0) {
        svc_sum *s = sum_for(u, service);
        snprintf(s->status, sizeof(s->status), "%s", kvget(kv, n, "status") ?: "?");
        s->seconds = kvnum(kv, n, "seconds");
        s->rto = kvnum(kv, n, "rto");
        s->tier = (int)kvnum(kv, n, "tier");
    } else if (service && strcmp(type, "estimate") == 0) {
        svc_sum *s = sum_for(u, service);
        s->estimate = kvnum(kv, n, "seconds");
        s->tier = (int)kvnum(kv, n, "tier");
    } else if (!service && strcmp(type, "estimate-tier") == 0) {
        int t = (int)kvnum(kv, n, "tier");
        if (t >= 0 && t <= 3)
            u->tier_est[t] = kvnum(kv, n, "seconds");
    }
    if (u->json)
        return;

    if (strcmp(type, "progress") == 0) {
        if (!u->tty || u->quiet)
            return;
        uint64_t bd = (uint64_t)kvnum(kv, n, "bytes_done"),
                 bt = (uint64_t)kvnum(kv, n, "bytes_total");
        double rate = kvnum(kv, n, "rate"), eta = kvnum(kv, n, "eta");
        char text[512];
        cli_human_size(b1, sizeof(b1), bd);
        cli_human_size(b2, sizeof(b2), bt);
        cli_human_size(b3, sizeof(b3), (uint64_t)rate);
        char e[32];
        if (rate > 0 || eta > 0)
            cli_human_duration(e, sizeof(e), eta);
        else
            snprintf(e, sizeof(e), "?");
        if (service) {
            char *es = cli_escape(service);
            snprintf(text, sizeof(text), "  %-16s %-8s %s / %s  %s/s  ETA %s", es,
                     kvget(kv, n, "phase") ?: "", b1, b2, b3, e);
            free(es);
            u->block = cli_xrealloc(u->block, (u->nblock + 1) * sizeof(char *));
            u->block[u->nblock++] = cli_xstrdup(text);
            return;
        }
        char el[32];
        cli_human_duration(el, sizeof(el), kvnum(kv, n, "elapsed"));
        snprintf(text, sizeof(text),
                 "  overall: %s services done, %s / %s, %s/s, elapsed %s, ETA %s",
                 kvget(kv, n, "finished") ?: "?", b1, b2, b3, el, e);
        clear_block(u);
        for (size_t i = 0; i < u->nblock; i++) {
            fprintf(stderr, "%s\n", u->block[i]);
            free(u->block[i]);
        }
        fprintf(stderr, "%s\n", text);
        u->drawn = (int)u->nblock + 1;
        u->nblock = 0;
        return;
    }

    char *m = NULL;
    if (strcmp(type, "recover-start") == 0) {
        char *site = cli_escape(kvget(kv, n, "site") ?: "?"), *ej = cli_escape(u->journal);
        line(u, NULL, "%s of site %s: %s service(s); journal %s",
             strcmp(kvget(kv, n, "mode") ?: "", "drill") == 0 ? "drill" : "recovery", site,
             kvget(kv, n, "services") ?: "?", ej);
        if (kvget(kv, n, "scratch")) {
            char *es = cli_escape(kvget(kv, n, "scratch"));
            line(u, NULL, "scratch folder %s (no production target is touched)", es);
            free(es);
        }
        free(site);
        free(ej);
    } else if (strcmp(type, "point-chosen") == 0) {
        m = cli_escape(kvget(kv, n, "reason") ?: "");
        line(u, service, "restore point %.8s: %s", kvget(kv, n, "snapshot") ?: "?", m);
    } else if (strcmp(type, "estimate") == 0) {
        const char *met = kvget(kv, n, "rto_met") ?: "none";
        double rto = kvnum(kv, n, "rto");
        cli_human_size(b1, sizeof(b1), (uint64_t)kvnum(kv, n, "bytes"));
        cli_human_duration(b2, sizeof(b2), kvnum(kv, n, "seconds"));
        cli_human_duration(b3, sizeof(b3), rto);
        if (strcmp(kvget(kv, n, "throughput_from") ?: "unknown", "unknown") == 0)
            line(u, service, "estimate: %s to restore (throughput unknown)", b1);
        else
            line(u, service, "estimate: %s to restore, back after ~%s%s%s%s", b1, b2,
                 rto > 0 ? " (RTO " : "", rto > 0 ? b3 : "",
                 rto <= 0                 ? ""
                 : strcmp(met, "no") == 0 ? ": WILL BE MISSED)"
                                          : ": met)");
    } else if (strcmp(type, "estimate-tier") == 0) {
        cli_human_size(b1, sizeof(b1), (uint64_t)kvnum(kv, n, "bytes"));
        cli_human_duration(b2, sizeof(b2), kvnum(kv, n, "seconds"));
        line(u, NULL, "estimate: tier %s done after ~%s (%s)", kvget(kv, n, "tier") ?: "?", b2, b1);
    } else if (strcmp(type, "restore-start") == 0) {
        m = cli_escape(kvget(kv, n, "target") ?: "?");
        line(u, service, "restoring into %s", m);
    } else if (strcmp(type, "restore-done") == 0) {
        cli_human_size(b1, sizeof(b1), (uint64_t)kvnum(kv, n, "bytes"));
        cli_human_duration(b2, sizeof(b2), kvnum(kv, n, "seconds"));
        line(u, service, "restored %s file(s), %s, in %s", kvget(kv, n, "files") ?: "?", b1, b2);
    } else if (strcmp(type, "start-command") == 0) {
        m = cli_escape(kvget(kv, n, "log") ?: "?");
        cli_human_duration(b2, sizeof(b2), kvnum(kv, n, "seconds"));
        line(u, service, "start command: exit code %s in %s (output in %s)",
             kvget(kv, n, "exit_code") ?: "?", b2, m);
    } else if (strcmp(type, "stop-command") == 0) {
        line(u, service, "stop command: exit code %s", kvget(kv, n, "exit_code") ?: "?");
    } else if (strcmp(type, "probe") == 0) {
        char *p = cli_escape(kvget(kv, n, "probe") ?: "?");
        m = cli_escape(kvget(kv, n, "message") ?: "");
        line(u, service, "probe %s: %s (%s attempt(s)): %s", p,
             strcmp(kvget(kv, n, "ok") ?: "", "yes") == 0 ? "ok" : "FAILED",
             kvget(kv, n, "attempts") ?: "?", m);
        free(p);
    } else if (strcmp(type, "step") == 0 && service) {
        const char *state = kvget(kv, n, "state") ?: "?";
        int fr = cr_report_lang_default() == CR_REPORT_FR;
        const char *t = kvget(kv, n, fr ? "text_fr" : "text_en");
        if (!t || !*t)
            t = kvget(kv, n, fr ? "text_en" : "text_fr") ?: "";
        char *id = cli_escape(kvget(kv, n, "step") ?: "?");
        m = cli_escape(t);
        line(u, service, "%s step %s: %s",
             !strcmp(state, "waiting")        ? "MANUAL STEP, WAITING FOR A PERSON:"
             : !strcmp(state, "acknowledged") ? "manual step acknowledged:"
             : !strcmp(state, "to do")        ? "manual step to do (does not block):"
                                              : "manual step (a drill does not wait):",
             id, m);
        if (!strcmp(state, "waiting"))
            u->waiting = 1;
        free(id);
    } else if (strcmp(type, "service-blocked") == 0) {
        m = cli_escape(kvget(kv, n, "by") ?: "?");
        line(u, service, "BLOCKED: it depends on '%s', which is not back", m);
    } else if (strcmp(type, "service-done") == 0) {
        const char *st = kvget(kv, n, "status") ?: "?";
        const char *met = kvget(kv, n, "rto_met") ?: "none";
        cli_human_duration(b2, sizeof(b2), kvnum(kv, n, "seconds"));
        if (strcmp(st, "blocked") != 0)
            line(u, service, "%s after %s%s", strcmp(st, "ok") == 0 ? "BACK" : "FAILED", b2,
                 strcmp(met, "yes") == 0  ? " (RTO met)"
                 : strcmp(met, "no") == 0 ? " (RTO MISSED)"
                                          : "");
    } else if (strcmp(type, "error") == 0) {
        m = cli_escape(kvget(kv, n, "message") ?: "?");
        clear_block(u);
        if (service) {
            char *es = cli_escape(service);
            fprintf(stderr, "cleanroom: error: %s: %s\n", es, m);
            free(es);
        } else {
            fprintf(stderr, "cleanroom: error: %s\n", m);
        }
    } else if (strcmp(type, "journal-torn-cut") == 0) {
        char *ej = cli_escape(u->journal);
        clear_block(u);
        fprintf(stderr,
                "warning: the last line of the journal %s was torn by the crash: its %s "
                "byte(s) were moved to %s.torn and the journal goes on from the entry before\n",
                ej, kvget(kv, n, "bytes") ?: "?", ej);
        free(ej);
    } else if (service && strcmp(type, "left-running") == 0) {
        u->left = cli_xrealloc(u->left, (u->nleft + 1) * sizeof(char *));
        u->left[u->nleft++] = cli_xstrdup(service);
        line(u, service,
             "LEFT RUNNING: what its start command started goes on running (the plan has no "
             "stop: command for it)");
    } else if (strcmp(type, "warning") == 0) {
        m = cli_escape(kvget(kv, n, "message") ?: "?");
        clear_block(u);
        fprintf(stderr, "warning: %s\n", m);
    } else if (strcmp(type, "drill-cleanup") == 0) {
        m = cli_escape(kvget(kv, n, "scratch") ?: "?");
        line(u, NULL, "scratch folder %s %s", m,
             strcmp(kvget(kv, n, "removed") ?: "", "yes") == 0 ? "removed" : "kept");
    }
    free(m);
}

static void print_summary(ui *u, int drill, const cr_recover_result *r)
{
    if (u->json)
        return;
    /* the outcome line, even with -q */
    printf("%s%s summary: %zu ok, %zu failed, %zu blocked", u->quiet ? "" : "\n",
           drill ? "drill" : "recovery", r->ok, r->failed, r->blocked);
    if (r->skipped)
        printf(" (%zu already done before this resume)", r->skipped);
    if (u->nleft)
        printf(", %zu left running", u->nleft);
    printf("\n");
    if (u->nleft) {
        printf("  left running (a start without a stop: in the plan):");
        for (size_t i = 0; i < u->nleft; i++) {
            char *e = cli_escape(u->left[i]);
            printf("%s %s", i ? "," : "", e);
            free(e);
        }
        printf("\n");
    }
    if (u->quiet)
        return;
    for (int t = 0; t <= 3; t++) {
        double measured = 0, target = 0;
        size_t n = 0, met = 0, withrto = 0, notok = 0;
        for (size_t i = 0; i < u->ns; i++) {
            svc_sum *s = &u->s[i];
            if (s->tier != t || !s->status[0])
                continue;
            n++;
            if (s->seconds > measured)
                measured = s->seconds;
            if (strcmp(s->status, "ok") != 0)
                notok++;
            if (s->rto > 0) {
                withrto++;
                if (target == 0 || s->rto < target)
                    target = s->rto;
                met += strcmp(s->status, "ok") == 0 && s->seconds <= s->rto;
            }
        }
        if (!n)
            continue;
        char b1[32], b2[32], b3[32];
        cli_human_duration(b1, sizeof(b1), measured);
        cli_human_duration(b2, sizeof(b2), u->tier_est[t]);
        cli_human_duration(b3, sizeof(b3), target);
        printf("  tier %d: %zu service(s), %s after %s (estimate %s)", t, n,
               notok ? "NOT ALL BACK" : "all back", b1, b2);
        if (withrto)
            printf("; RTO (tightest %s) met by %zu of %zu", b3, met, withrto);
        printf("\n");
    }
    for (size_t i = 0; i < u->ns; i++) {
        svc_sum *s = &u->s[i];
        if (!s->status[0])
            continue;
        char *e = cli_escape(s->name), b1[32], b2[32];
        cli_human_duration(b1, sizeof(b1), s->seconds);
        cli_human_duration(b2, sizeof(b2), s->rto);
        printf("    %-20s tier %d  %-8s %10s  RTO %s%s\n", e, s->tier, s->status, b1,
               s->rto > 0 ? b2 : "-",
               s->rto <= 0                                              ? ""
               : (strcmp(s->status, "ok") == 0 && s->seconds <= s->rto) ? " met"
                                                                        : " MISSED");
        free(e);
    }
    char *ej = cli_escape(u->journal);
    printf("journal: %s (check it with 'cleanroom journal verify %s')\n", ej, ej);
    free(ej);
}

/* ------------------------------------------------------------- running */

static volatile int cancel_flag;

static void on_signal(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

/* Print the problems of a plan like `plan check`; return the number of errors. */
static int print_problems(const char *file, const cr_plan_problem *p, size_t n)
{
    int nerr = 0;
    char *ef = cli_escape(file);
    for (size_t i = 0; i < n; i++) {
        char *m = cli_escape(p[i].message);
        if (p[i].line)
            fprintf(stderr, "%s:%u:%u: %s: %s\n", ef, p[i].line, p[i].col,
                    p[i].is_error ? "error" : "warning", m);
        else
            fprintf(stderr, "%s: %s: %s\n", ef, p[i].is_error ? "error" : "warning", m);
        free(m);
        nerr += p[i].is_error;
    }
    free(ef);
    return nerr;
}

static char *user_name(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return cli_xstrdup(pw ? pw->pw_name : "?");
}

static int parse_duration(double *out, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else
        return -1;
    return 0;
}

int cli_recover_main(int argc, char **argv, int drill)
{
    enum {
        OPT_JOURNAL = CLI_OPT_FIRST_CMD,
        OPT_RESUME,
        OPT_PARALLEL,
        OPT_START_TIMEOUT,
        OPT_ACK,
        OPT_STEP,
        OPT_MESSAGE,
        OPT_VAULT,
        OPT_SCRATCH,
        OPT_KEEP,
        OPT_THROUGHPUT,
        OPT_BY
    };
    static const struct option rec_opts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"start-timeout", required_argument, NULL, OPT_START_TIMEOUT},
        {"throughput", required_argument, NULL, OPT_THROUGHPUT},
        {"ack", required_argument, NULL, OPT_ACK},
        {"step", required_argument, NULL, OPT_STEP},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"by", required_argument, NULL, OPT_BY},
        {"vault", required_argument, NULL, OPT_VAULT},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    static const struct option drill_opts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"start-timeout", required_argument, NULL, OPT_START_TIMEOUT},
        {"throughput", required_argument, NULL, OPT_THROUGHPUT},
        {"vault", required_argument, NULL, OPT_VAULT},
        {"scratch", required_argument, NULL, OPT_SCRATCH},
        {"keep", no_argument, NULL, OPT_KEEP},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cmd = drill ? "drill" : "recover";
    cr_recover_options ro = CR_RECOVER_OPTIONS_INIT;
    cr_vulndata *vd = NULL;
    const char *journal_opt = NULL, *ack = NULL, *message = NULL, *scratch_opt = NULL,
               *step = NULL;
    const char *by_opt = NULL;
    unsigned long ul;
    uint64_t sz;
    int c, rc = CLI_EXIT_OK, err;
    cr_plan *plan = NULL;
    cr_plan_problem *pr = NULL;
    size_t npr = 0;
    cr_repo *repo = NULL;
    char *vault = NULL, *journal = NULL, *scratch = NULL;
    ui u;
    memset(&u, 0, sizeof(u));

    while ((c = cli_getopt(argc, argv, "", drill ? drill_opts : rec_opts, cmd)) != -1) {
        switch (c) {
        case OPT_JOURNAL:
            journal_opt = optarg;
            break;
        case OPT_RESUME:
            ro.resume = 1;
            break;
        case OPT_PARALLEL:
            if (cli_parse_uint(&ul, optarg, 1, 64) < 0)
                return cli_usage_error(cmd, "--parallel needs a number from 1 to 64");
            ro.parallel = (unsigned int)ul;
            break;
        case OPT_START_TIMEOUT:
            if (parse_duration(&ro.start_timeout, optarg) < 0)
                return cli_usage_error(cmd, "--start-timeout needs a duration: 90s, 10m, 1h");
            break;
        case OPT_THROUGHPUT:
            if (cli_parse_size(&sz, optarg) < 0 || sz == 0)
                return cli_usage_error(cmd, "--throughput needs bytes per second: 200M, 1G");
            ro.throughput = (double)sz;
            break;
        case OPT_STEP:
            step = optarg;
            break;
        case OPT_ACK:
            ack = optarg;
            break;
        case OPT_MESSAGE:
            message = optarg;
            break;
        case OPT_BY:
            by_opt = optarg;
            break;
        case OPT_VAULT:
            cli_g.repo = optarg;
            break;
        case OPT_SCRATCH:
            scratch_opt = optarg;
            break;
        case OPT_KEEP:
            ro.keep = 1;
            break;
        case CLI_OPT_HELP:
            fputs(drill ? drill_help : recover_help, stdout);
            return CLI_EXIT_OK;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error(cmd, "give the recovery plan: 'cleanroom %s PLAN'", cmd);
    if (optind + 1 < argc)
        return cli_unexpected_argument(cmd, argv[optind + 1], "give one plan file");
    const char *file = argv[optind];
    if (step && (!ack || !strcmp(ack, "all")))
        return cli_usage_error(cmd, "--step ID goes with --ack SERVICE (the service whose step "
                                    "was done)");
    if (step && !by_opt)
        return cli_usage_error(cmd, "--step needs --by \"NAME, ROLE\": the journal and the "
                                    "report name who did the manual step");
    if (step && !message)
        message = "done";
    if ((ack != NULL) != (message != NULL))
        return cli_usage_error(cmd, "--ack SERVICE and --message TEXT go together");
    if (by_opt && !ack)
        return cli_usage_error(cmd,
                               "--by names who acknowledges: give it with --ack and --message");
    if (by_opt && !*by_opt)
        return cli_usage_error(cmd,
                               "--by needs a name, e.g. --by \"Jeanne Martin, IT technician\"");
    if (ack && ro.resume)
        return cli_usage_error(cmd, "--ack only appends to the journal: give it without --resume");

    /* The plan. */
    cr_error_clear();
    err = cr_plan_load(&plan, &pr, &npr, file);
    if (err == CR_EINPUT && npr) {
        int nerr = print_problems(file, pr, npr);
        char *ef = cli_escape(file);
        cli_error("the plan %s has %d error(s): nothing was done", ef, nerr);
        free(ef);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (err < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    journal = journal_opt ? cli_xstrdup(journal_opt) : cr_recover_journal_path(file, drill);
    if (!journal) {
        rc = cli_fail(CR_ERROR, NULL);
        goto done;
    }
    u.journal = journal;

    /* The vault (an acknowledgement is keyed with it too). */
    if (!(vault = cli_plan_vault(plan, file))) {
        cli_error("which vault? give --repo DIR, a `vault:` in the plan, or CLEANROOM_REPO");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    cli_g.repo = vault;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;

    if (ack) {
        const char *svc = strcmp(ack, "all") == 0 ? NULL : ack;
        int found = svc == NULL;
        for (size_t i = 0; svc && i < plan->nservices; i++) {
            size_t l = strlen(plan->services[i].name);
            found |=
                strncmp(svc, plan->services[i].name, l) == 0 && (svc[l] == '\0' || svc[l] == '#');
        }
        if (!found) {
            char *e = cli_escape(ack);
            rc = cli_usage_error(cmd, "no service '%s' in the plan (give a service name, or all)",
                                 e);
            free(e);
            goto done;
        }
        char *by = by_opt ? cli_xstrdup(by_opt) : user_name();
        cr_error_clear();
        err = step ? cr_recover_ack_step(repo, plan, journal, svc, step, by, message)
                   : cr_recover_ack(repo, journal, svc, by, message);
        free(by);
        if (err == CR_ENOTFOUND) {
            cli_error("%s", cr_error_last());
            cli_hint("nothing was written; the journal of a recovery is PLANDIR/PLANNAME.journal, "
                     "that of a drill PLANDIR/PLANNAME-drill-TIME.journal");
            rc = CLI_EXIT_NOTFOUND;
            goto done;
        }
        if (err < 0) {
            rc = cli_fail(err, "could not add the acknowledgement");
            goto done;
        }
        if (!cli_g.quiet)
            printf("acknowledgement added to %s\n", journal);
        if (step && !cli_g.quiet) {
            char *ef = cli_escape(file);
            printf("next: cleanroom recover %s --resume\n", ef);
            free(ef);
        }
        goto done;
    }

    /* The checks that need the vault. */
    cr_error_clear();
    err = cr_plan_check_vault(&pr, &npr, plan, repo);
    if (err < 0 && err != CR_EINPUT) {
        rc = cli_fail(err, "could not check the plan against the vault");
        goto done;
    }
    if (err == CR_EINPUT) {
        int nerr = print_problems(file, pr, npr);
        char *ef = cli_escape(file);
        cli_error("the plan %s has %d error(s) against the vault: nothing was restored", ef, nerr);
        free(ef);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (!drill && (err = cr_plan_check_host(&pr, &npr, plan)) < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    print_problems(file, pr, npr); /* warnings */

    if (drill) {
        if (scratch_opt) {
            if (scratch_opt[0] == '/')
                scratch = cli_xstrdup(scratch_opt);
            else {
                char cwd[4096];
                if (!getcwd(cwd, sizeof(cwd))) {
                    rc = cli_fail(CR_ERROR, "cannot read the current folder");
                    goto done;
                }
                scratch = cli_xmalloc(strlen(cwd) + strlen(scratch_opt) + 2);
                sprintf(scratch, "%s/%s", cwd, scratch_opt);
            }
        } else {
            scratch = cli_xstrdup("/var/tmp/cleanroom-drill-XXXXXX");
            if (!mkdtemp(scratch)) {
                cli_error("cannot create a scratch folder under /var/tmp: %s (give --scratch DIR)",
                          strerror(errno));
                rc = CLI_EXIT_ERROR;
                goto done;
            }
        }
        ro.drill = 1;
        ro.scratch = scratch;
    }

    u.json = cli_g.json;
    u.quiet = cli_g.quiet;
    u.tty = isatty(2) && !u.json && !u.quiet;
    /* The known-exploited vulnerability gate's data; its age goes to stderr as with vulns. */
    if ((rc = cli_vulndata_load(&vd, "restored", 1)) != 0)
        goto done;
    ro.vulndata = vd;
    ro.journal = journal;
    ro.plan_file = file;
    ro.cancel = &cancel_flag;
    ro.event = on_event;
    ro.payload = &u;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    cr_recover_result res;
    cr_error_clear();
    err = cr_recover_run(&res, repo, plan, &ro);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    clear_block(&u);
    if (err == 0 || err == CR_EPARTIAL || err == CR_EINTR)
        print_summary(&u, drill, &res);
    if (err == 0 && res.waiting) {
        char *ef = cli_escape(file);
        cli_error("the recovery is paused: %zu service(s) are back and wait for the manual "
                  "step(s) above; nothing after them was started",
                  res.waiting);
        cli_hint("when a step is done: cleanroom recover %s --ack SERVICE --step ID --by "
                 "\"NAME, ROLE\", then cleanroom recover %s --resume",
                 ef, ef);
        free(ef);
        rc = CLI_EXIT_WAITING;
    } else if (err == CR_EPARTIAL) {
        char *ej = cli_escape(journal);
        if (drill)
            cli_error("%zu service(s) failed and %zu were blocked: see the lines above and the "
                      "journal %s; fix the cause, then run the drill again",
                      res.failed, res.blocked, ej);
        else
            cli_error("%zu service(s) failed and %zu were blocked: see the lines above and the "
                      "journal %s; fix the cause, then run again with --resume",
                      res.failed, res.blocked, ej);
        free(ej);
        rc = CLI_EXIT_PARTIAL;
    } else if (err == CR_EEXISTS || err == CR_EREFUSED) {
        char *m = cli_escape(cr_error_last());
        cli_error("%s", m);
        free(m);
        cli_hint("nothing was restored or changed");
        rc = CLI_EXIT_REFUSED;
    } else if (err == CR_ENOSPACE) {
        cli_error("%s", cr_error_last());
        cli_hint("nothing was restored");
        rc = CLI_EXIT_ERROR;
    } else if (err == CR_ENOTFOUND) {
        rc = cli_fail(err, NULL);
        if (rc == CLI_EXIT_NOTFOUND)
            rc = CLI_EXIT_USAGE; /* a restore point, not the vault: a plan problem */
    } else if (err < 0) {
        rc = cli_fail(err, NULL);
    }
    if (drill && scratch && err < 0 && err != CR_EPARTIAL && !scratch_opt)
        rmdir(scratch); /* the empty folder made here, when the drill did not start */

done:
    cr_vulndata_free(vd);
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    cr_repo_free(repo);
    if (vault && cli_g.repo == vault)
        cli_g.repo = NULL;
    free(vault);
    free(journal);
    free(scratch);
    for (size_t i = 0; i < u.ns; i++)
        free(u.s[i].name);
    free(u.s);
    for (size_t i = 0; i < u.nblock; i++)
        free(u.block[i]);
    free(u.block);
    for (size_t i = 0; i < u.nleft; i++)
        free(u.left[i]);
    free(u.left);
    return rc;
}

int cmd_recover(int argc, char **argv)
{
    return cli_recover_main(argc, argv, 0);
}
