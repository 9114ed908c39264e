/*
 * The parser sandbox (src/util/sandbox.c), played as a hijacked parser would
 * behave, through the "selftest" service:
 *
 *  - a request is answered (the channel works, both ways);
 *  - the child is not root-with-privileges: as root it is nobody; its stderr
 *    is /dev/null (no escape sequences to the operator's terminal);
 *  - open("/etc/shadow"), socket() and execve() kill it (seccomp: SIGSYS),
 *    as does arming its channel to signal the parent (F_SETSIG, F_SETOWN, O_ASYNC),
 *    the call returns CR_EHOSTILE with a message naming the input and the
 *    signal, and the parent goes on (a second child starts and answers);
 *  - a write through NULL and abort() end as CR_EHOSTILE, naming the signal;
 *  - a child spinning forever is stopped by the idle timeout;
 *  - a reply larger than the parent allows is refused, the child stopped;
 *  - the parent's header check refuses bad magic, version, kind, length;
 *  - text from the child is cleaned (controls, bad UTF-8) before printing;
 *  - the shared memory region a child is given (cr_sbx_shm) shows it the
 *    parent's bytes, and it can neither map it writable, nor make its
 *    mapping writable, nor write, grow or shrink the file: the bytes the
 *    parent hands to the next child are the parent's.
 */
#include "test.h"
#include "util/sandbox.h"

#include <signal.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ST_ECHO = 1, ST_CRASH, ST_ABORT, ST_LOOP, ST_OPEN, ST_SOCKET, ST_IDENTITY, ST_EXEC, ST_HUGE,
       ST_SHM, ST_SIGIO };

static cr_sbx *start(size_t max_reply, unsigned idle)
{
    cr_sbx *s = NULL;
    cr_sbx_opts o;
    memset(&o, 0, sizeof(o));
    o.service = "selftest";
    o.what = "the test input";
    o.max_reply = max_reply;
    o.idle_seconds = idle;
    int rc = cr_sbx_start(&s, &o);
    if (rc != 0)
        fprintf(stderr, "cr_sbx_start: %s\n", cr_error_last());
    REQUIRE(rc == 0 && s);
    return s;
}

static void expect_hostile(uint16_t req, const char *words)
{
    cr_buf r = {0};
    cr_sbx *s = start(0, 3);
    int rc = cr_sbx_call(s, req, NULL, 0, &r, NULL, NULL);
    CHECK(rc == CR_EHOSTILE);
    CHECK(strstr(cr_error_last(), "the test input") != NULL);
    if (!strstr(cr_error_last(), words))
        fprintf(stderr, "request %u: expected '%s' in: %s\n", req, words, cr_error_last());
    CHECK(strstr(cr_error_last(), words) != NULL);
    CHECK(!cr_sbx_alive(s));
    /* A dead child stays dead. */
    CHECK(cr_sbx_call(s, ST_ECHO, "x", 1, &r, NULL, NULL) == CR_EHOSTILE);
    cr_sbx_stop(s);
    cr_buf_free(&r);
}

static void test_echo_and_identity(void)
{
    cr_buf r = {0};
    cr_sbx *s = start(0, 10);
    CHECK_OK(cr_sbx_call(s, ST_ECHO, "hello", 5, &r, NULL, NULL));
    CHECK(r.len == 5 && memcmp(r.ptr, "hello", 5) == 0);
    /* A second request on the same child. */
    CHECK_OK(cr_sbx_call(s, ST_ECHO, "again", 5, &r, NULL, NULL));
    CHECK(r.len == 5 && memcmp(r.ptr, "again", 5) == 0);
    CHECK_OK(cr_sbx_call(s, ST_IDENTITY, NULL, 0, &r, NULL, NULL));
    char id[128];
    snprintf(id, sizeof(id), "%.*s", (int)r.len, (const char *)r.ptr);
    if (geteuid() == 0)
        CHECK(strstr(id, "uid=65534") != NULL);
    /* A hijacked parser cannot write to the operator's terminal (sanitizer builds keep it). */
#if !defined(__SANITIZE_ADDRESS__)
    if (!getenv("CLEANROOM_SANDBOX_DEBUG"))
        CHECK(strstr(id, "stderr=null") != NULL);
#endif
    CHECK(strstr(cr_sbx_confinement(s), "seccomp") != NULL);
    fprintf(stderr, "child: %s; %s\n", id, cr_sbx_confinement(s));
    cr_sbx_stop(s);
    cr_buf_free(&r);
}

static void test_attacks(void)
{
    expect_hostile(ST_OPEN, "seccomp");
    expect_hostile(ST_SOCKET, "seccomp");
    expect_hostile(ST_EXEC, "seccomp");
    expect_hostile(ST_SIGIO, "seccomp");
    /* Under the sanitizers a fault is reported by them, then the child dies some way. */
#if !defined(__SANITIZE_ADDRESS__)
    expect_hostile(ST_CRASH, "SIGSEGV");
    expect_hostile(ST_ABORT, "SIGABRT");
#else
    expect_hostile(ST_CRASH, "failed");
    expect_hostile(ST_ABORT, "failed");
#endif
    expect_hostile(ST_LOOP, "no answer for 3 s");
}

