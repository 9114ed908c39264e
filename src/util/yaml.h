/*
 * The YAML reader shared by the files an operator writes by hand (recovery
 * plans, jobs files): libyaml's event parser into a small bounded tree whose
 * nodes keep their line and column, and the list of problems found while
 * checking it ("12:5: unknown key 'shedule': did you mean `schedule`?").
 *
 * Why a tree of our own rather than libyaml's document loader: aliases are
 * refused at the event that names them (a "billion laughs" file expands them
 * exponentially), and the tree is bounded (nodes, depth) while it is built.
 * Checking never stops at the first problem: a technician fixing a file at
 * 3 a.m. wants the whole list at once. Only a YAML syntax error stops the
 * reading (libyaml cannot go on after one).
 */
#ifndef CR_UTIL_YAML_H
#define CR_UTIL_YAML_H

#include "cleanroom/common.h"

#include <stdarg.h>
#include <stddef.h>

/** At most this many problems are kept; one more says how many were left out. */
#define CR_YAML_MAX_PROBLEMS 1000u

typedef enum cr_ynode_type { CR_YSCALAR, CR_YMAP, CR_YSEQ } cr_ynode_type;

/** A YAML node. A mapping holds its keys and values alternately in kids. */
typedef struct cr_ynode {
    cr_ynode_type type;
    char *s;          /**< scalar text (NUL-terminated; NUL inside is refused) */
    size_t slen;
    int plain;        /**< scalar written without quotes */
    unsigned int line, col;
    struct cr_ynode **kids;
    size_t n, cap;
} cr_ynode;

void cr_ynode_free(cr_ynode *p);

/** A file being read and checked: what it is called in messages, its limits, its problems. */
typedef struct cr_ydoc {
    const char *noun;      /**< "a plan", "a jobs file": in messages */
    const char *doc;       /**< the page that documents the format, e.g. "docs/plan.md" */
    unsigned int max_nodes, max_depth;
    cr_problem *pr;
    size_t npr, cappr, dropped;
    int nerrors;
    int oom;               /**< 1: out of memory, stop */
    size_t nodes;
} cr_ydoc;

void cr_ydoc_vproblem(cr_ydoc *d, unsigned int line, unsigned int col, int is_error,
                      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
void cr_ydoc_error(cr_ydoc *d, unsigned int line, unsigned int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cr_ydoc_warning(cr_ydoc *d, unsigned int line, unsigned int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Add "... and N more problem(s) not shown" if some were dropped, then sort by line:column
 *  (stable: messages of one place stay in the order they were found). */
void cr_ydoc_finish(cr_ydoc *d);

/**
 * Read YAML into a tree. NULL with a problem recorded (or d->oom) when it
 * cannot be read; an empty document gives NULL with no problem (*empty = 1).
 */
cr_ynode *cr_yaml_read(cr_ydoc *d, const void *data, size_t len, int *empty);

/** A short, printable form of a scalar for messages: control bytes as \xNN, cut at 60
 *  bytes. Returned in a small thread-local ring (format the message at once). */
const char *cr_yaml_show(const char *s);
/** "a mapping (key: value lines)", "a list" or "a value". */
const char *cr_yaml_kind(const cr_ynode *p);

/**
 * Report unknown keys of a mapping (with the closest known one), keys that are
 * not plain values, and duplicate keys. `where` ends the messages ("in a
 * service"). At most 32 known keys.
 */
void cr_yaml_check_keys(cr_ydoc *d, const cr_ynode *map, const char *const *known,
                        size_t nknown, const char *where);

/** The value of the first `key` of a mapping, or NULL. A YAML null (an empty value, "~" or
 *  "null") counts as absent. keynode (may be NULL) receives the key's node. */
cr_ynode *cr_yaml_get(const cr_ynode *map, const char *key, cr_ynode **keynode);

#endif
