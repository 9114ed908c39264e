/*
 * The restore gate as a library function (src/hunt/gate.c,
 * cr_restore_gate_check), the policy restore, vm-export and recover share:
 *
 *  - never hunted: passes, hunt = NEVER, nothing flagged;
 *  - a finding at or above high: refused; with accept_risk: passes, flagged,
 *    accepted_risk; with quarantine: passes, the flagged file (and only it)
 *    listed once in `quarantine` with its strongest finding;
 *  - includes: a finding outside them does not refuse, it is counted in
 *    nelsewhere; includes are normalised ("//www/./" is "/www");
 *  - a finding at medium does not count at the default threshold, does at a
 *    threshold of medium.
 */
#include "test.h"
#include "fixture.h"
#include "cleanroom/hunt.h"

#include <stdio.h>
#include <string.h>

#define PW "gate test"

static char base[PATH_MAX], src[PATH_MAX], vault[PATH_MAX], rules[PATH_MAX];

static const char *rule_text =
    "rule gate_high { meta: severity = \"high\" strings: $a = \"GATE-HIGH-MARKER\" "
    "condition: $a }\n"
    "rule gate_critical { meta: severity = \"critical\" strings: $a = \"GATE-CRIT-MARKER\" "
    "condition: $a }\n"
    "rule gate_medium { meta: severity = \"medium\" strings: $a = \"GATE-MEDIUM-MARKER\" "
    "condition: $a }\n";

static cr_snapshot *backup(cr_repo *repo, int64_t t)
{
    cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
    const char *paths[] = {src};
    cr_snapshot *snap = NULL;
    o.source = "gate-host";
    o.time_ns = t;
    REQUIRE(cr_backup(&snap, repo, paths, 1, &o) == 0);
    return snap;
}

static void hunt(cr_repo *repo)
{
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    cr_hunt_stats st;
    const char *r[] = {rules};
    o.rules = r;
    o.nrules = 1;
    o.threads = 1;
    REQUIRE(cr_hunt(&st, repo, &o) == 0);
}

/* The snapshot path of a file of src. */
static void snap_path(char *out, const char *rel)
{
    pathf(out, "%s/%s", src, rel);
}

static int has_q(const cr_restore_gate *g, const char *rel)
{
    char p[PATH_MAX];
    snap_path(p, rel);
    for (size_t i = 0; i < g->nquarantine; i++)
        if (!strcmp(g->quarantine[i], p))
            return 1;
    return 0;
}

int main(void)
{
    char p[PATH_MAX], inc[PATH_MAX];
    REQUIRE(cr_init() == 0);
    fx_scratch_new(base, "gate");
    join(src, base, "src");
    join(vault, base, "vault");
    join(rules, base, "rules.yar");
    write_at(base, "rules.yar", rule_text, strlen(rule_text));
    REQUIRE(mkdir(src, 0755) == 0);
    join(p, src, "www");
    REQUIRE(mkdir(p, 0755) == 0);
    join(p, src, "www/up");
    REQUIRE(mkdir(p, 0755) == 0);
    join(p, src, "db");
    REQUIRE(mkdir(p, 0755) == 0);
    write_at(src, "www/index.html", "<p>hello</p>\n", 13);
    write_at(src, "db/data", "rows\n", 5);

    cr_repo *repo = fx_vault_new(vault, PW);
    cr_snapshot *clean = backup(repo, 1800000000000000000LL);

    /* Never hunted: passes, with nothing flagged. */
    cr_restore_gate *g = NULL;
    CHECK_OK(cr_restore_gate_check(&g, repo, clean, NULL));
    REQUIRE(g);
    CHECK(g->hunt == CR_GATE_NEVER && !g->refused && g->nflagged == 0 && !g->accepted_risk);
    cr_restore_gate_free(g);

    /* A web shell, a critical file in a flagged folder, a medium finding. */
    write_at(src, "www/up/shell.php", "GATE-HIGH-MARKER\n", 17);
    write_at(src, "www/up/x.php", "GATE-CRIT-MARKER GATE-HIGH-MARKER\n", 34);
    write_at(src, "www/notes.txt", "GATE-MEDIUM-MARKER\n", 19);
    cr_snapshot *bad = backup(repo, 1800000086400000000LL);
    hunt(repo);

    /* The clean one, hunted: passes. */
    CHECK_OK(cr_restore_gate_check(&g, repo, clean, NULL));
    CHECK(g->hunt == CR_GATE_HUNTED && !g->refused && g->nflagged == 0);
    cr_restore_gate_free(g);

    /* Compromised: refused, both files flagged, the medium one not. */
    cr_restore_gate_options o = CR_RESTORE_GATE_OPTIONS_INIT;
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(g->hunt == CR_GATE_HUNTED && g->refused && !g->whole_refused && !g->accepted_risk);
    CHECK(g->nflagged == 3); /* shell.php high, x.php critical + high */
    CHECK(g->nwhole == 0 && g->nelsewhere == 0 && g->nquarantine == 0);
    cr_restore_gate_free(g);

    /* accept_risk: passes, loudly. */
    o.accept_risk = 1;
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(!g->refused && g->accepted_risk && g->nflagged == 3);
    cr_restore_gate_free(g);
    o.accept_risk = 0;

    /* quarantine: passes, each flagged file once, with its strongest finding. */
    o.quarantine = 1;
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(!g->refused && !g->accepted_risk && g->nquarantine == 2);
    CHECK(has_q(g, "www/up/shell.php") && has_q(g, "www/up/x.php") && !has_q(g, "www/notes.txt"));
    for (size_t i = 0; i < g->nquarantine; i++)
        if (strstr(g->quarantine[i], "x.php"))
            CHECK(g->quarantine_why[i]->severity == CR_SEV_CRITICAL);
    cr_restore_gate_free(g);

    /* Includes: the database folder does not hold the web shell. */
    const char *incl[1];
    pathf(inc, "/%s//db/./", src);
    incl[0] = inc;
    o.includes = incl;
    o.nincludes = 1;
    o.quarantine = 0;
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(!g->refused && g->nflagged == 0 && g->nelsewhere == 3);
    cr_restore_gate_free(g);
    /* ... the web folder does. */
    pathf(inc, "%s/www", src);
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(g->refused && g->nflagged == 3 && g->nelsewhere == 0);
    cr_restore_gate_free(g);
    o.includes = NULL;
    o.nincludes = 0;

    /* A lower threshold counts the medium finding too. */
    o.threshold = CR_SEV_MEDIUM;
    o.quarantine = 1;
    CHECK_OK(cr_restore_gate_check(&g, repo, bad, &o));
    CHECK(!g->refused && g->nflagged == 4 && g->nquarantine == 3 && has_q(g, "www/notes.txt"));
    cr_restore_gate_free(g);

    cr_restore_gate_free(NULL);
    cr_snapshot_free(clean);
    cr_snapshot_free(bad);
    cr_repo_free(repo);
    fx_scratch_done(base);
    return test_summary("gate");
}
