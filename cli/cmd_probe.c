/*
 * cleanroom probe: run one health probe by hand.
 *
 * The probes of a recovery plan, one at a time, from the command line: a
 * technician checks that a restored service answers (or why it does not)
 * before or after `cleanroom recover` does. Needs no vault.
 */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* docs/exit-codes.md: the probe ran and the service did not pass it. */

static const char help_text[] =
    "usage: cleanroom probe KIND [OPTIONS]\n"
    "\n"
    "Check that a service answers. KIND is one of:\n"
    "  tcp       connect to --host:--port\n"
    "  http      GET --url (http:// or https://); status 200..399 (or --expect-status) and\n"
    "            optionally a body containing --expect-body; redirects are not followed\n"
    "  ldap      bind as --bind-dn (password from the variable named by --password-env;\n"
    "            anonymous without --bind-dn), then search --base with --filter\n"
    "  postgres  connect with --conninfo and run --query (default SELECT 1), compare the\n"
    "            first value with --expect\n"
    "  dicom     DICOM C-ECHO (verification) to --host:--port (default port 104)\n"
    "  hl7       send an HL7 v2 message over MLLP to --host:--port (default port 2575) and\n"
    "            expect an ACK with code AA or CA\n"
    "  dns       ask the DNS server --host (IPv4 address, port 53) for --record of --type\n"
    "            (A, AAAA or SRV); at least one record, or one equal to --expect\n"
    "  kerberos  AS exchange with the KDC --host (port 88) for --principal (default\n"
    "            Administrator) in --realm: the KDC asks for pre-authentication; with\n"
    "            --password-env, a ticket-granting ticket is obtained\n"
    "  smb       list the shares of --host (port 445), anonymously or as --user with\n"
    "            --password-env; each --share must be there\n"
    "\n"
    "Options:\n"
    "  --host H            host name or address (default 127.0.0.1)\n"
    "  --port P            TCP port\n"
    "  --url U             http: the URL; ldap: ldap://host:port or ldaps://host:port\n"
    "  --expect-status N   http: this exact status\n"
    "  --expect-body S     http: the body must contain S\n"
    "  --ca-file FILE      http, ldap: trust this CA too (TLS is always verified)\n"
    "  --bind-dn DN        ldap: bind as DN\n"
    "  --password-env VAR  ldap, postgres, kerberos, smb: the environment variable holding\n"
    "                      the password\n"
    "                      (never put a password on the command line)\n"
    "  --base B            ldap: search base (default: read the root DSE)\n"
    "  --filter F          ldap: search filter (default (objectClass=*))\n"
    "  --min-entries N     ldap: entries the search must find (default 1)\n"
    "  --conninfo S        postgres: libpq connection string, e.g.\n"
    "                      'host=10.0.0.8 port=5432 dbname=dpi user=probe'\n"
    "  --query Q           postgres: query to run (default SELECT 1)\n"
    "  --expect V          postgres: the first value returned must equal V;\n"
    "                      dns: one record must be V (address, or SRV target host)\n"
    "  --calling-ae A      dicom: our AE title (default CLEANROOM)\n"
    "  --called-ae A       dicom: the server's AE title (default ANY-SCP)\n"
    "  --message FILE      hl7: the message to send (default: a test ADT^A01, processing id T)\n"
    "  --record NAME       dns: the name to ask for, e.g. _ldap._tcp.dc._msdcs.example.org\n"
    "  --type T            dns: A (default), AAAA or SRV\n"
    "  --realm R           kerberos: the realm, e.g. EXAMPLE.ORG\n"
    "  --principal P       kerberos: the account, without realm (default Administrator)\n"
    "  --user U            smb: DOMAIN\\user or user (default: anonymous)\n"
    "  --share S           smb: a share that must be listed (repeat for several)\n"
    "  --timeout S         seconds per attempt (default 5)\n"
    "  --retries N         extra attempts after a failure (default 2)\n"
    "  --interval S        seconds between attempts (default 2)\n"
    "  --json              {kind, ok, attempts, seconds, message}\n"
    "\n"
    "Prints 'probe passed: ...' (exit 0) or 'cleanroom: error: probe failed: ...' (exit 10).\n"
    "\n"
    "Exit codes: 0 the probe passed, 1 error, 2 usage (bad option, incomplete probe, password\n"
    "variable not set), 10 the probe failed.\n";

