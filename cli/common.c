/*
 * cleanroom command: shared helpers (see common.h).
 *
 * Two rules shape this file. First, everything printed to a terminal that
 * came from a vault or a backed-up machine is escaped: a file name may hold a
 * newline or an escape sequence, and a listing must not let it forge lines or
 * drive the terminal. Second, every failure ends in one line that says what
 * went wrong and, where it helps, one line that says what to do next.
 */
#include "common.h"

#include "cleanroom/image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

cli_global cli_g;

/* Serialises stderr between the progress line and warnings from worker threads. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int progress_shown; /* a progress line is on the terminal now (under out_lock) */

/* ------------------------------------------------------------- memory */

static void oom(void)
{
    fputs("cleanroom: error: out of memory\n", stderr);
    exit(CLI_EXIT_ERROR);
}

void *cli_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *cli_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *cli_xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        oom();
    return p;
}

/* ------------------------------------------------------------- messages */

static void clear_progress_locked(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    char buf[4096], *msg = buf, *big = NULL;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    /* A path can be longer than the buffer: never cut the message that follows it. */
    if (n >= (int)sizeof(buf) && (big = malloc((size_t)n + 1)) != NULL) {
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        msg = big;
    }
    va_end(ap2);
    pthread_mutex_lock(&out_lock);
    clear_progress_locked();
    fputs(prefix, stderr);
    fputs(msg, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&out_lock);
    free(big);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("cleanroom: error: ", fmt, ap);
    va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("hint: ", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_error("%s", msg);
    if (cmd)
        fprintf(stderr, "Try 'cleanroom %s --help'.\n", cmd);
    else
        fputs("Try 'cleanroom --help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_exit_code(int err)
{
    switch (err) {
    case 0: return CLI_EXIT_OK;
    case CR_EAUTH: return CLI_EXIT_AUTH;
    case CR_ECORRUPT:
    case CR_EVERSION: return CLI_EXIT_INTEGRITY;
    case CR_EPARTIAL: return CLI_EXIT_PARTIAL;
    case CR_ELOCKED: return CLI_EXIT_LOCKED;
    case CR_ENOTFOUND:
    case CR_EAMBIGUOUS: return CLI_EXIT_NOTFOUND;
    case CR_EINPUT: return CLI_EXIT_USAGE;
    case CR_EREFUSED: return CLI_EXIT_REFUSED;
    case CR_EHOSTILE: return CLI_EXIT_PARTIAL;
    default: return CLI_EXIT_ERROR;
    }
}

/* The library's message for `err`, escaped, as an error line. */
static void print_library_error(int err, const char *context)
{
    const char *msg = cr_error_last();
    if (!msg || !*msg)
        msg = cr_strerror(err);
    /* Library messages may quote names read from a vault or a disk. */
    char *esc = cli_escape(msg);
    if (context)
        cli_error("%s: %s", context, esc);
    else
        cli_error("%s", esc);
    free(esc);
}

int cli_fail(int err, const char *context)
{
    print_library_error(err, context);
    switch (err) {
    case CR_EAUTH:
        cli_hint("no key of this vault opens with that passphrase; check CLEANROOM_PASSWORD_FILE / "
                 "CLEANROOM_PASSWORD_COMMAND / CLEANROOM_PASSWORD or the passphrase you typed "
                 "(keyboard layout, Caps Lock)");
        break;
    case CR_ECORRUPT:
        cli_hint("the vault holds damaged data; run 'cleanroom verify --read-data' to list the "
                 "damaged packs and the files they affect");
        break;
    case CR_EVERSION:
        cli_hint("this vault was written by a newer cleanroom (this is %s); use that version",
                 CR_VERSION_STRING);
        break;
    case CR_ELOCKED:
        cli_hint("another cleanroom command is using this vault; wait until it finishes and try "
                 "again");
        break;
    case CR_EAMBIGUOUS:
        cli_hint("give more hex digits of the snapshot id (see 'cleanroom snapshots')");
        break;
    case CR_ENOSPACE:
        cli_hint("free space on that disk; what is already in the vault is safe");
        break;
    case CR_ERETAINED:
        cli_hint("the storage (S3 Object Lock) keeps that object until the date named: nobody "
                 "can remove it before, by design; try again after that date");
        break;
    default: break;
    }
    return cli_exit_code(err);
}

/* ------------------------------------------------------------- options */

int cli_unknown_option(const char *arg, const struct option *longopts, const char *cmd)
{
    const char *names[128];
    size_t n = 0;
    char word[128];
    const char *near = NULL;
    char *esc = cli_escape(arg ? arg : "?");

    if (arg && arg[0] == '-' && arg[1] == '-') {
        /* "--exlude=*.tmp": the name without its value */
        snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        for (const struct option *o = longopts; o && o->name && n < 128; o++)
            names[n++] = o->name;
        near = cr_suggest(word, names, n);
    }
    if (near)
        cli_usage_error(cmd, "unknown option '%s': did you mean `--%s`?", esc, near);
    else
        cli_usage_error(cmd, "unknown option '%s'", esc);
    free(esc);
    return CLI_EXIT_USAGE;
}

static FILE *options_listing;

void cli_list_options(FILE *f)
{
    options_listing = f;
}

/*
 * For the bash completion (main.c, --bash-completion): the options of `cmd`
 * as two shell variables, all of them and those that take a value, straight
 * from the table the command parses with, so the completion cannot drift.
 */
static void list_options(FILE *f, const char *shortopts, const struct option *longopts,
                         const char *cmd)
{
    char var[64];
    size_t i;
    for (i = 0; cmd[i] && i + 1 < sizeof(var); i++)
        var[i] = cmd[i] == '-' ? '_' : cmd[i];
    var[i] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        fprintf(f, "_cleanroom_%s_%s=\"", pass ? "args" : "opts", var);
        int first = 1;
        for (const struct option *o = longopts; o && o->name; o++) {
            if (pass && o->has_arg != required_argument)
                continue;
            int dup = 0; /* a name twice in a table: listed once */
            for (const struct option *q = longopts; q < o; q++)
                dup |= strcmp(q->name, o->name) == 0;
            if (dup)
                continue;
            fprintf(f, "%s--%s", first ? "" : " ", o->name);
            first = 0;
        }
        for (const char *c = shortopts ? shortopts : ""; !pass && *c; c++)
            if (*c != ':')
                fprintf(f, " -%c", *c);
        if (!pass)
            fputs(" -h -q", f);
        fputs("\"\n", f);
    }
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd)
{
    if (options_listing) {
        list_options(options_listing, shortopts, longopts, cmd);
        return CLI_OPT_USAGE;
    }
    /* ':' first: a missing value is reported as ':' rather than '?'. */
    char opts[128];
    snprintf(opts, sizeof(opts), ":%sqh", shortopts ? shortopts : "");
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, opts, longopts, NULL);
        switch (c) {
        case CLI_OPT_REPO:
            cli_g.repo = optarg;
            continue;
        case CLI_OPT_JSON:
            cli_g.json = 1;
            continue;
        case 'q':
            cli_g.quiet = 1;
            continue;
        case ':': {
            const char *arg = argv[optind - 1];
            if (arg && arg[0] == '-' && arg[1] != '-' && optopt > 0 && optopt < 128) {
                cli_usage_error(cmd, "option '-%c' needs a value", optopt);
            } else {
                char *esc = cli_escape(arg ? arg : "?");
                cli_usage_error(cmd, "option '%s' needs a value", esc);
                free(esc);
            }
            return CLI_OPT_USAGE;
        }
        case '?': {
            if (optopt > 0 && optopt < 128)
                cli_usage_error(cmd, "unknown option '-%c'", optopt);
            else
                cli_unknown_option(argv[optind - 1], longopts, cmd);
            return CLI_OPT_USAGE;
        }
        default: return c;
        }
    }
}

