/*
 * The retention policy of 'cleanroom forget' (restic's rules), on snapshots
 * at chosen times: which are kept, and why.
 */
#include "test.h"
#include "vault/vault.h"

#define MAXS 64

static cr_snapshot snaps[MAXS];
static cr_forget_item items[MAXS];
static size_t nitems;

static void add(const char *when, const char *tag)
{
    static char *tags[MAXS];
    cr_snapshot *s = &snaps[nitems];
    memset(s, 0, sizeof(*s));
    memset(&items[nitems], 0, sizeof(items[nitems]));
    REQUIRE(cr_time_parse(&s->time_ns, when) == 0);
    s->source = "dpi";
    s->id.b[0] = (uint8_t)nitems;
    if (tag) {
        tags[nitems] = (char *)tag;
        s->tags = &tags[nitems];
        s->ntags = 1;
    }
    items[nitems].snap = s;
    nitems++;
}

/* "K" kept, "f" forgotten, oldest first. */
static void expect(const cr_forget_options *o, const char *want)
{
    char got[MAXS + 1];
    for (size_t i = 0; i < nitems; i++) {
        items[i].keep = 0;
        items[i].reason[0] = '\0';
    }
    cr_forget_apply_policy(items, 0, nitems, o);
    for (size_t i = 0; i < nitems; i++)
        got[i] = items[i].keep ? 'K' : 'f';
    got[nitems] = '\0';
    if (strcmp(got, want) != 0)
        fprintf(stderr, "policy: got %s, want %s\n", got, want);
    CHECK(strcmp(got, want) == 0);
}

static void test_durations(void)
{
    int64_t ns = 0;
    CHECK(cr_forget_duration_parse(&ns, "6m") == 0 && ns == 180LL * 86400 * 1000000000LL);
    CHECK(cr_forget_duration_parse(&ns, "1y6m") == 0 && ns == 545LL * 86400 * 1000000000LL);
    CHECK(cr_forget_duration_parse(&ns, "36h") == 0 && ns == 36LL * 3600 * 1000000000LL);
    CHECK(cr_forget_duration_parse(&ns, "2w1d") == 0 && ns == 15LL * 86400 * 1000000000LL);
    CHECK(cr_forget_duration_parse(&ns, "6 months") == CR_EINPUT);
    CHECK(cr_forget_duration_parse(&ns, "30min") == CR_EINPUT);
    CHECK(cr_forget_duration_parse(&ns, "7") == CR_EINPUT);
    CHECK(cr_forget_duration_parse(&ns, "") == CR_EINPUT);
    CHECK(cr_forget_duration_parse(&ns, "-1d") == CR_EINPUT);
}

int main(void)
{
    cr_forget_options o = CR_FORGET_OPTIONS_INIT;
    test_durations();

    /* Two a day for four days, 2026-10-01 (Thursday) to 2026-10-04 (Sunday),
     * then Monday 2026-10-05 (a new ISO week), 2026-11-01 and 2027-01-02. */
    const char *t[] = {"2026-10-01T02:00:00", "2026-10-01T14:00:00", "2026-10-02T02:00:00",
                       "2026-10-02T14:00:00", "2026-10-03T02:00:00", "2026-10-03T14:00:00",
                       "2026-10-04T02:00:00", "2026-10-04T14:00:00", "2026-10-05T02:00:00",
                       "2026-11-01T02:00:00", "2027-01-02T02:00:00"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        add(t[i], i == 2 ? "monthly-check" : NULL);

    o.last = 3;
    expect(&o, "ffffffffKKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.daily = 3; /* newest of each of the 3 newest days that have one */
    expect(&o, "ffffffffKKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.daily = 5; /* and Oct 4 (14:00), Oct 3 (14:00) */
    expect(&o, "fffffKfKKKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.weekly = 3; /* ISO weeks: 2027-W53 of 2026 (Jan 2), 2026-W44 (Nov 1), W41 (Oct 5) */
    expect(&o, "ffffffffKKK");
    o.weekly = 4; /* ... and W40: the newest of Oct 1-4, Sunday 14:00 */
    expect(&o, "fffffffKKKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.monthly = 2; /* January 2027, November 2026 */
    expect(&o, "fffffffffKK");
    o.monthly = 3; /* and October: its newest is the 5th */
    expect(&o, "ffffffffKKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.yearly = 2;
    expect(&o, "fffffffffKK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    REQUIRE(cr_time_parse(&o.now_ns, "2030-01-01") == 0);
    o.within_ns = 70LL * 86400 * 1000000000LL; /* 70 days before 2027-01-02 02:00: Oct 24 */
    expect(&o, "fffffffffKK");
    o.within_ns = 91LL * 86400 * 1000000000LL; /* Oct 3 02:00 and later */
    expect(&o, "ffffKKKKKKK");
    /* "Now" is 2026-11-02 02:00: the snapshot of 2027 is in the future and
     * does not move the reference; 3 days keep Oct 30 02:00 and later. */
    REQUIRE(cr_time_parse(&o.now_ns, "2026-11-02T02:00:00") == 0);
    o.within_ns = 3LL * 86400 * 1000000000LL;
    expect(&o, "fffffffffKK");
    o.within_ns = 1LL * 86400 * 1000000000LL; /* Nov 1 02:00 and later */
    expect(&o, "fffffffffKK");
    o.within_ns = 3600LL * 1000000000LL; /* only the future one */
    expect(&o, "ffffffffffK");
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    static const char *const tags[] = {"monthly-check"};
    o.tags = tags;
    o.ntags = 1;
    expect(&o, "ffKffffffff");
    /* Rules add up; reasons are named. */
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.last = 1;
    o.daily = 2;
    expect(&o, "fffffffffKK");
    CHECK(strcmp(items[10].reason, "last, daily") == 0);
    CHECK(strcmp(items[9].reason, "daily") == 0);
    /* Evidence is kept whatever the rules say. */
    o = (cr_forget_options)CR_FORGET_OPTIONS_INIT;
    o.last = 1;
    cr_id ev = snaps[4].id;
    o.protect = &ev;
    o.nprotect = 1;
    expect(&o, "ffffKfffffK");
    CHECK(strcmp(items[4].reason, "evidence") == 0);
    return test_summary("test_forget");
}
