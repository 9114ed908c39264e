/*
 * Names of image formats, firmwares and hypervisors, and what a VM needs to
 * start (CPUs, memory, firmware, disk bus, NIC, OS type, name) read from its
 * hypervisor's own definition: a VMware .vmx or a libvirt domain XML.
 *
 * Both come from machines that may be compromised, so both parsers are
 * bounded (1 MiB of text, lines of 64 KiB) and the XML parser never loads a
 * DTD, never expands entities and never touches the network: a document with
 * a DOCTYPE or an entity declaration is refused outright, since libvirt never
 * writes one.
 */
#include "image/image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* Largest VM definition read (real ones are a few KiB). */
#define VM_MAX_TEXT (1u << 20)
#define VMX_MAX_LINE (64u * 1024)
#define VMX_MAX_KEYS 20000

const char *cr_image_format_name(cr_image_format f)
{
    switch (f) {
    case CR_IMAGE_AUTO: return "auto";
    case CR_IMAGE_RAW: return "raw";
    case CR_IMAGE_QCOW2: return "qcow2";
    case CR_IMAGE_VMDK: return "vmdk";
    case CR_IMAGE_VMDK_FLAT: return "vmdk-flat";
    case CR_IMAGE_VHDX: return "vhdx";
    case CR_IMAGE_VHD: return "vhd";
    }
    return "unknown";
}

int cr_image_format_parse(cr_image_format *out, const char *name)
{
    static const struct {
        const char *name;
        cr_image_format f;
    } names[] = {
        {"auto", CR_IMAGE_AUTO},   {"raw", CR_IMAGE_RAW},   {"img", CR_IMAGE_RAW},
        {"qcow2", CR_IMAGE_QCOW2}, {"vmdk", CR_IMAGE_VMDK}, {"vmdk-stream", CR_IMAGE_VMDK},
        {"vmdk-flat", CR_IMAGE_VMDK_FLAT}, {"vhdx", CR_IMAGE_VHDX}, {"vhd", CR_IMAGE_VHD},
        {"vpc", CR_IMAGE_VHD},
    };
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    }
    cr_error_set("unknown disk image format '%s': use raw, qcow2, vmdk, vmdk-flat, vhdx or vhd",
                 name ? name : "");
    return CR_EINPUT;
}

const char *cr_firmware_name(cr_firmware f)
{
    switch (f) {
    case CR_FIRMWARE_BIOS: return "bios";
    case CR_FIRMWARE_UEFI: return "uefi";
    case CR_FIRMWARE_UNKNOWN: break;
    }
    return "unknown";
}

int cr_firmware_parse(cr_firmware *out, const char *name)
{
    if (name && (strcasecmp(name, "bios") == 0 || strcasecmp(name, "seabios") == 0)) {
        *out = CR_FIRMWARE_BIOS;
        return 0;
    }
    if (name && (strcasecmp(name, "uefi") == 0 || strcasecmp(name, "efi") == 0 ||
                 strcasecmp(name, "ovmf") == 0)) {
        *out = CR_FIRMWARE_UEFI;
        return 0;
    }
    cr_error_set("unknown firmware '%s': use bios or uefi", name ? name : "");
    return CR_EINPUT;
}

const char *cr_hypervisor_name(cr_hypervisor h)
{
    switch (h) {
    case CR_HYPERVISOR_KVM: return "kvm";
    case CR_HYPERVISOR_PROXMOX: return "proxmox";
    case CR_HYPERVISOR_VMWARE: return "vmware";
    case CR_HYPERVISOR_HYPERV: return "hyperv";
    }
    return "unknown";
}

int cr_hypervisor_parse(cr_hypervisor *out, const char *name)
{
    static const struct {
        const char *name;
        cr_hypervisor h;
    } names[] = {
        {"kvm", CR_HYPERVISOR_KVM},       {"libvirt", CR_HYPERVISOR_KVM},
        {"qemu", CR_HYPERVISOR_KVM},      {"proxmox", CR_HYPERVISOR_PROXMOX},
        {"pve", CR_HYPERVISOR_PROXMOX},   {"vmware", CR_HYPERVISOR_VMWARE},
        {"esxi", CR_HYPERVISOR_VMWARE},   {"hyperv", CR_HYPERVISOR_HYPERV},
        {"hyper-v", CR_HYPERVISOR_HYPERV},
    };
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].h;
            return 0;
        }
    }
    cr_error_set("unknown hypervisor '%s': use kvm, proxmox, vmware or hyperv", name ? name : "");
    return CR_EINPUT;
}