int cli_parse_uint(unsigned long *out, const char *s, unsigned long min, unsigned long max)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

const char *cli_repo_path(void)
{
    const char *r = cli_g.repo;
    if (!r || !*r)
        r = getenv("CLEANROOM_REPO");
    if (!r || !*r) {
        cli_error("no vault given: use --repo DIR or set CLEANROOM_REPO");
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------- passphrase */

#define PASS_MAX 4096

static struct termios saved_tio;
static volatile sig_atomic_t tty_fd_for_restore = -1;

static void restore_tty_and_die(int sig)
{
    if (tty_fd_for_restore >= 0) {
        tcsetattr(tty_fd_for_restore, TCSAFLUSH, &saved_tio);
        (void)!write(tty_fd_for_restore, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Read one line from the terminal with echo off. Returns 0, or -1 (errno kept). */
static int tty_read(int fd, const char *prompt, char *buf, size_t len)
{
    struct termios tio;
    struct sigaction sa, old[4];
    const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    int echo_off = 0, rc = -1;
    size_t n = 0;

    (void)!write(fd, prompt, strlen(prompt));
    if (tcgetattr(fd, &tio) == 0) {
        saved_tio = tio;
        /* An interrupted prompt must not leave the technician's terminal without echo. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = restore_tty_and_die;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &sa, &old[i]);
        tty_fd_for_restore = fd;
        tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
        tio.c_lflag |= ICANON;
        if (tcsetattr(fd, TCSAFLUSH, &tio) == 0)
            echo_off = 1;
    }
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0 && n > 0)
                break;
            if (r == 0)
                errno = ENODATA;
            goto done;
        }
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 >= len) {
            errno = E2BIG;
            goto done;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    rc = 0;
done:
    if (echo_off) {
        tcsetattr(fd, TCSAFLUSH, &saved_tio);
        (void)!write(fd, "\n", 1);
    }
    if (tty_fd_for_restore >= 0) {
        tty_fd_for_restore = -1;
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &old[i], NULL);
    }
    return rc;
}

static int read_pass_file(char **out, const char *env, const char *path)
{
    char *buf = NULL;
    int rc = CLI_EXIT_USAGE;
    FILE *f = fopen(path, "re");
    if (!f) {
        cli_error("cannot read the passphrase file %s=%s: %s", env, path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    buf = cli_xmalloc(PASS_MAX + 2);
    if (!fgets(buf, PASS_MAX + 2, f)) {
        if (ferror(f))
            cli_error("cannot read the passphrase file %s=%s: %s", env, path, strerror(errno));
        else
            cli_error("the passphrase file %s=%s is empty", env, path);
        goto done;
    }
    size_t n = strlen(buf);
    if (n > PASS_MAX) {
        cli_error("the first line of %s=%s is longer than %d bytes", env, path, PASS_MAX);
        goto done;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
done:
    fclose(f);
    cli_passphrase_free(buf);
    return rc;
}

static int pass_command(char **out, const char *env, const char *cmd)
{
    int err;
    cr_error_clear();
    fflush(stdout); /* the command may write to the terminal too */
    if ((err = cr_passphrase_command(out, cmd, PASS_MAX)) < 0) {
        char *e = cli_escape(cr_error_last());
        cli_error("no passphrase from %s: %s", env, e);
        free(e);
        cli_hint("run the command of %s by hand to see what it prints; it must print the "
                 "passphrase on its first line and exit with 0",
                 env);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_passphrase(char **out, const char *file_env, const char *env, const char *prompt,
                   int confirm)
{
    const char *v;
    char *a = NULL, *b = NULL;
    int rc = CLI_EXIT_USAGE, fd = -1;
    *out = NULL;

    /* As restic: a file and a command are exclusive; either wins over the passphrase itself. */
    char cmd_env[64];
    const char *cmd;
    snprintf(cmd_env, sizeof(cmd_env), "%s_COMMAND", env);
    if ((cmd = getenv(cmd_env)) && *cmd) {
        if ((v = getenv(file_env)) && *v) {
            cli_error("both %s and %s are set: set only one of them", file_env, cmd_env);
            return CLI_EXIT_USAGE;
        }
        return pass_command(out, cmd_env, cmd);
    }
    if ((v = getenv(file_env)) && *v)
        return read_pass_file(out, file_env, v);
    if ((v = getenv(env))) {
        if (strlen(v) > PASS_MAX) {
            cli_error("%s is longer than %d bytes", env, PASS_MAX);
            return CLI_EXIT_USAGE;
        }
        *out = cli_xstrdup(v);
        return 0;
    }

    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("no passphrase: set %s (a file whose first line is the passphrase), %s (a "
                  "command that prints it) or %s, or run on a terminal to be asked",
                  file_env, cmd_env, env);
        return CLI_EXIT_USAGE;
    }
    a = cli_xmalloc(PASS_MAX + 1);
    if (tty_read(fd, prompt, a, PASS_MAX + 1) < 0) {
        cli_error("could not read the passphrase from the terminal: %s", strerror(errno));
        goto done;
    }
    if (confirm) {
        b = cli_xmalloc(PASS_MAX + 1);
        if (tty_read(fd, "Repeat the passphrase: ", b, PASS_MAX + 1) < 0) {
            cli_error("could not read the passphrase from the terminal: %s", strerror(errno));
            goto done;
        }
        if (strcmp(a, b) != 0) {
            cli_error("the two passphrases differ; nothing was changed");
            goto done;
        }
        if (strlen(a) < 10)
            cli_warn("the passphrase is short (%zu characters): anyone holding a copy of the "
                     "vault can try to guess it offline",
                     strlen(a));
    }
    *out = a;
    a = NULL;
    rc = 0;
done:
    close(fd);
    cli_passphrase_free(a);
    cli_passphrase_free(b);
    return rc;
}

void cli_passphrase_free(char *pass)
{
    if (!pass)
        return;
    explicit_bzero(pass, strlen(pass));
    free(pass);
}

int cli_open_repo(cr_repo **out)
{
    struct stat st;
    char *pass = NULL, *cfg = NULL;
    int rc, err;
    const char *path = cli_repo_path();
    *out = NULL;
    if (!path)
        return CLI_EXIT_USAGE;

    /* Say "no vault here" before asking for a passphrase that cannot help (a local
     * folder; a vault server or a bucket is looked for by cr_repo_open). */
    if (cr_repo_is_remote(path))
        goto ask;
    if (stat(path, &st) != 0) {
        char *esc = cli_escape(path);
        cli_error("no vault at %s (%s). Create one with 'cleanroom init --repo %s'.", esc,
                  strerror(errno), esc);
        free(esc);
        return CLI_EXIT_NOTFOUND;
    }
    cfg = cli_xmalloc(strlen(path) + sizeof("/config"));
    sprintf(cfg, "%s/config", path);
    if (stat(cfg, &st) != 0 && errno == ENOENT) {
        char *esc = cli_escape(path);
        cli_error("no vault at %s (no config file). Create one with 'cleanroom init --repo %s'.",
                  esc, esc);
        free(esc);
        free(cfg);
        return CLI_EXIT_NOTFOUND;
    }
    free(cfg);

ask:
    if ((rc = cli_passphrase(&pass, "CLEANROOM_PASSWORD_FILE", "CLEANROOM_PASSWORD",
                             "Vault passphrase: ", 0)) != 0)
        return rc;
    cr_error_clear();
    err = cr_repo_open(out, path, pass);
    cli_passphrase_free(pass);
    if (err < 0) {
        *out = NULL;
        if (err == CR_ENOTFOUND) {
            char *esc = cli_escape(path);
            const char *m = cr_error_last();
            cli_error("no vault at %s%s%s. Create one with 'cleanroom init --repo %s'.", esc,
                      *m ? ": " : "", m, esc);
            free(esc);
            if (!strncmp(path, "s3:", 3))
                cli_hint("if the vault's objects were deleted with S3 tools, 'cleanroom verify "
                         "--unhide' brings back those that Object Lock kept");
            return CLI_EXIT_NOTFOUND;
        }
        if (err == CR_ECORRUPT) {
            /* config or the key files: 'verify' would stop at the same place */
            print_library_error(err, NULL);
            cli_hint("the vault's config or key files are damaged or changed, so no command (not "
                     "even 'cleanroom verify') can open it: put back the named file from another "
                     "copy of the vault (the offline or second copy), or use another passphrase "
                     "of this vault; the data in data/ is not affected");
            return CLI_EXIT_INTEGRITY;
        }
        return cli_fail(err, NULL);
    }
    return 0;
}

int cli_find_snapshot(cr_snapshot **out, cr_repo *repo, const char *spec)
{
    int err;
    cr_error_clear();
    if ((err = cr_snapshot_find(out, repo, spec)) < 0) {
        *out = NULL;
        char *e = cli_escape(spec);
        if (err == CR_ENOTFOUND) {
            /* Keep the library's detail (e.g. the sources that do exist, for a typo). */
            char *m = cli_escape(cr_error_last());
            cli_error("no snapshot '%s' in this vault%s%s", e, *m ? ": " : "", m);
            free(m);
            cli_hint("list the snapshots with 'cleanroom snapshots'; name one by its id, a "
                     "prefix of at least 4 hex digits, 'latest' or 'SOURCE:latest'");
            free(e);
            return CLI_EXIT_NOTFOUND;
        }
        if (err == CR_EAMBIGUOUS) {
            cli_error("'%s' matches several snapshots", e);
            cli_hint("give more hex digits of the snapshot id (see 'cleanroom snapshots')");
            free(e);
            return CLI_EXIT_NOTFOUND;
        }
        free(e);
        return cli_fail(err, err == CR_EINPUT ? NULL : "could not read the snapshot");
    }
    /*
     * 'latest' is chosen among the snapshot files that can be read: if one
     * cannot, it may have been the newest. Say so, or a technician restores an
     * older state believing it is the last one.
     */
    size_t len = strlen(spec);
    if (!strcmp(spec, "latest") || (len > 7 && !strcmp(spec + len - 7, ":latest"))) {
        cr_snapshot **list = NULL;
        cr_id *damaged = NULL;
        size_t n = 0, ndamaged = 0;
        if (cr_snapshot_list_checked(&list, &n, &damaged, &ndamaged, repo, NULL) == 0 &&
            ndamaged > 0) {
            char sid[9], *e = cli_escape(spec);
            cli_warn("%zu snapshot file(s) of this vault cannot be read (damaged): '%s' is "
                     "snapshot %s, the newest of the readable ones, and may not be the last one "
                     "taken; run 'cleanroom verify' to see the damage",
                     ndamaged, e, cli_short_id(sid, &(*out)->id));
            free(e);
        }
        cr_snapshot_list_free(list, n);
        free(damaged);
    }
    return 0;
}

/* ------------------------------------------------------------- escaping */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid; *cp gets the code point. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Code points a terminal acts on or that reorder text on screen (C1 controls, bidi overrides). */
static int dangerous_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f;
}

char *cli_escape(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t cap = strlen((const char *)p) * 6 + 1, o = 0;
    char *out = cli_xmalloc(cap);
    while (*p) {
        uint32_t cp;
        size_t n;
        unsigned char c = *p;
        if (c == '\\') {
            out[o++] = '\\', out[o++] = '\\', p++;
        } else if (c == '\n') {
            out[o++] = '\\', out[o++] = 'n', p++;
        } else if (c == '\t') {
            out[o++] = '\\', out[o++] = 't', p++;
        } else if (c == '\r') {
            out[o++] = '\\', out[o++] = 'r', p++;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)sprintf(out + o, "\\x%02x", c), p++;
        } else if (c < 0x80) {
            out[o++] = (char)c, p++;
        } else if ((n = utf8_seq(p, &cp)) == 0) {
            o += (size_t)sprintf(out + o, "\\x%02x", c), p++;
        } else if (dangerous_cp(cp)) {
            o += (size_t)sprintf(out + o, "\\u%04x", (unsigned)cp), p += n;
        } else {
            memcpy(out + o, p, n), o += n, p += n;
        }
    }
    out[o] = '\0';
    return out;
}

void cli_fputs_esc(const char *s, FILE *f)
{
    char *e = cli_escape(s);
    fputs(e, f);
    free(e);
}

json_t *cli_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not valid UTF-8: keep valid sequences, write each bad byte as \xNN. */
    const unsigned char *p = (const unsigned char *)s;
    char *out = cli_xmalloc(strlen(s) * 4 + 1);
    size_t o = 0;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0) {
            o += (size_t)sprintf(out + o, "\\x%02x", *p);
            p++;
        } else {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
    }
    out[o] = '\0';
    j = json_string(out);
    free(out);
    return j ? j : json_null();
}

json_t *cli_json_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

int cli_json_print(json_t *j)
{
    int rc = 0;
    if (!j)
        oom();
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
        rc = -1;
    fputc('\n', stdout);
    json_decref(j);
    return rc;
}

static json_t *json_strv(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cli_json_str(v[i]));
    return a;
}

json_t *cli_snapshot_json(const cr_snapshot *s)
{
    char hex[CR_ID_HEX_LEN + 1], t[64];
    json_t *o = json_object();
    if (!o)
        oom();
    json_object_set_new(o, "id", json_string(cr_id_to_hex(hex, &s->id)));
    hex[8] = '\0';
    json_object_set_new(o, "short_id", json_string(hex));
    json_object_set_new(o, "source", cli_json_str(s->source));
    cr_time_format(t, sizeof(t), s->time_ns);
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "hostname", cli_json_str(s->hostname ? s->hostname : ""));
    json_object_set_new(o, "username", cli_json_str(s->username ? s->username : ""));
    json_object_set_new(o, "paths", json_strv(s->paths, s->npaths));
    json_object_set_new(o, "tags", json_strv(s->tags, s->ntags));
    json_object_set_new(o, "excludes", json_strv(s->excludes, s->nexcludes));
    json_object_set_new(o, "files", cli_json_u64(s->files));
    json_object_set_new(o, "dirs", cli_json_u64(s->dirs));
    json_object_set_new(o, "others", cli_json_u64(s->others));
    json_object_set_new(o, "bytes", cli_json_u64(s->bytes));
    json_object_set_new(o, "bytes_new", cli_json_u64(s->bytes_new));
    json_object_set_new(o, "files_new", cli_json_u64(s->files_new));
    json_object_set_new(o, "files_changed", cli_json_u64(s->files_changed));
    json_object_set_new(o, "files_unchanged", cli_json_u64(s->files_unchanged));
    json_object_set_new(o, "errors", cli_json_u64(s->errors));
    json_object_set_new(o, "duration", json_real(s->duration));
    json_object_set_new(o, "tree", json_string(cr_id_to_hex(hex, &s->tree)));
    json_object_set_new(o, "parent",
                        s->has_parent ? json_string(cr_id_to_hex(hex, &s->parent)) : json_null());
    json_object_set_new(o, "program_version", cli_json_str(s->program_version));
    cli_snapshot_image_json(o, s);
    return o;
}

/* ------------------------------------------------------------- formatting */

char *cli_human_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    /* One decimal below 10 units so that small differences stay visible. */
    if (v < 10.0)
        snprintf(buf, len, "%.1f %s", v, units[u]);
    else
        snprintf(buf, len, "%.0f %s", v, units[u]);
    return buf;
}

