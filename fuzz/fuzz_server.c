/*
 * Fuzz target: what the vault server decides from a request's method, path
 * and Range header before it touches the vault (src/server/rules.c). Input:
 * "METHOD\nPATH\nRANGE\nSIZE". Whatever the bytes, an accepted path is a
 * valid store name of the vault format, a backup token never deletes more
 * than a lock nor writes keys or config, a read token never writes, and an
 * accepted range lies inside the object.
 */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[1200], *f[4] = {"", "", "", ""};
    char name[CR_STORE_MAX_NAME + 1];
    const char *why;
    cr_srv_op op;
    cr_srv_kind kind;
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf;
    for (int i = 0; i < 4 && p; i++) {
        f[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    if (cr_srv_parse(&op, &kind, name, f[0], f[1], &why) == 0) {
        if (name[0] && !cr_store_name_ok(name))
            abort();
        if (kind == SRV_DIR && op != SRV_LIST)
            abort();
        int writes = op == SRV_PUT || op == SRV_DELETE;
        if (cr_srv_allowed(CR_ROLE_READ, op, kind, 1, &why) == 0 && writes)
            abort();
        if (cr_srv_allowed(CR_ROLE_BACKUP, op, kind, 1, &why) == 0 &&
            ((op == SRV_DELETE && kind != SRV_LOCK) ||
             (op == SRV_PUT && (kind == SRV_KEY || kind == SRV_CONFIG || kind == SRV_PLAN ||
                                kind == SRV_FORGET))))
            abort();
        if (cr_srv_allowed(CR_ROLE_ADMIN, op, kind, 0, &why) == 0)
            abort(); /* admin from afar */
    }
    uint64_t objsize = strtoull(f[3], NULL, 10), start, len;
    if (cr_srv_parse_range(&start, &len, f[2], objsize) == 0 &&
        (len == 0 || start >= objsize || len > objsize - start))
        abort();
    return 0;
}
