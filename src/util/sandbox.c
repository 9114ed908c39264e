/*
 * The parser sandbox (sandbox.h says what it is and why).
 *
 * Parent side: cr_sbx_start forks and execs /proc/self/exe with
 * CLEANROOM_SANDBOX_CHILD=1 in a minimal environment and the channel on fd
 * 3; the constructor at the end of this file notices it before main() and
 * runs the child's loop instead of the program. Nothing the parent holds in
 * memory crosses the exec.
 *
 * Child side: read SETUP, confine (namespaces, private empty root, read-only
 * binds, no capabilities, limits, no-new-privs, seccomp), say READY, serve.
 * The child leaves with _exit: no atexit handlers, no leak checker (which
 * would need ptrace), no stdio flush.
 */
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SBX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SBX_SANITIZED 1
#endif
#endif
#ifndef SBX_SANITIZED
#define SBX_SANITIZED 0
#endif

#define SBX_FD 3
#define SBX_MAX_SERVICES 16
#define SBX_MAX_PATHS 64
#define SBX_MAX_KEEP 8
#define SBX_NOBODY 65534

static const cr_sbx_service *sbx_services[SBX_MAX_SERVICES];
static size_t sbx_nservices;

void cr_sbx_register(const cr_sbx_service *svc)
{
    for (size_t i = 0; i < sbx_nservices; i++)
        if (sbx_services[i] == svc || !strcmp(sbx_services[i]->name, svc->name))
            return;
    if (sbx_nservices < SBX_MAX_SERVICES)
        sbx_services[sbx_nservices++] = svc;
}

static const cr_sbx_service *sbx_find(const char *name)
{
    for (size_t i = 0; i < sbx_nservices; i++)
        if (!strcmp(sbx_services[i]->name, name))
            return sbx_services[i];
    return NULL;
}

