/*
 * Probes: the network under them, every wait bounded by the attempt's deadline.
 *
 * Name resolution goes through getaddrinfo_a() and waits with gai_suspend()
 * until the deadline: a dead DNS server (common when the directory and DNS are
 * not back yet) must not hang a probe. A request that cannot be cancelled
 * keeps running in glibc's helper thread, so its small control block is
 * deliberately left allocated rather than freed under that thread's feet.
 *
 * Connect is non-blocking, waited for with poll(), one address after another
 * (a name may resolve to IPv6 and IPv4); reads and writes poll too.
 */
#include "recover/probe_priv.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

__attribute__((format(printf, 2, 0))) static void vset(pr_ctx *ctx, const char *fmt, va_list ap)
{
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
}

int pr_fail(pr_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(ctx, fmt, ap);
    va_end(ap);
    return PR_FAIL;
}

int pr_pass(pr_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(ctx, fmt, ap);
    va_end(ap);
    return PR_PASS;
}

int pr_timeout(pr_ctx *ctx, const char *what)
{
    ctx->timed_out = 1;
    if (what)
        return pr_fail(ctx, "timed out after %.1f s while %s", ctx->timeout, what);
    return pr_fail(ctx, "timed out after %.1f s", ctx->timeout);
}

double pr_left(const pr_ctx *ctx)
{
    return ctx->deadline - cr_time_mono();
}

void pr_clean_text(char *out, size_t outlen, const uint8_t *src, size_t srclen, size_t max)
{
    size_t n = 0, room = outlen - 1;
    int cut = 0;
    if (srclen > max) {
        srclen = max;
        cut = 1;
    }
    if (srclen > room) {
        srclen = room;
        cut = 1;
    }
    if (cut && srclen > room - 3)
        srclen = room - 3;
    for (size_t i = 0; i < srclen; i++) {
        uint8_t c = src[i];
        out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* Milliseconds to wait in poll(): what is left, at least 1 (so that a
 * deadline just passed still gets one look), at most INT_MAX. */
static int poll_ms(const pr_ctx *ctx)
{
    double left = pr_left(ctx);
    if (left <= 0)
        return 0;
    double ms = left * 1000.0 + 1.0;
    return ms > 2147483647.0 ? 2147483647 : (int)ms;
}

/* Wait for `events` on fd until the deadline. @return 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(const pr_ctx *ctx, int fd, short events)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = poll_ms(ctx);
        if (ms <= 0)
            return 0;
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            if (pr_left(ctx) <= 0)
                return 0;
            continue;
        }
        return 1;
    }
}

static const char *connect_error_words(int e)
{
    switch (e) {
    case ECONNREFUSED: return "connection refused (nothing listens on that port, or a firewall rejects)";
    case EHOSTUNREACH: return "no route to host";
    case ENETUNREACH: return "network unreachable";
    case ETIMEDOUT: return "connection timed out";
    default: return strerror(e);
    }
}

/* Resolve with a deadline. @return PR_PASS with *out, or PR_FAIL. */
static int resolve(struct addrinfo **out, pr_ctx *ctx, const char *host, const char *port)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    /* A numeric address needs no DNS: answer at once. */
    if (getaddrinfo(host, port, &hints, out) == 0)
        return PR_PASS;

    /* The control block and its strings live on the heap: if the lookup
     * cannot be cancelled at the deadline, glibc still writes into it. */
    struct lookup {
        struct gaicb cb;
        struct addrinfo hints;
        char host[256], port[16];
    } *lk = calloc(1, sizeof(*lk));
    if (!lk)
        return pr_fail(ctx, "out of memory");
    if (strlen(host) >= sizeof(lk->host)) {
        free(lk);
        return pr_fail(ctx, "host name too long");
    }
    strcpy(lk->host, host);
    snprintf(lk->port, sizeof(lk->port), "%s", port);
    lk->hints.ai_family = AF_UNSPEC;
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->hints.ai_flags = AI_NUMERICSERV;
    lk->cb.ar_name = lk->host;
    lk->cb.ar_service = lk->port;
    lk->cb.ar_request = &lk->hints;
    struct gaicb *list[1] = {&lk->cb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (rc != 0) {
        free(lk);
        return pr_fail(ctx, "cannot resolve the name %s: %s", host, gai_strerror(rc));
    }
    for (;;) {
        rc = gai_error(&lk->cb);
        if (rc != EAI_INPROGRESS)
            break;
        double left = pr_left(ctx);
        if (left <= 0)
            break;
        struct timespec ts = {.tv_sec = (time_t)left,
                              .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        const struct gaicb *const wait[1] = {&lk->cb};
        gai_suspend(wait, 1, &ts);
    }
    if (rc == EAI_INPROGRESS) {
        if (gai_cancel(&lk->cb) == EAI_CANCELED)
            free(lk);
        /* else: still running in glibc's thread; see the top of the file. */
        return pr_timeout(ctx, "resolving the name");
    }
    if (rc != 0) {
        free(lk);
        return pr_fail(ctx, "cannot resolve the name %s: %s (check DNS, or give the address)",
                       host, gai_strerror(rc));
    }
    *out = lk->cb.ar_result;
    free(lk);
    return PR_PASS;
}

int pr_net_connect(int *fd, pr_ctx *ctx, const char *host, unsigned int port)
{
    char portstr[16];
    struct addrinfo *ai = NULL;
    int err, last_errno = 0, s = -1;
    *fd = -1;
    snprintf(portstr, sizeof(portstr), "%u", port);
    if ((err = resolve(&ai, ctx, host, portstr)) != PR_PASS)
        return err;
    err = PR_FAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(s, a->ai_addr, a->ai_addrlen) == 0)
            goto connected;
        if (errno != EINPROGRESS) {
            last_errno = errno;
            close(s);
            s = -1;
            continue;
        }
        int w = wait_fd(ctx, s, POLLOUT);
        if (w == 0) {
            close(s);
            s = -1;
            err = pr_timeout(ctx, "connecting");
            goto done;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (w < 0)
            soerr = errno;
        else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr == 0)
            goto connected;
        last_errno = soerr;
        close(s);
        s = -1;
    }
    err = pr_fail(ctx, "%s", connect_error_words(last_errno ? last_errno : ECONNREFUSED));
    goto done;
connected:
    *fd = s;
    err = PR_PASS;
done:
    freeaddrinfo(ai);
    return err;
}

/* ------------------------------------------------------------------ pr_io */

static int sock_read(void *self, pr_ctx *ctx, uint8_t *buf, size_t len, size_t *got)
{
    int fd = *(int *)self;
    *got = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, len, 0);
        if (r >= 0) {
            *got = (size_t)r;
            return PR_PASS;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            if (errno == ECONNRESET)
                return pr_fail(ctx, "the connection was reset by the peer");
            return pr_fail(ctx, "read failed: %s", strerror(errno));
        }
        int w = wait_fd(ctx, fd, POLLIN);
        if (w == 0)
            return pr_timeout(ctx, "waiting for the answer");
        if (w < 0)
            return pr_fail(ctx, "poll failed: %s", strerror(errno));
    }
}

