/*
 * cleanroom: common definitions, error codes and the thread-local error message.
 *
 * Every fallible function returns an int: 0 on success or a negative CR_E* code.
 * The human-readable message that explains the failure to a technician is kept
 * in a thread-local slot and read with cr_error_last(). Codes are only ever
 * added, never renumbered.
 */
#ifndef CLEANROOM_COMMON_H
#define CLEANROOM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CR_VERSION_STRING "0.1.0"

/** Error codes returned by every fallible function (negated). */
enum {
    CR_OK = 0,
    CR_ERROR = -1,      /**< generic failure (I/O, out of memory, ...) */
    CR_ENOTFOUND = -2,  /**< vault, snapshot, path or key not found */
    CR_EEXISTS = -3,    /**< something already exists (vault at that place, ...) */
    CR_ELOCKED = -4,    /**< the vault is locked by another operation */
    CR_ECORRUPT = -5,   /**< stored data failed a length, offset, hash or MAC check */
    CR_EAUTH = -6,      /**< wrong passphrase */
    CR_EINPUT = -7,     /**< bad input from the user (option value, spec, ...) */
    CR_EPARTIAL = -8,   /**< the operation completed, but some items failed */
    CR_EAMBIGUOUS = -9, /**< a snapshot id prefix matches several snapshots */
    CR_EVERSION = -10,  /**< the vault uses a format version this program does not know */
    CR_ENOSPACE = -11,  /**< no space left on the device */
    CR_EINTR = -12,     /**< interrupted by a signal or a callback */
    CR_ERETAINED = -13, /**< the storage keeps that object until a date (S3 Object Lock) */
    CR_EREFUSED = -14,  /**< refused by a safety rule (a compromised restore point) */
    CR_EHOSTILE = -15,  /**< a sandboxed parser crashed, hung or broke a limit on this input */
};

/** Length of every identifier (blob, pack, snapshot): 32 bytes, 64 hex digits. */
#define CR_ID_LEN 32
#define CR_ID_HEX_LEN 64

/** A 32-byte identifier. */
typedef struct cr_id {
    uint8_t b[CR_ID_LEN];
} cr_id;

/**
 * The message of the last error raised on this thread ("" if none).
 * The pointer is borrowed and valid until the next cr_error_set on this thread.
 */
const char *cr_error_last(void);

/** Record the message of an error on this thread (printf-style; the arguments may include
 *  cr_error_last(), to build on the previous message). */
void cr_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Forget the last error message of this thread. */
void cr_error_clear(void);

/**
 * A problem found in a file an operator wrote (a recovery plan, a jobs file),
 * at a line and column (1-based; 0:0 for the file as a whole).
 */
typedef struct cr_problem {
    unsigned int line, col;
    int is_error;                /**< 0: warning */
    char *message;
} cr_problem;

/** Free a list of problems and their messages. Accepts NULL. */
void cr_problems_free(cr_problem *p, size_t n);

/** A short English name of an error code ("not found", "wrong passphrase", ...). */
const char *cr_strerror(int code);

/** Hex form of an id into out (at least CR_ID_HEX_LEN + 1 bytes). Returns out. */
char *cr_id_to_hex(char *out, const cr_id *id);

/** Parse a full 64-digit hex id. @return 0 or CR_EINPUT. */
int cr_id_from_hex(cr_id *out, const char *hex);

/**
 * Format a time as RFC 3339 in UTC with nanoseconds when not zero,
 * e.g. "2026-11-22T10:00:00Z" or "2026-11-22T10:00:00.5Z". out: at least 40 bytes.
 */
void cr_time_format(char *out, size_t outlen, int64_t ns);

/**
 * Parse an ISO 8601 / RFC 3339 time: "2026-11-22", "2026-11-22T10:00:00",
 * with optional fraction and "Z" or "+01:00" (no zone means UTC).
 * @return 0 or CR_EINPUT.
 */
int cr_time_parse(int64_t *out_ns, const char *s);

/**
 * The name of `names` (n entries, NULL entries skipped) closest to `s`, when
 * it is close enough to be a likely typo: 1 edit for words of up to 3
 * letters, 2 up to 6, 3 beyond (case-insensitive; a swap of two neighbours
 * is one edit), or the same letters once '-', '_' and spaces are left out.
 * For "did you mean `snapshots`?" messages.
 * @return a borrowed entry of `names`, or NULL when none is close.
 */
const char *cr_suggest(const char *s, const char *const *names, size_t n);

/**
 * Get a passphrase from a command (a keyring, a password safe): run
 * `/bin/sh -c command` with stdin from /dev/null and stderr left to the
 * caller (its messages are seen), and take the first line it prints on
 * stdout (without the line end; the rest is ignored).
 * @param[out] out malloc'd passphrase; wipe it, then free() it
 * @param max longest passphrase accepted, in bytes
 * @return 0, or CR_EINPUT with the message set: the command failed (its
 *         exit code or signal is named), printed nothing or an empty first
 *         line, or a line longer than `max`; CR_ERROR if it cannot be run.
 */
int cr_passphrase_command(char **out, const char *command, size_t max);

/** One-time library initialisation (crypto back ends). Safe to call many times. */
int cr_init(void);

#ifdef __cplusplus
}
#endif
#endif
