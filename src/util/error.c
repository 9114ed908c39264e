/*
 * The thread-local error message slot. Library functions return a negative
 * CR_E* code and leave the words for the technician here.
 */
#include "cleanroom/common.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char cr_errmsg[1024];

const char *cr_error_last(void)
{
    return cr_errmsg;
}

void cr_error_clear(void)
{
    cr_errmsg[0] = '\0';
}

void cr_error_set(const char *fmt, ...)
{
    /* Formatted aside first: the arguments may be the slot itself ("...: %s",
     * cr_error_last()), and vsnprintf into its own source is undefined. */
    char msg[sizeof(cr_errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    memcpy(cr_errmsg, msg, sizeof(cr_errmsg));
}

void cr_error_prefix(const char *fmt, ...)
{
    char pre[sizeof(cr_errmsg)], msg[2 * sizeof(cr_errmsg) + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "%s: %s", pre, cr_errmsg);
    memcpy(cr_errmsg, msg, sizeof(cr_errmsg) - 1); /* (cut at the slot's size) */
    cr_errmsg[sizeof(cr_errmsg) - 1] = '\0';
}

int cr_error_errno(const char *fmt, ...)
{
    int e = errno;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(cr_errmsg, sizeof(cr_errmsg), "%s: %s", msg, strerror(e));
    errno = e;
    if (e == ENOSPC || e == EDQUOT)
        return CR_ENOSPACE;
    if (e == ENOENT)
        return CR_ENOTFOUND;
    return CR_ERROR;
}

const char *cr_strerror(int code)
{
    switch (code) {
    case CR_OK: return "success";
    case CR_ENOTFOUND: return "not found";
    case CR_EEXISTS: return "already exists";
    case CR_ELOCKED: return "vault locked";
    case CR_ECORRUPT: return "damaged data";
    case CR_EAUTH: return "wrong passphrase";
    case CR_EINPUT: return "invalid input";
    case CR_EPARTIAL: return "partly done";
    case CR_EAMBIGUOUS: return "ambiguous";
    case CR_EVERSION: return "unsupported format version";
    case CR_ENOSPACE: return "no space left";
    case CR_EINTR: return "interrupted";
    case CR_ERETAINED: return "kept by the storage until a later date";
    case CR_EREFUSED: return "refused";
    case CR_EHOSTILE: return "input stopped a sandboxed parser";
    default: return "error";
    }
}