enum {
    OPT_HOST = CLI_OPT_FIRST_CMD,
    OPT_PORT,
    OPT_URL,
    OPT_EXPECT_STATUS,
    OPT_EXPECT_BODY,
    OPT_CA_FILE,
    OPT_BIND_DN,
    OPT_PASSWORD_ENV,
    OPT_BASE,
    OPT_FILTER,
    OPT_MIN_ENTRIES,
    OPT_CONNINFO,
    OPT_QUERY,
    OPT_EXPECT,
    OPT_CALLING_AE,
    OPT_CALLED_AE,
    OPT_MESSAGE,
    OPT_RECORD,
    OPT_TYPE,
    OPT_REALM,
    OPT_PRINCIPAL,
    OPT_USER,
    OPT_SHARE,
    OPT_TIMEOUT,
    OPT_RETRIES,
    OPT_INTERVAL,
};

static int parse_seconds(double *out, const char *s, double min, double max)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Read the HL7 message file (at most 1 MiB, no NUL byte). @return an exit code. */
static int read_message(char **out, const char *path)
{
    enum { MAX = 1024 * 1024 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("cannot read the HL7 message %s: %s", path, strerror(errno));
        return errno == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
    }
    char *buf = cli_xmalloc(MAX + 1);
    size_t n = fread(buf, 1, MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        cli_error("cannot read the HL7 message %s", path);
        return CLI_EXIT_ERROR;
    }
    if (n > MAX || memchr(buf, 0, n)) {
        free(buf);
        return cli_usage_error("probe", "%s is not an HL7 message (larger than 1 MiB or holds "
                                        "NUL bytes)", path);
    }
    buf[n] = '\0';
    *out = buf;
    return CLI_EXIT_OK;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = cli_xstrdup(v);
}