static int sock_write(void *self, pr_ctx *ctx, const uint8_t *buf, size_t len)
{
    int fd = *(int *)self;
    size_t off = 0;
    while (off < len) {
        ssize_t r = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            if (errno == EPIPE || errno == ECONNRESET)
                return pr_fail(ctx, "the peer closed the connection");
            return pr_fail(ctx, "write failed: %s", strerror(errno));
        }
        int w = wait_fd(ctx, fd, POLLOUT);
        if (w == 0)
            return pr_timeout(ctx, "sending");
        if (w < 0)
            return pr_fail(ctx, "poll failed: %s", strerror(errno));
    }
    return PR_PASS;
}

void pr_io_socket(pr_io *io, int *fd)
{
    io->read = sock_read;
    io->write = sock_write;
    io->self = fd;
}

static int mem_read(void *self, pr_ctx *ctx, uint8_t *buf, size_t len, size_t *got)
{
    pr_memio *m = self;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    *got = n;
    return PR_PASS;
}

static int mem_write(void *self, pr_ctx *ctx, const uint8_t *buf, size_t len)
{
    pr_memio *m = self;
    m->written += len;
    return PR_PASS;
}

void pr_io_memory(pr_io *io, pr_memio *m)
{
    io->read = mem_read;
    io->write = mem_write;
    io->self = m;
}

int pr_io_read_full(const pr_io *io, pr_ctx *ctx, uint8_t *buf, size_t len, const char *what)
{
    size_t off = 0;
    while (off < len) {
        size_t got = 0;
        int err = io->read(io->self, ctx, buf + off, len - off, &got);
        if (err != PR_PASS)
            return err;
        if (got == 0)
            return pr_fail(ctx, "the peer closed the connection %s", what);
        off += got;
    }
    return PR_PASS;
}
