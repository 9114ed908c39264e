/*
 * The parser sandbox: hostile bytes (disk images, filesystems, registry
 * hives, files matched by YARA) are parsed in a child process that cannot
 * harm the clean room if a parser library is exploited.
 *
 * The child is this same program started again (fork, then exec of
 * /proc/self/exe), so it holds none of the parent's memory: no vault key,
 * no token, no passphrase. Before it reads a single hostile byte it:
 *   - enters new mount, network, IPC and UTS namespaces (and a user
 *     namespace when not root), so it has no network at all;
 *   - changes its root to an empty, private tmpfs in which only the folders
 *     the parent names are visible, read-only, at their usual paths;
 *   - drops every capability (and, as root with nothing to read, becomes
 *     nobody), sets no-new-privs and resource limits (memory, CPU, files);
 *   - installs a seccomp filter (libseccomp) that kills it on any system
 *     call parsing does not need: no socket, no exec, no fork, no ptrace,
 *     no mount; open only read-only and only for services that read files;
 *     write only to its channel, stderr and the scratch files it was given
 *     (or, for a CR_SBX_SCRATCH service, to files of its private tmpfs root).
 * It then answers requests on one socket. Every frame is
 *
 *   u32 magic "CSBX" | u8 version | u8 kind | u16 type | u32 length | payload
 *
 * (little endian) and the parent reads the child's frames as untrusted
 * input: magic, version, kind, type and a length bound are checked before
 * the payload is read, payloads are decoded with cr_rd (bounded, first
 * failure sticks), and the service's own reply decoder validates the rest
 * (fuzz/fuzz_sandbox.c). A child that dies, is killed by seccomp or a
 * limit, says nothing for too long, or sends a malformed frame is stopped
 * and the call returns CR_EHOSTILE with a message naming the input: a
 * finding about that input, never a crash of cleanroom.
 *
 * docs/security.md ("The parser sandbox") says what this protects and what
 * it does not.
 */
#ifndef CR_UTIL_SANDBOX_H
#define CR_UTIL_SANDBOX_H

#include "util/util.h"

#include <stddef.h>
#include <stdint.h>

#define CR_SBX_MAGIC 0x58425343u /* "CSBX" */
#define CR_SBX_VERSION 1
#define CR_SBX_HEADER 12

/* Frame kinds. */
enum {
    CR_SBX_SETUP = 1,  /* parent -> child, once: service, paths, limits, service setup */
    CR_SBX_READY = 2,  /* child -> parent, once: confinement done */
    CR_SBX_REQ = 3,    /* parent -> child: a request of the service */
    CR_SBX_REPLY = 4,  /* child -> parent: its answer */
    CR_SBX_FAIL = 5,   /* child -> parent: the request failed (code, message) */
    CR_SBX_ASK = 6,    /* child -> parent, during a request: a question (store this, ...) */
    CR_SBX_ANSWER = 7, /* parent -> child: the answer to ASK */
};

/** Largest frame either side ever sends: 1 GiB of data and 1 MiB for what goes with it. */
#define CR_SBX_MAX_FRAME ((1u << 30) + (1u << 20))
/** The most data a request may carry (a whole file scanned at once, a hive...). */
#define CR_SBX_MAX_DATA (1u << 30)

/** The parent's handle on one sandboxed child. Not thread-safe: one caller at a time. */
typedef struct cr_sbx cr_sbx;

typedef struct cr_sbx_opts {
    const char *service;    /**< a registered service name */
    const char *what;       /**< the input, for messages ("the disk image /x/a.qcow2") */
    const void *setup;      /**< the service's setup data (trusted: made by the parent) */
    size_t setuplen;
    const char *const *read_paths; /**< files or folders the child may read, at their paths */
    size_t nread_paths;
    size_t max_reply;       /**< largest reply accepted (0: 64 MiB) */
    uint64_t mem_limit;     /**< address space limit in bytes (0: 4 GiB; ignored in sanitizer builds) */
    unsigned idle_seconds;  /**< a request with no frame from the child for this long is stopped
                                 (0: CLEANROOM_SANDBOX_TIMEOUT or 300) */
    const int *fds;         /**< files the parent opened for the child (a block device, which
                                 the child's nodev root cannot open), read with cr_sbx_child_fd;
                                 the parent keeps its own copies */
    size_t nfds;            /**< at most CR_SBX_MAX_FDS */
} cr_sbx_opts;

#define CR_SBX_MAX_FDS 4

/**
 * Answer a question the child asks during a request (CR_SBX_ASK of `type`).
 * @return 0 with the answer in `answer`, or a negative code: the request is
 *         then abandoned (the child is stopped) and that code returned.
 */
typedef int (*cr_sbx_ask_fn)(void *ud, uint16_t type, cr_rd *msg, cr_buf *answer);

/** 0 when CLEANROOM_SANDBOX=off (parsers run in-process), 1 otherwise (the default). */
int cr_sbx_enabled(void);

/**
 * Start a child for `o->service` and wait until it is confined.
 * @return 0; CR_ERROR if the sandbox cannot be set up on this machine (the
 *         message says why and what to do).
 */
int cr_sbx_start(cr_sbx **out, const cr_sbx_opts *o);

/**
 * Send one request and wait for its reply. `reply` receives the payload of
 * CR_SBX_REPLY (reset first). Questions of the child are passed to `ask`
 * (may be NULL: then a question is a protocol violation).
 * @return 0; the code of a CR_SBX_FAIL (message set from the child's words,
 *         cleaned); CR_EHOSTILE when the child crashed, was killed, timed out
 *         or broke the protocol (it is then stopped: further calls return
 *         CR_EHOSTILE again; start another child to go on).
 */