int cr_sbx_enabled(void)
{
    const char *v = getenv("CLEANROOM_SANDBOX");
    return !(v && (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no")));
}

/* ---------------------------------------------------------------- frames */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cr_sbx_header_check(const uint8_t hdr[CR_SBX_HEADER], unsigned kinds, size_t max,
                        uint8_t *kind, uint16_t *type, uint32_t *len)
{
    if (get_le32(hdr) != CR_SBX_MAGIC) {
        cr_error_set("malformed frame (bad magic)");
        return CR_EHOSTILE;
    }
    if (hdr[4] != CR_SBX_VERSION) {
        cr_error_set("frame of protocol version %u, expected %u", hdr[4], CR_SBX_VERSION);
        return CR_EHOSTILE;
    }
    if (hdr[5] >= 32 || !(kinds & (1u << hdr[5]))) {
        cr_error_set("unexpected frame kind %u", hdr[5]);
        return CR_EHOSTILE;
    }
    uint32_t n = get_le32(hdr + 8);
    if (n > max || n > CR_SBX_MAX_FRAME) {
        cr_error_set("frame of %u bytes, more than the %zu allowed", n, max);
        return CR_EHOSTILE;
    }
    *kind = hdr[5];
    *type = (uint16_t)(hdr[6] | hdr[7] << 8);
    *len = n;
    return 0;
}

void cr_sbx_clean_text(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
    size_t o = 0;
    if (!outlen)
        return;
    for (size_t i = 0; i < inlen && o + 1 < outlen;) {
        size_t k = cr_utf8_decode(NULL, (const char *)in + i, inlen - i);
        if (k == 0 || (k == 1 && (in[i] < 0x20 || in[i] == 0x7f))) {
            out[o++] = '?';
            i += k ? k : 1;
            continue;
        }
        if (o + k + 1 > outlen)
            break;
        memcpy(out + o, in + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
}

/* Write all of a frame. MSG_NOSIGNAL: a dead peer is EPIPE, not a signal. */
static int frame_send(int fd, uint8_t kind, uint16_t type, const void *data, size_t len)
{
    uint8_t hdr[CR_SBX_HEADER];
    struct iovec iov[2];
    struct msghdr m;
    size_t done = 0, total = CR_SBX_HEADER + len;

    if (len > CR_SBX_MAX_FRAME) {
        cr_error_set("a sandbox message of %zu bytes is too large", len);
        return CR_ERROR;
    }
    put_le32(hdr, CR_SBX_MAGIC);
    hdr[4] = CR_SBX_VERSION;
    hdr[5] = kind;
    hdr[6] = (uint8_t)type;
    hdr[7] = (uint8_t)(type >> 8);
    put_le32(hdr + 8, (uint32_t)len);
    while (done < total) {
        memset(&m, 0, sizeof(m));
        int n = 0;
        if (done < CR_SBX_HEADER) {
            iov[n].iov_base = hdr + done;
            iov[n++].iov_len = CR_SBX_HEADER - done;
            if (len) {
                iov[n].iov_base = (void *)data;
                iov[n++].iov_len = len;
            }
        } else {
            iov[n].iov_base = (uint8_t *)data + (done - CR_SBX_HEADER);
            iov[n++].iov_len = total - done;
        }
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)n;
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/*
 * Read exactly len bytes, waiting at most `idle_ms` between two arrivals
 * (<0: forever). @return 0, 1 on end of file, -1 error, -2 timeout.
 */
static int read_full(int fd, void *buf, size_t len, int idle_ms)
{
    size_t done = 0;
    while (done < len) {
        if (idle_ms >= 0) {
            struct pollfd p = {fd, POLLIN, 0};
            int r = poll(&p, 1, idle_ms);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            if (r == 0)
                return -2;
        }
        ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return 1;
        done += (size_t)n;
    }
    return 0;
}

/* ---------------------------------------------------------------- parent */

struct cr_sbx {
    pid_t pid;
    int fd;
    int dead;            /* CR_EHOSTILE already returned */
    int idle_ms;
    size_t max_reply;
    char *what;
    char *service;
    char confinement[256];
    char deadmsg[1100];
};

static const char *sig_words(int sig)
{
    switch (sig) {
    case SIGSEGV: return "a memory fault (SIGSEGV)";
    case SIGBUS: return "a bus error (SIGBUS)";
    case SIGABRT: return "an abort (SIGABRT)";
    case SIGILL: return "an illegal instruction (SIGILL)";
    case SIGFPE: return "an arithmetic fault (SIGFPE)";
    case SIGSYS: return "a forbidden system call, stopped by seccomp (SIGSYS)";
    case SIGXCPU: return "its CPU time limit (SIGXCPU)";
    case SIGKILL: return "SIGKILL (memory or CPU limit)";
    default: return NULL;
    }
}

/*
 * Reap the child and describe how it ended: a child that is ending by itself
 * gets up to ~1 s; then (or at once when `now`) it is killed, which is then
 * what we say.
 */
static void sbx_reap(cr_sbx *s, int now, char *how, size_t howlen)
{
    int status = 0;
    pid_t r = 0;
    if (s->pid <= 0) {
        snprintf(how, howlen, "it had already ended");
        return;
    }
    for (int i = 0; i < (now ? 1 : 100) && (r = waitpid(s->pid, &status, WNOHANG)) == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        s->pid = -1;
        snprintf(how, howlen, "it was stopped");
        return;
    }
    s->pid = -1;
    if (r < 0)
        snprintf(how, howlen, "it ended");
    else if (WIFSIGNALED(status)) {
        const char *w = sig_words(WTERMSIG(status));
        if (w)
            snprintf(how, howlen, "it was stopped by %s", w);
        else
            snprintf(how, howlen, "it was stopped by signal %d", WTERMSIG(status));
    } else
        snprintf(how, howlen, "it exited with status %d", WEXITSTATUS(status));
}

/* The child failed us: stop it for good and say so. `gone`: it stopped talking by itself. */
static int sbx_hostile(cr_sbx *s, int gone, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sbx_hostile(cr_sbx *s, int gone, const char *fmt, ...)
{
    char why[600], how[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    sbx_reap(s, !gone, how, sizeof(how));
    snprintf(s->deadmsg, sizeof(s->deadmsg),
             "the sandboxed parser of %s failed: %s (%s); the input may be crafted to attack the "
             "clean room, nothing of it was trusted",
             s->what, why, how);
    s->dead = 1;
    cr_error_set("%s", s->deadmsg);
    return CR_EHOSTILE;
}

/* Read one frame from the child into `payload`. */
static int sbx_recv(cr_sbx *s, unsigned kinds, uint8_t *kind, uint16_t *type, cr_buf *payload)
{
    uint8_t hdr[CR_SBX_HEADER];
    uint32_t len;
    int r = read_full(s->fd, hdr, sizeof(hdr), s->idle_ms);
    if (r == 1)
        return sbx_hostile(s, 1, "it stopped answering");
    if (r == -2)
        return sbx_hostile(s, 0, "no answer for %d s", s->idle_ms / 1000);
    if (r < 0)
        return sbx_hostile(s, 1, "its channel failed (%s)", strerror(errno));
    /* Replies are bounded by the caller; READY and FAIL are short texts. */
    size_t max = s->max_reply > 4096 ? s->max_reply : 4096;
    if (cr_sbx_header_check(hdr, kinds, max, kind, type, &len) < 0)
        return sbx_hostile(s, 0, "it sent a %s", cr_error_last());
    cr_buf_reset(payload);
    if (cr_buf_grow(payload, len) < 0)
        return CR_ERROR;
    r = read_full(s->fd, payload->ptr, len, s->idle_ms);
    if (r != 0)
        return sbx_hostile(s, 1, "its message was cut short");
    payload->len = len;
    return 0;
}

/* A CR_SBX_FAIL payload -> the child's code and words (cleaned). */
static int sbx_fail(cr_sbx *s, const cr_buf *p)
{
    cr_rd rd;
    int64_t code = 0;
    const uint8_t *msg = NULL;
    size_t mlen = 0;
    char clean[600];
    cr_rd_init(&rd, p->ptr, p->len);
    if (cr_rd_svarint(&rd, &code) < 0 || cr_rd_bytes(&rd, &msg, &mlen, 4096) < 0 ||
        code >= 0 || code < -64 || code == CR_EHOSTILE)
        return sbx_hostile(s, 0, "it sent a malformed failure");
    cr_sbx_clean_text(clean, sizeof(clean), msg, mlen);
    cr_error_set("%s", clean);
    return (int)code;
}

static char *env_copy(const char *name)
{
    const char *v = getenv(name);
    return v ? cr_sprintf("%s=%s", name, v) : NULL;
}

int cr_sbx_start(cr_sbx **out, const cr_sbx_opts *o)
{
    cr_sbx *s = NULL;
    int sv[2] = {-1, -1}, err = 0;
    char *envp[8] = {NULL};
    size_t ne = 0;
    cr_buf setup = {0}, p = {0};
    const char *t = getenv("CLEANROOM_SANDBOX_TIMEOUT");
    char *end = NULL;
    long idle;
    int hi[CR_SBX_MAX_FDS] = {-1, -1, -1, -1};
    char fdsvar[40];

    *out = NULL;
    if (!(s = cr_calloc(1, sizeof(*s))))
        return CR_ERROR;
    s->pid = -1;
    s->fd = -1;
    idle = o->idle_seconds ? (long)o->idle_seconds : 300;
    if (t && *t) {
        long v = strtol(t, &end, 10);
        if (*end == '\0' && v > 0 && v < 86400)
            idle = v;
    }
    s->idle_ms = (int)(idle * 1000);
    s->max_reply = o->max_reply ? o->max_reply : (64u << 20);
    if (!(s->what = cr_strdup(o->what ? o->what : "an input")) ||
        !(s->service = cr_strdup(o->service))) {
        err = CR_ERROR;
        goto done;
    }
    if (o->nfds > CR_SBX_MAX_FDS) {
        cr_error_set("too many files for the parser sandbox (%zu)", o->nfds);
        err = CR_EINPUT;
        goto done;
    }
    /* Out of the way of the numbers they take in the child (SBX_FD + 1 + i), closed on exec:
     * only the child's dup2 makes them cross. */
    for (size_t i = 0; i < o->nfds; i++)
        if ((hi[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, 64)) < 0) {
            err = cr_error_errno("cannot hand a file to the parser sandbox");
            goto done;
        }
    if (o->nread_paths > SBX_MAX_PATHS) {
        cr_error_set("too many folders for the parser sandbox (%zu)", o->nread_paths);
        err = CR_EINPUT;
        goto done;
    }

    /* SETUP: service, hooks, limits, read paths, the service's own data. */
    const char *hooks = getenv("CLEANROOM_TEST_HOOKS");
    uint64_t mem = o->mem_limit ? o->mem_limit : (4ull << 30);
    if (cr_buf_put_str(&setup, o->service) < 0 ||
        cr_buf_put_u8(&setup, hooks && !strcmp(hooks, "1")) < 0 || cr_buf_put_u64(&setup, mem) < 0 ||
        cr_buf_put_varint(&setup, o->nread_paths) < 0) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < o->nread_paths; i++)
        if (cr_buf_put_str(&setup, o->read_paths[i]) < 0) {
            err = CR_ERROR;
            goto done;
        }
    if (cr_buf_put_bytes(&setup, o->setup, o->setuplen) < 0) {
        err = CR_ERROR;
        goto done;
    }

    /* The child's whole environment: the marker, the sanitizers' options, the debug switch. */
    const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "CLEANROOM_SANDBOX_DEBUG"};
    if (!(envp[ne++] = cr_strdup("CLEANROOM_SANDBOX_CHILD=1"))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if ((envp[ne] = env_copy(keep[i])))
            ne++;
    snprintf(fdsvar, sizeof(fdsvar), "CLEANROOM_SANDBOX_FDS=%zu", o->nfds);
    if (!(envp[ne++] = cr_strdup(fdsvar))) {
        err = CR_ERROR;
        goto done;
    }

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        err = cr_error_errno("cannot start the parser sandbox");
        goto done;
    }
    char *argv[] = {"cleanroom-sandbox", s->service, NULL};
    /* A hijacked parser must not write escape sequences to the operator's terminal: its
     * stderr is /dev/null, unless debugging or in a sanitizer build (their reports). */
    const char *dbg = getenv("CLEANROOM_SANDBOX_DEBUG");
    int keep_stderr = SBX_SANITIZED || (dbg && !strcmp(dbg, "1"));
    s->pid = fork();
    if (s->pid < 0) {
        err = cr_error_errno("cannot start the parser sandbox");
        goto done;
    }
    if (s->pid == 0) {
        /* Only async-signal-safe calls until exec. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(sv[1], SBX_FD) < 0 ||
            (!keep_stderr && dup2(null, 2) < 0))
            _exit(127);
        for (size_t i = 0; i < o->nfds; i++)
            if (dup2(hi[i], SBX_FD + 1 + (int)i) < 0)
                _exit(127);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(sv[1]);
    sv[1] = -1;
    s->fd = sv[0];
    sv[0] = -1;

    if (frame_send(s->fd, CR_SBX_SETUP, 0, setup.ptr, setup.len) < 0) {
        err = sbx_hostile(s, 1, "it did not start");
        goto fail;
    }
    uint8_t kind;
    uint16_t type;
    if ((err = sbx_recv(s, 1u << CR_SBX_READY | 1u << CR_SBX_FAIL, &kind, &type, &p)) < 0)
        goto fail;
    if (kind == CR_SBX_FAIL) {
        sbx_fail(s, &p);
        char why[600];
        snprintf(why, sizeof(why), "%s", cr_error_last());
        cr_error_set("the parser sandbox cannot be set up on this machine (%s): run cleanroom as "
                     "root or allow user namespaces (sysctl kernel.unprivileged_userns_clone=1); "
                     "CLEANROOM_SANDBOX=off parses hostile disks without it (not recommended, see "
                     "docs/security.md)",
                     why);
        err = CR_ERROR;
        goto done;
    }
    cr_sbx_clean_text(s->confinement, sizeof(s->confinement), p.ptr, p.len);
    *out = s;
    s = NULL;
    goto done;
fail:
    if (err == CR_EHOSTILE) {
        /* A child that cannot even start is the machine's problem, not the input's. */
        char why[600];
        snprintf(why, sizeof(why), "%s", cr_error_last());
        cr_error_set("cannot start the parser sandbox: %s", why);
        err = CR_ERROR;
    }
done:
    for (size_t i = 0; i < CR_SBX_MAX_FDS; i++)
        if (hi[i] >= 0)
            close(hi[i]);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    for (size_t i = 0; i < ne; i++)
        free(envp[i]);
    cr_buf_free(&setup);
    cr_buf_free(&p);
    cr_sbx_stop(s);
    return err;
}

int cr_sbx_call(cr_sbx *s, uint16_t type, const void *req, size_t len, cr_buf *reply,
                cr_sbx_ask_fn ask, void *ud)
{
    cr_buf answer = {0};
    int err = 0;
    if (s->dead) {
        cr_error_set("%s", s->deadmsg);
        return CR_EHOSTILE;
    }
    if (frame_send(s->fd, CR_SBX_REQ, type, req, len) < 0)
        return sbx_hostile(s, 1, "it stopped reading");
    for (;;) {
        uint8_t kind;
        uint16_t t;
        unsigned kinds = 1u << CR_SBX_REPLY | 1u << CR_SBX_FAIL | (ask ? 1u << CR_SBX_ASK : 0);
        if ((err = sbx_recv(s, kinds, &kind, &t, reply)) < 0)
            break;
        if (kind == CR_SBX_REPLY) {
            if (t != type) {
                err = sbx_hostile(s, 0, "it answered request %u with %u", type, t);
                break;
            }
            break;
        }
        if (kind == CR_SBX_FAIL) {
            err = sbx_fail(s, reply);
            cr_buf_reset(reply);
            break;
        }
        /* A question during the request. */
        cr_rd rd;
        cr_rd_init(&rd, reply->ptr, reply->len);
        cr_buf_reset(&answer);
        if ((err = ask(ud, t, &rd, &answer)) < 0) {
            if (err == CR_EHOSTILE) {
                char why[600];
                snprintf(why, sizeof(why), "%s", cr_error_last());
                err = sbx_hostile(s, 0, "%s", why);
            } else {
                /* The parent's own failure (disk full...): stop the child, keep the message. */
                char why[1024];
                snprintf(why, sizeof(why), "%s", cr_error_last());
                if (s->fd >= 0)
                    close(s->fd), s->fd = -1;
                char how[160];
                sbx_reap(s, 1, how, sizeof(how));
                s->dead = 1;
                snprintf(s->deadmsg, sizeof(s->deadmsg), "%s", why);
                cr_error_set("%s", why);
            }
            break;
        }
        if (frame_send(s->fd, CR_SBX_ANSWER, t, answer.ptr, answer.len) < 0) {
            err = sbx_hostile(s, 1, "it stopped reading");
            break;
        }
    }
    cr_buf_free(&answer);
    return err;
}

int cr_sbx_alive(const cr_sbx *s)
{
    return s && !s->dead;
}

const char *cr_sbx_confinement(const cr_sbx *s)
{
    return s->confinement;
}

void cr_sbx_stop(cr_sbx *s)
{
    char how[160];
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->pid > 0)
        sbx_reap(s, 0, how, sizeof(how));
    free(s->what);
    free(s->service);
    free(s);
}

int cr_sbx_shm_create(cr_sbx_shm *shm, size_t len)
{
    const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;
    memset(shm, 0, sizeof(*shm));
    shm->fd = memfd_create("cleanroom-sandbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (shm->fd < 0)
        return cr_error_errno("cannot make the parser sandbox's shared memory");
    void *m = MAP_FAILED;
    if (ftruncate(shm->fd, (off_t)len) < 0 ||
        (m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd, 0)) == MAP_FAILED ||
        fcntl(shm->fd, F_ADD_SEALS, seals) < 0) {
        int e = cr_error_errno("cannot make the parser sandbox's shared memory");
        if (m != MAP_FAILED)
            munmap(m, len);
        close(shm->fd);
        memset(shm, 0, sizeof(*shm));
        shm->fd = -1;
        return e;
    }
    shm->map = m;
    shm->len = len;
    return 0;
}

void cr_sbx_shm_free(cr_sbx_shm *shm)
{
    /* (A region is made whole or not at all: the mapping says there is a file too.) */
    if (shm->map) {
        munmap(shm->map, shm->len);
        close(shm->fd);
    }
    memset(shm, 0, sizeof(*shm));
    shm->fd = -1;
}

/* ----------------------------------------------------------------- child */

struct cr_sbx_child {
    int hooks;
    size_t nfds; /* passed by the parent: SBX_FD + 1 ... */
    int keep[SBX_MAX_KEEP];
    size_t nkeep;
    cr_buf in;   /* the current request / answer */
    cr_buf out;
};

int cr_sbx_child_keep_fd(cr_sbx_child *ch, int fd)
{
    if (ch->nkeep >= SBX_MAX_KEEP) {
        cr_error_set("too many kept files in the sandbox");
        return CR_ERROR;
    }
    ch->keep[ch->nkeep++] = fd;
    return 0;
}

int cr_sbx_child_fd(const cr_sbx_child *ch, size_t i)
{
    return ch && i < ch->nfds ? SBX_FD + 1 + (int)i : -1;
}

int cr_sbx_child_map(cr_sbx_child *ch, size_t i, const uint8_t **out, size_t *len)
{
    int fd = cr_sbx_child_fd(ch, i);
    struct stat st;
    void *m;
    *out = NULL;
    *len = 0;
    /* (Sealed against shrinking: the whole file stays mapped.) */
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX) {
        cr_error_set("the shared memory of the sandbox is missing");
        return CR_ERROR;
    }
    if ((m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
        return cr_error_errno("cannot map the shared memory of the sandbox");
    *out = m;
    *len = (size_t)st.st_size;
    return 0;
}

int cr_sbx_child_test_hooks(const cr_sbx_child *ch)
{
    return ch && ch->hooks;
}

static int has(const void *data, size_t len, const char *needle)
{
    return memmem(data, len, needle, strlen(needle)) != NULL;
}

void cr_sbx_child_test_input(const cr_sbx_child *ch, const void *data, size_t len)
{
    if (!cr_sbx_child_test_hooks(ch) || !has(data, len, "CLEANROOM-TEST-SANDBOX-"))
        return;
    if (has(data, len, "CLEANROOM-TEST-SANDBOX-CRASH")) {
        volatile int *volatile p = NULL;
        *p = 1;
    }
    if (has(data, len, "CLEANROOM-TEST-SANDBOX-ABORT"))
        abort();
    if (has(data, len, "CLEANROOM-TEST-SANDBOX-LOOP"))
        for (volatile unsigned long i = 0;; i++)
            ;
    if (has(data, len, "CLEANROOM-TEST-SANDBOX-OPEN")) {
        /* Killed by seccomp where opening is not allowed; elsewhere the root is empty: a
         * success means the confinement failed, and the child says so by aborting. */
        int fd = open("/etc/shadow", O_RDONLY);
        if (fd >= 0)
            abort();
    }
    if (has(data, len, "CLEANROOM-TEST-SANDBOX-SOCKET")) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0)
            close(fd);
    }
}

static int child_fail(int code, const char *msg)
{
    cr_buf b = {0};
    int r = -1;
    if (cr_buf_put_svarint(&b, code < 0 && code != CR_EHOSTILE ? code : CR_ERROR) == 0 &&
        cr_buf_put_str(&b, msg) == 0)
        r = frame_send(SBX_FD, CR_SBX_FAIL, 0, b.ptr, b.len);
    cr_buf_free(&b);
    return r;
}

static int child_recv(cr_sbx_child *ch, unsigned kinds, uint8_t *kind, uint16_t *type)
{
    uint8_t hdr[CR_SBX_HEADER];
    uint32_t len;
    int r = read_full(SBX_FD, hdr, sizeof(hdr), -1);
    if (r != 0)
        return r == 1 ? 1 : -1;
    if (cr_sbx_header_check(hdr, kinds, CR_SBX_MAX_FRAME, kind, type, &len) < 0)
        return -1;
    cr_buf_reset(&ch->in);
    if (cr_buf_grow(&ch->in, len) < 0 || read_full(SBX_FD, ch->in.ptr, len, -1) != 0)
        return -1;
    ch->in.len = len;
    return 0;
}

int cr_sbx_ask(cr_sbx_child *ch, uint16_t type, const void *msg, size_t len, cr_rd *answer)
{
    uint8_t kind;
    uint16_t t;
    if (frame_send(SBX_FD, CR_SBX_ASK, type, msg, len) < 0 ||
        child_recv(ch, 1u << CR_SBX_ANSWER, &kind, &t) != 0 || t != type) {
        cr_error_set("the clean room stopped answering the sandbox");
        _exit(3);
    }
    cr_rd_init(answer, ch->in.ptr, ch->in.len);
    return 0;
}

/* Confinement steps, each one failing with words in cr_error_last. */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_error_errno("cannot open %s", path);
    if (cr_fs_write_all(fd, text, strlen(text)) < 0) {
        close(fd);
        return CR_ERROR;
    }
    close(fd);
    return 0;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return 0;
}

/*
 * New namespaces and a root that holds only the read paths, read-only.
 * `paths` are absolute, normalised by the parent.
 */
static int confine_fs(char **paths, size_t n, int *userns)
{
    int pfd[SBX_MAX_PATHS];
    int root = geteuid() == 0, err = 0;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

    *userns = 0;
    if (unshare(root ? flags : flags | CLONE_NEWUSER) < 0) {
        if (!root)
            return cr_error_errno("cannot create a user namespace");
        /* Root in a container that forbids unshare: try a user namespace, still confining. */
        if (unshare(flags | CLONE_NEWUSER) < 0)
            return cr_error_errno("cannot create namespaces");
        root = 0;
    }
    if (!root) {
        char map[64];
        *userns = 1;
        if (write_file("/proc/self/setgroups", "deny") < 0)
            return CR_ERROR;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) < 0)
            return CR_ERROR;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0)
            return CR_ERROR;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return cr_error_errno("cannot make the mounts private");
    for (size_t i = 0; i < n; i++) {
        pfd[i] = open(paths[i], O_PATH | O_CLOEXEC);
        if (pfd[i] < 0) {
            err = cr_error_errno("cannot reach %s", paths[i]);
            for (size_t j = 0; j < i; j++)
                close(pfd[j]);
            return err;
        }
    }
    /* The new root: an empty tmpfs over /tmp (hidden only in this namespace). */
    if (mount("cleanroom-sandbox", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=64m,nr_inodes=4096,mode=0755") < 0) {
        err = cr_error_errno("cannot mount the sandbox's root");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char target[PATH_MAX], src[64];
        struct stat st;
        if (snprintf(target, sizeof(target), "/tmp%s", paths[i]) >= (int)sizeof(target) ||
            fstat(pfd[i], &st) < 0 || mkdirs(target) < 0) {
            err = cr_error_errno("cannot prepare %s in the sandbox", paths[i]);
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(target, 0755) < 0 && errno != EEXIST) {
                err = cr_error_errno("cannot prepare %s in the sandbox", paths[i]);
                goto out;
            }
        } else {
            int f = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (f < 0) {
                err = cr_error_errno("cannot prepare %s in the sandbox", paths[i]);
                goto out;
            }
            close(f);
        }
        snprintf(src, sizeof(src), "/proc/self/fd/%d", pfd[i]);
        if (mount(src, target, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, target, NULL,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
            err = cr_error_errno("cannot show %s read-only in the sandbox", paths[i]);
            goto out;
        }
    }
    if (chdir("/tmp") < 0 || chroot(".") < 0 || chdir("/") < 0) {
        err = cr_error_errno("cannot enter the sandbox's root");
        goto out;
    }
out:
    for (size_t i = 0; i < n; i++)
        close(pfd[i]);
    return err;
}

/* No capability left, none to regain; as root with nothing to read, become nobody. */
static int drop_privileges(int can_be_nobody, int userns, char *said, size_t saidlen)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    int nobody = 0;

    if (!userns && geteuid() == 0 && can_be_nobody) {
        gid_t g = SBX_NOBODY;
        if (setgroups(1, &g) < 0 || setresgid(SBX_NOBODY, SBX_NOBODY, SBX_NOBODY) < 0 ||
            setresuid(SBX_NOBODY, SBX_NOBODY, SBX_NOBODY) < 0)
            return cr_error_errno("cannot become the unprivileged user");
        nobody = 1;
    } else {
        prctl(PR_SET_SECUREBITS, 0x2f /* NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED + locks */, 0,
              0, 0);
        for (int c = 0; c <= 63; c++)
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
                break;
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    }
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0)
        return cr_error_errno("cannot drop the capabilities");
    snprintf(said, saidlen, "%s%s", userns ? "user namespace, " : "",
             nobody ? "user nobody" : "no capabilities");
    return 0;
}

