/*
 * Fuzz target: the plan parser and checker (YAML from memory). Whatever the
 * input, it returns a plan or problems, never both missing; a plan that
 * loads can be ordered (no cycle slipped through) with every service once,
 * tiers never going down, and every service after what it depends on.
 */
#include "recover/plan_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_plan *plan = NULL;
    cr_plan_problem *pr = NULL;
    size_t npr = 0, *order = NULL;
    int err = cr_plan_parse_buffer(&plan, &pr, &npr, "fuzz.yaml", data, size);
    if (err == CR_EINPUT && (plan || npr == 0))
        abort();
    for (size_t i = 0; i < npr; i++)
        if (!pr[i].message || !pr[i].message[0])
            abort();
    if (err == 0) {
        if (!plan || cr_plan_order(&order, plan) != 0)
            abort();
        size_t n = plan->nservices;
        unsigned char *seen = calloc(n + 1, 1);
        size_t *pos = calloc(n + 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            if (order[i] >= n || seen[order[i]])
                abort();
            seen[order[i]] = 1;
            pos[order[i]] = i;
            if (i && plan->services[order[i - 1]].tier > plan->services[order[i]].tier)
                abort();
        }
        for (size_t i = 0; i < n; i++) {
            const cr_plan_service *s = &plan->services[i];
            for (size_t j = 0; j < s->ndepends; j++)
                for (size_t k = 0; k < n; k++)
                    if (strcmp(plan->services[k].name, s->depends_on[j]) == 0 && pos[k] >= pos[i])
                        abort();
            char *p = cr_plan_instance_path(s, s->count);
            if (!p || (s->target.path && p[0] != '/'))
                abort();
            free(p);
        }
        free(seen);
        free(pos);
    }
    free(order);
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    return 0;
}
