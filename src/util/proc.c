/*
 * Running a program and keeping what it prints: one helper for the library
 * (qemu-img for image restores, the passphrase command of the CLI).
 *
 * The program is run without a shell (argv as given; a caller that wants a
 * shell passes "/bin/sh", "-c", CMD itself), stdin from /dev/null, with the
 * default signal mask and SIGPIPE disposition whatever the forking thread
 * had. One of its output streams is read to its end into a buffer of fixed
 * size (the rest is read and dropped, so the child never blocks on a full
 * pipe); the other goes to /dev/null or stays the caller's. A failure to
 * exec is told apart from the program's own exit 127 through a close-on-exec
 * pipe that carries errno.
 */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cr_proc_run(cr_proc_result *out, const char *const *argv, int flags, size_t max)
{
    int cap[2] = {-1, -1}, execpipe[2] = {-1, -1};
    int err = 0, status = 0, exec_errno = 0;
    int capfd = (flags & CR_PROC_CAPTURE_STDERR) ? 2 : 1, otherfd = capfd == 1 ? 2 : 1;
    pid_t pid;

    memset(out, 0, sizeof(*out));
    if (!argv || !argv[0]) {
        cr_error_set("no program to run");
        return CR_EINPUT;
    }
    /* The whole capacity now: no realloc leaves a copy of a secret behind. */
    if (cr_buf_grow(&out->output, max + 1) < 0)
        return CR_ERROR;
    if (pipe2(cap, O_CLOEXEC) < 0 || pipe2(execpipe, O_CLOEXEC) < 0) {
        err = cr_error_errno("cannot run %s", argv[0]);
        goto done;
    }
    pid = fork();
    if (pid < 0) {
        err = cr_error_errno("cannot run %s", argv[0]);
        goto done;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(cap[1], capfd) < 0 ||
            (!(flags & CR_PROC_INHERIT_OTHER) && dup2(null, otherfd) < 0)) {
            int e = errno;
            (void)!write(execpipe[1], &e, sizeof(e));
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* not the signal mask of the forking thread */
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], (char *const *)argv);
        int e = errno;
        (void)!write(execpipe[1], &e, sizeof(e));
        _exit(127);
    }
    close(cap[1]);
    cap[1] = -1;
    close(execpipe[1]);
    execpipe[1] = -1;

    for (;;) {
        char tmp[4096];
        ssize_t n = read(cap[0], tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n;
        if (take > max - out->output.len)
            take = max - out->output.len;
        memcpy(out->output.ptr + out->output.len, tmp, take);
        out->output.len += take;
        explicit_bzero(tmp, sizeof(tmp));
    }
    out->output.ptr[out->output.len] = '\0';
    {
        ssize_t n;
        do
            n = read(execpipe[0], &exec_errno, sizeof(exec_errno));
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof(exec_errno))
            exec_errno = 0;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            err = cr_error_errno("%s: cannot wait for it", argv[0]);
            goto done;
        }
    }
    out->exec_errno = exec_errno;
    out->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + out->signal;
done:
    for (int i = 0; i < 2; i++) {
        if (cap[i] >= 0)
            close(cap[i]);
        if (execpipe[i] >= 0)
            close(execpipe[i]);
    }
    return err;
}

void cr_proc_result_free(cr_proc_result *r)
{
    if (!r)
        return;
    if (r->output.ptr)
        explicit_bzero(r->output.ptr, r->output.cap);
    cr_buf_free(&r->output);
}

int cr_passphrase_command(char **out, const char *command, size_t max)
{
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    cr_proc_result r;
    int err;

    *out = NULL;
    if (!command || !*command) {
        cr_error_set("the passphrase command is empty");
        return CR_EINPUT;
    }
    /* one byte more than allowed: a longer line is refused, not cut */
    if ((err = cr_proc_run(&r, argv, CR_PROC_INHERIT_OTHER, max + 1)) < 0)
        goto done;
    if (r.exec_errno) {
        cr_error_set("cannot run /bin/sh for the passphrase command: %s", strerror(r.exec_errno));
        err = CR_ERROR;
        goto done;
    }
    if (r.signal || r.exit_code != 0) {
        if (r.signal)
            cr_error_set("the passphrase command was killed by signal %d", r.signal);
        else
            cr_error_set("the passphrase command failed (exit %d)%s", r.exit_code,
                         r.exit_code == 127 ? ": command not found" : "");
        err = CR_EINPUT;
        goto done;
    }
    size_t n = strcspn((const char *)r.output.ptr, "\n");
    if (n > max) {
        cr_error_set("the first line printed by the passphrase command is longer than %zu bytes",
                     max);
        err = CR_EINPUT;
        goto done;
    }
    if (n > 0 && r.output.ptr[n - 1] == '\r')
        n--;
    if (n == 0) {
        cr_error_set(r.output.len == 0 ? "the passphrase command printed nothing"
                                       : "the first line printed by the passphrase command is "
                                         "empty");
        err = CR_EINPUT;
        goto done;
    }
    if (!(*out = cr_strndup((const char *)r.output.ptr, n)))
        err = CR_ERROR;
done:
    cr_proc_result_free(&r);
    return err;
}
