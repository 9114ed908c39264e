/*
 * Private helpers shared by every module of the library: growable buffers,
 * bounded readers for untrusted bytes, durable file writes, hex and time.
 * Depends on nothing else of ours.
 */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include "cleanroom/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <sys/types.h>

/**
 * Put "PREFIX: " in front of the thread's last message ("pack 1a2b...: " +
 * what the decoder said), keeping it whole up to the slot's size.
 */
void cr_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Like cr_error_set, appending strerror(errno); returns CR_ENOSPACE, CR_ENOTFOUND or CR_ERROR. */
int cr_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL silently: NULL means out of memory and sets the message. */
void *cr_malloc(size_t n);
void *cr_calloc(size_t n, size_t size);
void *cr_realloc(void *p, size_t n);
char *cr_strdup(const char *s);
char *cr_strndup(const char *s, size_t n);
char *cr_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** "/a/b" form of a snapshot path: no "//", no "." part, no trailing "/" ("" and "." are "/").
 *  ".." is kept as a name (snapshot paths are names, never resolved). NULL: out of memory. */
char *cr_path_norm(const char *p);
/** 1 if normalised path a is b or a folder above it. */
int cr_path_covers(const char *a, const char *b);
/** The absolute path `abs` with "//", "." and ".." resolved as text, the way the kernel
 *  would if no component were a symlink ("/a/b/../c" is "/a/c"; ".." above "/" stays "/").
 *  NULL: out of memory, or `abs` is not absolute (no message for that). */
char *cr_path_lexical(const char *abs);

/* ------------------------------------------------------------ buffers */

/** A growable byte buffer. `max` bounds growth (0 = no bound other than memory). */
typedef struct cr_buf {
    uint8_t *ptr;
    size_t len, cap, max;
} cr_buf;
#define CR_BUF_INIT {NULL, 0, 0, 0}

void cr_buf_free(cr_buf *b);
void cr_buf_reset(cr_buf *b); /* len = 0, keeps memory */
/** Ensure room for `extra` more bytes. @return 0, CR_ERROR (no memory) or CR_EINPUT (over max). */
int cr_buf_grow(cr_buf *b, size_t extra);
int cr_buf_put(cr_buf *b, const void *data, size_t len);
int cr_buf_put_u8(cr_buf *b, uint8_t v);
int cr_buf_put_u32(cr_buf *b, uint32_t v); /* little endian */
int cr_buf_put_u64(cr_buf *b, uint64_t v); /* little endian */
int cr_buf_put_varint(cr_buf *b, uint64_t v); /* LEB128 */
int cr_buf_put_svarint(cr_buf *b, int64_t v); /* zigzag LEB128 */
int cr_buf_put_bytes(cr_buf *b, const void *data, size_t len); /* varint length + bytes */
int cr_buf_put_str(cr_buf *b, const char *s); /* varint length + bytes; NULL stored as length 0 */

/**
 * A bounded reader over untrusted bytes. Every get checks the remaining length;
 * the first failure sets `err` and every later get fails too, so a decoder can
 * run a sequence of gets and check once.
 */
typedef struct cr_rd {
    const uint8_t *p;
    size_t len, pos;
    int err;
} cr_rd;

void cr_rd_init(cr_rd *r, const void *data, size_t len);
int cr_rd_u8(cr_rd *r, uint8_t *out);
int cr_rd_u32(cr_rd *r, uint32_t *out);
int cr_rd_u64(cr_rd *r, uint64_t *out);
int cr_rd_varint(cr_rd *r, uint64_t *out);
int cr_rd_svarint(cr_rd *r, int64_t *out);
/** Borrow `len` raw bytes. */
int cr_rd_raw(cr_rd *r, const uint8_t **out, size_t len);
/** Borrow a varint-length-prefixed byte string of at most `max` bytes. */
int cr_rd_bytes(cr_rd *r, const uint8_t **out, size_t *outlen, size_t max);
/** Copy a length-prefixed string of at most `max` bytes without NUL bytes into a new C string (NULL if empty). */
int cr_rd_str(cr_rd *r, char **out, size_t max);
size_t cr_rd_left(const cr_rd *r);

/* ------------------------------------------------------------ files */

/**
 * Write a whole file durably: write to a temporary name in the same directory,
 * fsync, rename over `name`, fsync the directory. A crash leaves the old file
 * or the new one, never a mix.
 * @param dirfd directory (AT_FDCWD for the working directory)
 * @param exclusive 1: fail with CR_EEXISTS if `name` exists (link instead of rename)
 */