void cr_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ------------------------------------------------------------ shared */

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = NULL;
    if (v && !(*dst = cr_strdup(v)))
        return CR_ERROR;
    return 0;
}

int im_vm_info_copy(cr_vm_info **out, const cr_vm_info *in)
{
    *out = NULL;
    if (!in)
        return 0;
    cr_vm_info *v = cr_calloc(1, sizeof(*v));
    if (!v)
        return CR_ERROR;
    v->cpus = in->cpus;
    v->memory_mib = in->memory_mib;
    v->firmware = in->firmware;
    if (set_str(&v->name, in->name) < 0 || set_str(&v->disk_bus, in->disk_bus) < 0 ||
        set_str(&v->nic_model, in->nic_model) < 0 || set_str(&v->os_type, in->os_type) < 0 ||
        set_str(&v->config_from, in->config_from) < 0) {
        cr_vm_info_free(v);
        return CR_ERROR;
    }
    *out = v;
    return 0;
}

/* "windows", "linux" or "other" from an OS name (VMware guestOS or libosinfo id). */
static const char *os_family(const char *s)
{
    static const char *const linux_words[] = {
        "linux", "debian", "ubuntu", "rhel", "redhat", "centos", "fedora", "sles", "suse",
        "opensuse", "oracle", "asianux", "mandriva", "mandrake", "turbolinux", "almalinux",
        "rocky", "alpine", "archlinux", "gentoo", "coreos", "photon", "amazonlinux",
    };
    char low[256];
    size_t n = 0;
    for (; s[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)s[n]);
    low[n] = 0;
    if (!strncmp(low, "win", 3) || strstr(low, "microsoft.com/win") || strstr(low, "windows"))
        return "windows";
    for (size_t i = 0; i < sizeof(linux_words) / sizeof(linux_words[0]); i++)
        if (strstr(low, linux_words[i]))
            return "linux";
    return "other";
}

/* ------------------------------------------------------------ .vmx */

typedef struct vmx_pair {
    char *key; /* lower case */
    char *val;
} vmx_pair;

typedef struct vmx {
    vmx_pair *p;
    size_t n;
} vmx;

static void vmx_clear(vmx *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->p[i].key);
        free(x->p[i].val);
    }
    free(x->p);
}

/* The value of a key (case-insensitive; the last one wins), or NULL. */
static const char *vmx_get(const vmx *x, const char *key)
{
    for (size_t i = x->n; i-- > 0;)
        if (!strcasecmp(x->p[i].key, key))
            return x->p[i].val;
    return NULL;
}

