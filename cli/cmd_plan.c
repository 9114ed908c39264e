/*
 * cleanroom plan: check a recovery plan and show its start order.
 *
 * `plan check` is what a technician runs before a crisis (and again at its
 * start): every problem of the plan at once, each as FILE:LINE:COL, the way
 * compilers report, so that editors jump to it; then, when the plan is
 * sound, what it will do: services per tier and the start order. With a
 * vault it also checks what only the vault knows: that each source has
 * restore points and that the chosen one exists and is clean.
 *
 * The vault is the one of --repo (or --vault), else the plan's `vault:`
 * (relative to the plan's folder), else $CLEANROOM_REPO; --no-vault skips
 * the vault checks.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom plan check FILE [--repo DIR | --vault DIR | --no-vault] [--json]\n"
    "       cleanroom plan show FILE [--repo DIR | --vault DIR | --no-vault] [--json]\n"
    "\n"
    "check  Read the recovery plan FILE (YAML, see docs/plan.md) and report every problem,\n"
    "       one per line, as FILE:LINE:COL: error|warning: MESSAGE; then, when it has no\n"
    "       error, the services per tier and the order they will be started in. With a\n"
    "       vault it also checks that each source has restore points and that the\n"
    "       restore point each service asks for resolves (a clean point exists; the\n"
    "       source was hunted; a named snapshot exists and fits the target; it is not\n"
    "       older than the service's max_age). Without a vault, a warning says how to\n"
    "       give one. It also warns when a folder above a target cannot be traversed\n"
    "       by other users (the service's own account would not reach its data).\n"
    "show   The start order as a table: order, tier, service, source, restore point,\n"
    "       target, RTO, probes, dependencies. With a vault (found as for check) also the\n"
    "       restore point each service would come back from, and why it was chosen.\n"
    "\n"
    "Options:\n"
    "  --repo DIR, --vault DIR  the vault to check against (default: the plan's `vault:`,\n"
    "                           relative to the plan's folder, else $CLEANROOM_REPO)\n"
    "  --no-vault               only the checks of the file itself\n"
    "  --json                   check: {file, errors, warnings, problems:[{line, column,\n"
    "                           severity, message}], vault_checked, order:[names]};\n"
    "                           show: {file, site, services:[...]} in start order\n"
    "\n"
    "Exit codes: 0 no error (warnings allowed), 2 the plan has errors (or usage),\n"
    "3 wrong passphrase, 4 damaged vault, 7 no such plan file or no vault.\n";

static const char *tier_name(int t)
{
    switch (t) {
    case 0: return "core infrastructure";
    case 1: return "clinical and business services";
    case 2: return "other services";
    case 3: return "workstations";
    }
    return "?";
}

char *cli_plan_vault(const cr_plan *plan, const char *file)
{
    if (cli_g.repo && *cli_g.repo)
        return cli_xstrdup(cli_g.repo);
    if (plan->vault) {
        const char *slash = strrchr(file, '/');
        /* A vault server or a bucket is named as it is; a folder relative to the plan. */
        if (plan->vault[0] == '/' || !slash || cr_repo_is_remote(plan->vault))
            return cli_xstrdup(plan->vault);
        size_t dl = (size_t)(slash - file);
        char *p = cli_xmalloc(dl + 1 + strlen(plan->vault) + 1);
        sprintf(p, "%.*s/%s", (int)dl, file, plan->vault);
        return p;
    }
    const char *env = getenv("CLEANROOM_REPO");
    return env && *env ? cli_xstrdup(env) : NULL;
}

static void print_summary(const cr_plan *plan, const size_t *order)
{
    char *site = cli_escape(plan->site ? plan->site : "?");
    printf("plan of site %s: %zu service(s)\n", site, plan->nservices);
    free(site);
    for (int t = 0; t <= 3; t++) {
        size_t n = 0;
        for (size_t i = 0; i < plan->nservices; i++)
            n += plan->services[order[i]].tier == t;
        int first = 1;
        if (!n)
            continue;
        printf("  tier %d (%s), %zu service(s):", t, tier_name(t), n);
        for (size_t i = 0; i < plan->nservices; i++) {
            const cr_plan_service *s = &plan->services[order[i]];
            if (s->tier != t)
                continue;
            char *e = cli_escape(s->name);
            printf("%s %s", first ? "" : ",", e);
            first = 0;
            if (s->count > 1)
                printf(" (x%u)", s->count);
            free(e);
        }
        printf("\n");
    }
    printf("start order:");
    for (size_t i = 0; i < plan->nservices; i++) {
        char *e = cli_escape(plan->services[order[i]].name);
        printf("%s %s", i ? "," : "", e);
        free(e);
    }
    printf("\n");
}