int cmd_probe(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"url", required_argument, NULL, OPT_URL},
        {"expect-status", required_argument, NULL, OPT_EXPECT_STATUS},
        {"expect-body", required_argument, NULL, OPT_EXPECT_BODY},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"bind-dn", required_argument, NULL, OPT_BIND_DN},
        {"password-env", required_argument, NULL, OPT_PASSWORD_ENV},
        {"base", required_argument, NULL, OPT_BASE},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"min-entries", required_argument, NULL, OPT_MIN_ENTRIES},
        {"conninfo", required_argument, NULL, OPT_CONNINFO},
        {"query", required_argument, NULL, OPT_QUERY},
        {"expect", required_argument, NULL, OPT_EXPECT},
        {"calling-ae", required_argument, NULL, OPT_CALLING_AE},
        {"called-ae", required_argument, NULL, OPT_CALLED_AE},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"record", required_argument, NULL, OPT_RECORD},
        {"type", required_argument, NULL, OPT_TYPE},
        {"realm", required_argument, NULL, OPT_REALM},
        {"principal", required_argument, NULL, OPT_PRINCIPAL},
        {"user", required_argument, NULL, OPT_USER},
        {"share", required_argument, NULL, OPT_SHARE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_probe_spec spec;
    cr_probe_result res;
    const char *message_file = NULL;
    unsigned long u;
    int c, rc, err;

    cr_probe_spec_init(&spec, CR_PROBE_TCP);
    while ((c = cli_getopt(argc, argv, "", longopts, "probe")) != -1) {
        switch (c) {
        case OPT_HOST: set_str(&spec.host, optarg); break;
        case OPT_PORT:
            if (cli_parse_uint(&u, optarg, 1, 65535) < 0) {
                rc = cli_usage_error("probe", "--port must be a number from 1 to 65535");
                goto done;
            }
            spec.port = (unsigned int)u;
            break;
        case OPT_URL: set_str(&spec.url, optarg); break;
        case OPT_EXPECT_STATUS:
            if (cli_parse_uint(&u, optarg, 100, 599) < 0) {
                rc = cli_usage_error("probe", "--expect-status must be an HTTP status (100 to 599)");
                goto done;
            }
            spec.expect_status = (int)u;
            break;
        case OPT_EXPECT_BODY: set_str(&spec.expect_body, optarg); break;
        case OPT_CA_FILE: set_str(&spec.ca_file, optarg); break;
        case OPT_BIND_DN: set_str(&spec.bind_dn, optarg); break;
        case OPT_PASSWORD_ENV: set_str(&spec.password_env, optarg); break;
        case OPT_BASE: set_str(&spec.base, optarg); break;
        case OPT_FILTER: set_str(&spec.filter, optarg); break;
        case OPT_MIN_ENTRIES:
            if (cli_parse_uint(&u, optarg, 0, 1000000) < 0) {
                rc = cli_usage_error("probe", "--min-entries must be a number from 0 to 1000000");
                goto done;
            }
            spec.min_entries = (unsigned int)u;
            break;
        case OPT_CONNINFO: set_str(&spec.conninfo, optarg); break;
        case OPT_QUERY: set_str(&spec.query, optarg); break;
        case OPT_EXPECT: set_str(&spec.expect, optarg); break;
        case OPT_CALLING_AE: set_str(&spec.calling_ae, optarg); break;
        case OPT_CALLED_AE: set_str(&spec.called_ae, optarg); break;
        case OPT_MESSAGE: message_file = optarg; break;
        case OPT_RECORD: set_str(&spec.record, optarg); break;
        case OPT_TYPE: set_str(&spec.rrtype, optarg); break;
        case OPT_REALM: set_str(&spec.realm, optarg); break;
        case OPT_PRINCIPAL: set_str(&spec.principal, optarg); break;
        case OPT_USER: set_str(&spec.user, optarg); break;
        case OPT_SHARE:
            if (!*optarg || strchr(optarg, ',')) {
                rc = cli_usage_error("probe", "--share takes one share name (repeat it for several)");
                goto done;
            }
            if (spec.shares) {
                size_t n = strlen(spec.shares) + strlen(optarg) + 2;
                char *j = cli_xmalloc(n);
                snprintf(j, n, "%s,%s", spec.shares, optarg);
                free(spec.shares);
                spec.shares = j;
            } else
                set_str(&spec.shares, optarg);
            break;
        case OPT_TIMEOUT:
            if (parse_seconds(&spec.timeout, optarg, 0.01, 3600) < 0) {
                rc = cli_usage_error("probe", "--timeout must be seconds from 0.01 to 3600");
                goto done;
            }
            break;
        case OPT_RETRIES:
            if (cli_parse_uint(&u, optarg, 0, 1000) < 0) {
                rc = cli_usage_error("probe", "--retries must be a number from 0 to 1000");
                goto done;
            }
            spec.retries = (unsigned int)u;
            break;
        case OPT_INTERVAL:
            if (parse_seconds(&spec.interval, optarg, 0, 3600) < 0) {
                rc = cli_usage_error("probe", "--interval must be seconds from 0 to 3600");
                goto done;
            }
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: rc = CLI_EXIT_USAGE; goto done;
        }
    }
    if (optind >= argc) {
        rc = cli_usage_error("probe", "give the kind of probe: tcp, http, ldap, postgres, dicom, "
                                      "hl7, dns, kerberos or smb");
        goto done;
    }
    if (optind + 1 < argc) {
        rc = cli_unexpected_argument("probe", argv[optind + 1], "give every setting as an option");
        goto done;
    }
    if (cr_probe_kind_parse(&spec.kind, argv[optind]) < 0) {
        char *esc = cli_escape(argv[optind]);
        rc = cli_usage_error("probe", "unknown probe kind '%s' (tcp, http, ldap, postgres, dicom, "
                                      "hl7, dns, kerberos, smb)", esc);
        free(esc);
        goto done;
    }
    if (message_file) {
        if (spec.kind != CR_PROBE_HL7) {
            rc = cli_usage_error("probe", "--message is for hl7 probes");
            goto done;
        }
        if ((rc = read_message(&spec.message, message_file)) != 0)
            goto done;
    }

    cr_error_clear();
    err = cr_probe_run(&res, &spec, NULL);
    if (err < 0) {
        rc = cli_fail(err, "cannot run the probe");
        if (err == CR_EINPUT)
            cli_hint("see 'cleanroom probe --help' for what each kind of probe needs");
        goto done;
    }
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(cr_probe_kind_name(spec.kind)));
        json_object_set_new(o, "ok", json_boolean(res.ok));
        json_object_set_new(o, "attempts", json_integer(res.attempts));
        json_object_set_new(o, "seconds", json_real(res.seconds));
        json_object_set_new(o, "message", cli_json_str(res.message));
        cli_json_print(o);
    }
    if (res.ok) {
        if (!cli_g.json) {
            fputs("probe passed: ", stdout);
            cli_fputs_esc(res.message, stdout);
            fputc('\n', stdout);
        }
        rc = CLI_EXIT_OK;
    } else {
        char *esc = cli_escape(res.message);
        cli_error("probe failed: %s", esc);
        free(esc);
        rc = CLI_EXIT_PROBE_FAILED;
    }
done:
    cr_probe_spec_clear(&spec);
    return rc;
}
