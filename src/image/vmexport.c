/*
 * cr_vm_export: an image snapshot as a VM a hypervisor can start.
 *
 * Each disk is restored with cr_restore_image straight into the hypervisor's
 * format (qcow2 for KVM and Proxmox, streamOptimized VMDK for VMware, VHDX for
 * Hyper-V); then the definition is written from what the backup recorded
 * about the VM (CPUs, memory, firmware, disk bus, NIC, OS), the overrides of
 * the export, and defaults for the rest, together with a README.txt that says
 * which is which and gives the exact commands to import and start it.
 *
 * Everything that comes from the snapshot (the VM's name, its source, the
 * disks' names) is untrusted: it is cleaned into valid UTF-8 without control
 * characters before any writer sees it, file names are made of a short safe
 * alphabet, and each writer escapes for its own syntax: XML through libxml2's
 * xmlTextWriter, PowerShell strings in single quotes (quotes doubled, the
 * typographic ones too, which PowerShell also takes as quotes), shell words
 * in single quotes. A definition never refers to a path outside the export.
 *
 * The export folder must be empty or absent; on failure what was written is
 * removed again, so a folder holds a complete export or nothing of ours.
 */
#include "image/vmexport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/xmlwriter.h>

#define DEFAULT_CPUS 2
#define DEFAULT_MEMORY_MIB 2048
#define NAME_MAX_BYTES 64
/* Bounds of what a definition may say (a damaged snapshot must not give 2^32 CPUs). */
#define MAX_CPUS 512
#define MAX_MEMORY_MIB (16ull * 1024 * 1024)

/* ------------------------------------------------------------ text */

static int bputf(cr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bputf(cr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        cr_error_set("cannot format text");
        return CR_ERROR;
    }
    int err = cr_buf_grow(b, (size_t)n + 1);
    if (err < 0)
        return err;
    va_start(ap, fmt);
    vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static int bputs(cr_buf *b, const char *s)
{
    return cr_buf_put(b, s, strlen(s));
}

/* Take the buffer as a C string. */
static int buf_take(char **out, cr_buf *b)
{
    int err = cr_buf_put_u8(b, 0);
    if (err < 0) {
        cr_buf_free(b);
        return err;
    }
    *out = (char *)b->ptr;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
        return 0;
    /* C1 control characters are not text either. */
    if (cp >= 0x80 && cp <= 0x9f)
        return 0;
    return n;
}

char *im_clean_text(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), o = 0;
    char *out = cr_malloc((n < max ? n : max) + 1);
    if (!out)
        return NULL;
    while (*p) {
        size_t l = utf8_len(p);
        if (l == 1 && (*p < 0x20 || *p == 0x7f)) {
            if (o + 1 > max)
                break;
            out[o++] = '_';
            p++;
        } else if (l == 0) {
            if (o + 1 > max)
                break;
            out[o++] = '?';
            p++;
        } else {
            if (o + l > max)
                break;
            memcpy(out + o, p, l);
            o += l;
            p += l;
        }
    }
    out[o] = '\0';
    return out;
}

char *im_file_name(const char *s)
{
    const char *p = s ? s : "";
    char *out = cr_malloc(NAME_MAX_BYTES + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (; *p && o < NAME_MAX_BYTES; p++) {
        unsigned char c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && o > 0);
        char ch = ok ? (char)c : '_';
        if (ch == '_' && o > 0 && out[o - 1] == '_')
            continue; /* one '_' for a run of replaced bytes */
        out[o++] = ch;
    }
    while (o > 0 && (out[o - 1] == '.' || out[o - 1] == '_'))
        o--; /* Windows drops trailing dots */
    if (o == 0)
        memcpy(out, "vm", (o = 2));
    out[o] = '\0';
    /* "..", "." are gone (no leading dot); reserved Windows device names get a suffix. */
    static const char *const reserved[] = {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (!strcasecmp(out, reserved[i]) && o + 3 <= NAME_MAX_BYTES) {
            memcpy(out + o, "-vm", 4);
            break;
        }
    return out;
}

char *im_proxmox_name(const char *s)
{
    const char *p = s ? s : "";
    char *out = cr_malloc(64);
    size_t o = 0;
    if (!out)
        return NULL;
    for (; *p && o < 63; p++) {
        unsigned char c = (unsigned char)*p;
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            out[o++] = (char)c;
        } else if (c == '.' && o > 0 && out[o - 1] != '.' && out[o - 1] != '-') {
            out[o++] = '.';
        } else if (o > 0 && out[o - 1] != '-' && out[o - 1] != '.') {
            out[o++] = '-';
        }
    }
    while (o > 0 && (out[o - 1] == '-' || out[o - 1] == '.'))
        o--;
    if (o == 0)
        memcpy(out, "restored-vm", (o = 11));
    out[o] = '\0';
    return out;
}

/* A VM name as shown in definitions: cleaned, no path separators. */
static char *vm_display_name(const char *s)
{
    char *n = im_clean_text(s, NAME_MAX_BYTES);
    if (!n)
        return NULL;
    for (char *p = n; *p; p++)
        if (*p == '/' || *p == '\\')
            *p = '_';
    if (!n[0] || !strcmp(n, ".") || !strcmp(n, "..")) {
        free(n);
        return cr_strdup("restored-vm");
    }
    return n;
}

/* A word for a POSIX shell, in single quotes. */
static int put_shell_word(cr_buf *b, const char *s)
{
    int err = bputs(b, "'");
    for (const char *p = s; *p && err == 0; p++)
        err = *p == '\'' ? bputs(b, "'\\''") : cr_buf_put(b, p, 1);
    return err ? err : bputs(b, "'");
}

/* A PowerShell single-quoted string: every quote character doubled (also U+2018-U+201B). */
static int put_ps_string(cr_buf *b, const char *s)
{
    int err = bputs(b, "'");
    for (const unsigned char *p = (const unsigned char *)s; *p && err == 0;) {
        if (*p == '\'') {
            err = bputs(b, "''");
            p++;
        } else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0x98 && p[2] <= 0x9b) {
            err = cr_buf_put(b, p, 3);
            if (err == 0)
                err = cr_buf_put(b, p, 3);
            p += 3;
        } else {
            err = cr_buf_put(b, p, 1);
            p++;
        }
    }
    return err ? err : bputs(b, "'");
}

/* ------------------------------------------------------------ the VM */

static int is_windows(const im_vmdef *d)
{
    return d->os_type && !strcmp(d->os_type, "windows");
}