static int limits(uint64_t mem)
{
    struct rlimit z = {0, 0}, files = {64, 64}, cpu = {3600, 3600}, fsize = {1ull << 30, 1ull << 30};
    if (setrlimit(RLIMIT_CORE, &z) < 0 || setrlimit(RLIMIT_NOFILE, &files) < 0 ||
        setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_FSIZE, &fsize) < 0)
        return cr_error_errno("cannot set the sandbox's limits");
    if (!SBX_SANITIZED && mem) {
        /* The sanitizers reserve terabytes of shadow memory: no address-space limit for them. */
        struct rlimit as = {mem, mem};
        if (setrlimit(RLIMIT_AS, &as) < 0)
            return cr_error_errno("cannot set the sandbox's memory limit");
    }
    return 0;
}

#define ALLOW(call) rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(call), 0)

static int install_seccomp(cr_sbx_child *ch, unsigned flags)
{
    const char *dbg = getenv("CLEANROOM_SANDBOX_DEBUG");
    scmp_filter_ctx ctx = seccomp_init(dbg && *dbg == '1' ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
    int rc = 0;
    if (!ctx) {
        cr_error_set("cannot prepare the seccomp filter");
        return CR_ERROR;
    }
    /* Memory, time, signals to itself, leaving. */
    ALLOW(brk);
    ALLOW(munmap);
    ALLOW(mremap);
    ALLOW(madvise);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    ALLOW(futex);
    ALLOW(clock_gettime);
    ALLOW(clock_getres);
    ALLOW(gettimeofday);
    ALLOW(getrandom);
    ALLOW(sched_yield);
    /* glibc's qsort asks the memory size before sorting a large array (a folder of the fs walk). */
    ALLOW(sysinfo);
    ALLOW(getpid);
    ALLOW(gettid);
    ALLOW(getuid);
    ALLOW(geteuid);
    ALLOW(getgid);
    ALLOW(getegid);
    ALLOW(rt_sigreturn);
    ALLOW(rt_sigprocmask);
    ALLOW(rt_sigaction);
    ALLOW(sigaltstack);
    ALLOW(exit);
    ALLOW(exit_group);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                           SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_EQ, 0));
    /* Reading what it holds; writing only to its channel, stderr and kept files. */
    ALLOW(read);
    ALLOW(readv);
    ALLOW(pread64);
    ALLOW(lseek);
    ALLOW(fstat);
    ALLOW(close);
    /*
     * fcntl only for what libraries do with their own files: descriptor and
     * status flags, duplicates, record locks (libtdb). Never F_SETOWN,
     * F_SETSIG, O_ASYNC, leases or notifications: with them a hijacked child
     * has the kernel send any signal to any process of its user when the
     * parent next writes to the channel, which seccomp would not see as kill.
     */
    static const int fcntl_ok[] = {F_GETFD, F_SETFD, F_GETFL, F_DUPFD, F_DUPFD_CLOEXEC,
                                   F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK,
                                   F_OFD_SETLKW, F_GET_SEALS};
    for (size_t i = 0; i < sizeof(fcntl_ok) / sizeof(fcntl_ok[0]); i++)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                               SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_ok[i]));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2,
                           SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)F_SETFL),
                           SCMP_A2(SCMP_CMP_MASKED_EQ, (scmp_datum_t)O_ASYNC, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                           SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
    int wfd[2 + SBX_MAX_KEEP];
    size_t nw = 0;
    wfd[nw++] = SBX_FD;
    wfd[nw++] = 2;
    for (size_t i = 0; i < ch->nkeep; i++)
        wfd[nw++] = ch->keep[i];
    /* (With CR_SBX_SCRATCH these calls are allowed on any file below, and libseccomp
     * refuses a conditional rule next to an unconditional one.) */
    for (size_t i = 0; i < nw && !(flags & CR_SBX_SCRATCH); i++) {
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)wfd[i]));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(writev), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)wfd[i]));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)wfd[i]));
    }
    for (size_t i = 0; i < ch->nkeep && !(flags & CR_SBX_SCRATCH); i++) {
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(pwrite64), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ch->keep[i]));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ftruncate), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ch->keep[i]));
    }
    if (flags & CR_SBX_SCRATCH) {
        /* Writes can only land in the private tmpfs root: the read paths are read-only binds. */
        ALLOW(openat);
        ALLOW(write);
        ALLOW(writev);
        ALLOW(sendmsg);
        ALLOW(pwrite64);
        ALLOW(ftruncate);
        ALLOW(mkdir);
        ALLOW(mkdirat);
        ALLOW(symlink);
        ALLOW(symlinkat);
        ALLOW(unlink);
        ALLOW(unlinkat);
        ALLOW(rmdir);
        flags |= CR_SBX_OPEN_READ;
    }
    if (flags & CR_SBX_OPEN_READ) {
        /* Read-only opens, inside a root that holds only the read paths. */
        /* (O_TMPFILE includes O_DIRECTORY, which opendir needs: only its own bit is refused.) */
        const scmp_datum_t bad = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_PATH | (O_TMPFILE & ~O_DIRECTORY);
        if (!(flags & CR_SBX_SCRATCH))
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                   SCMP_A2(SCMP_CMP_MASKED_EQ, bad, O_RDONLY));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                               SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
        ALLOW(getdents64);
        ALLOW(readlink);
        ALLOW(access);
        ALLOW(faccessat);
        ALLOW(statx);
        ALLOW(getcwd);
    }
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        cr_error_set("cannot install the seccomp filter (%s)", strerror(-rc));
        return CR_ERROR;
    }
    return 0;
}

