/*
 * Unit tests of the HTTP layer shared by the vault server and the console
 * (src/util/http.c): listen addresses parsed and bad ones refused; a daemon
 * without TLS refused on an address other than loopback; a certificate made
 * with a private key (0600) and a stable fingerprint, not made again over an
 * existing one; a TLS daemon on a free port answering a real client (libcurl)
 * with the common headers, and nothing to a plain-HTTP client; Host headers
 * checked against DNS rebinding (only configured names, the listen address and,
 * on loopback or every address, the loopback names).
 */
#include "test.h"
#include "util/http.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

static enum MHD_Result hello(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    return cr_http_reply_text(c, 200, "hello\n");
}

static int nlog;
static void on_log(int refused, const char *line, void *payload)
{
    (void)refused, (void)payload;
    nlog++;
    fprintf(stderr, "  log: %s\n", line);
}

static size_t collect(char *p, size_t size, size_t n, void *b)
{
    cr_buf_put(b, p, size * n);
    return size * n;
}

static void test_listen(void)
{
    struct sockaddr_storage ss;
    CHECK_OK(cr_http_parse_listen(&ss, "127.0.0.1:8444"));
    CHECK(ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == 8444);
    CHECK(cr_http_addr_is_loopback((struct sockaddr *)&ss));
    CHECK_OK(cr_http_parse_listen(&ss, "[::1]:0"));
    CHECK(ss.ss_family == AF_INET6 && cr_http_addr_is_loopback((struct sockaddr *)&ss));
    CHECK_OK(cr_http_parse_listen(&ss, "0.0.0.0:1"));
    CHECK(!cr_http_addr_is_loopback((struct sockaddr *)&ss));
    CHECK_OK(cr_http_parse_listen(&ss, "127.255.0.9:1"));
    CHECK(cr_http_addr_is_loopback((struct sockaddr *)&ss));
    static const char *const bad[] = {"", "8444", ":8444", "127.0.0.1:", "127.0.0.1:65536",
                                      "127.0.0.1:-1", "127.0.0.1:80x", "host.example:80",
                                      "[::1:80", "::1:80", "1.2.3.4.5:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(cr_http_parse_listen(&ss, bad[i]) == CR_EINPUT);
    CHECK(cr_http_parse_listen(&ss, NULL) == CR_EINPUT);
}

static void test_host(void)
{
    static const char *const names[] = {"cleanroom.chu.local", "10.1.2.3", "::1"};
    /* loopback: the loopback names, any port */
    CHECK(cr_http_host_ok("127.0.0.1:8444", "127.0.0.1:8444", NULL, 0));
    CHECK(cr_http_host_ok("localhost:8444", "127.0.0.1:8444", NULL, 0));
    CHECK(cr_http_host_ok("LOCALHOST", "127.0.0.1:0", NULL, 0));
    CHECK(cr_http_host_ok("[::1]:8444", "127.0.0.1:8444", NULL, 0));
    /* the rebinding attack: the attacker's name pointed at 127.0.0.1 */
    CHECK(!cr_http_host_ok("evil.example:8444", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("localhost.evil.example", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("127.0.0.1.evil.example", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok(NULL, "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("localhost:84x", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("localhost:", "127.0.0.1:8444", NULL, 0));
    CHECK(!cr_http_host_ok("::1", "127.0.0.1:8444", NULL, 0));
    /* configured names; an address listened on */
    CHECK(cr_http_host_ok("cleanroom.chu.local:8444", "10.1.2.3:8444", names, 3));
    CHECK(cr_http_host_ok("Cleanroom.CHU.local", "10.1.2.3:8444", names, 3));
    CHECK(cr_http_host_ok("10.1.2.3:8444", "10.1.2.3:8444", NULL, 0));
    CHECK(cr_http_host_ok("[::1]:1", "10.1.2.3:8444", names, 3));
    CHECK(!cr_http_host_ok("localhost:8444", "10.1.2.3:8444", NULL, 0));
    CHECK(!cr_http_host_ok("cleanroom.chu.local.evil:8444", "10.1.2.3:8444", names, 3));
    CHECK(!cr_http_host_ok("10.1.2.4:8444", "10.1.2.3:8444", names, 3));
    /* every address: the loopback names and the configured ones, not 0.0.0.0 itself */
    CHECK(cr_http_host_ok("127.0.0.1:8444", "0.0.0.0:8444", names, 3));
    CHECK(cr_http_host_ok("cleanroom.chu.local", "0.0.0.0:8444", names, 3));
    CHECK(!cr_http_host_ok("0.0.0.0:8444", "0.0.0.0:8444", names, 3));
    CHECK(!cr_http_host_ok("evil.example", "[::]:8444", names, 3));
}

static void test_plain_refused(void)
{
    cr_http *h = NULL;
    cr_http_config cfg = {.listen = "0.0.0.0:0", .max_connections = 8, .max_per_ip = 2,
                          .timeout_s = 5, .threads = 1, .handler = hello, .log = on_log};
    CHECK(cr_http_start(&h, &cfg) == CR_EINPUT && h == NULL);
    CHECK(strstr(cr_error_last(), "without TLS") != NULL);
}

static void test_tls(const char *dir)
{
    char cert[512], key[512], fp1[128], fp2[128];
    cr_buf c = CR_BUF_INIT, k = CR_BUF_INIT;
    struct stat st;
    int made = 0;
    snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    CHECK(cr_http_tls_load(&c, &k, cert, key, NULL, &made) == CR_ENOTFOUND);
    REQUIRE(cr_http_tls_load(&c, &k, cert, key, "test", &made) == 0);
    CHECK(made == 1);
    CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(c.len > 0 && c.ptr[c.len - 1] == 0 && strstr((char *)c.ptr, "BEGIN CERTIFICATE"));
    CHECK_OK(cr_http_tls_fingerprint(fp1, (const char *)c.ptr, c.len));
    CHECK(strncmp(fp1, "sha256//", 8) == 0 && strlen(fp1) == 8 + 44);
    cr_http_tls_clear(&c, &k);
    REQUIRE(cr_http_tls_load(&c, &k, cert, key, "test", &made) == 0);
    CHECK(made == 0); /* kept: a new key would break every pinned client */
    CHECK_OK(cr_http_tls_fingerprint(fp2, (const char *)c.ptr, c.len));
    CHECK(strcmp(fp1, fp2) == 0);
    CHECK(cr_http_tls_fingerprint(fp2, "not a certificate", 17) == CR_ECORRUPT);

    cr_http *h = NULL;
    cr_http_config cfg = {.listen = "127.0.0.1:0", .cert_pem = (const char *)c.ptr,
                          .key_pem = (const char *)k.ptr, .max_connections = 8,
                          .max_per_ip = 2, .timeout_s = 5, .threads = 1, .handler = hello,
                          .name = "test", .log = on_log};
    REQUIRE(cr_http_start(&h, &cfg) == 0);
    unsigned port = cr_http_port(h);
    CHECK(port > 0);

    char url[64];
    cr_buf body = CR_BUF_INIT, head = CR_BUF_INIT;
    long status = 0;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/x", port);
    CURL *cu = curl_easy_init();
    REQUIRE(cu);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_PINNEDPUBLICKEY, fp1);
    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, &head);
    CHECK(curl_easy_perform(cu) == CURLE_OK);
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    CHECK(status == 200);
    CHECK(body.len == 6 && memcmp(body.ptr, "hello\n", 6) == 0);
    cr_buf_put_u8(&head, 0);
    CHECK(strstr((char *)head.ptr, "X-Content-Type-Options: nosniff") != NULL);
    CHECK(strstr((char *)head.ptr, "Cache-Control: no-store") != NULL);
    /* plain HTTP to a TLS daemon gets no answer */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", port);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 5L);
    cr_buf_reset(&body);
    CHECK(curl_easy_perform(cu) != CURLE_OK || body.len == 0);
    curl_easy_cleanup(cu);
    cr_buf_free(&body);
    cr_buf_free(&head);
    cr_http_stop(h);
    cr_http_tls_clear(&c, &k);
    unlink(cert);
    unlink(key);
}

int main(void)
{
    char dir[] = "/tmp/cr-test-http.XXXXXX";
    REQUIRE(mkdtemp(dir));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_listen();
    test_host();
    test_plain_refused();
    test_tls(dir);
    curl_global_cleanup();
    rmdir(dir);
    return test_summary("http");
}