static int vmx_true(const char *v)
{
    return v && (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Split and store one "key = value" line (value quoted or bare; |XX escapes). */
static int vmx_line(vmx *x, char *line, size_t lineno)
{
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        cr_error_set("not a .vmx file: line %zu is not 'key = \"value\"'", lineno);
        return CR_EINPUT;
    }
    char *k_end = eq;
    while (k_end > s && (k_end[-1] == ' ' || k_end[-1] == '\t'))
        k_end--;
    if (k_end == s) {
        cr_error_set("not a .vmx file: line %zu has no key before '='", lineno);
        return CR_EINPUT;
    }
    for (char *c = s; c < k_end; c++) {
        if (*c == ' ' || *c == '\t' || *c == '"') {
            cr_error_set("not a .vmx file: line %zu has a key with a space or a quote in it", lineno);
            return CR_EINPUT;
        }
    }
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    char *val;
    if (*v == '"') {
        char *close = strchr(v + 1, '"');
        if (!close) {
            cr_error_set("not a .vmx file: line %zu has a value without its closing quote", lineno);
            return CR_EINPUT;
        }
        char *rest = close + 1;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (*rest && *rest != '#') {
            cr_error_set("not a .vmx file: line %zu has text after the quoted value", lineno);
            return CR_EINPUT;
        }
        *close = 0;
        v++;
    } else {
        char *hash = strchr(v, '#');
        if (hash)
            *hash = 0;
        size_t l = strlen(v);
        while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
            v[--l] = 0;
    }
    /* |22 is a quote, |7C a bar... (VMware's escapes). */
    if (!(val = cr_malloc(strlen(v) + 1)))
        return CR_ERROR;
    size_t o = 0;
    for (const char *c = v; *c; c++) {
        int h1, h2;
        if (*c == '|' && (h1 = hexval((unsigned char)c[1])) >= 0 && (h2 = hexval((unsigned char)c[2])) >= 0 &&
            (h1 << 4 | h2) != 0) {
            val[o++] = (char)(h1 << 4 | h2);
            c += 2;
        } else {
            val[o++] = *c;
        }
    }
    val[o] = 0;
    if (x->n >= VMX_MAX_KEYS) {
        free(val);
        cr_error_set(".vmx file has more than %d settings (line %zu): not a VM definition", VMX_MAX_KEYS,
                     lineno);
        return CR_EINPUT;
    }
    vmx_pair *np = cr_realloc(x->p, (x->n + 1) * sizeof(*np));
    char *key = cr_strndup(s, (size_t)(k_end - s));
    if (!np || !key) {
        if (np)
            x->p = np;
        free(val);
        free(key);
        return CR_ERROR;
    }
    x->p = np;
    x->p[x->n].key = key;
    x->p[x->n].val = val;
    x->n++;
    return 0;
}

static int vmx_split(vmx *x, const char *text, size_t len)
{
    int err = 0;
    size_t lineno = 0;
    char *line = NULL;
    if (len > VM_MAX_TEXT) {
        cr_error_set(".vmx file is %zu bytes long (at most %u): not a VM definition", len, VM_MAX_TEXT);
        return CR_EINPUT;
    }
    size_t p = 0;
    /* A UTF-8 byte order mark is allowed at the start. */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        p = 3;
    if (!(line = cr_malloc(VMX_MAX_LINE + 1)))
        return CR_ERROR;
    while (p < len) {
        size_t q = p;
        while (q < len && text[q] != '\n')
            q++;
        size_t l = q - p;
        lineno++;
        if (l > VMX_MAX_LINE) {
            cr_error_set(".vmx line %zu is longer than %u bytes: not a VM definition", lineno, VMX_MAX_LINE);
            err = CR_EINPUT;
            goto done;
        }
        memcpy(line, text + p, l);
        line[l] = 0;
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = 0;
        for (size_t i = 0; i < l; i++) {
            unsigned char c = (unsigned char)line[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                cr_error_set(".vmx line %zu holds binary data (byte 0x%02x): not a VM definition",
                             lineno, c);
                err = CR_EINPUT;
                goto done;
            }
        }
        if ((err = vmx_line(x, line, lineno)) < 0)
            goto done;
        p = q + 1;
    }
done:
    free(line);
    return err;
}

/* The bus of the VM's first hard disk: a deviceN:M.fileName naming a .vmdk. */
static const char *vmx_disk_bus(const vmx *x)
{
    static const struct {
        const char *prefix;
        const char *bus;
    } buses[] = {{"scsi", "scsi"}, {"sata", "sata"}, {"nvme", "sata"}, {"ide", "ide"}};
    for (size_t b = 0; b < sizeof(buses) / sizeof(buses[0]); b++) {
        for (size_t i = 0; i < x->n; i++) {
            const char *k = x->p[i].key;
            size_t pl = strlen(buses[b].prefix);
            if (strncasecmp(k, buses[b].prefix, pl) != 0 || !isdigit((unsigned char)k[pl]))
                continue;
            const char *dot = strrchr(k, '.');
            if (!dot || !strchr(k, ':') || strcasecmp(dot, ".fileName") != 0)
                continue;
            size_t vl = strlen(x->p[i].val);
            if (vl < 5 || strcasecmp(x->p[i].val + vl - 5, ".vmdk") != 0)
                continue;
            /* The device must be present and not a CD-ROM. */
            char key[128];
            size_t dl = (size_t)(dot - k);
            if (dl + 16 > sizeof(key))
                continue;
            snprintf(key, sizeof(key), "%.*s.present", (int)dl, k);
            const char *present = vmx_get(x, key);
            if (present && !vmx_true(present))
                continue;
            snprintf(key, sizeof(key), "%.*s.deviceType", (int)dl, k);
            const char *type = vmx_get(x, key);
            if (type && strcasestr(type, "cdrom"))
                continue;
            return buses[b].bus;
        }
    }
    /* No disk named: the controllers that are there. */
    if (vmx_true(vmx_get(x, "scsi0.present")))
        return "scsi";
    if (vmx_true(vmx_get(x, "sata0.present")))
        return "sata";
    if (vmx_true(vmx_get(x, "nvme0.present")))
        return "sata";
    for (size_t i = 0; i < x->n; i++)
        if (!strncasecmp(x->p[i].key, "ide", 3) && isdigit((unsigned char)x->p[i].key[3]))
            return "ide";
    return NULL;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int im_vmx_parse(cr_vm_info **out, const char *text, size_t len)
{
    int err;
    vmx x = {0};
    cr_vm_info *v = NULL;
    const char *s;
    uint64_t n;

    *out = NULL;
    if ((err = vmx_split(&x, text, len)) < 0)
        goto done;
    if (!vmx_get(&x, "config.version") && !vmx_get(&x, "virtualHW.version") &&
        !vmx_get(&x, "guestOS") && !vmx_get(&x, "displayName")) {
        cr_error_set("not a .vmx file: none of config.version, virtualHW.version, guestOS, "
                     "displayName is set");
        err = CR_EINPUT;
        goto done;
    }
    if (!(v = cr_calloc(1, sizeof(*v)))) {
        err = CR_ERROR;
        goto done;
    }
    if ((s = vmx_get(&x, "displayName")) && *s && (err = set_str(&v->name, s)) < 0)
        goto done;
    if ((s = vmx_get(&x, "numvcpus"))) {
        if (parse_uint(s, 4096, &n) < 0 || n == 0) {
            cr_error_set(".vmx numvcpus = \"%.40s\" is not a number of CPUs", s);
            err = CR_EINPUT;
            goto done;
        }
        v->cpus = (unsigned)n;
    } else {
        v->cpus = 1; /* VMware's default */
    }
    if ((s = vmx_get(&x, "memsize"))) {
        if (parse_uint(s, 64ull << 20, &n) < 0 || n == 0) {
            cr_error_set(".vmx memsize = \"%.40s\" is not a memory size in MiB", s);
            err = CR_EINPUT;
            goto done;
        }
        v->memory_mib = n;
    }
    s = vmx_get(&x, "firmware");
    v->firmware = s && !strcasecmp(s, "efi") ? CR_FIRMWARE_UEFI : CR_FIRMWARE_BIOS;
    if ((err = set_str(&v->disk_bus, vmx_disk_bus(&x))) < 0)
        goto done;
    if (vmx_true(vmx_get(&x, "ethernet0.present")) || vmx_get(&x, "ethernet0.virtualDev")) {
        static const char *const nics[] = {"e1000", "e1000e", "vmxnet3"};
        s = vmx_get(&x, "ethernet0.virtualDev");
        const char *nic = NULL;
        for (size_t i = 0; s && i < sizeof(nics) / sizeof(nics[0]); i++)
            if (!strcasecmp(s, nics[i]))
                nic = nics[i];
        if (!s)
            nic = "e1000"; /* VMware's default when ethernet0 names no device */
        if ((err = set_str(&v->nic_model, nic)) < 0)
            goto done;
    }
    if ((s = vmx_get(&x, "guestOS")) && *s && (err = set_str(&v->os_type, os_family(s))) < 0)
        goto done;
    *out = v;
    v = NULL;
done:
    cr_vm_info_free(v);
    vmx_clear(&x);
    return err;
}

/* ------------------------------------------------------------ libvirt XML */

static int name_is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, (const xmlChar *)name);
}