static void test_huge_reply(void)
{
    cr_buf r = {0};
    cr_sbx *s = start(1u << 20, 10);
    CHECK(cr_sbx_call(s, ST_HUGE, NULL, 0, &r, NULL, NULL) == CR_EHOSTILE);
    CHECK(strstr(cr_error_last(), "more than the") != NULL);
    cr_sbx_stop(s);
    /* And the program goes on: a new child works. */
    s = start(0, 10);
    CHECK_OK(cr_sbx_call(s, ST_ECHO, "ok", 2, &r, NULL, NULL));
    cr_sbx_stop(s);
    cr_buf_free(&r);
}

static void test_shm(void)
{
    cr_sbx_shm shm;
    cr_buf r = {0};
    cr_sbx *s = NULL;
    const size_t len = 1u << 20;
    CHECK_OK(cr_sbx_shm_create(&shm, len));
    memcpy(shm.map, "parent's bytes!!", 16);
    /* The parent's own file is sealed too: nothing but its first mapping writes. */
    CHECK(write(shm.fd, "w", 1) < 0);
    CHECK(ftruncate(shm.fd, 4096) < 0);
    CHECK(ftruncate(shm.fd, 2 * len) < 0);
    CHECK(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shm.fd, 0) == MAP_FAILED);

    cr_sbx_opts o;
    memset(&o, 0, sizeof(o));
    o.service = "selftest";
    o.what = "the test input";
    o.idle_seconds = 10;
    o.fds = &shm.fd;
    o.nfds = 1;
    REQUIRE(cr_sbx_start(&s, &o) == 0);
    uint8_t req[8];
    for (int i = 0; i < 8; i++)
        req[i] = (uint8_t)((uint64_t)len >> (8 * i));
    CHECK_OK(cr_sbx_call(s, ST_SHM, req, sizeof(req), &r, NULL, NULL));
    char got[128];
    snprintf(got, sizeof(got), "%.*s", (int)r.len, (const char *)r.ptr);
    fprintf(stderr, "shared memory, as the child saw it: %s\n", got);
    CHECK(strncmp(got, "parent's bytes!!", 16) == 0);
    CHECK(strstr(got, "shared:refused") != NULL);
    CHECK(strstr(got, "mprotect:refused") != NULL);
    CHECK(memcmp(shm.map, "parent's bytes!!", 16) == 0);
    /* The parent still writes through its mapping, and a child sees it. */
    memcpy(shm.map, "changed by me...", 16);
    CHECK_OK(cr_sbx_call(s, ST_SHM, req, sizeof(req), &r, NULL, NULL));
    CHECK(r.len >= 16 && memcmp(r.ptr, "changed by me...", 16) == 0);
    cr_sbx_stop(s);
    cr_sbx_shm_free(&shm);
    cr_sbx_shm_free(&shm); /* twice is harmless */
    cr_buf_free(&r);
}

static void test_header_check(void)
{
    uint8_t h[CR_SBX_HEADER] = {0x43, 0x53, 0x42, 0x58, CR_SBX_VERSION, CR_SBX_REPLY, 1, 0, 16, 0, 0, 0};
    uint8_t kind;
    uint16_t type;
    uint32_t len;
    unsigned kinds = 1u << CR_SBX_REPLY;
    CHECK(cr_sbx_header_check(h, kinds, 100, &kind, &type, &len) == 0 && len == 16 && type == 1);
    CHECK(cr_sbx_header_check(h, kinds, 15, &kind, &type, &len) == CR_EHOSTILE);
    CHECK(cr_sbx_header_check(h, 1u << CR_SBX_ASK, 100, &kind, &type, &len) == CR_EHOSTILE);
    h[4] = 9;
    CHECK(cr_sbx_header_check(h, kinds, 100, &kind, &type, &len) == CR_EHOSTILE);
    h[4] = CR_SBX_VERSION;
    h[0] = 0;
    CHECK(cr_sbx_header_check(h, kinds, 100, &kind, &type, &len) == CR_EHOSTILE);
    h[0] = 0x43;
    h[5] = 200;
    CHECK(cr_sbx_header_check(h, ~0u, 100, &kind, &type, &len) == CR_EHOSTILE);
}

static void test_clean_text(void)
{
    char out[32];
    cr_sbx_clean_text(out, sizeof(out), (const uint8_t *)"a\x1b[31mb\xff\xc3\xa9", 10);
    CHECK(strcmp(out, "a?[31mb?\xc3\xa9") == 0);
    cr_sbx_clean_text(out, 4, (const uint8_t *)"abcdef", 6);
    CHECK(strcmp(out, "abc") == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_header_check();
    test_clean_text();
    if (!cr_sbx_enabled()) {
        fprintf(stderr, "CLEANROOM_SANDBOX=off: the confinement tests are skipped\n");
        return test_summary("sandbox");
    }
    test_echo_and_identity();
    test_attacks();
    test_huge_reply();
    test_shm();
    return test_summary("sandbox");
}