int cr_sbx_call(cr_sbx *s, uint16_t type, const void *req, size_t len, cr_buf *reply,
                cr_sbx_ask_fn ask, void *ud);

/** 1 if the child is still usable (no CR_EHOSTILE yet). */
int cr_sbx_alive(const cr_sbx *s);

/** What the child reported about its confinement (for `cleanroom doctor`), borrowed. */
const char *cr_sbx_confinement(const cr_sbx *s);

/** Stop the child (EOF, then SIGKILL if it lingers) and free. Accepts NULL. */
void cr_sbx_stop(cr_sbx *s);

/**
 * Check one frame header (the parent's first line of defence, fuzzed).
 * @param kinds bit mask of the kinds acceptable here (1u << kind)
 * @return 0 with kind/type/len set, or CR_EHOSTILE with a message.
 */
int cr_sbx_header_check(const uint8_t hdr[CR_SBX_HEADER], unsigned kinds, size_t max,
                        uint8_t *kind, uint16_t *type, uint32_t *len);

/** A message from the child made safe to print: valid UTF-8 up to `max` bytes, controls as '?'. */
void cr_sbx_clean_text(char *out, size_t outlen, const uint8_t *in, size_t inlen);

/**
 * A shared memory region for the bulk of the requests (the bytes a child
 * scans), so that they cross without two copies through the socket and a
 * fresh receive buffer each time: the parent writes it through its own
 * mapping; a child given its file (cr_sbx_opts.fds) can only map it
 * read-only. The file is sealed (no shrinking, no growing, no new writable
 * mapping, no write(2), no further seals), so a hijacked child can neither
 * change bytes the parent later hands to another child nor make the
 * parent's mapping fault.
 */
typedef struct cr_sbx_shm {
    int fd;
    uint8_t *map;
    size_t len;
} cr_sbx_shm;

/** Make a region of `len` bytes (pages are taken as they are written). @return 0 or CR_ERROR. */
int cr_sbx_shm_create(cr_sbx_shm *shm, size_t len);
/** Unmap and close (accepts a zeroed or already freed region). */
void cr_sbx_shm_free(cr_sbx_shm *shm);

/* ------------------------------------------------------------- child side */

typedef struct cr_sbx_child cr_sbx_child;

/** Services may open files read-only (inside the sandbox's root: only the read paths). */
#define CR_SBX_OPEN_READ 1u
/**
 * Services may also create, write and remove files and symbolic links in the
 * sandbox's own root, a private tmpfs of at most 64 MiB that vanishes with the
 * child (the read paths stay read-only): libvmdk reads a descriptor written
 * by the child. Implies CR_SBX_OPEN_READ.
 */
#define CR_SBX_SCRATCH 2u

typedef struct cr_sbx_service {
    const char *name;
    unsigned flags;
    /**
     * Called once inside the child after the root changed and before the
     * privileges are dropped and seccomp installed: must not look at hostile
     * bytes (it gets only the parent's trusted setup data).
     */
    int (*init)(cr_sbx_child *ch, cr_rd *setup, void **state);
    /** One request: fill `reply`, or return a negative code (message in cr_error_last). */
    int (*serve)(cr_sbx_child *ch, void *state, uint16_t type, cr_rd *req, cr_buf *reply);
} cr_sbx_service;

/** Register a service (from a constructor of the module that provides it). */
void cr_sbx_register(const cr_sbx_service *svc);

/**
 * Register `svc` before main() (priority 200: before the child's loop starts
 * from its own constructor of priority 65535).
 */
#define CR_SBX_SERVICE(svc)                                                              \
    __attribute__((constructor(200))) static void cr_sbx_register_##svc(void)           \
    {                                                                                    \
        cr_sbx_register(&svc);                                                           \
    }

/**
 * Inside a request: ask the parent a question and wait for the answer,
 * readable through `answer` until the next cr_sbx_ask.
 */
int cr_sbx_ask(cr_sbx_child *ch, uint16_t type, const void *msg, size_t len, cr_rd *answer);

/**
 * The i-th file the parent passed (cr_sbx_opts.fds), or -1. The seccomp filter
 * lets the child read it (read, pread, lseek, fstat), never write to it.
 */
int cr_sbx_child_fd(const cr_sbx_child *ch, size_t i);

/**
 * During init: map the i-th passed file, a region of the parent's
 * cr_sbx_shm_create, whole and read-only; its length in *len. @return 0 or CR_ERROR.
 */
int cr_sbx_child_map(cr_sbx_child *ch, size_t i, const uint8_t **out, size_t *len);

/** During init: a file descriptor the service may still write to (pwrite, ftruncate) later. */
int cr_sbx_child_keep_fd(cr_sbx_child *ch, int fd);

/** 1 when the parent ran with CLEANROOM_TEST_HOOKS=1 (tests only: crafted-input hooks). */
int cr_sbx_child_test_hooks(const cr_sbx_child *ch);

/**
 * Test hook of the parsers (only when cr_sbx_child_test_hooks): data holding
 * "CLEANROOM-TEST-SANDBOX-CRASH" makes the child write through NULL,
 * "-ABORT" abort(), "-LOOP" spin forever, "-OPEN" open /etc/shadow (and abort if
 * that worked: the root should not hold it),
 * "-SOCKET" create a socket. Used by tests that play a crafted input.
 */
void cr_sbx_child_test_input(const cr_sbx_child *ch, const void *data, size_t len);

#endif