char *cli_human_duration(char *buf, size_t len, double s)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, len, "%.1f s", s);
    else if (s < 3600)
        snprintf(buf, len, "%d min %02d s", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, len, "%d h %02d min", (int)(s / 3600), ((int)s % 3600) / 60);
    return buf;
}

char *cli_time_sec(char *buf, size_t len, int64_t ns)
{
    int64_t sec = ns / 1000000000LL;
    if (ns % 1000000000LL < 0)
        sec--;
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "?");
    return buf;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *cli_short_id(char *buf, const cr_id *id)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_id_to_hex(hex, id);
    memcpy(buf, hex, 8);
    buf[8] = '\0';
    return buf;
}

const char *cli_node_type_name(cr_node_type t)
{
    switch (t) {
    case CR_NODE_FILE: return "file";
    case CR_NODE_DIR: return "dir";
    case CR_NODE_SYMLINK: return "symlink";
    case CR_NODE_FIFO: return "fifo";
    case CR_NODE_CHARDEV: return "chardev";
    case CR_NODE_BLOCKDEV: return "blockdev";
    case CR_NODE_SOCKET: return "socket";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------- progress */

struct cli_progress {
    const char *verb;
    double last_draw;
    /* --json */
    int json;
    double t0;
    int held;      /* `last` was not printed (rate limit) */
    cr_progress last;
};

void cli_json_event(FILE *f, const char *type, const char *service, const char *const *kv,
                    size_t n)
{
    json_t *o = json_object();
    if (!o)
        oom();
    json_object_set_new(o, "type", json_string(type));
    if (service)
        json_object_set_new(o, "service", cli_json_str(service));
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[2 * i], cli_json_str(kv[2 * i + 1]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        oom();
    pthread_mutex_lock(&out_lock);
    if (f == stderr)
        clear_progress_locked();
    fprintf(f, "%s\n", s);
    fflush(f);
    pthread_mutex_unlock(&out_lock);
    free(s);
}

cli_progress *cli_progress_new(const char *verb)
{
    int json = cli_g.json;
    if (!json && (cli_g.quiet || !isatty(STDERR_FILENO)))
        return NULL;
    cli_progress *pr = cli_xmalloc(sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    pr->verb = verb;
    pr->json = json;
    pr->t0 = cli_now();
    if (json) {
        char type[64];
        snprintf(type, sizeof(type), "%s-start", verb);
        const char *kv[] = {"phase", verb};
        cli_json_event(stderr, type, NULL, kv, 1);
    }
    return pr;
}

/* Bytes per second so far; 0 in the first half second (too early to tell). */
static double progress_rate(const cr_progress *p)
{
    return p->elapsed > 0.5 ? (double)p->bytes_done / p->elapsed : 0;
}

static void progress_event(const cli_progress *pr, const cr_progress *p)
{
    char fd[32], ft[32], bd[32], bt[32], er[32], rate[32], eta[32], el[32];
    const char *kv[2 * 9];
    size_t n = 0;
    double r = progress_rate(p);
#define KV(k, v) (kv[2 * n] = (k), kv[2 * n + 1] = (v), n++)
    KV("phase", pr->verb);
    snprintf(fd, sizeof(fd), "%llu", (unsigned long long)p->files_done);
    KV("files_done", fd);
    if (p->files_total) {
        snprintf(ft, sizeof(ft), "%llu", (unsigned long long)p->files_total);
        KV("files_total", ft);
    }
    snprintf(bd, sizeof(bd), "%llu", (unsigned long long)p->bytes_done);
    KV("bytes_done", bd);
    if (p->bytes_total) {
        snprintf(bt, sizeof(bt), "%llu", (unsigned long long)p->bytes_total);
        KV("bytes_total", bt);
    }
    snprintf(er, sizeof(er), "%llu", (unsigned long long)p->errors);
    KV("errors", er);
    snprintf(rate, sizeof(rate), "%.3f", r);
    KV("rate", rate);
    if (p->bytes_total > p->bytes_done && r > 0) {
        snprintf(eta, sizeof(eta), "%.3f", (double)(p->bytes_total - p->bytes_done) / r);
        KV("eta", eta);
    }
    snprintf(el, sizeof(el), "%.3f", p->elapsed);
    KV("elapsed", el);
#undef KV
    cli_json_event(stderr, "progress", NULL, kv, n);
}

static void progress_json(cli_progress *pr, const cr_progress *p)
{
    cr_progress copy;
    double now = cli_now();
    int show;
    if (cli_g.quiet)
        return;
    pthread_mutex_lock(&out_lock);
    pr->last = *p;
    pr->last.current = NULL;
    show = pr->last_draw == 0 || now - pr->last_draw >= 1.0;
    if (show)
        pr->last_draw = now;
    pr->held = !show;
    copy = pr->last;
    pthread_mutex_unlock(&out_lock);
    if (show)
        progress_event(pr, &copy);
}

void cli_progress_done(cli_progress *pr, int err, const char *snapshot, const cli_total *counts,
                       size_t ncounts)
{
    if (!pr || !pr->json)
        return;
    if (pr->held && !cli_g.quiet) {
        pr->held = 0;
        progress_event(pr, &pr->last);
    }
    char type[64], secs[32], (*num)[32] = cli_xmalloc((ncounts + 1) * sizeof(*num));
    const char **kv = cli_xmalloc((ncounts + 5) * 2 * sizeof(*kv));
    size_t n = 0;
    snprintf(type, sizeof(type), "%s-done", pr->verb);
    kv[2 * n] = "status";
    kv[2 * n++ + 1] = err == 0 ? "ok" : err == CR_EPARTIAL ? "partial" : "failed";
    if (err < 0 && err != CR_EPARTIAL) {
        kv[2 * n] = "message";
        kv[2 * n++ + 1] = cr_error_last();
    }
    snprintf(secs, sizeof(secs), "%.3f", cli_now() - pr->t0);
    kv[2 * n] = "seconds";
    kv[2 * n++ + 1] = secs;
    if (snapshot) {
        kv[2 * n] = "snapshot";
        kv[2 * n++ + 1] = snapshot;
    }
    for (size_t i = 0; i < ncounts; i++) {
        snprintf(num[i], sizeof(num[i]), "%llu", (unsigned long long)counts[i].value);
        kv[2 * n] = counts[i].key;
        kv[2 * n++ + 1] = num[i];
    }
    cli_json_event(stderr, type, NULL, kv, n);
    free(kv);
    free(num);
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

void cli_progress_cb(const cr_progress *p, void *payload)
{
    cli_progress *pr = payload;
    char line[1024], a[32], b[32], rate[32], eta[40] = "";
    if (!pr || !p)
        return;
    if (pr->json) {
        progress_json(pr, p);
        return;
    }
    double now = cli_now();
    pthread_mutex_lock(&out_lock);
    if (now - pr->last_draw < 0.2)
        goto done;
    pr->last_draw = now;

    double r = progress_rate(p);
    cli_human_size(rate, sizeof(rate), (uint64_t)r);
    if (p->bytes_total > p->bytes_done && r > 0) {
        char d[32];
        snprintf(eta, sizeof(eta), ", ETA %s",
                 cli_human_duration(d, sizeof(d), (double)(p->bytes_total - p->bytes_done) / r));
    }
    int n;
    if (p->files_total)
        n = snprintf(line, sizeof(line), "%s: %llu/%llu files, %s/%s, %s/s%s", pr->verb,
                     (unsigned long long)p->files_done, (unsigned long long)p->files_total,
                     cli_human_size(a, sizeof(a), p->bytes_done),
                     cli_human_size(b, sizeof(b), p->bytes_total), rate, eta);
    else
        n = snprintf(line, sizeof(line), "%s: %llu files, %s, %s/s", pr->verb,
                     (unsigned long long)p->files_done,
                     cli_human_size(a, sizeof(a), p->bytes_done), rate);
    if (n > 0 && p->errors && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, ", %llu errors",
                      (unsigned long long)p->errors);
    if (n > 0 && p->current && (size_t)n + 4 < sizeof(line)) {
        char *e = cli_escape(p->current);
        snprintf(line + n, sizeof(line) - (size_t)n, "  %s", e);
        free(e);
    }
    /* Cut to the terminal width, never inside a UTF-8 sequence. */
    size_t w = (size_t)term_width() - 1, len = strlen(line);
    if (len > w) {
        while (w > 0 && ((unsigned char)line[w] & 0xc0) == 0x80)
            w--;
        line[w] = '\0';
    }
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    progress_shown = 1;
done:
    pthread_mutex_unlock(&out_lock);
}

void cli_progress_free(cli_progress *pr)
{
    if (!pr)
        return;
    pthread_mutex_lock(&out_lock);
    clear_progress_locked();
    fflush(stderr);
    pthread_mutex_unlock(&out_lock);
    free(pr);
}

/* ------------------------------------------------------------- hunt results */

int cli_parse_severity(cr_severity *out, const char *s)
{
    if (!s || cr_severity_parse(out, s) < 0)
        return -1;
    return 0;
}

int cli_severity_option(cr_severity *out, const char *arg, const char *cmd, const char *option)
{
    if (cli_parse_severity(out, arg) == 0)
        return 0;
    return cli_usage_error(cmd, "%s must be one of info, low, medium, high, critical", option);
}

int cli_unexpected_argument(const char *cmd, const char *arg, const char *how)
{
    char *e = cli_escape(arg);
    int rc = cli_usage_error(cmd, "unexpected argument '%s' (%s)", e, how);
    free(e);
    return rc;
}

int cli_parse_size(uint64_t *out, const char *s)
{
    char *end;
    uint64_t mult = 1;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    case 't': case 'T': mult = 1ull << 40; end++; break;
    case 'b': case 'B': break;
    default: return -1;
    }
    /* "M", "MB", "MiB", "B" */
    if (mult > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end)
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

char *cli_count(char *buf, size_t len, uint64_t n)
{
    char digits[32];
    size_t nd = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n), o = 0;
    for (size_t i = 0; i < nd && o + 2 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static json_t *json_time(int64_t ns)
{
    char t[64];
    cr_time_format(t, sizeof(t), ns);
    return json_string(t);
}

static json_t *json_id(const cr_id *id)
{
    char hex[CR_ID_HEX_LEN + 1];
    return json_string(cr_id_to_hex(hex, id));
}

json_t *cli_finding_json(const cr_finding *f)
{
    json_t *o = json_object();
    if (!o)
        oom();
    json_object_set_new(o, "snapshot", json_id(&f->snapshot));
    json_object_set_new(o, "source", cli_json_str(f->source ? f->source : ""));
    json_object_set_new(o, "time", json_time(f->time_ns));
    json_object_set_new(o, "path", cli_json_str(f->path ? f->path : "/"));
    json_object_set_new(o, "severity", json_string(cr_severity_name(f->severity)));
    json_object_set_new(o, "category", json_string(cr_category_name(f->category)));
    json_object_set_new(o, "indicator", cli_json_str(f->indicator ? f->indicator : ""));
    json_object_set_new(o, "detail", cli_json_str(f->detail ? f->detail : ""));
    json_object_set_new(o, "evidence", cli_json_str(f->evidence)); /* null when none */
    json_object_set_new(o, "content", f->has_content ? json_id(&f->content) : json_null());
    json_object_set_new(o, "first_seen", json_id(&f->first_seen));
    json_object_set_new(o, "first_seen_time", json_time(f->first_seen_ns));
    return o;
}

/* Longest part of a detail or evidence shown on a text line (JSON has it all). */
#define CLI_TEXT_MAX 240

/* Escape s cut to at most max bytes (never inside a UTF-8 sequence), "..." marking the cut. */
static char *escape_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return cli_escape(s);
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    char *cut = cli_xmalloc(max + 1);
    memcpy(cut, s, max);
    cut[max] = '\0';
    char *e = cli_escape(cut);
    free(cut);
    char *r = cli_xmalloc(strlen(e) + 4);
    sprintf(r, "%s...", e);
    free(e);
    return r;
}

void cli_finding_print(FILE *out, const char *indent, const cr_finding *f, int first_seen)
{
    char *path = cli_escape(f->path ? f->path : "/");
    char *ind = cli_escape(f->indicator ? f->indicator : "");
    char *det = escape_cut(f->detail ? f->detail : "", CLI_TEXT_MAX);
    fprintf(out, "%s%-8s  %-11s  %s  %s", indent ? indent : "", cr_severity_name(f->severity),
            cr_category_name(f->category), path, ind);
    if (*det)
        fprintf(out, "  %s", det);
    /* The exact line or value that fired, unless the detail already quotes it. */
    if (f->evidence && *f->evidence && (!f->detail || !strstr(f->detail, f->evidence))) {
        char *ev = escape_cut(f->evidence, CLI_TEXT_MAX);
        fprintf(out, "  [%s]", ev);
        free(ev);
    }
    if (first_seen && memcmp(&f->first_seen, &f->snapshot, sizeof(cr_id)) != 0) {
        char sid[9], t[32];
        fprintf(out, "  (first seen in %s, %s)", cli_short_id(sid, &f->first_seen),
                cli_time_sec(t, sizeof(t), f->first_seen_ns));
    }
    fputc('\n', out);
    free(path);
    free(ind);
    free(det);
}

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Highest severity first, then indicator, then path: findings of one indicator are adjacent. */
static int cmp_finding_tell(const void *pa, const void *pb)
{
    const cr_finding *a = *(const cr_finding *const *)pa, *b = *(const cr_finding *const *)pb;
    if (a->severity != b->severity)
        return a->severity > b->severity ? -1 : 1;
    int c = strcmp_null(a->indicator, b->indicator);
    if (c)
        return c;
    return strcmp_null(a->path, b->path);
}

/* More findings than this of one indicator and severity are told in one line... */
#define CLI_GROUP_MIN 3
/* ...with this many example paths. */
#define CLI_GROUP_EXAMPLES 3

size_t cli_findings_print_grouped(FILE *out, const char *indent, const cr_finding *const *v,
                                  size_t n, size_t max_lines, int first_seen)
{
    const cr_finding **s = cli_xmalloc((n + 1) * sizeof(*s));
    size_t lines = 0, i = 0, folded = 0;
    if (!indent)
        indent = "";
    if (n) {
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_finding_tell);
    }
    while (i < n && (max_lines == 0 || lines < max_lines)) {
        size_t end = i + 1;
        while (end < n && s[end]->severity == s[i]->severity &&
               !strcmp_null(s[end]->indicator, s[i]->indicator))
            end++;
        if (end - i > CLI_GROUP_MIN) {
            char cnt[32];
            char *ind = cli_escape(s[i]->indicator ? s[i]->indicator : "");
            fprintf(out, "%s%-8s  %-11s  %s on %s files, e.g. ", indent,
                    cr_severity_name(s[i]->severity), cr_category_name(s[i]->category), ind,
                    cli_count(cnt, sizeof(cnt), end - i));
            free(ind);
            for (size_t k = 0; k < CLI_GROUP_EXAMPLES; k++) {
                char *p = cli_escape(s[i + k]->path ? s[i + k]->path : "/");
                fprintf(out, "%s%s", k ? ", " : "", p);
                free(p);
            }
            fputs(", ...\n", out);
            lines++;
            folded += end - i;
            i = end;
        } else {
            cli_finding_print(out, indent, s[i], first_seen);
            lines++;
            i++;
        }
    }
    if (i < n) {
        char cnt[32];
        fprintf(out, "%s... and %s more finding(s)\n", indent, cli_count(cnt, sizeof(cnt), n - i));
    }
    free(s);
    return folded;
}

size_t cli_findings_print_array(FILE *out, const char *indent, const cr_finding *f, size_t n,
                                size_t max_lines, int first_seen)
{
    const cr_finding **v = cli_xmalloc((n + 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = &f[i];
    size_t folded = cli_findings_print_grouped(out, indent, v, n, max_lines, first_seen);
    free(v);
    return folded;
}

int cli_check_source(cr_repo *repo, const char *source)
{
    cr_snapshot **list = NULL;
    size_t n = 0, len = 0, shown = 0;
    int err;
    char *names = NULL, *e;
    cr_error_clear();
    if ((err = cr_snapshot_list(&list, &n, repo, NULL)) < 0)
        return cli_fail(err, "could not list the snapshots");
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i]->source, source)) {
            cr_snapshot_list_free(list, n);
            return 0;
        }
    /* The distinct sources, in order of first snapshot (at most 20 named). */
    names = cli_xmalloc(1);
    names[0] = '\0';
    for (size_t i = 0; i < n && shown < 20; i++) {
        size_t k;
        for (k = 0; k < i; k++)
            if (!strcmp(list[k]->source, list[i]->source))
                break;
        if (k < i)
            continue;
        e = cli_escape(list[i]->source);
        names = cli_xrealloc(names, len + strlen(e) + 3);
        len += (size_t)sprintf(names + len, "%s%s", shown ? ", " : "", e);
        free(e);
        shown++;
    }
    e = cli_escape(source);
    if (n == 0)
        cli_error("no snapshot of source '%s': the vault holds no snapshot yet", e);
    else
        cli_error("no snapshot of source '%s' in this vault (sources: %s)", e, names);
    cli_hint("list the snapshots and their sources with 'cleanroom snapshots'");
    free(e);
    free(names);
    cr_snapshot_list_free(list, n);
    return CLI_EXIT_NOTFOUND;
}

json_t *cli_clean_point_json(const cr_clean_point *c, cr_severity min)
{
    json_t *o = json_object(), *r = json_array();
    if (!o || !r)
        oom();
    json_object_set_new(o, "source", cli_json_str(c->source ? c->source : ""));
    json_object_set_new(o, "min_severity", json_string(cr_severity_name(min)));
    json_object_set_new(o, "clean_snapshot",
                        c->has_clean ? json_id(&c->clean_snapshot) : json_null());
    json_object_set_new(o, "clean_time", c->has_clean ? json_time(c->clean_time_ns) : json_null());
    json_object_set_new(o, "compromised", json_boolean(c->compromised));
    json_object_set_new(o, "first_compromised_snapshot",
                        c->compromised ? json_id(&c->first_compromised) : json_null());
    json_object_set_new(o, "first_compromised_time",
                        c->compromised ? json_time(c->first_compromised_ns) : json_null());
    for (size_t i = 0; i < c->nreasons; i++)
        json_array_append_new(r, cli_finding_json(&c->reasons[i]));
    json_object_set_new(o, "reasons", r);
    json_object_set_new(o, "snapshots", cli_json_u64(c->snapshots));
    json_object_set_new(o, "unhunted", cli_json_u64(c->unhunted));
    json_object_set_new(o, "system_root_recognised", json_boolean(!c->no_system_root));
    return o;
}

void cli_clean_point_line(FILE *out, const cr_clean_point *c, cr_severity min)
{
    char sid[9], t[32], sid2[9], t2[32];
    char *src = cli_escape(c->source ? c->source : "");
    const char *sev = cr_severity_name(min);
    size_t hunted = c->snapshots - (c->unhunted <= c->snapshots ? c->unhunted : c->snapshots);

    if (hunted == 0) {
        fprintf(out, "%s: not hunted yet (%zu snapshot(s)): no clean restore point is known\n", src,
                c->snapshots);
    } else if (c->compromised && c->has_clean) {
        fprintf(out, "%s: clean restore point %s (%s); first compromised %s (%s)\n", src,
                cli_short_id(sid, &c->clean_snapshot),
                cli_time_sec(t, sizeof(t), c->clean_time_ns),
                cli_short_id(sid2, &c->first_compromised),
                cli_time_sec(t2, sizeof(t2), c->first_compromised_ns));
    } else if (c->compromised) {
        fprintf(out, "%s: NO CLEAN RESTORE POINT: the first %ssnapshot (%s, %s) is already "
                     "compromised\n",
                src, c->unhunted ? "hunted " : "", cli_short_id(sid, &c->first_compromised),
                cli_time_sec(t, sizeof(t), c->first_compromised_ns));
    } else if (c->has_clean) {
        fprintf(out, "%s: clean restore point %s (%s), the newest; no finding at or above %s\n",
                src, cli_short_id(sid, &c->clean_snapshot),
                cli_time_sec(t, sizeof(t), c->clean_time_ns), sev);
    } else {
        fprintf(out, "%s: no clean restore point is known\n", src);
    }
    if (c->no_system_root) {
        fflush(out);
        cli_warn("%s: no system root recognised: persistence not judged (back the system up "
                 "with --root FOLDER, the folder that holds etc/ or Windows/)",
                 src);
    }
    if (hunted > 0 && c->unhunted > 0) {
        fflush(out); /* the warning (stderr) after the line it is about */
        cli_warn("%zu of the %zu snapshots of %s were never hunted and are not judged; run "
                 "'cleanroom hunt'",
                 c->unhunted, c->snapshots, src);
    }
    free(src);
}

/* ------------------------------------------------------------ image snapshots */

static json_t *json_str_or_null(const char *s)
{
    return s ? cli_json_str(s) : json_null();
}

void cli_snapshot_image_json(json_t *o, const cr_snapshot *s)
{
    json_object_set_new(o, "kind", json_string(s->kind == CR_SNAPSHOT_IMAGE ? "image" : "files"));
    json_object_set_new(o, "system_root", json_str_or_null(s->system_root));
    if (s->kind != CR_SNAPSHOT_IMAGE)
        return;
    if (s->vm) {
        const cr_vm_info *v = s->vm;
        json_t *j = json_object();
        if (!j)
            oom();
        json_object_set_new(j, "name", json_str_or_null(v->name));
        json_object_set_new(j, "cpus", v->cpus ? json_integer(v->cpus) : json_null());
        json_object_set_new(j, "memory_mib", v->memory_mib ? cli_json_u64(v->memory_mib) : json_null());
        json_object_set_new(j, "firmware", v->firmware ? json_string(cr_firmware_name(v->firmware))
                                                       : json_null());
        json_object_set_new(j, "disk_bus", json_str_or_null(v->disk_bus));
        json_object_set_new(j, "nic_model", json_str_or_null(v->nic_model));
        json_object_set_new(j, "os_type", json_str_or_null(v->os_type));
        json_object_set_new(j, "config_from", json_str_or_null(v->config_from));
        json_object_set_new(o, "vm", j);
    } else {
        json_object_set_new(o, "vm", json_null());
    }
    json_t *disks = json_array();
    if (!disks)
        oom();
    for (size_t i = 0; i < s->ndisks; i++) {
        const cr_image_disk *d = &s->disks[i];
        json_t *j = json_object(), *vols = json_array();
        if (!j || !vols)
            oom();
        json_object_set_new(j, "name", json_str_or_null(d->name));
        json_object_set_new(j, "source_path", json_str_or_null(d->source_path));
        json_object_set_new(j, "source_format", json_string(cr_image_format_name(d->source_format)));
        json_object_set_new(j, "virtual_size", cli_json_u64(d->virtual_size));
        json_object_set_new(j, "stored", cli_json_u64(d->stored));
        json_object_set_new(j, "partition_table", json_str_or_null(d->partition_table));
        json_t *chain = json_array();
        if (!chain)
            oom();
        for (size_t k = 0; k < d->nbacking; k++) {
            json_t *x = json_object();
            if (!x)
                oom();
            json_object_set_new(x, "path", json_str_or_null(d->backing[k].path));
            json_object_set_new(x, "format", json_string(cr_image_format_name(d->backing[k].format)));
            json_array_append_new(chain, x);
        }
        json_object_set_new(j, "backing", chain);
        json_object_set_new(j, "dropped", cli_json_u64(d->dropped));
        for (size_t k = 0; k < d->nvolumes; k++) {
            const cr_image_volume *v = &d->volumes[k];
            json_t *x = json_object();
            if (!x)
                oom();
            json_object_set_new(x, "name", json_str_or_null(v->name));
            json_object_set_new(x, "start", cli_json_u64(v->start));
            json_object_set_new(x, "length", cli_json_u64(v->length));
            json_object_set_new(x, "fs_type", json_str_or_null(v->fs_type));
            json_object_set_new(x, "label", json_str_or_null(v->label));
            json_object_set_new(x, "files", cli_json_u64(v->files));
            json_object_set_new(x, "error", json_str_or_null(v->error));
            json_array_append_new(vols, x);
        }
        json_object_set_new(j, "volumes", vols);
        json_array_append_new(disks, j);
    }
    json_object_set_new(o, "disks", disks);
}

int cli_parse_memory_mib(uint64_t *out, const char *s, uint64_t min_mib, uint64_t max_mib)
{
    uint64_t bytes;
    size_t i;
    for (i = 0; s[i] && isdigit((unsigned char)s[i]); i++)
        ;
    if (i > 0 && s[i] == '\0') {
        unsigned long v;
        if (cli_parse_uint(&v, s, (unsigned long)min_mib, (unsigned long)max_mib) < 0)
            return -1;
        *out = v;
        return 0;
    }
    if (cli_parse_size(&bytes, s) < 0 || bytes % (1u << 20) || (bytes >> 20) < min_mib ||
        (bytes >> 20) > max_mib)
        return -1;
    *out = bytes >> 20;
    return 0;
}

char *cli_shell_word(const char *s)
{
    char *e = cli_escape(s);
    int plain = *e != '\0';
    for (const char *p = e; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("/._-+:=@", *p)))
            plain = 0;
    if (plain)
        return e;
    size_t n = 3;
    for (const char *p = e; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *o = cli_xmalloc(n), *q = o;
    *q++ = '\'';
    for (const char *p = e; *p; p++) {
        if (*p == '\'') {
            memcpy(q, "'\\''", 4);
            q += 4;
        } else {
            *q++ = *p;
        }
    }
    *q++ = '\'';
    *q = '\0';
    free(e);
    return o;
}

/* ------------------------------------------------ shipped rules, problem lists */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_builtin_rules_dir(const char **out, const char *what)
{
    const char *env = getenv("CLEANROOM_RULES");
    *out = NULL;
    if (env && *env) {
        if (!is_dir(env)) {
            if (!what)
                return CLI_EXIT_USAGE;
            char *e = cli_escape(env);
            cli_error("CLEANROOM_RULES names %s, which is not a folder; nothing was %s", e, what);
            cli_hint("point CLEANROOM_RULES at a copy of cleanroom's rules/ folder, or unset it "
                     "to use the rules installed with cleanroom");
            free(e);
            return CLI_EXIT_USAGE;
        }
        *out = env;
        return 0;
    }
#ifdef CR_RULES_BUILD_DIR
    if (is_dir(CR_RULES_BUILD_DIR)) {
        *out = CR_RULES_BUILD_DIR;
        return 0;
    }
#endif
#ifdef CR_RULES_INSTALL_DIR
    if (is_dir(CR_RULES_INSTALL_DIR)) {
        *out = CR_RULES_INSTALL_DIR;
        return 0;
    }
    if (!what)
        return CLI_EXIT_NOTFOUND;
    cli_error("the rules shipped with cleanroom are not at %s; nothing was %s",
              CR_RULES_INSTALL_DIR, what);
#else
    if (!what)
        return CLI_EXIT_NOTFOUND;
    cli_error("this cleanroom was built without a place for its shipped rules; nothing was "
              "%s", what);
#endif
    cli_hint("reinstall cleanroom, set CLEANROOM_RULES to a copy of its rules/ folder, or hunt "
             "with your own rules only: --no-builtin-rules --rules PATH");
    return CLI_EXIT_NOTFOUND;
}

/* ------------------------------------------------ offline vulnerability data */

int cli_vulndata_options(cr_vulndata_options *out, const char *what)
{
    cr_vulndata_options o = CR_VULNDATA_OPTIONS_INIT;
    const char *env = getenv("CLEANROOM_DATA");
    int rc;
    *out = o;
    if ((rc = cli_builtin_rules_dir(&out->builtin_dir, what)) != 0)
        return rc;
    out->data_dir = env && *env ? env : "/var/lib/cleanroom";
    return 0;
}

/* Days since a "YYYY-MM-DD..." date, or -1 when it is not one. */
static long days_since(const char *date)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!date || sscanf(date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    double d = difftime(time(NULL), t) / 86400.0;
    return d < 0 ? 0 : (long)d;
}

int cli_vulndata_load(cr_vulndata **out, const char *what, int optional)
{
    cr_vulndata_options o;
    cr_vulndata_info in;
    int rc, err;
    *out = NULL;
    if ((rc = cli_vulndata_options(&o, optional ? NULL : what)) != 0) {
        if (!optional)
            return rc;
        cli_warn("the rules shipped with cleanroom were not found: the known-exploited "
                 "vulnerability gate is not checked");
        return 0;
    }
    if ((err = cr_vulndata_load(out, &o)) == CR_ENOTFOUND && optional) {
        cli_warn("no vulnerability data (%s): the known-exploited vulnerability gate is not "
                 "checked",
                 cr_error_last());
        return 0;
    }
    if (err < 0) {
        rc = cli_fail(err, "could not read the vulnerability data");
        cli_hint("import a fresh copy: cleanroom kev import FILE; cleanroom advisories import "
                 "FILE --suite CODENAME --date YYYY-MM-DD");
        return rc;
    }
    cr_vulndata_about(&in, *out);
    /* The age of the data, every time: an old catalog misses what was exploited since. */
    fprintf(stderr, "data: KEV catalog %s, released %.10s (%ld days ago), %zu entries%s\n",
            in.kev_version, in.kev_released, days_since(in.kev_released), in.kev_count,
            in.kev_imported ? "" : " (the excerpt shipped with cleanroom: import the full catalog "
                                   "with 'cleanroom kev import FILE')");
    fprintf(stderr, "data: curated rules of %s (%ld days ago), %zu rules\n",
            in.rules_date ? in.rules_date : "?", days_since(in.rules_date), in.nrules);
    for (size_t i = 0; i < in.nsuites; i++)
        fprintf(stderr, "data: Debian advisories for %s of %s (%ld days ago)%s\n", in.suites[i],
                in.suite_dates[i], days_since(in.suite_dates[i]),
                in.suite_imported[i] ? "" : " (excerpt shipped with cleanroom)");
    return 0;
}

json_t *cli_vulndata_json(const cr_vulndata *d)
{
    cr_vulndata_info in;
    cr_vulndata_about(&in, d);
    json_t *suites = json_array();
    for (size_t i = 0; i < in.nsuites; i++)
        json_array_append_new(suites, json_pack("{s:s,s:s,s:b,s:I}", "suite", in.suites[i],
                                                "date", in.suite_dates[i], "imported",
                                                in.suite_imported[i],
                                                "age_days", (json_int_t)days_since(in.suite_dates[i])));
    return json_pack("{s:{s:s?,s:s?,s:I,s:b,s:I},s:{s:s?,s:I},s:o}", "kev", "catalog_version",
                     in.kev_version, "date_released", in.kev_released, "count",
                     (json_int_t)in.kev_count, "imported", in.kev_imported, "age_days",
                     (json_int_t)days_since(in.kev_released), "rules", "date", in.rules_date,
                     "count", (json_int_t)in.nrules, "debian", suites);
}

void cli_print_problems(const char *file, const cr_problem *p, size_t n, int *nerr,
                           int *nwarn)
{
    char *ef = cli_escape(file);
    for (size_t i = 0; i < n; i++) {
        char *m = cli_escape(p[i].message);
        if (p[i].line)
            printf("%s:%u:%u: %s: %s\n", ef, p[i].line, p[i].col,
                   p[i].is_error ? "error" : "warning", m);
        else
            printf("%s: %s: %s\n", ef, p[i].is_error ? "error" : "warning", m);
        free(m);
        if (p[i].is_error)
            (*nerr)++;
        else
            (*nwarn)++;
    }
    free(ef);
}

json_t *cli_problems_json(const cr_problem *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:I,s:I,s:s,s:o}", "line", (json_int_t)p[i].line,
                                           "column", (json_int_t)p[i].col, "severity",
                                           p[i].is_error ? "error" : "warning", "message",
                                           cli_json_str(p[i].message)));
    return a;
}
