/*
 * The YAML reader shared by recovery plans and jobs files (see yaml.h for
 * why a tree of our own).
 */
#include "util/yaml.h"
#include "util/util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void cr_ynode_free(cr_ynode *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        cr_ynode_free(p->kids[i]);
    free(p->kids);
    free(p->s);
    free(p);
}

/* ============================================================ problem list */

void cr_problems_free(cr_problem *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        free(p[i].message);
    free(p);
}

void cr_ydoc_vproblem(cr_ydoc *d, unsigned int line, unsigned int col, int is_error,
                      const char *fmt, va_list ap)
{
    char *msg;
    if (is_error)
        d->nerrors++;
    if (d->npr >= CR_YAML_MAX_PROBLEMS) {
        d->dropped++;
        return;
    }
    if (d->npr == d->cappr) {
        size_t cap = d->cappr ? d->cappr * 2 : 16;
        cr_problem *np = realloc(d->pr, cap * sizeof(*np));
        if (!np) {
            d->oom = 1;
            return;
        }
        d->pr = np;
        d->cappr = cap;
    }
    if (vasprintf(&msg, fmt, ap) < 0) {
        d->oom = 1;
        return;
    }
    d->pr[d->npr].line = line;
    d->pr[d->npr].col = col;
    d->pr[d->npr].is_error = is_error;
    d->pr[d->npr].message = msg;
    d->npr++;
}

void cr_ydoc_error(cr_ydoc *d, unsigned int line, unsigned int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_ydoc_vproblem(d, line, col, 1, fmt, ap);
    va_end(ap);
}

void cr_ydoc_warning(cr_ydoc *d, unsigned int line, unsigned int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_ydoc_vproblem(d, line, col, 0, fmt, ap);
    va_end(ap);
}

static int cmp_problem(const cr_problem *a, const cr_problem *b)
{
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

void cr_ydoc_finish(cr_ydoc *d)
{
    if (d->dropped) {
        size_t dropped = d->dropped;
        d->dropped = 0;
        /* the limit counts the kept ones: make room for this last line */
        if (d->npr >= CR_YAML_MAX_PROBLEMS) {
            free(d->pr[d->npr - 1].message);
            d->npr--;
            dropped++;
        }
        cr_ydoc_error(d, 0, 0, "... and %zu more problem(s) not shown", dropped);
    }
    /* insertion sort: stable, and the list is short */
    for (size_t i = 1; i < d->npr; i++) {
        cr_problem x = d->pr[i];
        size_t j = i;
        while (j > 0 && cmp_problem(&d->pr[j - 1], &x) > 0) {
            d->pr[j] = d->pr[j - 1];
            j--;
        }
        d->pr[j] = x;
    }
}

const char *cr_yaml_show(const char *s)
{
    static _Thread_local char ring[4][256];
    static _Thread_local int at;
    char *out = ring[at++ & 3];
    size_t o = 0;
    if (!s)
        s = "";
    for (size_t i = 0; s[i] && o < 240; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 60) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f || ch == '\\') {
            o += (size_t)snprintf(out + o, 256 - o, ch == '\\' ? "\\\\" : "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return out;
}

const char *cr_yaml_kind(const cr_ynode *p)
{
    return p->type == CR_YMAP ? "a mapping (key: value lines)"
           : p->type == CR_YSEQ ? "a list"
                                : "a value";
}

/* ========================================================== YAML to tree */

static cr_ynode *node_new(cr_ydoc *d, cr_ynode_type t, const yaml_mark_t *m)
{
    cr_ynode *p = calloc(1, sizeof(*p));
    if (!p) {
        d->oom = 1;
        return NULL;
    }
    p->type = t;
    p->line = (unsigned int)m->line + 1;
    p->col = (unsigned int)m->column + 1;
    return p;
}

static int node_add(cr_ydoc *d, cr_ynode *parent, cr_ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        cr_ynode **nk = realloc(parent->kids, cap * sizeof(*nk));
        if (!nk) {
            d->oom = 1;
            return -1;
        }
        parent->kids = nk;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

#define MARK(m) (unsigned int)(m).line + 1, (unsigned int)(m).column + 1

cr_ynode *cr_yaml_read(cr_ydoc *d, const void *data, size_t len, int *empty)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    cr_ynode **stack = NULL;
    size_t depth = 0;
    cr_ynode *root = NULL;
    int docs = 0, done = 0, failed = 0;

    assert(d->max_depth > 0 && d->max_nodes > 0 && d->noun);
    *empty = 0;
    if (!data) /* libyaml asserts on a NULL input, even of length 0 */
        data = "", len = 0;
    if (!(stack = calloc(d->max_depth + 1, sizeof(*stack))) || !yaml_parser_initialize(&parser)) {
        free(stack);
        d->oom = 1;
        return NULL;
    }
    yaml_parser_set_input_string(&parser, data, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            unsigned int line = (unsigned int)parser.problem_mark.line + 1;
            unsigned int col = (unsigned int)parser.problem_mark.column + 1;
            size_t at = parser.problem_mark.index;
            if (parser.error == YAML_MEMORY_ERROR)
                d->oom = 1;
            else if ((at < len && ((const char *)data)[at] == '\t') ||
                     (parser.problem && strstr(parser.problem, "tab")))
                /* libyaml says "found character that cannot start any token" */
                cr_ydoc_error(d, line, col,
                              "tabs are not allowed for indentation in YAML; use spaces (this "
                              "line starts with or holds a tab)");
            else if (parser.context)
                cr_ydoc_error(d, line, col, "YAML syntax: %s %s (line %u)",
                              parser.problem ? parser.problem : "error", parser.context,
                              (unsigned int)parser.context_mark.line + 1);
            else
                cr_ydoc_error(d, line, col, "YAML syntax: %s",
                              parser.problem ? parser.problem : "cannot be read");
            failed = 1;
            break;
        }
        cr_ynode *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                cr_ydoc_error(d, MARK(ev.start_mark),
                              "the file holds more than one YAML document ('---'): %s is one "
                              "document",
                              d->noun);
                failed = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            cr_ydoc_error(d, MARK(ev.start_mark),
                          "aliases (*%s) are not supported in %s: write the value out in full",
                          cr_yaml_show((const char *)ev.data.alias.anchor), d->noun);
            failed = 1;
            break;
        case YAML_SCALAR_EVENT:
            if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
                cr_ydoc_error(d, MARK(ev.start_mark),
                              "a value holds a NUL character (\\0): remove it");
                failed = 1;
                break;
            }
            if (!(node = node_new(d, CR_YSCALAR, &ev.start_mark)))
                break;
            node->s = cr_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            node->slen = ev.data.scalar.length;
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (!node->s)
                d->oom = 1;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (depth >= d->max_depth) {
                cr_ydoc_error(d, MARK(ev.start_mark),
                              "nested more than %u levels deep: %s never needs that",
                              d->max_depth, d->noun);
                failed = 1;
                break;
            }
            node = node_new(d, ev.type == YAML_MAPPING_START_EVENT ? CR_YMAP : CR_YSEQ,
                            &ev.start_mark);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default: break;
        }
        if (node) {
            if (++d->nodes > d->max_nodes) {
                cr_ydoc_error(d, node->line, node->col,
                              "more than %u values: %s is never that large", d->max_nodes,
                              d->noun);
                cr_ynode_free(node);
                failed = 1;
            } else if (depth == 0) {
                if (root) /* cannot happen within one document */
                    cr_ynode_free(node);
                else
                    root = node;
            } else if (node_add(d, stack[depth - 1], node) < 0) {
                cr_ynode_free(node);
                node = NULL;
            }
            if (node && !failed && !d->oom && node->type != CR_YSCALAR)
                stack[depth++] = node;
        }
        yaml_event_delete(&ev);
        if (failed || d->oom)
            break;
    }
    yaml_parser_delete(&parser);
    free(stack);
    if (failed || d->oom) {
        cr_ynode_free(root);
        return NULL;
    }
    if (!root)
        *empty = 1;
    return root;
}