/* The disk bus and NIC this hypervisor gets, from what was recorded or given. */
static void resolve_devices(im_vmdef *d, const char *bus, im_origin bus_o, const char *nic,
                            im_origin nic_o)
{
    static const char *const kvm_bus[] = {"virtio", "scsi", "sata", "ide", NULL};
    static const char *const kvm_nic[] = {"virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", NULL};
    static const char *const vmw_bus[] = {"scsi", "sata", "ide", NULL};
    static const char *const vmw_nic[] = {"vmxnet3", "e1000", "e1000e", NULL};
    static const char *const pve_nic[] = {"virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", NULL};
    int win = is_windows(d), uefi = d->firmware == CR_FIRMWARE_UEFI;
    const char *const *bus_set = kvm_bus, *const *nic_set = kvm_nic;
    const char *bus_def, *nic_def, *hv_bus[2] = {NULL, NULL}, *hv_nic[2] = {"synthetic", NULL};

    switch (d->hv) {
    case CR_HYPERVISOR_VMWARE:
        bus_set = vmw_bus;
        nic_set = vmw_nic;
        bus_def = win ? "sata" : "scsi";
        nic_def = win ? "e1000e" : "vmxnet3";
        break;
    case CR_HYPERVISOR_HYPERV:
        bus_def = uefi ? "scsi" : "ide"; /* Generation 2 / 1: the only boot disk controller */
        nic_def = "synthetic";
        hv_bus[0] = bus_def;
        bus_set = hv_bus;
        nic_set = hv_nic;
        break;
    case CR_HYPERVISOR_PROXMOX:
        nic_set = pve_nic;
        bus_def = win ? "sata" : "scsi";
        nic_def = win ? "e1000" : "virtio";
        break;
    case CR_HYPERVISOR_KVM:
    default:
        bus_def = win ? "sata" : "virtio";
        nic_def = win ? "e1000e" : "virtio";
        break;
    }
    d->disk_bus = bus_def;
    d->o_bus = IM_ORIGIN_DEFAULT;
    if (bus) {
        const char *const *p = bus_set;
        for (; *p; p++)
            if (!strcmp(*p, bus))
                break;
        /* q35 (UEFI on KVM) has no IDE: the same disk on SATA. */
        if (*p && d->hv == CR_HYPERVISOR_KVM && uefi && !strcmp(*p, "ide")) {
            d->disk_bus = "sata";
            d->o_bus = IM_ORIGIN_CHANGED;
            d->recorded_bus = im_clean_text(bus, 32);
        } else if (*p && win && !strcmp(*p, "scsi") &&
                   (d->hv == CR_HYPERVISOR_KVM || d->hv == CR_HYPERVISOR_PROXMOX)) {
            /* SCSI of another hypervisor (LSI Logic) becomes virtio-scsi here, for which
             * Windows has no driver of its own: SATA, which it has. */
            d->disk_bus = "sata";
            d->o_bus = IM_ORIGIN_CHANGED;
            d->recorded_bus = im_clean_text(bus, 32);
        } else if (*p) {
            d->disk_bus = *p;
            d->o_bus = bus_o;
        } else {
            d->o_bus = IM_ORIGIN_CHANGED;
            d->recorded_bus = im_clean_text(bus, 32);
        }
    }
    d->nic_model = nic_def;
    d->o_nic = IM_ORIGIN_DEFAULT;
    if (nic) {
        const char *const *p = nic_set;
        for (; *p; p++)
            if (!strcmp(*p, nic))
                break;
        if (*p) {
            d->nic_model = *p;
            d->o_nic = nic_o;
        } else {
            d->o_nic = IM_ORIGIN_CHANGED;
            d->recorded_nic = im_clean_text(nic, 32);
        }
    }
}

static const char *disk_ext(cr_hypervisor hv)
{
    switch (hv) {
    case CR_HYPERVISOR_VMWARE:
        return "vmdk";
    case CR_HYPERVISOR_HYPERV:
        return "vhdx";
    default:
        return "qcow2";
    }
}