static xmlNode *child(const xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (name_is(c, name))
            return c;
    return NULL;
}

/* Text of an element (owned; xmlFree), trimmed into buf. */
static const char *text_of(const xmlNode *n, char *buf, size_t size)
{
    buf[0] = 0;
    if (!n)
        return NULL;
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return NULL;
    const char *s = (const char *)t;
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l > 0 && isspace((unsigned char)s[l - 1]))
        l--;
    if (l >= size)
        l = size - 1;
    memcpy(buf, s, l);
    buf[l] = 0;
    xmlFree(t);
    return buf;
}

static const char *attr_of(const xmlNode *n, const char *name, char *buf, size_t size)
{
    buf[0] = 0;
    if (!n)
        return NULL;
    xmlChar *a = xmlGetProp(n, (const xmlChar *)name);
    if (!a)
        return NULL;
    snprintf(buf, size, "%s", (const char *)a);
    xmlFree(a);
    return buf;
}

/*
 * Memory in MiB from a libvirt value and unit (KiB when none). As libvirt:
 * "b"/"bytes"; k, M, G, T alone or with "iB" are powers of 1024, with "B"
 * (KB, MB...) powers of 1000; case does not matter.
 */
static int libvirt_memory(uint64_t *out, const char *val, const char *unit)
{
    uint64_t n, mul = 0, base = 1024;
    int power = -1;
    if (!unit || !*unit)
        unit = "KiB";
    if (!strcasecmp(unit, "b") || !strcasecmp(unit, "bytes")) {
        power = 0;
    } else {
        const char *letters = "kmgt";
        const char *l = strchr(letters, tolower((unsigned char)unit[0]));
        if (unit[0] && l) {
            if (!unit[1] || !strcasecmp(unit + 1, "ib"))
                power = (int)(l - letters) + 1;
            else if (!strcasecmp(unit + 1, "b")) {
                power = (int)(l - letters) + 1;
                base = 1000;
            }
        }
    }
    if (power < 0) {
        cr_error_set("libvirt XML: unknown memory unit '%.20s'", unit);
        return CR_EINPUT;
    }
    mul = 1;
    for (int i = 0; i < power; i++)
        mul *= base;
    if (parse_uint(val, UINT64_MAX, &n) < 0 || n == 0) {
        cr_error_set("libvirt XML: memory '%.40s' is not a number", val ? val : "");
        return CR_EINPUT;
    }
    /* At most 64 TiB; bytes rounded up to whole MiB. */
    if (n > (64ull << 40) / mul) {
        cr_error_set("libvirt XML: memory %s %s is more than 64 TiB", val, unit);
        return CR_EINPUT;
    }
    uint64_t bytes = n * mul;
    *out = bytes / (1u << 20) + (bytes % (1u << 20) != 0);
    return 0;
}