static const char no_vault_text[] =
    "the restore points were not checked: no vault given. Give it with --repo DIR, a "
    "`vault: DIR` line in the plan, or CLEANROOM_REPO=DIR (or say --no-vault)";

static int plan_check(const char *file, int no_vault)
{
    cr_plan *plan = NULL;
    cr_plan_problem *pr = NULL;
    cr_repo *repo = NULL;
    size_t npr = 0, *order = NULL;
    char *vault = NULL;
    int err, rc = CLI_EXIT_OK, nerr = 0, nwarn = 0, checked = 0;

    cr_error_clear();
    err = cr_plan_load(&plan, &pr, &npr, file);
    if (err < 0 && err != CR_EINPUT) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (err == CR_EINPUT && npr == 0) { /* too large: no problem list */
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (plan && (err = cr_plan_check_host(&pr, &npr, plan)) < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (plan && !no_vault && (vault = cli_plan_vault(plan, file))) {
        cli_g.repo = vault;
        if ((rc = cli_open_repo(&repo)) != 0)
            goto done;
        cr_error_clear();
        err = cr_plan_check_vault(&pr, &npr, plan, repo);
        if (err < 0 && err != CR_EINPUT) {
            rc = cli_fail(err, "could not check the plan against the vault");
            goto done;
        }
        checked = 1;
    }
    if (plan && (err = cr_plan_order(&order, plan)) < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (cli_g.json) {
        json_t *o = json_object(), *names = json_array();
        for (size_t i = 0; i < npr; i++)
            (pr[i].is_error ? nerr++ : nwarn++);
        for (size_t i = 0; order && i < plan->nservices; i++)
            json_array_append_new(names, cli_json_str(plan->services[order[i]].name));
        json_object_set_new(o, "file", cli_json_str(file));
        json_object_set_new(o, "errors", json_integer(nerr));
        json_object_set_new(o, "warnings", json_integer(nwarn));
        json_t *pj = cli_problems_json(pr, npr);
        if (plan && !checked && !no_vault) {
            nwarn++;
            json_array_append_new(pj, json_pack("{s:I,s:I,s:s,s:s}", "line", (json_int_t)0,
                                                "column", (json_int_t)0, "severity", "warning",
                                                "message", no_vault_text));
            json_object_set_new(o, "warnings", json_integer(nwarn));
        }
        json_object_set_new(o, "problems", pj);
        json_object_set_new(o, "vault_checked", json_boolean(checked));
        json_object_set_new(o, "order", names);
        cli_json_print(o);
    } else {
        cli_print_problems(file, pr, npr, &nerr, &nwarn);
        if (plan && !checked && !no_vault) {
            char *ef = cli_escape(file);
            printf("%s: warning: %s\n", ef, no_vault_text);
            free(ef);
            nwarn++;
        }
        if (!nerr && plan) {
            print_summary(plan, order);
            if (checked) {
                char *ev = cli_escape(vault);
                printf("vault %s: every service has its restore point\n", ev);
                free(ev);
            } else if (no_vault) {
                printf("vault: not checked (--no-vault)\n");
            }
        }
    }
    if (nerr) {
        char *ef = cli_escape(file);
        if (nwarn)
            cli_error("the plan %s has %d error(s) and %d warning(s)", ef, nerr, nwarn);
        else
            cli_error("the plan %s has %d error(s)", ef, nerr);
        free(ef);
        rc = CLI_EXIT_USAGE;
    } else if (!cli_g.json && nwarn) {
        printf("%d warning(s), no error\n", nwarn);
    }
done:
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    cr_repo_free(repo);
    free(order);
    if (vault && cli_g.repo == vault)
        cli_g.repo = NULL;
    free(vault);
    return rc;
}

static void fmt_rto(char *buf, size_t len, double s)
{
    if (s <= 0)
        snprintf(buf, len, "-");
    else if ((long long)s % 3600 == 0)
        snprintf(buf, len, "%lldh", (long long)s / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%lldh%02lldm", (long long)s / 3600, ((long long)s % 3600) / 60);
    else if ((long long)s % 60 == 0)
        snprintf(buf, len, "%lldm", (long long)s / 60);
    else
        snprintf(buf, len, "%llds", (long long)s);
}

static const char *point_text(const cr_plan_service *s)
{
    return s->point == CR_PLAN_POINT_ID ? s->point_id : cr_plan_point_name(s->point);
}

/* With a vault: the restore point each service would come back from, and
 * why, in the order of `order` (NULL entries: could not be resolved, msgs[i]
 * says why). */
static int resolve_all(char ***whys, int **ok, const cr_plan *plan, const size_t *order)
{
    cr_repo *repo = NULL;
    int rc;
    *whys = NULL;
    *ok = NULL;
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    *whys = cli_xmalloc((plan->nservices + 1) * sizeof(char *));
    *ok = cli_xmalloc((plan->nservices + 1) * sizeof(int));
    for (size_t i = 0; i < plan->nservices; i++) {
        cr_snapshot *snap = NULL;
        char *why = NULL;
        cr_error_clear();
        int err = cr_plan_resolve(&snap, &why, repo, &plan->services[order[i]]);
        if (err == 0) {
            (*whys)[i] = why;
            (*ok)[i] = 1;
        } else {
            (*whys)[i] = cli_xstrdup(cr_error_last());
            (*ok)[i] = 0;
            free(why);
        }
        cr_snapshot_free(snap);
    }
    cr_repo_free(repo);
    return 0;
}

static int plan_show(const char *file, int no_vault)
{
    char *vault = NULL;
    cr_plan *plan = NULL;
    cr_plan_problem *pr = NULL;
    size_t npr = 0, *order = NULL;
    char **whys = NULL;
    int *ok = NULL;
    int err, rc = CLI_EXIT_OK;

    cr_error_clear();
    err = cr_plan_load(&plan, &pr, &npr, file);
    if (err == CR_EINPUT) {
        char *ef = cli_escape(file);
        cli_error("the plan %s has errors: run 'cleanroom plan check %s'", ef, ef);
        free(ef);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (err < 0 || (err = cr_plan_order(&order, plan)) < 0) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (!no_vault && (vault = cli_plan_vault(plan, file))) {
        cli_g.repo = vault;
        if ((rc = resolve_all(&whys, &ok, plan, order)) != 0)
            goto done;
    }
    for (size_t i = 0; whys && i < plan->nservices; i++)
        if (!ok[i])
            rc = CLI_EXIT_USAGE; /* as plan check: the plan cannot be followed as it is */
    if (cli_g.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < plan->nservices; i++) {
            const cr_plan_service *s = &plan->services[order[i]];
            json_t *deps = json_array(), *probes = json_array();
            for (size_t j = 0; j < s->ndepends; j++)
                json_array_append_new(deps, cli_json_str(s->depends_on[j]));
            for (size_t j = 0; j < s->nprobes; j++)
                json_array_append_new(probes, json_string(cr_probe_kind_name(s->probes[j].kind)));
            json_t *o = json_object();
            json_object_set_new(o, "name", cli_json_str(s->name));
            json_object_set_new(o, "site", cli_json_str(s->site ? s->site : ""));
            json_object_set_new(o, "tier", json_integer(s->tier));
            json_object_set_new(o, "source", cli_json_str(s->source));
            json_object_set_new(o, "restore_point", cli_json_str(point_text(s)));
            json_object_set_new(o, "target_kind",
                                json_string(cr_plan_target_kind_name(s->target.kind)));
            json_object_set_new(o, "target", cli_json_str(s->target.path));
            json_object_set_new(o, "count", json_integer(s->count));
            json_object_set_new(o, "rto_seconds", json_real(s->rto));
            json_object_set_new(o, "start", s->start ? cli_json_str(s->start) : json_null());
            json_object_set_new(o, "depends_on", deps);
            json_object_set_new(o, "probes", probes);
            if (whys) {
                json_object_set_new(o, "resolved", json_boolean(ok[i]));
                json_object_set_new(o, ok[i] ? "restore_point_chosen" : "restore_point_error",
                                    cli_json_str(whys[i]));
            }
            json_array_append_new(a, o);
        }
        cli_json_print(json_pack("{s:o,s:o,s:o}", "file", cli_json_str(file), "site",
                                 cli_json_str(plan->site), "services", a));
        goto done;
    }
    char *site = cli_escape(plan->site);
    printf("site %s: %zu service(s), in start order\n\n", site, plan->nservices);
    free(site);
    printf("%3s %-4s %-18s %-18s %-8s %-7s %-6s %s\n", "#", "TIER", "SERVICE", "SOURCE", "POINT",
           "TARGET", "RTO", "PROBES / DEPENDS ON");
    for (size_t i = 0; i < plan->nservices; i++) {
        const cr_plan_service *s = &plan->services[order[i]];
        char rto[32];
        char *name = cli_escape(s->name), *src = cli_escape(s->source);
        char *pt = cli_escape(point_text(s)), *path = cli_escape(s->target.path);
        fmt_rto(rto, sizeof(rto), s->rto);
        printf("%3zu %-4d %-18s %-18s %-8s %-7s %-6s", i + 1, s->tier, name, src, pt,
               cr_plan_target_kind_name(s->target.kind), rto);
        for (size_t j = 0; j < s->nprobes; j++)
            printf("%s%s", j ? "," : " ", cr_probe_kind_name(s->probes[j].kind));
        if (!s->nprobes)
            printf(" (no probe)");
        if (s->ndepends) {
            printf("  <-");
            for (size_t j = 0; j < s->ndepends; j++) {
                char *d = cli_escape(s->depends_on[j]);
                printf("%s%s", j ? ", " : " ", d);
                free(d);
            }
        }
        printf("\n        -> %s%s", path, s->count > 1 ? "" : "\n");
        if (s->count > 1)
            printf("  (%u instances, %%n = 1..%u)\n", s->count, s->count);
        if (whys) {
            char *w = cli_escape(whys[i]);
            printf("        %s %s\n", ok[i] ? "from" : "NO RESTORE POINT:", w);
            free(w);
        }
        free(name);
        free(src);
        free(pt);
        free(path);
    }
done:
    if (whys)
        for (size_t i = 0; i < plan->nservices; i++)
            free(whys[i]);
    free(whys);
    free(ok);
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    free(order);
    if (vault && cli_g.repo == vault)
        cli_g.repo = NULL;
    free(vault);
    return rc;
}

int cmd_plan(int argc, char **argv)
{
    enum { OPT_VAULT = CLI_OPT_FIRST_CMD, OPT_NO_VAULT };
    static const struct option longopts[] = {
        {"vault", required_argument, NULL, OPT_VAULT},
        {"no-vault", no_argument, NULL, OPT_NO_VAULT},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, no_vault = 0;

    while ((c = cli_getopt(argc, argv, "", longopts, "plan")) != -1) {
        switch (c) {
        case OPT_VAULT: cli_g.repo = optarg; break;
        case OPT_NO_VAULT: no_vault = 1; break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("plan", "say what to do: 'plan check FILE' or 'plan show FILE'");
    const char *action = argv[optind];
    if (strcmp(action, "check") != 0 && strcmp(action, "show") != 0) {
        char *esc = cli_escape(action);
        int rc = cli_usage_error("plan", "unknown action '%s' (check or show)", esc);
        free(esc);
        return rc;
    }
    if (optind + 1 >= argc)
        return cli_usage_error("plan", "'plan %s' needs the plan file", action);
    if (optind + 2 < argc)
        return cli_unexpected_argument("plan", argv[optind + 2], "give one plan file");
    if (strcmp(action, "check") == 0)
        return plan_check(argv[optind + 1], no_vault);
    return plan_show(argv[optind + 1], no_vault);
}