int im_vmdef_init(im_vmdef *d, const cr_snapshot *snap, const cr_vm_export_options *opts)
{
    static const char *const os_set[] = {"linux", "windows", "other", NULL};
    const cr_vm_info *rec = snap->vm, *ov = opts->overrides;
    const char *name;
    int err = 0;

    memset(d, 0, sizeof(*d));
    d->hv = opts->hypervisor;
    name = opts->name && *opts->name        ? opts->name
           : rec && rec->name && *rec->name ? rec->name
           : snap->source && *snap->source  ? snap->source
                                            : "restored-vm";
    if (!(d->name = vm_display_name(name)) || !(d->file_base = im_file_name(d->name)) ||
        !(d->source = im_clean_text(snap->source ? snap->source : "", 256))) {
        err = CR_ERROR;
        goto done;
    }
    cr_id_to_hex(d->snapshot, &snap->id);
    d->time_ns = snap->time_ns;

#define PICK(field, okv, o_field, defv)                                                            \
    do {                                                                                           \
        if (ov && ov->field && okv(ov->field)) {                                                   \
            d->field = ov->field;                                                                  \
            d->o_field = IM_ORIGIN_GIVEN;                                                          \
        } else if (rec && rec->field && okv(rec->field)) {                                         \
            d->field = rec->field;                                                                 \
            d->o_field = IM_ORIGIN_BACKUP;                                                         \
        } else {                                                                                   \
            d->field = defv;                                                                       \
            d->o_field = IM_ORIGIN_DEFAULT;                                                        \
        }                                                                                          \
    } while (0)
#define CPUS_OK(v) ((v) <= MAX_CPUS)
#define MEM_OK(v) ((v) >= 16 && (v) <= MAX_MEMORY_MIB)
#define FW_OK(v) ((v) == CR_FIRMWARE_BIOS || (v) == CR_FIRMWARE_UEFI)
    PICK(cpus, CPUS_OK, o_cpus, DEFAULT_CPUS);
    PICK(memory_mib, MEM_OK, o_memory, DEFAULT_MEMORY_MIB);
    PICK(firmware, FW_OK, o_firmware, CR_FIRMWARE_BIOS);
#undef PICK
#undef CPUS_OK
#undef MEM_OK
#undef FW_OK
    d->os_type = NULL;
    d->o_os = IM_ORIGIN_DEFAULT;
    for (const char *const *p = os_set; *p; p++) {
        if (ov && ov->os_type && !strcmp(ov->os_type, *p)) {
            d->os_type = *p;
            d->o_os = IM_ORIGIN_GIVEN;
            break;
        }
    }
    for (const char *const *p = os_set; *p && !d->os_type; p++) {
        if (rec && rec->os_type && !strcmp(rec->os_type, *p)) {
            d->os_type = *p;
            d->o_os = IM_ORIGIN_BACKUP;
        }
    }
    {
        const char *bus = NULL, *nic = NULL;
        im_origin bo = IM_ORIGIN_DEFAULT, no = IM_ORIGIN_DEFAULT;
        if (ov && ov->disk_bus && *ov->disk_bus) {
            bus = ov->disk_bus;
            bo = IM_ORIGIN_GIVEN;
        } else if (rec && rec->disk_bus && *rec->disk_bus) {
            bus = rec->disk_bus;
            bo = IM_ORIGIN_BACKUP;
        }
        if (ov && ov->nic_model && *ov->nic_model) {
            nic = ov->nic_model;
            no = IM_ORIGIN_GIVEN;
        } else if (rec && rec->nic_model && *rec->nic_model) {
            nic = rec->nic_model;
            no = IM_ORIGIN_BACKUP;
        }
        resolve_devices(d, bus, bo, nic, no);
    }

    if (snap->ndisks > 0 && !(d->disks = cr_calloc(snap->ndisks, sizeof(*d->disks)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < snap->ndisks; i++) {
        im_vmdisk *k = &d->disks[d->ndisks++];
        k->virtual_size = snap->disks[i].virtual_size;
        if (!(k->disk = im_clean_text(snap->disks[i].name, 64)) ||
            !(k->file = cr_sprintf("%s-disk%zu.%s", d->file_base, i, disk_ext(d->hv)))) {
            err = CR_ERROR;
            goto done;
        }
    }
done:
    if (err < 0)
        im_vmdef_clear(d);
    return err;
}

void im_vmdef_clear(im_vmdef *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->file_base);
    free(d->recorded_bus);
    free(d->recorded_nic);
    free(d->source);
    free(d->out_dir);
    for (size_t i = 0; i < d->ndisks; i++) {
        free(d->disks[i].disk);
        free(d->disks[i].file);
    }
    free(d->disks);
    memset(d, 0, sizeof(*d));
}

char *im_def_file(const im_vmdef *d)
{
    switch (d->hv) {
    case CR_HYPERVISOR_KVM:
        return cr_sprintf("%s.xml", d->file_base);
    case CR_HYPERVISOR_PROXMOX:
        return cr_sprintf("%s.conf", d->file_base);
    case CR_HYPERVISOR_VMWARE:
        return cr_sprintf("%s.ovf", d->file_base);
    case CR_HYPERVISOR_HYPERV:
        return cr_sprintf("create-%s.ps1", d->file_base);
    }
    cr_error_set("unknown hypervisor %d", (int)d->hv);
    return NULL;
}

static char *path_join(const char *dir, const char *name)
{
    return cr_sprintf("%s/%s", dir, name);
}

static void time_text(char *out, size_t len, int64_t ns)
{
    /* To the second: the fraction does not help anyone reading a README. */
    cr_time_format(out, len, ns - ns % 1000000000);
}

/* "vda", "sdb", "hdc"... for the i-th disk on a prefix; beyond 26: "sdaa". */
static void dev_name(char *out, size_t len, const char *prefix, size_t i)
{
    if (i < 26)
        snprintf(out, len, "%s%c", prefix, (char)('a' + i));
    else
        snprintf(out, len, "%s%c%c", prefix, (char)('a' + i / 26 - 1), (char)('a' + i % 26));
}

/* ------------------------------------------------------------ XML */

typedef struct xw {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int bad;
} xw;

static int xw_open(xw *x)
{
    memset(x, 0, sizeof(*x));
    if (!(x->buf = xmlBufferCreate()) || !(x->w = xmlNewTextWriterMemory(x->buf, 0))) {
        if (x->buf)
            xmlBufferFree(x->buf);
        cr_error_set("out of memory");
        return CR_ERROR;
    }
    if (xmlTextWriterSetIndent(x->w, 1) < 0 ||
        xmlTextWriterSetIndentString(x->w, BAD_CAST "  ") < 0)
        x->bad = 1;
    return 0;
}

static void xw_start(xw *x, const char *el)
{
    if (!x->bad && xmlTextWriterStartElement(x->w, BAD_CAST el) < 0)
        x->bad = 1;
}

static void xw_end(xw *x)
{
    if (!x->bad && xmlTextWriterEndElement(x->w) < 0)
        x->bad = 1;
}

static void xw_attr(xw *x, const char *name, const char *value)
{
    if (!x->bad && xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0)
        x->bad = 1;
}

static void xw_attr_u64(xw *x, const char *name, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    xw_attr(x, name, s);
}

static void xw_elem(xw *x, const char *el, const char *text)
{
    if (!x->bad && xmlTextWriterWriteElement(x->w, BAD_CAST el, BAD_CAST text) < 0)
        x->bad = 1;
}

static void xw_elem_u64(xw *x, const char *el, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    xw_elem(x, el, s);
}

/* An empty element with attributes given as name, value pairs ending in NULL. */
static void xw_empty(xw *x, const char *el, ...)
{
    va_list ap;
    const char *n;
    xw_start(x, el);
    va_start(ap, el);
    while ((n = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        xw_attr(x, n, v);
    }
    va_end(ap);
    xw_end(x);
}

static int xw_close(char **out, xw *x)
{
    int err = 0;
    if (!x->bad && xmlTextWriterEndDocument(x->w) < 0)
        x->bad = 1;
    xmlFreeTextWriter(x->w); /* flushes into buf */
    x->w = NULL;
    if (x->bad) {
        cr_error_set("cannot write the XML definition (out of memory?)");
        err = CR_ERROR;
    } else if (!(*out = cr_strdup((const char *)xmlBufferContent(x->buf)))) {
        err = CR_ERROR;
    }
    xmlBufferFree(x->buf);
    x->buf = NULL;
    return err;
}

static char *description(const im_vmdef *d)
{
    char t[48];
    time_text(t, sizeof(t), d->time_ns);
    return cr_sprintf("Restored by cleanroom from snapshot %.8s of %s taken %s", d->snapshot,
                      d->source, t);
}

/* --------------------------------------------------------- libvirt (KVM) */

int im_write_libvirt(char **out, const im_vmdef *d)
{
    xw x;
    int err, uefi = d->firmware == CR_FIRMWARE_UEFI;
    char *desc = description(d), num[32];
    const char *prefix = !strcmp(d->disk_bus, "virtio") ? "vd"
                         : !strcmp(d->disk_bus, "ide")  ? "hd"
                                                        : "sd";
    if (!desc)
        return CR_ERROR;
    if ((err = xw_open(&x)) < 0) {
        free(desc);
        return err;
    }
    xw_start(&x, "domain");
    xw_attr(&x, "type", "kvm");
    xw_elem(&x, "name", d->name);
    xw_elem(&x, "description", desc);
    xw_start(&x, "memory");
    xw_attr(&x, "unit", "MiB");
    snprintf(num, sizeof(num), "%llu", (unsigned long long)d->memory_mib);
    if (!x.bad && xmlTextWriterWriteString(x.w, BAD_CAST num) < 0)
        x.bad = 1;
    xw_end(&x);
    xw_start(&x, "vcpu");
    xw_attr(&x, "placement", "static");
    snprintf(num, sizeof(num), "%u", d->cpus);
    if (!x.bad && xmlTextWriterWriteString(x.w, BAD_CAST num) < 0)
        x.bad = 1;
    xw_end(&x);

    xw_start(&x, "os");
    if (uefi)
        xw_attr(&x, "firmware", "efi");
    xw_start(&x, "type");
    xw_attr(&x, "arch", "x86_64");
    xw_attr(&x, "machine", uefi ? "q35" : "pc");
    if (!x.bad && xmlTextWriterWriteString(x.w, BAD_CAST "hvm") < 0)
        x.bad = 1;
    xw_end(&x);
    xw_empty(&x, "boot", "dev", "hd", NULL);
    xw_end(&x);

    xw_start(&x, "features");
    xw_empty(&x, "acpi", NULL);
    xw_empty(&x, "apic", NULL);
    xw_end(&x);
    xw_empty(&x, "cpu", "mode", "host-model", NULL);
    /* Windows keeps its clock in local time. */
    xw_empty(&x, "clock", "offset", is_windows(d) ? "localtime" : "utc", NULL);
    xw_elem(&x, "on_poweroff", "destroy");
    xw_elem(&x, "on_reboot", "restart");
    xw_elem(&x, "on_crash", "destroy");

    xw_start(&x, "devices");
    if (!strcmp(d->disk_bus, "scsi"))
        xw_empty(&x, "controller", "type", "scsi", "index", "0", "model", "virtio-scsi", NULL);
    for (size_t i = 0; i < d->ndisks; i++) {
        char dev[8], *path = path_join(d->out_dir ? d->out_dir : ".", d->disks[i].file);
        if (!path) {
            x.bad = 1;
            break;
        }
        dev_name(dev, sizeof(dev), prefix, i);
        xw_start(&x, "disk");
        xw_attr(&x, "type", "file");
        xw_attr(&x, "device", "disk");
        xw_empty(&x, "driver", "name", "qemu", "type", "qcow2", NULL);
        xw_empty(&x, "source", "file", path, NULL);
        xw_empty(&x, "target", "dev", dev, "bus", d->disk_bus, NULL);
        if (i == 0)
            xw_empty(&x, "boot", "order", "1", NULL);
        xw_end(&x);
        free(path);
    }
    xw_start(&x, "interface");
    xw_attr(&x, "type", "network");
    xw_empty(&x, "source", "network", "default", NULL);
    xw_empty(&x, "model", "type", d->nic_model, NULL);
    xw_end(&x);
    xw_start(&x, "serial");
    xw_attr(&x, "type", "pty");
    xw_empty(&x, "target", "port", "0", NULL);
    xw_end(&x);
    xw_start(&x, "console");
    xw_attr(&x, "type", "pty");
    xw_empty(&x, "target", "type", "serial", "port", "0", NULL);
    xw_end(&x);
    xw_empty(&x, "input", "type", "tablet", "bus", "usb", NULL);
    xw_empty(&x, "graphics", "type", "vnc", "port", "-1", "autoport", "yes", "listen", "127.0.0.1",
             NULL);
    xw_start(&x, "video");
    xw_empty(&x, "model", "type", "vga", NULL);
    xw_end(&x);
    xw_end(&x); /* devices */
    xw_end(&x); /* domain */
    err = xw_close(out, &x);
    free(desc);
    return err;
}

/* ------------------------------------------------------------ Proxmox */

static const char *pve_ostype(const im_vmdef *d)
{
    if (!d->os_type)
        return "other";
    if (!strcmp(d->os_type, "linux"))
        return "l26";
    if (!strcmp(d->os_type, "windows"))
        return "win10";
    return "other";
}

/* "scsi0", "virtio1", "sata0"... */
static void pve_disk_key(char *out, size_t len, const im_vmdef *d, size_t i)
{
    size_t n = i;
    /* ide2 is where Proxmox puts its CD drive. */
    if (!strcmp(d->disk_bus, "ide") && n >= 2)
        n++;
    snprintf(out, len, "%s%zu", d->disk_bus, n);
}

int im_write_proxmox(char **out, const im_vmdef *d)
{
    cr_buf b = CR_BUF_INIT;
    char t[48], key[16];
    char *pname = im_proxmox_name(d->name);
    int err = 0, uefi = d->firmware == CR_FIRMWARE_UEFI;
    if (!pname)
        return CR_ERROR;
    time_text(t, sizeof(t), d->time_ns);
    pve_disk_key(key, sizeof(key), d, 0);
    /* Leading comment lines are the VM's description in Proxmox. */
    err = bputf(&b,
                "# Restored by cleanroom from snapshot %.8s of %s taken %s.\n"
                "# The disks are added by the commands of README.txt.\n",
                d->snapshot, d->source, t);
    if (!err)
        err = bputf(&b,
                    "bios: %s\n"
                    "boot: order=%s\n"
                    "cores: %u\n",
                    uefi ? "ovmf" : "seabios", key, d->cpus);
    if (!err && uefi)
        err = bputs(&b, "machine: q35\n");
    if (!err)
        err = bputf(&b,
                    "memory: %llu\n"
                    "name: %s\n"
                    "net0: %s,bridge=vmbr0\n"
                    "ostype: %s\n"
                    "scsihw: virtio-scsi-pci\n"
                    "sockets: 1\n",
                    (unsigned long long)d->memory_mib, pname, d->nic_model, pve_ostype(d));
    free(pname);
    if (err) {
        cr_buf_free(&b);
        return err;
    }
    return buf_take(out, &b);
}

/* ------------------------------------------------------------ VMware OVF */

static void ovf_os(const im_vmdef *d, const char **id, const char **vmw)
{
    if (d->os_type && !strcmp(d->os_type, "linux")) {
        *id = "101"; /* CIM: Linux 64-Bit */
        *vmw = "otherLinux64Guest";
    } else if (is_windows(d)) {
        *id = "1";
        *vmw = "windows9Server64Guest";
    } else {
        *id = "1"; /* CIM: Other */
        *vmw = "otherGuest64";
    }
}

static void ovf_item_begin(xw *x)
{
    xw_start(x, "Item");
}

int im_write_ovf(char **out, const im_vmdef *d)
{
    xw x;
    int err;
    char num[32], *desc = description(d);
    const char *osid, *osvmw, *nic;
    unsigned int inst = 1, ctl;
    if (!desc)
        return CR_ERROR;
    if ((err = xw_open(&x)) < 0) {
        free(desc);
        return err;
    }
    ovf_os(d, &osid, &osvmw);
    nic = !strcmp(d->nic_model, "e1000")    ? "E1000"
          : !strcmp(d->nic_model, "e1000e") ? "E1000e"
                                            : "VmxNet3";
    if (!x.bad && xmlTextWriterStartDocument(x.w, "1.0", "UTF-8", NULL) < 0)
        x.bad = 1;
    xw_start(&x, "Envelope");
    xw_attr(&x, "xmlns", "http://schemas.dmtf.org/ovf/envelope/1");
    xw_attr(&x, "xmlns:cim", "http://schemas.dmtf.org/wbem/wscim/1/common");
    xw_attr(&x, "xmlns:ovf", "http://schemas.dmtf.org/ovf/envelope/1");
    xw_attr(&x, "xmlns:rasd",
            "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData");
    xw_attr(&x, "xmlns:vmw", "http://www.vmware.com/schema/ovf");
    xw_attr(&x, "xmlns:vssd",
            "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData");
    xw_attr(&x, "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance");

    xw_start(&x, "References");
    for (size_t i = 0; i < d->ndisks; i++) {
        char id[32];
        snprintf(id, sizeof(id), "file%zu", i + 1);
        xw_start(&x, "File");
        xw_attr(&x, "ovf:href", d->disks[i].file);
        xw_attr(&x, "ovf:id", id);
        xw_attr_u64(&x, "ovf:size", d->disks[i].file_size);
        xw_end(&x);
    }
    xw_end(&x);

    xw_start(&x, "DiskSection");
    xw_elem(&x, "Info", "Virtual disk information");
    for (size_t i = 0; i < d->ndisks; i++) {
        char id[32], file[32];
        snprintf(id, sizeof(id), "vmdisk%zu", i + 1);
        snprintf(file, sizeof(file), "file%zu", i + 1);
        xw_start(&x, "Disk");
        xw_attr_u64(&x, "ovf:capacity", d->disks[i].virtual_size);
        xw_attr(&x, "ovf:capacityAllocationUnits", "byte");
        xw_attr(&x, "ovf:diskId", id);
        xw_attr(&x, "ovf:fileRef", file);
        xw_attr(&x, "ovf:format",
                "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized");
        xw_end(&x);
    }
    xw_end(&x);

    xw_start(&x, "NetworkSection");
    xw_elem(&x, "Info", "The list of logical networks");
    xw_start(&x, "Network");
    xw_attr(&x, "ovf:name", "VM Network");
    xw_elem(&x, "Description", "The VM Network network");
    xw_end(&x);
    xw_end(&x);

    xw_start(&x, "VirtualSystem");
    xw_attr(&x, "ovf:id", d->name);
    xw_elem(&x, "Info", desc);
    xw_elem(&x, "Name", d->name);
    xw_start(&x, "OperatingSystemSection");
    xw_attr(&x, "ovf:id", osid);
    xw_attr(&x, "vmw:osType", osvmw);
    xw_elem(&x, "Info", "The kind of installed guest operating system");
    xw_end(&x);

    xw_start(&x, "VirtualHardwareSection");
    xw_elem(&x, "Info", "Virtual hardware requirements");
    xw_start(&x, "System");
    xw_elem(&x, "vssd:ElementName", "Virtual Hardware Family");
    xw_elem(&x, "vssd:InstanceID", "0");
    xw_elem(&x, "vssd:VirtualSystemIdentifier", d->name);
    xw_elem(&x, "vssd:VirtualSystemType", "vmx-13");
    xw_end(&x);

    /* rasd elements in the schema's (alphabetical) order. */
    ovf_item_begin(&x);
    xw_elem(&x, "rasd:AllocationUnits", "hertz * 10^6");
    xw_elem(&x, "rasd:Description", "Number of Virtual CPUs");
    snprintf(num, sizeof(num), "%u virtual CPU(s)", d->cpus);
    xw_elem(&x, "rasd:ElementName", num);
    xw_elem_u64(&x, "rasd:InstanceID", inst++);
    xw_elem(&x, "rasd:ResourceType", "3");
    xw_elem_u64(&x, "rasd:VirtualQuantity", d->cpus);
    xw_end(&x);

    ovf_item_begin(&x);
    xw_elem(&x, "rasd:AllocationUnits", "byte * 2^20");
    xw_elem(&x, "rasd:Description", "Memory Size");
    snprintf(num, sizeof(num), "%lluMB of memory", (unsigned long long)d->memory_mib);
    xw_elem(&x, "rasd:ElementName", num);
    xw_elem_u64(&x, "rasd:InstanceID", inst++);
    xw_elem(&x, "rasd:ResourceType", "4");
    xw_elem_u64(&x, "rasd:VirtualQuantity", d->memory_mib);
    xw_end(&x);

    ctl = inst++;
    ovf_item_begin(&x);
    xw_elem(&x, "rasd:Address", "0");
    if (!strcmp(d->disk_bus, "sata")) {
        xw_elem(&x, "rasd:Description", "SATA Controller");
        xw_elem(&x, "rasd:ElementName", "SATA controller 0");
        xw_elem_u64(&x, "rasd:InstanceID", ctl);
        xw_elem(&x, "rasd:ResourceSubType", "vmware.sata.ahci");
        xw_elem(&x, "rasd:ResourceType", "20");
    } else if (!strcmp(d->disk_bus, "ide")) {
        xw_elem(&x, "rasd:Description", "IDE Controller");
        xw_elem(&x, "rasd:ElementName", "IDE controller 0");
        xw_elem_u64(&x, "rasd:InstanceID", ctl);
        xw_elem(&x, "rasd:ResourceType", "5");
    } else {
        xw_elem(&x, "rasd:Description", "SCSI Controller");
        xw_elem(&x, "rasd:ElementName", "SCSI controller 0");
        xw_elem_u64(&x, "rasd:InstanceID", ctl);
        xw_elem(&x, "rasd:ResourceSubType", "lsilogic");
        xw_elem(&x, "rasd:ResourceType", "6");
    }
    xw_end(&x);

    for (size_t i = 0; i < d->ndisks; i++) {
        char res[48], name[32];
        /* SCSI unit 7 is the controller itself. */
        size_t unit = !strcmp(d->disk_bus, "scsi") && i >= 7 ? i + 1 : i;
        snprintf(res, sizeof(res), "ovf:/disk/vmdisk%zu", i + 1);
        snprintf(name, sizeof(name), "Hard disk %zu", i + 1);
        ovf_item_begin(&x);
        xw_elem_u64(&x, "rasd:AddressOnParent", unit);
        xw_elem(&x, "rasd:ElementName", name);
        xw_elem(&x, "rasd:HostResource", res);
        xw_elem_u64(&x, "rasd:InstanceID", inst++);
        xw_elem_u64(&x, "rasd:Parent", ctl);
        xw_elem(&x, "rasd:ResourceType", "17");
        xw_end(&x);
    }

    ovf_item_begin(&x);
    xw_elem(&x, "rasd:AddressOnParent", "7");
    xw_elem(&x, "rasd:AutomaticAllocation", "true");
    xw_elem(&x, "rasd:Connection", "VM Network");
    snprintf(num, sizeof(num), "%s ethernet adapter", nic);
    xw_elem(&x, "rasd:Description", num);
    xw_elem(&x, "rasd:ElementName", "Network adapter 1");
    xw_elem_u64(&x, "rasd:InstanceID", inst++);
    xw_elem(&x, "rasd:ResourceSubType", nic);
    xw_elem(&x, "rasd:ResourceType", "10");
    xw_end(&x);

    if (d->firmware == CR_FIRMWARE_UEFI) {
        xw_start(&x, "vmw:Config");
        xw_attr(&x, "ovf:required", "false");
        xw_attr(&x, "vmw:key", "firmware");
        xw_attr(&x, "vmw:value", "efi");
        xw_end(&x);
    }
    xw_end(&x); /* VirtualHardwareSection */
    xw_end(&x); /* VirtualSystem */
    xw_end(&x); /* Envelope */
    err = xw_close(out, &x);
    free(desc);
    return err;
}

int im_write_manifest(char **out, const im_vmdef *d, const char *ovf_file, const char *ovf_text)
{
    cr_buf b = CR_BUF_INIT;
    uint8_t h[32];
    char hex[65];
    int err;
    crypto_hash_sha256(h, (const unsigned char *)ovf_text, strlen(ovf_text));
    cr_hex_encode(hex, h, sizeof(h));
    err = bputf(&b, "SHA256(%s)= %s\n", ovf_file, hex);
    for (size_t i = 0; i < d->ndisks && !err; i++)
        err = bputf(&b, "SHA256(%s)= %s\n", d->disks[i].file, d->disks[i].sha256);
    if (err) {
        cr_buf_free(&b);
        return err;
    }
    return buf_take(out, &b);
}

/* ------------------------------------------------------------ Hyper-V */

int im_write_hyperv(char **out, const im_vmdef *d)
{
    cr_buf b = CR_BUF_INIT;
    char t[48];
    int err = 0, gen2 = d->firmware == CR_FIRMWARE_UEFI;
    /* Hyper-V takes startup memory in multiples of 2 MiB. */
    uint64_t mem = (d->memory_mib + 1) / 2 * 2;
    time_text(t, sizeof(t), d->time_ns);

#define P(s)                                                                                       \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = bputs(&b, s);                                                                    \
    } while (0)
#define PF(...)                                                                                    \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = bputf(&b, __VA_ARGS__);                                                          \
    } while (0)
#define PQ(s)                                                                                      \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = put_ps_string(&b, s);                                                            \
    } while (0)

    PF("# Creates the Hyper-V virtual machine restored by cleanroom from snapshot %.8s\n",
       d->snapshot);
    P("# of ");
    P(d->source);
    PF(" taken %s.\n", t);
    P("#\n"
      "# Run it on the Hyper-V host in an elevated PowerShell, from this folder\n"
      "# (the disk stays where it is: copy the folder where the VM should live first):\n");
    PF("#   powershell -ExecutionPolicy Bypass -File .\\create-%s.ps1 -SwitchName 'Default "
       "Switch'\n",
       d->file_base);
    P("# Without -SwitchName the network adapter is left unconnected (safest until the\n"
      "# restored system has been checked).\n"
      "param(\n"
      "    [string]$SwitchName = ''\n"
      ")\n"
      "$ErrorActionPreference = 'Stop'\n"
      "\n"
      "$Name = ");
    PQ(d->name);
    P("\n");
    for (size_t i = 0; i < d->ndisks; i++) {
        PF("$Disk%zu = Join-Path $PSScriptRoot ", i);
        PQ(d->disks[i].file);
        P("\n");
    }
    P("\n"
      "if (Get-VM -Name $Name -ErrorAction SilentlyContinue) {\n"
      "    throw \"A virtual machine named '$Name' already exists: rename or remove it first.\"\n"
      "}\n");
    PF("New-VM -Name $Name -Generation %d -MemoryStartupBytes %lluMB -VHDPath $Disk0 | Out-Null\n",
       gen2 ? 2 : 1, (unsigned long long)mem);
    PF("Set-VMProcessor -VMName $Name -Count %u\n", d->cpus);
    P("Set-VMMemory -VMName $Name -DynamicMemoryEnabled $false\n");
    for (size_t i = 1; i < d->ndisks; i++)
        PF("Add-VMHardDiskDrive -VMName $Name -Path $Disk%zu\n", i);
    if (gen2) {
        P("Set-VMFirmware -VMName $Name -FirstBootDevice (Get-VMHardDiskDrive -VMName $Name | "
          "Select-Object -First 1)\n");
        if (!is_windows(d))
            P("# Secure Boot of Generation 2 VMs trusts only Windows by default: a Linux guest\n"
              "# (or one whose system is not known) would not start. Turned off here; to keep it,\n"
              "# use: Set-VMFirmware -VMName $Name -SecureBootTemplate "
              "MicrosoftUEFICertificateAuthority\n"
              "Set-VMFirmware -VMName $Name -EnableSecureBoot Off\n");
    }
    P("if ($SwitchName) {\n"
      "    Connect-VMNetworkAdapter -VMName $Name -SwitchName $SwitchName\n"
      "}\n"
      "Write-Host \"Created virtual machine '$Name'. Start it with: Start-VM -Name '$Name'\"\n");