static void sigsys_debug(int sig, siginfo_t *si, void *uc)
{
    char msg[160];
    const ucontext_t *u = uc;
    (void)sig;
    /* Diagnostics only (CLEANROOM_SANDBOX_DEBUG=1): the call and its first three arguments. */
    int n = snprintf(msg, sizeof(msg),
                     "cleanroom-sandbox: forbidden system call %d (%#llx, %#llx, %#llx)\n",
                     si->si_syscall, (unsigned long long)u->uc_mcontext.gregs[REG_RDI],
                     (unsigned long long)u->uc_mcontext.gregs[REG_RSI],
                     (unsigned long long)u->uc_mcontext.gregs[REG_RDX]);
    (void)!write(2, msg, (size_t)n);
    _exit(99);
}

static void child_main(void)
{
    cr_sbx_child ch;
    uint8_t kind;
    uint16_t type;
    char *service = NULL, *paths[SBX_MAX_PATHS];
    size_t npaths = 0;
    uint8_t hooks = 0;
    uint64_t mem = 0, n = 0;
    const uint8_t *sdata = NULL;
    size_t slen = 0;
    const cr_sbx_service *svc;
    void *state = NULL;
    cr_rd rd;
    int userns = 0;
    char said[200], who[80];

    memset(&ch, 0, sizeof(ch));
    /* Nothing but stdio, the channel and the files passed crosses into the sandbox. */
    const char *nf = getenv("CLEANROOM_SANDBOX_FDS");
    if (nf && nf[0] >= '0' && nf[0] <= '0' + CR_SBX_MAX_FDS && !nf[1])
        ch.nfds = (size_t)(nf[0] - '0');
    unsetenv("CLEANROOM_SANDBOX_FDS");
    syscall(SYS_close_range, SBX_FD + 1 + (unsigned)ch.nfds, ~0u, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(2);
    if (child_recv(&ch, 1u << CR_SBX_SETUP, &kind, &type) != 0)
        _exit(2);
    cr_rd_init(&rd, ch.in.ptr, ch.in.len);
    if (cr_rd_str(&rd, &service, 256) < 0 || cr_rd_u8(&rd, &hooks) < 0 || cr_rd_u64(&rd, &mem) < 0 ||
        cr_rd_varint(&rd, &n) < 0 || n > SBX_MAX_PATHS)
        _exit(2);
    for (; npaths < n; npaths++)
        if (cr_rd_str(&rd, &paths[npaths], PATH_MAX) < 0 || paths[npaths][0] != '/')
            _exit(2);
    if (cr_rd_bytes(&rd, &sdata, &slen, CR_SBX_MAX_FRAME) < 0)
        _exit(2);
    ch.hooks = hooks == 1;
    if (!(svc = sbx_find(service))) {
        child_fail(CR_ERROR, "unknown sandbox service");
        _exit(2);
    }
    if (getenv("CLEANROOM_SANDBOX_DEBUG") && getenv("CLEANROOM_SANDBOX_DEBUG")[0] == '1') {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = sigsys_debug;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
    }
    /* The setup data outlives the channel buffer, which requests reuse. */
    uint8_t *setup = slen ? malloc(slen) : NULL;
    if (slen && !setup)
        _exit(2);
    if (slen)
        memcpy(setup, sdata, slen);
    cr_rd srd;
    cr_rd_init(&srd, setup, slen);
    /*
     * libc loads its character set conversions (hivex turns UTF-16 and Latin-1
     * names into UTF-8 with iconv) from files the empty root will not have:
     * load them now, and keep them open so they stay loaded.
     */
    static const char *const conv[][2] = {{"UTF-8", "UTF-16LE"}, {"UTF-16LE", "UTF-8"},
                                          {"UTF-8", "LATIN1"}, {"LATIN1", "UTF-8"}};
    for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++)
        (void)iconv_open(conv[i][0], conv[i][1]);
    if (confine_fs(paths, npaths, &userns) < 0 || (svc->init && svc->init(&ch, &srd, &state) < 0) ||
        drop_privileges(npaths == 0, userns, who, sizeof(who)) < 0 || limits(mem) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
        install_seccomp(&ch, svc->flags) < 0) {
        child_fail(CR_ERROR, cr_error_last());
        _exit(2);
    }
    snprintf(said, sizeof(said), "namespaces (mount, network, IPC, UTS), empty root with %zu "
             "read-only path(s), %s, no-new-privs, seccomp%s",
             npaths, who, SBX_SANITIZED ? "" : ", memory limit");
    if (frame_send(SBX_FD, CR_SBX_READY, 0, said, strlen(said)) < 0)
        _exit(2);
    for (;;) {
        int r = child_recv(&ch, 1u << CR_SBX_REQ, &kind, &type);
        if (r == 1)
            _exit(0);
        if (r != 0)
            _exit(2);
        cr_rd req;
        cr_rd_init(&req, ch.in.ptr, ch.in.len);
        cr_buf_reset(&ch.out);
        cr_error_clear();
        int err = svc->serve(&ch, state, type, &req, &ch.out);
        if (err < 0) {
            if (child_fail(err, cr_error_last()[0] ? cr_error_last() : "failed") < 0)
                _exit(2);
        } else if (frame_send(SBX_FD, CR_SBX_REPLY, type, ch.out.ptr, ch.out.len) < 0) {
            _exit(2);
        }
    }
}