static const char *map_word(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcasecmp(s, words[i]))
            return words[i];
    return NULL;
}

int im_libvirt_parse(cr_vm_info **out, const char *text, size_t len)
{
    int err = 0;
    xmlDoc *doc = NULL;
    cr_vm_info *v = NULL;
    char b1[512], b2[64];

    *out = NULL;
    if (len > VM_MAX_TEXT) {
        cr_error_set("libvirt XML is %zu bytes long (at most %u): not a VM definition", len, VM_MAX_TEXT);
        return CR_EINPUT;
    }
    if (memchr(text, 0, len)) {
        cr_error_set("libvirt XML holds a NUL byte: not a VM definition");
        return CR_EINPUT;
    }
    /* libvirt never writes a DTD; one here is an attack (entity expansion, external fetch). */
    if (memmem(text, len, "<!DOCTYPE", 9) || memmem(text, len, "<!ENTITY", 8)) {
        cr_error_set("libvirt XML has a DOCTYPE or an entity declaration: refused (libvirt never "
                     "writes one; this file was altered)");
        return CR_EINPUT;
    }
    xmlInitParser();
    xmlResetLastError();
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no network;
     * errors go to xmlGetLastError, not to stderr. */
    doc = xmlReadMemory(text, (int)len, "domain.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!doc) {
        const xmlError *xe = xmlGetLastError();
        char msg[200] = "not well-formed";
        if (xe && xe->message) {
            snprintf(msg, sizeof(msg), "%s", xe->message);
            msg[strcspn(msg, "\n")] = 0;
        }
        cr_error_set("libvirt XML is not valid XML (line %d: %s)", xe ? xe->line : 0, msg);
        err = CR_EINPUT;
        goto done;
    }
    if (doc->intSubset || doc->extSubset) {
        cr_error_set("libvirt XML has a DOCTYPE: refused");
        err = CR_EINPUT;
        goto done;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!name_is(root, "domain")) {
        cr_error_set("not a libvirt domain XML: the root element is <%.40s>, not <domain>",
                     root ? (const char *)root->name : "(none)");
        err = CR_EINPUT;
        goto done;
    }
    if (!(v = cr_calloc(1, sizeof(*v)))) {
        err = CR_ERROR;
        goto done;
    }
    const char *s;
    if ((s = text_of(child(root, "name"), b1, sizeof(b1))) && *s && (err = set_str(&v->name, s)) < 0)
        goto done;
    xmlNode *n = child(root, "vcpu");
    if (n) {
        uint64_t cpus;
        s = attr_of(n, "current", b2, sizeof(b2));
        if (!s)
            s = text_of(n, b2, sizeof(b2));
        if (parse_uint(s, 4096, &cpus) < 0 || cpus == 0) {
            cr_error_set("libvirt XML: <vcpu> '%.40s' is not a number of CPUs (line %d)", s ? s : "",
                         (int)xmlGetLineNo(n));
            err = CR_EINPUT;
            goto done;
        }
        v->cpus = (unsigned)cpus;
    }
    if ((n = child(root, "memory"))) {
        char unit[32];
        attr_of(n, "unit", unit, sizeof(unit));
        if ((err = libvirt_memory(&v->memory_mib, text_of(n, b2, sizeof(b2)), unit)) < 0)
            goto done;
    }
    xmlNode *os = child(root, "os");
    v->firmware = CR_FIRMWARE_BIOS;
    if (os) {
        xmlNode *loader = child(os, "loader");
        if (((s = attr_of(os, "firmware", b2, sizeof(b2))) && !strcasecmp(s, "efi")) ||
            ((s = attr_of(loader, "type", b2, sizeof(b2))) && !strcasecmp(s, "pflash")) ||
            ((s = text_of(loader, b1, sizeof(b1))) && (strcasestr(s, "ovmf") || strcasestr(s, "edk2") ||
                                                       strcasestr(s, "efi"))))
            v->firmware = CR_FIRMWARE_UEFI;
    }
    xmlNode *devices = child(root, "devices");
    for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next) {
        if (!name_is(c, "disk"))
            continue;
        s = attr_of(c, "device", b2, sizeof(b2));
        if (s && strcmp(s, "disk") != 0)
            continue; /* cdrom, floppy, lun */
        static const char *const buses[] = {"virtio", "scsi", "sata", "ide"};
        if ((err = set_str(&v->disk_bus, map_word(attr_of(child(c, "target"), "bus", b2, sizeof(b2)),
                                                  buses, 4))) < 0)
            goto done;
        break;
    }
    for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next) {
        if (!name_is(c, "interface"))
            continue;
        static const char *const nics[] = {"virtio", "e1000", "e1000e", "vmxnet3", "rtl8139"};
        if ((err = set_str(&v->nic_model, map_word(attr_of(child(c, "model"), "type", b2, sizeof(b2)),
                                                   nics, 5))) < 0)
            goto done;
        break;
    }
    /* OS: virt-install records the libosinfo id in the metadata. */
    xmlNode *meta = child(root, "metadata");
    for (xmlNode *c = meta ? meta->children : NULL; c && !v->os_type; c = c->next) {
        if (!name_is(c, "libosinfo"))
            continue;
        xmlNode *o = child(c, "os");
        if ((s = attr_of(o, "id", b1, sizeof(b1))) && *s && (err = set_str(&v->os_type, os_family(s))) < 0)
            goto done;
    }
    /* Hyper-V enlightenments are only ever turned on for Windows guests. */
    if (!v->os_type && child(child(root, "features"), "hyperv") &&
        (err = set_str(&v->os_type, "windows")) < 0)
        goto done;
    *out = v;
    v = NULL;
