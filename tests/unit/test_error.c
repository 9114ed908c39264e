/*
 * The thread's error message slot (src/util/error.c): a message built on the
 * previous one ("context: %s", cr_error_last()) reads its argument before the
 * slot is written, at every length up to the slot's size; cr_error_prefix
 * puts context in front of it; cr_error_errno keeps errno and maps it to a
 * code.
 */
#include "test.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

static void test_build_on_previous(void)
{
    cr_error_set("the pack %s is damaged", "ab12");
    cr_error_set("verify: %s", cr_error_last());
    CHECK(strcmp(cr_error_last(), "verify: the pack ab12 is damaged") == 0);
    /* Twice more: each layer sees the whole of the one below. */
    cr_error_set("%s; %s", cr_error_last(), cr_error_last());
    CHECK(strcmp(cr_error_last(),
                 "verify: the pack ab12 is damaged; verify: the pack ab12 is damaged") == 0);
    /* Long messages are cut at the slot's size, never overrun. */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_error_set("%s", big);
    size_t n = strlen(cr_error_last());
    CHECK(n > 500 && n < sizeof(big));
    cr_error_set("a: %s", cr_error_last());
    CHECK(strncmp(cr_error_last(), "a: xxx", 6) == 0 && strlen(cr_error_last()) == n);
    cr_error_clear();
    CHECK(cr_error_last()[0] == '\0');
}

static void test_prefix(void)
{
    cr_error_set("authentication failed");
    cr_error_prefix("pack %s", "1a2b");
    CHECK(strcmp(cr_error_last(), "pack 1a2b: authentication failed") == 0);
    cr_error_prefix("snapshot %d", 7);
    CHECK(strcmp(cr_error_last(), "snapshot 7: pack 1a2b: authentication failed") == 0);
    /* A full slot: the prefix stays, the end is cut, nothing overruns. */
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_error_set("%s", big);
    size_t n = strlen(cr_error_last());
    cr_error_prefix("tree %s", "ff");
    CHECK(strncmp(cr_error_last(), "tree ff: yyy", 12) == 0 && strlen(cr_error_last()) == n);
}

static void test_errno(void)
{
    errno = ENOSPC;
    CHECK(cr_error_errno("cannot write %s", "/x") == CR_ENOSPACE);
    CHECK(errno == ENOSPC);
    CHECK(strstr(cr_error_last(), "cannot write /x: ") == cr_error_last());
    errno = ENOENT;
    CHECK(cr_error_errno("cannot open") == CR_ENOTFOUND);
    errno = EACCES;
    CHECK(cr_error_errno("cannot open") == CR_ERROR);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_build_on_previous();
    test_prefix();
    test_errno();
    return test_summary("test_error");
}
