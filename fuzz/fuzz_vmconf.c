/*
 * Fuzz target: VM definitions (.vmx and libvirt domain XML). Both parsers see
 * every input; whatever parses must be complete enough to copy, and the copy
 * must equal the original.
 */
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check(const cr_vm_info *v)
{
    cr_vm_info *c = NULL;
    if (im_vm_info_copy(&c, v) != 0 || !c)
        abort();
    if (!str_eq(c->name, v->name) || c->cpus != v->cpus || c->memory_mib != v->memory_mib ||
        c->firmware != v->firmware || !str_eq(c->disk_bus, v->disk_bus) ||
        !str_eq(c->nic_model, v->nic_model) || !str_eq(c->os_type, v->os_type))
        abort();
    if (v->cpus > 4096 || v->memory_mib > (64ull << 20))
        abort();
    cr_vm_info_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_vm_info *v = NULL;
    if (im_vmx_parse(&v, (const char *)data, size) == 0) {
        check(v);
        cr_vm_info_free(v);
    } else if (v) {
        abort();
    }
    v = NULL;
    if (im_libvirt_parse(&v, (const char *)data, size) == 0) {
        check(v);
        cr_vm_info_free(v);
    } else if (v) {
        abort();
    }
    return 0;
}
