/*
 * The HTTP layer shared by the vault server (src/server) and the web console
 * (src/console): libmicrohttpd with GnuTLS, bounded everywhere (connections,
 * connections per address, time per connection, threads), its own errors and
 * every refusal logged through one function, and the self-signed certificate
 * both make on their first start.
 *
 * Each user of the layer keeps its own request handler (MHD's access handler
 * callback): routes, authentication and what each role may do stay with it.
 */
#ifndef CR_UTIL_HTTP_H
#define CR_UTIL_HTTP_H

#include "util/util.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <sys/socket.h>

/** Log sink: one line, refused = 1 for a refusal (also sent to syslog). */
typedef void (*cr_http_log_fn)(int refused, const char *line, void *payload);

typedef struct cr_http_config {
    const char *listen;     /* "ADDR:PORT" or "[ADDR6]:PORT"; port 0: any free port */
    const char *cert_pem;   /* NUL-terminated PEM; NULL: plain HTTP (loopback only) */
    const char *key_pem;
    unsigned max_connections, max_per_ip, timeout_s, threads;
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
    MHD_RequestCompletedCallback completed; /* may be NULL; gets handler_cls */
    const char *name;       /* "cleanroom server": prefix of log lines, syslog identity */
    cr_http_log_fn log;     /* NULL: stderr */
    void *log_payload;
} cr_http_config;

typedef struct cr_http cr_http;

/**
 * Start serving (threads of its own). A plain-HTTP daemon on an address other
 * than loopback is refused (CR_EINPUT): passwords and cookies would cross the
 * network in clear.
 */
int cr_http_start(cr_http **out, const cr_http_config *cfg);
/** The port listened on (useful with port 0). */
unsigned cr_http_port(const cr_http *h);
/** Stop and free; accepts NULL. */
void cr_http_stop(cr_http *h);
/** Sleep until *stop (checked every 200 ms). */
void cr_http_wait(volatile int *stop);

/** A log line through the daemon's sink; refused lines also go to syslog. */
void cr_http_log(const cr_http *h, int refused, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** "ADDR:PORT" or "[ADDR6]:PORT" into a socket address. @return 0 or CR_EINPUT. */
int cr_http_parse_listen(struct sockaddr_storage *ss, const char *listen);
/** 1 if the socket address is 127.0.0.0/8 or ::1. */
int cr_http_addr_is_loopback(const struct sockaddr *sa);
/** The client's address as text (ip[64]) and whether it is loopback. */
void cr_http_client(struct MHD_Connection *c, char ip[64], int *loopback);

/**
 * DNS rebinding: may a request with this Host header be answered? A page of
 * another site whose name was re-pointed at this address sends its own name,
 * so only these are accepted (case-insensitive, any port): the names and
 * addresses in `allowed`; the host of `listen` unless it is 0.0.0.0 or [::];
 * and, when listening on loopback or on every address, localhost, 127.0.0.1
 * and [::1]. No Host header: refused.
 * @return 1 if accepted, 0 if not.
 */
int cr_http_host_ok(const char *host, const char *listen, const char *const *allowed,
                    size_t nallowed);

/**
 * Queue a response with a copy of `data` and the headers every answer carries
 * (no caching of private pages, no MIME sniffing, no framing).
 * @param type Content-Type
 */
enum MHD_Result cr_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *data, size_t len);
/** A text/plain answer. */
enum MHD_Result cr_http_reply_text(struct MHD_Connection *c, unsigned status, const char *text);
/** The headers added by cr_http_reply, for responses made elsewhere. */
void cr_http_common_headers(struct MHD_Response *r);

/**
 * A new EC P-256 key (0600, never world-readable) and a self-signed
 * certificate for it naming `cn`, this host, localhost, 127.0.0.1 and ::1,
 * valid 10 years, as PEM files.
 */
int cr_http_tls_make(const char *cert_path, const char *key_path, const char *cn);
/** "sha256//BASE64" of the public key of a PEM certificate (curl's pin format). */
int cr_http_tls_fingerprint(char out[128], const char *cert_pem, size_t len);
/**
 * Read a certificate and its key into NUL-terminated buffers (the key is wiped
 * by cr_http_tls_clear). Missing files are made first when `make_cn` is not
 * NULL; *made says so (the caller prints the fingerprint).
 */
int cr_http_tls_load(cr_buf *cert, cr_buf *key, const char *cert_path, const char *key_path,
                     const char *make_cn, int *made);
void cr_http_tls_clear(cr_buf *cert, cr_buf *key);

#endif