int cr_fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       int exclusive);
/** Read a whole file of at most `max` bytes (CR_ECORRUPT if larger). */
int cr_fs_read_all(cr_buf *out, int dirfd, const char *name, size_t max);
/** mkdir -p of a path relative to dirfd. */
int cr_fs_mkdir_p(int dirfd, const char *path, mode_t mode);
int cr_fs_fsync_dir(int dirfd, const char *path);
/** pread all `len` bytes or fail (CR_ECORRUPT on short file). */
int cr_fs_pread_all(int fd, void *buf, size_t len, uint64_t off);
/** write all bytes (handles EINTR and short writes). */
int cr_fs_write_all(int fd, const void *buf, size_t len);
int cr_fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* ------------------------------------------------------------ hex, time */

void cr_hex_encode(char *out, const void *data, size_t len); /* out: 2*len+1 */
int cr_hex_decode(void *out, size_t outlen, const char *hex); /* exactly 2*outlen digits */
/** Decode `ndigits` (even) hex digits at hex, not NUL-terminated; no message.
 *  @return 0, or CR_EINPUT on a non-hex digit. */
int cr_hex_decode_n(void *out, const char *hex, size_t ndigits);
bool cr_is_hex(const char *s);

/** This machine's host name and the effective user's name ("" when unknown), for records. */
void cr_who(char *host, size_t hostlen, char *user, size_t userlen);

/** Current time, ns since the epoch. */
int64_t cr_time_now_ns(void);
/** Monotonic seconds. */
double cr_time_mono(void);

/** The CLOCK_REALTIME time `ms` milliseconds from now (for pthread_cond_timedwait). */
void cr_deadline(struct timespec *out, long ms);

/**
 * Run fn on n threads (thread i gets (char *)args + i * stride) and wait for
 * them, calling tick(payload) about every `interval_ms` milliseconds from the
 * calling thread (progress). Each thread, as it ends, decrements *left under
 * `mu` and signals `cond`. If fewer threads can start, the ones that did share
 * the work (*left is lowered to match).
 * @return the number of threads that ran, or CR_ERROR if none could start.
 */
int cr_run_workers(void *(*fn)(void *), void *args, size_t stride, int n, pthread_mutex_t *mu,
                   pthread_cond_t *cond, int *left, long interval_ms, void (*tick)(void *payload),
                   void *payload);

/* ------------------------------------------------------------ processes */

#define CR_PROC_CAPTURE_STDERR 1 /**< keep stderr (else stdout) */
#define CR_PROC_INHERIT_OTHER 2  /**< the stream not kept stays the caller's (else /dev/null) */

/** What cr_proc_run saw. */
typedef struct cr_proc_result {
    cr_buf output;  /**< the stream kept, at most `max` bytes, NUL-terminated */
    int exit_code;  /**< the exit status, or 128 + signal */
    int signal;     /**< the signal that killed it, or 0 */
    int exec_errno; /**< not 0: the program could not be started (ENOENT: not installed) */
} cr_proc_result;

/**
 * Run argv (argv[0] looked up in PATH, no shell) with stdin from /dev/null
 * and wait for it, keeping the first `max` bytes of its stdout (or stderr,
 * CR_PROC_CAPTURE_STDERR). A program that ran and failed is not an error
 * here: the caller reads exit_code and exec_errno.
 * @param[out] out freed with cr_proc_result_free() (also when an error is returned)
 * @return 0, or an error (cannot fork, pipe or wait).
 */
int cr_proc_run(cr_proc_result *out, const char *const *argv, int flags, size_t max);
/** Wipe (the output may be a secret) and free the output. Accepts NULL. */
void cr_proc_result_free(cr_proc_result *r);

/**
 * Edit distance between two strings (optimal string alignment: insertion,
 * deletion, substitution, swap of two neighbours; case-insensitive), capped
 * at `cap` (also returned for strings over 64 bytes). See cr_suggest().
 */
size_t cr_str_distance(const char *a, const char *b, size_t cap);

/**
 * Initialise libcurl once for the whole process (curl_global_init is not
 * thread-safe; this is): call before the first curl_easy_init.
 * @return 0, or CR_ERROR with the message set.
 */
int cr_curl_init(void);

/** Number of online CPUs (>= 1). */
int cr_ncpu(void);

/** A size for a person: "512 B", "1.5 KiB", "125.0 MiB" (binary units). */
void cr_fmt_size(char *out, size_t len, uint64_t v);

/* ------------------------------------------------------------ UTF-8 */

/**
 * Decode one UTF-8 character at s (len bytes available, len >= 1). Refuses
 * overlong forms, surrogates, code points past U+10FFFF and cut sequences.
 * @param[out] cp the code point (may be NULL).
 * @return the bytes it takes (1..4), or 0 if s does not start a valid one.
 */
size_t cr_utf8_decode(uint32_t *cp, const char *s, size_t len);

/**
 * 1 if the code point is a letter of a European or widespread script (Latin
 * with its accents, Greek, Cyrillic, Arabic, Hebrew, CJK ideographs, kana,
 * Hangul), 0 otherwise (symbols, punctuation, spaces, controls, combining
 * marks). ASCII letters included.
 */
int cr_utf8_is_letter(uint32_t cp);

#endif