#undef P
#undef PF
#undef PQ
    if (err) {
        cr_buf_free(&b);
        return err;
    }
    return buf_take(out, &b);
}

/* ------------------------------------------------------------ README */

static const char *hv_title(cr_hypervisor hv)
{
    switch (hv) {
    case CR_HYPERVISOR_KVM:
        return "KVM (libvirt)";
    case CR_HYPERVISOR_PROXMOX:
        return "Proxmox VE";
    case CR_HYPERVISOR_VMWARE:
        return "VMware (ESXi, vCenter, Workstation)";
    case CR_HYPERVISOR_HYPERV:
        return "Microsoft Hyper-V";
    }
    return "?";
}

static int put_origin(cr_buf *b, im_origin o, const char *recorded)
{
    switch (o) {
    case IM_ORIGIN_BACKUP:
        return bputs(b, " (recorded at backup)\n");
    case IM_ORIGIN_GIVEN:
        return bputs(b, " (given for this export)\n");
    case IM_ORIGIN_CHANGED:
        return bputf(b, " (recorded: %s, not available here or without a driver in the guest)\n",
                     recorded ? recorded : "?");
    case IM_ORIGIN_DEFAULT:
        break;
    }
    return bputs(b, " (default: not recorded)\n");
}

static const char *fmt_of(cr_hypervisor hv)
{
    switch (hv) {
    case CR_HYPERVISOR_VMWARE:
        return "VMDK streamOptimized";
    case CR_HYPERVISOR_HYPERV:
        return "VHDX";
    default:
        return "qcow2";
    }
}

