/*
 * "Did you mean ...?": the closest known name to a word that is not one.
 *
 * One helper for every place that suggests a name: keys and values of a
 * recovery plan, commands and options of the command line. The distance is
 * the optimal string alignment distance (insertions, deletions, substitutions
 * and transpositions of two neighbours cost 1), case-insensitive, so "tpc"
 * is one step from "tcp" and "snapshot" one from "snapshots".
 */
#include "util/util.h"

#include <ctype.h>
#include <string.h>

size_t cr_str_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[3][65];
    if (la > 64 || lb > 64)
        return cap;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
        size_t best;
        cur[0] = i;
        best = i;
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t v = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
            if (v < best)
                best = v;
        }
        if (best >= cap)
            return cap;
    }
    return d[la % 3][lb] < cap ? d[la % 3][lb] : cap;
}

/* The same letters once '_', '-' and spaces are left out ("dependson", "depends-on"). */
static int same_letters(const char *p, const char *q)
{
    for (;;) {
        while (*p == '_' || *p == '-' || *p == ' ')
            p++;
        while (*q == '_' || *q == '-' || *q == ' ')
            q++;
        if (!*p || !*q || tolower((unsigned char)*p) != tolower((unsigned char)*q))
            break;
        p++, q++;
    }
    return !*p && !*q;
}

const char *cr_suggest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1, len;
    if (!s || !names)
        return NULL;
    len = strlen(s);
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        size_t d = cr_str_distance(s, names[i], limit + 1);
        if (d <= limit && d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    for (size_t i = 0; i < n && !best; i++)
        if (names[i] && same_letters(s, names[i]))
            best = names[i];
    return best;
}