/* ============================================================ mappings */

void cr_yaml_check_keys(cr_ydoc *d, const cr_ynode *map, const char *const *known,
                        size_t nknown, const char *where)
{
    /* where each known key was first seen (linear in the keys: a hostile
     * mapping may repeat one key many thousand times) */
    const cr_ynode *first[32] = {NULL};
    assert(nknown <= 32);
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const cr_ynode *k = map->kids[i];
        if (k->type != CR_YSCALAR) {
            cr_ydoc_error(d, k->line, k->col, "a key %s must be a plain word, not %s", where,
                          cr_yaml_kind(k));
            continue;
        }
        size_t found = nknown;
        for (size_t j = 0; j < nknown && found == nknown; j++)
            if (strcmp(k->s, known[j]) == 0)
                found = j;
        if (found == nknown) {
            const char *near = cr_suggest(k->s, known, nknown);
            if (strcmp(k->s, "password") == 0 || strcmp(k->s, "passwd") == 0)
                cr_ydoc_error(d, k->line, k->col,
                              "passwords are never written in %s: put it in an environment "
                              "variable and name the variable with `password_env`",
                              d->noun);
            else if (near)
                cr_ydoc_error(d, k->line, k->col, "unknown key '%s' %s: did you mean `%s`?",
                              cr_yaml_show(k->s), where, near);
            else
                cr_ydoc_error(d, k->line, k->col, "unknown key '%s' %s (known keys: see %s)",
                              cr_yaml_show(k->s), where, d->doc ? d->doc : "the documentation");
            continue;
        }
        if (first[found])
            cr_ydoc_error(d, k->line, k->col, "duplicate key '%s' (first at line %u)",
                          cr_yaml_show(k->s), first[found]->line);
        else
            first[found] = k;
    }
}

cr_ynode *cr_yaml_get(const cr_ynode *map, const char *key, cr_ynode **keynode)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        cr_ynode *k = map->kids[i];
        if (k->type == CR_YSCALAR && strcmp(k->s, key) == 0) {
            cr_ynode *v = map->kids[i + 1];
            if (keynode)
                *keynode = k;
            if (v->type == CR_YSCALAR && v->plain &&
                (v->slen == 0 || strcmp(v->s, "~") == 0 || strcmp(v->s, "null") == 0 ||
                 strcmp(v->s, "Null") == 0 || strcmp(v->s, "NULL") == 0))
                return NULL;
            return v;
        }
    }
    return NULL;
}