static int readme_import(cr_buf *b, const im_vmdef *d, const char *def_file)
{
    int err = 0, uefi = d->firmware == CR_FIRMWARE_UEFI;
#define P(s)                                                                                       \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = bputs(b, s);                                                                     \
    } while (0)
#define PF(...)                                                                                    \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = bputf(b, __VA_ARGS__);                                                           \
    } while (0)
#define PSH(s)                                                                                     \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = put_shell_word(b, s);                                                            \
    } while (0)
    switch (d->hv) {
    case CR_HYPERVISOR_KVM: {
        char *path = path_join(d->out_dir ? d->out_dir : ".", def_file);
        if (!path)
            return CR_ERROR;
        PF("The disk paths in %s are absolute (this folder). If you move the folder,\n"
           "change the <source file='...'/> lines of %s first.\n\n",
           def_file, def_file);
        P("  virsh define ");
        PSH(path);
        P("\n  virsh start ");
        PSH(d->name);
        P("\n  virsh console ");
        PSH(d->name);
        P("     (serial console; Ctrl+] leaves it)\n  virt-viewer ");
        PSH(d->name);
        P("     (its screen; or open it in virt-manager)\n\n"
          "Its network card is on libvirt's network 'default' (NAT on this host).\n");
        if (uefi)
            P("UEFI: the host needs the OVMF firmware (apt-get install ovmf).\n");
        free(path);
        break;
    }
    case CR_HYPERVISOR_PROXMOX: {
        char key[16];
        char *pname = im_proxmox_name(d->name);
        if (!pname)
            return CR_ERROR;
        P("Copy this folder to the Proxmox VE host, then as root in that folder:\n\n"
          "  VMID=$(pvesh get /cluster/nextid)   # or any free VM id\n"
          "  STORAGE=local-lvm                   # where the disks go (see 'pvesm status')\n");
        PF("  qm create \"$VMID\" --name %s --cores %u --sockets 1 --memory %llu \\\n"
           "     --ostype %s --scsihw virtio-scsi-pci --net0 %s,bridge=vmbr0,link_down=1",
           pname, d->cpus, (unsigned long long)d->memory_mib, pve_ostype(d), d->nic_model);
        if (uefi)
            P(" \\\n     --bios ovmf --machine q35 --efidisk0 \"$STORAGE:1,efitype=4m,"
              "pre-enrolled-keys=0\"");
        P("\n");
        for (size_t i = 0; i < d->ndisks; i++) {
            pve_disk_key(key, sizeof(key), d, i);
            PF("  qm set \"$VMID\" --%s \"$STORAGE:0,import-from=$PWD/%s\"\n", key,
               d->disks[i].file);
        }
        pve_disk_key(key, sizeof(key), d, 0);
        PF("  qm set \"$VMID\" --boot order=%s\n"
           "  qm start \"$VMID\"\n\n",
           key);
        P("The network card starts disconnected (link_down=1) on bridge vmbr0: connect it\n"
          "with 'qm set \"$VMID\" --net0 ...' (without link_down) once the system is checked.\n\n"
          "Proxmox VE before 7.2 has no import-from: import each disk, then attach it:\n");
        for (size_t i = 0; i < d->ndisks; i++) {
            pve_disk_key(key, sizeof(key), d, i);
            PF("  qm importdisk \"$VMID\" %s \"$STORAGE\"\n"
               "  qm set \"$VMID\" --%s <the volume it printed, e.g. $STORAGE:vm-$VMID-disk-%zu>\n",
               d->disks[i].file, key, i + (uefi ? 1 : 0));
        }
        PF("\n%s holds the same settings in Proxmox's own format (without the disks).\n", def_file);
        free(pname);
        break;
    }
    case CR_HYPERVISOR_VMWARE:
        PF("ESXi or vCenter: 'Deploy OVF Template' (or 'Create / Register VM', 'Deploy a\n"
           "virtual machine from an OVF or OVA file'), and choose %s and the .vmdk\n"
           "file(s). Workstation or Fusion: File > Open, choose %s.\n"
           "With ovftool:\n"
           "  ovftool --datastore=DATASTORE %s vi://root@ESXI-HOST/\n\n"
           "%s.mf holds the SHA-256 of each file; the import checks them.\n"
           "The network card is on the port group 'VM Network': choose an isolated one at\n"
           "import until the system is checked.\n",
           def_file, def_file, def_file, d->file_base);
        break;
    case CR_HYPERVISOR_HYPERV:
        P("Copy this folder to the Hyper-V host, where the VM's disk should stay, then in an\n"
          "elevated PowerShell in that folder:\n\n");
        PF("  powershell -ExecutionPolicy Bypass -File .\\%s\n", def_file);
        P("  Start-VM -Name ");
        if (!err)
            err = put_ps_string(b, d->name);
        P("\n  vmconnect localhost ");
        if (!err)
            err = put_ps_string(b, d->name);
        PF("\n\nThe network card is left unconnected; add -SwitchName 'NAME OF SWITCH' to the\n"
           "first command to connect it. It is a Generation %d VM (%s).\n",
           uefi ? 2 : 1, uefi ? "UEFI" : "BIOS");
        break;
    }