done:
    cr_vm_info_free(v);
    xmlFreeDoc(doc);
    return err;
}

/* ------------------------------------------------------------ reading a file */

int cr_vm_config_read(cr_vm_info **out, const char *path)
{
    int err;
    cr_buf b = {0};
    b.max = VM_MAX_TEXT;

    *out = NULL;
    if ((err = cr_fs_read_all(&b, AT_FDCWD, path, VM_MAX_TEXT)) < 0) {
        if (err == CR_ECORRUPT) {
            cr_error_set("%s: larger than %u bytes: not a .vmx or libvirt domain XML", path, VM_MAX_TEXT);
            err = CR_EINPUT;
        } else if (err == CR_ENOTFOUND) {
            cr_error_set("VM configuration %s: no such file", path);
        }
        goto done;
    }
    size_t i = 0;
    if (b.len >= 3 && !memcmp(b.ptr, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < b.len && isspace(b.ptr[i]))
        i++;
    if (i < b.len && b.ptr[i] == '<')
        err = im_libvirt_parse(out, (const char *)b.ptr, b.len);
    else
        err = im_vmx_parse(out, (const char *)b.ptr, b.len);
    if (err == CR_EINPUT) {
        cr_error_prefix("%s", path);
    }
    if (err == 0 && (err = set_str(&(*out)->config_from, path)) < 0) {
        cr_vm_info_free(*out);
        *out = NULL;
    }
done:
    cr_buf_free(&b);
    return err;
}