/* ------------------------------------------------------------- self-test */

/*
 * The "selftest" service proves the confinement on this machine
 * (`cleanroom doctor` and the sandbox tests): each request tries one thing a
 * hijacked parser would.
 */
enum { ST_ECHO = 1, ST_CRASH, ST_ABORT, ST_LOOP, ST_OPEN, ST_SOCKET, ST_IDENTITY, ST_EXEC, ST_HUGE,
       ST_SHM, ST_SIGIO };

static int st_serve(cr_sbx_child *ch, void *state, uint16_t type, cr_rd *req, cr_buf *reply)
{
    (void)state;
    switch (type) {
    case ST_ECHO: {
        size_t left = cr_rd_left(req);
        const uint8_t *p;
        if (cr_rd_raw(req, &p, left) < 0)
            return CR_ERROR;
        return cr_buf_put(reply, p, left);
    }
    case ST_CRASH: {
        volatile int *volatile p = NULL;
        *p = 1;
        return 0;
    }
    case ST_ABORT:
        abort();
    case ST_LOOP:
        for (volatile unsigned long i = 0;; i++)
            ;
    case ST_OPEN: {
        int fd = open("/etc/shadow", O_RDONLY);
        char b[8];
        if (fd >= 0 && read(fd, b, sizeof(b)) > 0)
            return cr_buf_put(reply, "read", 4);
        return cr_buf_put(reply, "refused", 7);
    }
    case ST_SOCKET: {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        return cr_buf_put(reply, fd >= 0 ? "socket" : "refused", fd >= 0 ? 6 : 7);
    }
    case ST_EXEC: {
        char *argv[] = {"/bin/sh", NULL};
        execve("/bin/sh", argv, NULL);
        return cr_buf_put(reply, "refused", 7);
    }
    case ST_IDENTITY: {
        char b[128];
        struct stat st;
        int null = fstat(2, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
        int n = snprintf(b, sizeof(b), "uid=%u gid=%u stderr=%s", (unsigned)getuid(),
                         (unsigned)getgid(), null ? "null" : "kept");
        return cr_buf_put(reply, b, (size_t)n);
    }
    case ST_HUGE: {
        /* A reply larger than the parent allows. */
        if (cr_buf_grow(reply, 2u << 20) < 0)
            return CR_ERROR;
        memset(reply->ptr, 'x', 2u << 20);
        reply->len = 2u << 20;
        return 0;
    }
    case ST_SIGIO:
        /* Signals by way of the channel: the parent would get SIGKILL on its next write. */
        if (fcntl(SBX_FD, F_SETSIG, SIGKILL) == 0 && fcntl(SBX_FD, F_SETOWN, getppid()) == 0 &&
            fcntl(SBX_FD, F_SETFL, O_ASYNC | fcntl(SBX_FD, F_GETFL)) == 0)
            return cr_buf_put(reply, "armed", 5);
        return cr_buf_put(reply, "refused", 7);
    case ST_SHM: {
        /*
         * A shared region (the first file passed, u64 its length, checked): its first
         * bytes as this child reads them, then what became of each way a
         * hijacked parser would try to change the parent's bytes ("refused"
         * or "WROTE"): a writable shared mapping, making its read-only mapping
         * writable, growing or shrinking the file.
         */
        uint64_t want;
        size_t len;
        const uint8_t *m;
        int fd = cr_sbx_child_fd(ch, 0);
        if (cr_rd_u64(req, &want) < 0 || cr_sbx_child_map(ch, 0, &m, &len) < 0 || len != want)
            return CR_EINPUT;
        if (cr_buf_put(reply, m, 16) < 0)
            return CR_ERROR;
        void *w = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        int r1 = w != MAP_FAILED;
        if (r1)
            ((volatile uint8_t *)w)[0] = 'X';
        int r2 = mprotect((void *)m, (size_t)len, PROT_READ | PROT_WRITE) == 0;
        if (r2)
            ((volatile uint8_t *)m)[1] = 'Y';
        char b[80];
        int n = snprintf(b, sizeof(b), " shared:%s mprotect:%s", r1 ? "WROTE" : "refused",
                         r2 ? "WROTE" : "refused");
        return cr_buf_put(reply, b, (size_t)n);
    }
    default:
        cr_error_set("unknown request %u", type);
        return CR_EINPUT;
    }
}

static const cr_sbx_service st_service = {"selftest", 0, NULL, st_serve};

/*
 * Before main(): services register at priority 200 (CR_SBX_SERVICE), and
 * the child's loop starts from the constructor of priority 65535, which runs
 * after them; in an ordinary run it returns at once.
 */
CR_SBX_SERVICE(st_service)

__attribute__((constructor(65535))) static void sbx_child_entry(void)
{
    const char *v = getenv("CLEANROOM_SANDBOX_CHILD");
    if (!v || strcmp(v, "1") != 0)
        return;
    unsetenv("CLEANROOM_SANDBOX_CHILD");
    child_main();
    _exit(0);
}