#undef P
#undef PF
#undef PSH
    return err;
}

int im_write_readme(char **out, const im_vmdef *d, const char *def_file)
{
    cr_buf b = CR_BUF_INIT;
    char t[48], size[32];
    int err;
    time_text(t, sizeof(t), d->time_ns);
    err = bputf(&b,
                "cleanroom VM export\n"
                "===================\n\n"
                "VM:          %s\n"
                "Hypervisor:  %s\n"
                "From:        snapshot %s\n"
                "             of %s, taken %s\n\n"
                "Files in this folder\n"
                "--------------------\n",
                d->name, hv_title(d->hv), d->snapshot, d->source, t);
    for (size_t i = 0; i < d->ndisks && !err; i++) {
        cr_fmt_size(size, sizeof(size), d->disks[i].virtual_size);
        err = bputf(&b, "  %-28s %s of the snapshot: %s disk, %s\n", d->disks[i].file,
                    d->disks[i].disk, size, fmt_of(d->hv));
        if (!err && d->disks[i].lost)
            err = bputf(&b,
                        "  %-28s DAMAGED: parts of it could not be restored from the vault\n"
                        "  %-28s (zeros there; see 'cleanroom verify --read-data')\n",
                        "", "");
    }
    if (!err)
        err = bputf(&b, "  %-28s the VM's definition\n", def_file);
    if (!err && d->hv == CR_HYPERVISOR_VMWARE) {
        char *mf = cr_sprintf("%s.mf", d->file_base);
        err = mf ? bputf(&b, "  %-28s the SHA-256 of each file (manifest)\n", mf) : CR_ERROR;
        free(mf);
    }
    if (!err)
        err = bputf(&b, "  %-28s this file\n\n", "README.txt");
    if (!err)
        err = bputf(&b, "Settings\n--------\n  CPUs:       %u", d->cpus);
    if (!err)
        err = put_origin(&b, d->o_cpus, NULL);
    if (!err)
        err = bputf(&b, "  memory:     %llu MiB", (unsigned long long)d->memory_mib);
    if (!err)
        err = put_origin(&b, d->o_memory, NULL);
    if (!err)
        err = bputf(&b, "  firmware:   %s", d->firmware == CR_FIRMWARE_UEFI ? "UEFI" : "BIOS");
    if (!err)
        err = put_origin(&b, d->o_firmware, NULL);
    if (!err)
        err = bputf(&b, "  disk bus:   %s", d->disk_bus);
    if (!err)
        err = put_origin(&b, d->o_bus, d->recorded_bus);
    if (!err)
        err = bputf(&b, "  network:    %s",
                    d->hv == CR_HYPERVISOR_HYPERV ? "Hyper-V network adapter" : d->nic_model);
    if (!err)
        err = put_origin(&b, d->o_nic, d->recorded_nic);
    if (!err)
        err = bputf(&b, "  system:     %s", d->os_type ? d->os_type : "unknown");
    if (!err)
        err = put_origin(&b, d->o_os, NULL);
    if (!err)
        err =
            bputs(&b, "Change them after the import with the hypervisor's own tools if needed.\n\n"
                      "Import and start\n"
                      "----------------\n");
    if (!err)
        err = readme_import(&b, d, def_file);
    if (!err)
        err = bputs(&b, "\nBefore it rejoins the hospital network\n"
                        "--------------------------------------\n"
                        "Start it on an isolated network first, check that it is the system you\n"
                        "expect and that it is clean ('cleanroom findings' on its snapshot), and\n"
                        "only then connect it.\n");
    if (err) {
        cr_buf_free(&b);
        return err;
    }
    return buf_take(out, &b);
}

/* ------------------------------------------------------------ export */

static int sha256_file(char hex[CR_ID_HEX_LEN + 1], const char *path)
{
    crypto_hash_sha256_state st;
    uint8_t h[32], *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err = 0;
    if (fd < 0)
        return cr_error_errno("cannot open %s", path);
    if (!(buf = cr_malloc(1 << 20))) {
        close(fd);
        return CR_ERROR;
    }
    crypto_hash_sha256_init(&st);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = cr_error_errno("cannot read %s", path);
            break;
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    }
    crypto_hash_sha256_final(&st, h);
    cr_hex_encode(hex, h, sizeof(h));
    free(buf);
    close(fd);
    return err;
}

typedef struct strv {
    char **v;
    size_t n;
} strv;

static int strv_push(strv *s, char *p)
{
    if (!p)
        return CR_ERROR;
    char **nv = cr_realloc(s->v, (s->n + 2) * sizeof(*nv));
    if (!nv) {
        free(p);
        return CR_ERROR;
    }
    s->v = nv;
    s->v[s->n++] = p;
    s->v[s->n] = NULL;
    return 0;
}

/* The export folder: created, or an existing empty folder. */
static int prepare_dir(const char *dir, int *created)
{
    struct stat st;
    *created = 0;
    if (lstat(dir, &st) < 0) {
        if (errno != ENOENT)
            return cr_error_errno("cannot use %s", dir);
        int err = cr_fs_mkdir_p(AT_FDCWD, dir, 0755);
        if (err < 0)
            return err;
        *created = 1;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        cr_error_set("%s exists and is not a folder: choose a new or empty folder for the export",
                     dir);
        return CR_EEXISTS;
    }
    DIR *d = opendir(dir);
    if (!d)
        return cr_error_errno("cannot read the folder %s", dir);
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    if (!empty) {
        cr_error_set("%s is not empty: choose a new or empty folder for the export (nothing was "
                     "written)",
                     dir);
        return CR_EEXISTS;
    }
    return 0;
}

static cr_image_format hv_format(cr_hypervisor hv)
{
    switch (hv) {
    case CR_HYPERVISOR_VMWARE:
        return CR_IMAGE_VMDK;
    case CR_HYPERVISOR_HYPERV:
        return CR_IMAGE_VHDX;
    default:
        return CR_IMAGE_QCOW2;
    }
}

static int write_file(strv *written, const char *dir, const char *name, const char *text)
{
    char *path = path_join(dir, name);
    int err;
    if (!path)
        return CR_ERROR;
    err = cr_fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, 1);
    if (err < 0) {
        free(path);
        return err;
    }
    return strv_push(written, path);
}

int cr_vm_export(char ***files, cr_repo *repo, const cr_snapshot *snap,
                 const cr_vm_export_options *opts)
{
    im_vmdef d;
    strv written = {NULL, 0};
    char sid[CR_ID_HEX_LEN + 1], *def_file = NULL, *text = NULL, *mf_text = NULL;
    char *readme = NULL, *real = NULL, *clean = NULL;
    int err = 0, created = 0, partial = 0, have_def = 0;

    if (files)
        *files = NULL;
    memset(&d, 0, sizeof(d));
    if (!repo || !snap || !opts || !opts->out_dir || !*opts->out_dir) {
        cr_error_set("vm export: the output folder is required");
        return CR_EINPUT;
    }
    if (!strcmp(cr_hypervisor_name(opts->hypervisor), "unknown")) {
        cr_error_set("vm export: say which hypervisor (kvm, proxmox, vmware or hyperv)");
        return CR_EINPUT;
    }
    cr_id_to_hex(sid, &snap->id);
    sid[8] = '\0';
    if (snap->kind != CR_SNAPSHOT_IMAGE) {
        cr_error_set("snapshot %s is a file snapshot: only snapshots of disk images (backup "
                     "--image) can be exported as a VM; restore it into a folder instead",
                     sid);
        return CR_EINPUT;
    }
    if (snap->ndisks == 0) {
        cr_error_set("snapshot %s holds no disk", sid);
        return CR_EINPUT;
    }
    if ((err = prepare_dir(opts->out_dir, &created)) < 0)
        return err;
    if (!(real = realpath(opts->out_dir, NULL))) {
        err = cr_error_errno("cannot resolve %s", opts->out_dir);
        goto done;
    }
    /* The path goes into the definition (libvirt): it must be plain text. */
    if (!(clean = im_clean_text(real, PATH_MAX)) || strcmp(clean, real)) {
        if (clean) {
            cr_error_set("the folder %s has control characters or bytes that are not UTF-8 in "
                         "its path: choose another folder for the export",
                         clean);
            err = CR_EINPUT;
        } else {
            err = CR_ERROR;
        }
        goto done;
    }
    if ((err = im_vmdef_init(&d, snap, opts)) < 0)
        goto done;
    have_def = 1;
    d.out_dir = real;
    real = NULL;

    for (size_t i = 0; i < d.ndisks; i++) {
        cr_image_restore_options io = CR_IMAGE_RESTORE_OPTIONS_INIT;
        cr_restore_stats st;
        struct stat sb;
        char *path = path_join(d.out_dir, d.disks[i].file);
        if (!path) {
            err = CR_ERROR;
            goto done;
        }
        io.output = path;
        io.format = hv_format(d.hv);
        io.disk = snap->disks[i].name;
        io.threads = opts->threads;
        io.progress = opts->progress;
        io.warning = opts->warning;
        io.payload = opts->payload;
        err = cr_restore_image(&st, repo, snap, &io);
        if (err < 0 && err != CR_EPARTIAL) {
            free(path);
            goto done;
        }
        if (err == CR_EPARTIAL)
            partial = d.disks[i].lost = 1;
        if ((err = strv_push(&written, path)) < 0)
            goto done;
        if (stat(written.v[written.n - 1], &sb) < 0) {
            err = cr_error_errno("cannot read %s", written.v[written.n - 1]);
            goto done;
        }
        d.disks[i].file_size = (uint64_t)sb.st_size;
        if (d.hv == CR_HYPERVISOR_VMWARE &&
            (err = sha256_file(d.disks[i].sha256, written.v[written.n - 1])) < 0)
            goto done;
    }

    if (!(def_file = im_def_file(&d))) {
        err = CR_ERROR;
        goto done;
    }
    switch (d.hv) {
    case CR_HYPERVISOR_KVM:
        err = im_write_libvirt(&text, &d);
        break;
    case CR_HYPERVISOR_PROXMOX:
        err = im_write_proxmox(&text, &d);
        break;
    case CR_HYPERVISOR_VMWARE:
        err = im_write_ovf(&text, &d);
        break;
    case CR_HYPERVISOR_HYPERV:
        err = im_write_hyperv(&text, &d);
        break;
    }
    if (err < 0 || (err = write_file(&written, d.out_dir, def_file, text)) < 0)
        goto done;
    if (d.hv == CR_HYPERVISOR_VMWARE) {
        char *mf = cr_sprintf("%s.mf", d.file_base);
        if (!mf) {
            err = CR_ERROR;
            goto done;
        }
        if ((err = im_write_manifest(&mf_text, &d, def_file, text)) == 0)
            err = write_file(&written, d.out_dir, mf, mf_text);
        free(mf);
        if (err < 0)
            goto done;
    }
    if ((err = im_write_readme(&readme, &d, def_file)) < 0 ||
        (err = write_file(&written, d.out_dir, "README.txt", readme)) < 0)
        goto done;
    if (partial) {
        cr_error_set("the VM was exported to %s, but some data of its disks could not be "
                     "restored (zeros there)",
                     d.out_dir);
        err = CR_EPARTIAL;
    }
done:
    if (err < 0 && err != CR_EPARTIAL) {
        /* Leave no half export behind: what we wrote goes, and the folder if we made it. */
        for (size_t i = 0; i < written.n; i++)
            unlink(written.v[i]);
        if (created)
            rmdir(opts->out_dir);
        for (size_t i = 0; i < written.n; i++)
            free(written.v[i]);
        free(written.v);
        written.v = NULL;
    }
    if (files)
        *files = written.v;
    else if (written.v)
        cr_strv_free(written.v);
    if (have_def)
        im_vmdef_clear(&d);
    free(real);
    free(clean);
    free(def_file);
    free(text);
    free(mf_text);
    free(readme);
    return err;
}
