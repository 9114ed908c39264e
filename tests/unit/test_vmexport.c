/*
 * Unit tests of the VM export writers (hostile names from a snapshot:
 * quotes, <, &, newlines, bytes that are not UTF-8), the choice of settings
 * and their origins, and of the qemu-img runner and converter of restore.c.
 */
#include "test.h"
#include "fixture.h"

#include "image/vmexport.h"

#include <dirent.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

/* Typographic quote U+2019 (PowerShell takes it as a quote too), then ' < & " \n / .. */
#define HOSTILE                                                                                    \
    "a'b\xe2\x80\x99"                                                                              \
    "c<d>&e\"f\ng/../h\xff"

static char *xpath_str(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);
    char *res = NULL;
    if (!doc)
        return NULL;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "ovf", BAD_CAST "http://schemas.dmtf.org/ovf/envelope/1");
    xmlXPathRegisterNs(
        ctx, BAD_CAST "rasd",
        BAD_CAST
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData");
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (o) {
        xmlChar *s = xmlXPathCastToString(o);
        res = strdup((const char *)s);
        xmlFree(s);
        xmlXPathFreeObject(o);
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return res;
}

static int has_ctl(const char *s, int allow_nl)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && !(allow_nl && *s == '\n')) || *s == 0x7f)
            return 1;
    return 0;
}

static void fake_snapshot(cr_snapshot *s, cr_vm_info *vm, cr_image_disk *disks, size_t n)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < CR_ID_LEN; i++)
        s->id.b[i] = (uint8_t)(0xa0 + i);
    s->source = HOSTILE;
    s->time_ns = 1795000000123456789ll;
    s->kind = CR_SNAPSHOT_IMAGE;
    s->vm = vm;
    s->disks = disks;
    s->ndisks = n;
}

static void test_names(void)
{
    char *t = im_clean_text(HOSTILE, 64);
    REQUIRE(t);
    CHECK(!has_ctl(t, 0));
    CHECK(strstr(t, "\xe2\x80\x99") != NULL); /* valid UTF-8 kept */
    CHECK(strstr(t, "\xff") == NULL);         /* invalid byte replaced */
    free(t);
    t = im_clean_text("\xc3\xa9t\xc3\xa9", 3); /* cut at a character boundary */
    CHECK(t && !strcmp(t, "\xc3\xa9t"));
    free(t);

    char *f = im_file_name(HOSTILE);
    REQUIRE(f);
    for (char *p = f; *p; p++)
        CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.');
    CHECK(!strstr(f, "/") && f[0] != '.');
    free(f);
    f = im_file_name("..");
    CHECK(f && !strcmp(f, "vm"));
    free(f);
    f = im_file_name("nul");
    CHECK(f && strcmp(f, "nul") != 0);
    free(f);
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    f = im_file_name(longname);
    CHECK(f && strlen(f) <= 64);
    free(f);

    char *p = im_proxmox_name("--Hospital PACS (main)..db--");
    CHECK(p && !strcmp(p, "Hospital-PACS-main-db"));
    free(p);
    p = im_proxmox_name("\n<&>");
    CHECK(p && !strcmp(p, "restored-vm"));
    free(p);
}

static void test_defaults(void)
{
    cr_image_disk disk = {0};
    cr_snapshot s;
    im_vmdef d;
    cr_vm_export_options o = CR_VM_EXPORT_OPTIONS_INIT;
    disk.name = "disk0";
    disk.virtual_size = 1 << 30;
    fake_snapshot(&s, NULL, &disk, 1);
    s.source = "pacs-db";
    o.hypervisor = CR_HYPERVISOR_KVM;
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(!strcmp(d.name, "pacs-db"));
    CHECK(d.cpus == 2 && d.o_cpus == IM_ORIGIN_DEFAULT);
    CHECK(d.memory_mib == 2048 && d.o_memory == IM_ORIGIN_DEFAULT);
    CHECK(d.firmware == CR_FIRMWARE_BIOS && d.o_firmware == IM_ORIGIN_DEFAULT);
    CHECK(!strcmp(d.disk_bus, "virtio") && !strcmp(d.nic_model, "virtio"));
    CHECK(!strcmp(d.disks[0].file, "pacs-db-disk0.qcow2"));
    im_vmdef_clear(&d);

    /* Recorded values, an override, a Windows guest and a bus VMware has not. */
    cr_vm_info vm = {0}, ov = {0};
    vm.name = "WinSrv";
    vm.cpus = 4;
    vm.memory_mib = 8192;
    vm.firmware = CR_FIRMWARE_UEFI;
    vm.disk_bus = "virtio";
    vm.os_type = "windows";
    ov.memory_mib = 4096;
    fake_snapshot(&s, &vm, &disk, 1);
    o.overrides = &ov;
    o.hypervisor = CR_HYPERVISOR_VMWARE;
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(d.cpus == 4 && d.o_cpus == IM_ORIGIN_BACKUP);
    CHECK(d.memory_mib == 4096 && d.o_memory == IM_ORIGIN_GIVEN);
    CHECK(d.firmware == CR_FIRMWARE_UEFI && d.o_firmware == IM_ORIGIN_BACKUP);
    CHECK(!strcmp(d.disk_bus, "sata") && d.o_bus == IM_ORIGIN_CHANGED);
    CHECK(!strcmp(d.nic_model, "e1000e") && d.o_nic == IM_ORIGIN_DEFAULT);
    CHECK(!strcmp(d.disks[0].file, "WinSrv-disk0.vmdk"));
    im_vmdef_clear(&d);

    /* KVM: Windows without a recorded bus gets SATA (no virtio drivers in Windows). */
    vm.disk_bus = NULL;
    o.hypervisor = CR_HYPERVISOR_KVM;
    o.overrides = NULL;
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(!strcmp(d.disk_bus, "sata"));
    im_vmdef_clear(&d);

    /* Windows recorded on SCSI (VMware's LSI Logic): SATA on KVM, said in the origin. */
    vm.disk_bus = "scsi";
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(!strcmp(d.disk_bus, "sata") && d.o_bus == IM_ORIGIN_CHANGED && d.recorded_bus &&
          !strcmp(d.recorded_bus, "scsi"));
    im_vmdef_clear(&d);
    vm.os_type = "linux";
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(!strcmp(d.disk_bus, "scsi") && d.o_bus == IM_ORIGIN_BACKUP);
    im_vmdef_clear(&d);
    vm.os_type = "windows";
    vm.disk_bus = NULL;

    /* Absurd recorded values (a damaged snapshot) are not used. */
    vm.cpus = 100000;
    vm.memory_mib = 1;
    REQUIRE(im_vmdef_init(&d, &s, &o) == 0);
    CHECK(d.cpus == 2 && d.memory_mib == 2048);
    im_vmdef_clear(&d);
}

static void fill_hostile(im_vmdef *d, cr_snapshot *s, cr_vm_info *vm, cr_image_disk disks[2],
                         cr_hypervisor hv, cr_firmware fw)
{
    cr_vm_export_options o = CR_VM_EXPORT_OPTIONS_INIT;
    memset(vm, 0, sizeof(*vm));
    memset(disks, 0, 2 * sizeof(*disks));
    vm->name = HOSTILE;
    vm->firmware = fw;
    vm->os_type = "linux";
    vm->nic_model = "<bad>";
    disks[0].name = "disk0";
    disks[0].virtual_size = 64ull << 20;
    disks[1].name = "disk\n1<&>";
    disks[1].virtual_size = 1ull << 40;
    fake_snapshot(s, vm, disks, 2);
    o.hypervisor = hv;
    REQUIRE(im_vmdef_init(d, s, &o) == 0);
    d->out_dir = strdup("/srv/exports/it's <here> & \"there\"");
    d->disks[0].file_size = 12345;
    d->disks[1].file_size = 67890;
    strcpy(d->disks[0].sha256, "00");
    strcpy(d->disks[1].sha256, "11");
}

static void test_libvirt(void)
{
    im_vmdef d;
    cr_snapshot s;
    cr_vm_info vm;
    cr_image_disk disks[2];
    char *xml = NULL, *v;
    fill_hostile(&d, &s, &vm, disks, CR_HYPERVISOR_KVM, CR_FIRMWARE_UEFI);
    CHECK_OK(im_write_libvirt(&xml, &d));
    REQUIRE(xml);
    v = xpath_str(xml, "string(/domain/name)");
    REQUIRE(v); /* well-formed */
    CHECK(!strcmp(v, d.name));
    CHECK(strchr(v, '/') == NULL && strchr(v, '\n') == NULL && strchr(v, '<') != NULL);
    free(v);
    v = xpath_str(xml, "string(/domain/devices/disk[2]/source/@file)");
    CHECK(v && strstr(v, "/srv/exports/it's <here> & \"there\"/") == v);
    CHECK(v && strstr(v, "-disk1.qcow2") != NULL);
    free(v);
    v = xpath_str(xml, "string(/domain/os/@firmware)");
    CHECK(v && !strcmp(v, "efi"));
    free(v);
    v = xpath_str(xml, "string(/domain/os/type/@machine)");
    CHECK(v && !strcmp(v, "q35"));
    free(v);
    v = xpath_str(xml, "string(/domain/devices/disk[2]/target/@dev)");
    CHECK(v && !strcmp(v, "vdb"));
    free(v);
    v = xpath_str(xml, "string(/domain/devices/interface/model/@type)");
    CHECK(v && !strcmp(v, "virtio")); /* "<bad>" was not used */
    free(v);
    CHECK(d.o_nic == IM_ORIGIN_CHANGED);
    free(xml);

    char *readme = NULL;
    CHECK_OK(im_write_readme(&readme, &d, "x.xml"));
    REQUIRE(readme);
    CHECK(!has_ctl(readme, 1));
    CHECK(strstr(readme, "firmware:   UEFI (recorded at backup)") != NULL);
    CHECK(strstr(readme, "memory:     2048 MiB (default: not recorded)") != NULL);
    CHECK(strstr(readme, "network:    virtio (recorded: <bad>") != NULL);
    /* The VM's name as a shell word: its quote closed and escaped. */
    CHECK(strstr(readme, "virsh start 'a'\\''b") != NULL);
    CHECK(strstr(readme, "DAMAGED") == NULL);
    free(readme);
    d.disks[1].lost = 1;
    CHECK_OK(im_write_readme(&readme, &d, "x.xml"));
    REQUIRE(readme);
    CHECK(strstr(readme, "disk1.qcow2") < strstr(readme, "DAMAGED: parts of it could not be "
                                                         "restored"));
    free(readme);
    im_vmdef_clear(&d);
}

static void test_ovf(void)
{
    im_vmdef d;
    cr_snapshot s;
    cr_vm_info vm;
    cr_image_disk disks[2];
    char *ovf = NULL, *mf = NULL, *v;
    fill_hostile(&d, &s, &vm, disks, CR_HYPERVISOR_VMWARE, CR_FIRMWARE_UEFI);
    CHECK_OK(im_write_ovf(&ovf, &d));
    REQUIRE(ovf);
    v = xpath_str(ovf, "string(/ovf:Envelope/ovf:VirtualSystem/ovf:Name)");
    REQUIRE(v);
    CHECK(!strcmp(v, d.name));
    free(v);
    v = xpath_str(ovf, "string(/ovf:Envelope/ovf:DiskSection/ovf:Disk[2]/@ovf:capacity)");
    CHECK(v && !strcmp(v, "1099511627776"));
    free(v);
    v = xpath_str(ovf, "string(/ovf:Envelope/ovf:References/ovf:File[1]/@ovf:size)");
    CHECK(v && !strcmp(v, "12345"));
    free(v);
    v = xpath_str(ovf, "count(//ovf:Item[rasd:ResourceType='17'])");
    CHECK(v && !strcmp(v, "2"));
    free(v);
    v = xpath_str(ovf, "string(//ovf:Item[rasd:ResourceType='10']/rasd:ResourceSubType)");
    CHECK(v && !strcmp(v, "VmxNet3"));
    free(v);
    CHECK(strstr(ovf, "vmw:key=\"firmware\" vmw:value=\"efi\"") != NULL);
    CHECK_OK(im_write_manifest(&mf, &d, "x.ovf", ovf));
    REQUIRE(mf);
    CHECK(!strncmp(mf, "SHA256(x.ovf)= ", 15) && strlen(mf) > 15 + 64);
    CHECK(strstr(mf, "-disk1.vmdk)= 11\n") != NULL);
    free(mf);
    free(ovf);
    im_vmdef_clear(&d);
}

static void test_hyperv(void)
{
    im_vmdef d;
    cr_snapshot s;
    cr_vm_info vm;
    cr_image_disk disks[2];
    char *ps = NULL;
    fill_hostile(&d, &s, &vm, disks, CR_HYPERVISOR_HYPERV, CR_FIRMWARE_UEFI);
    CHECK_OK(im_write_hyperv(&ps, &d));
    REQUIRE(ps);
    /* ' doubled, the typographic quote doubled, no newline inside the name. */
    CHECK(strstr(ps, "$Name = 'a''b\xe2\x80\x99\xe2\x80\x99"
                     "c<d>&e\"f_g_.._h?'\n") != NULL);
    CHECK(strstr(ps, "-Generation 2") != NULL);
    CHECK(strstr(ps, "Set-VMFirmware -VMName $Name -EnableSecureBoot Off") != NULL);
    CHECK(strstr(ps, "Add-VMHardDiskDrive -VMName $Name -Path $Disk1") != NULL);
    CHECK(strstr(ps, "Join-Path $PSScriptRoot '") != NULL);
    /* Every line of the source's text is a comment: a newline there would start a command. */
    CHECK(strstr(ps, "\ng/") == NULL);
    free(ps);
    im_vmdef_clear(&d);

    fill_hostile(&d, &s, &vm, disks, CR_HYPERVISOR_HYPERV, CR_FIRMWARE_BIOS);
    CHECK_OK(im_write_hyperv(&ps, &d));
    REQUIRE(ps);
    CHECK(strstr(ps, "-Generation 1") != NULL);
    CHECK(strstr(ps, "EnableSecureBoot") == NULL);
    free(ps);
    im_vmdef_clear(&d);
}

static void test_proxmox(void)
{
    im_vmdef d;
    cr_snapshot s;
    cr_vm_info vm;
    cr_image_disk disks[2];
    char *conf = NULL, *readme = NULL;
    fill_hostile(&d, &s, &vm, disks, CR_HYPERVISOR_PROXMOX, CR_FIRMWARE_BIOS);
    CHECK_OK(im_write_proxmox(&conf, &d));
    REQUIRE(conf);
    CHECK(strstr(conf, "\nname: a-b-c-d-e-f-g-h\n") != NULL);
    CHECK(strstr(conf, "\nbios: seabios\n") != NULL);
    CHECK(strstr(conf, "\nostype: l26\n") != NULL);
    CHECK(strstr(conf, "\nscsihw: virtio-scsi-pci\n") != NULL);
    /* Comment lines only carry the cleaned source: no line starts with its text. */
    CHECK(strstr(conf, "\ng/") == NULL);
    CHECK_OK(im_write_readme(&readme, &d, "x.conf"));
    REQUIRE(readme);
    CHECK(strstr(readme, "qm set \"$VMID\" --scsi1 \"$STORAGE:0,import-from=$PWD/") != NULL);
    CHECK(strstr(readme, "qm importdisk") != NULL);
    free(readme);
    free(conf);
    im_vmdef_clear(&d);
}

/* ------------------------------------------------------------- qemu-img */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_qemu(void)
{
    char base[PATH_MAX], raw[PATH_MAX], out[PATH_MAX], flat[PATH_MAX], keep[PATH_MAX];
    const char *path = getenv("PATH");
    char *saved = strdup(path ? path : "/usr/bin:/bin");
    fx_scratch_new(base, "vmexport");

    /* Not installed: a message that names the package. */
    setenv("PATH", "/nonexistent", 1);
    const char *info[] = {"qemu-img", "info", "x", NULL};
    CHECK(im_qemu_img(info) == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "apt-get install qemu-utils") != NULL);
    setenv("PATH", saved, 1);

    /* qemu-img's own words reach the message. */
    join(raw, base, "missing.img");
    const char *info2[] = {"qemu-img", "info", raw, NULL};
    CHECK(im_qemu_img(info2) == CR_ERROR);
    CHECK(strstr(cr_error_last(), "missing.img") != NULL);
    CHECK(strchr(cr_error_last(), '\n') == NULL);

    /* A sparse raw disk with data at a few places. */
    join(raw, base, "disk.raw");
    int fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    uint8_t buf[65536];
    fill_random(buf, sizeof(buf));
    REQUIRE(pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
    REQUIRE(pwrite(fd, buf, sizeof(buf), 5u << 20) == (ssize_t)sizeof(buf));
    REQUIRE(ftruncate(fd, (off_t)(16u << 20) + 512) == 0); /* not a multiple of anything round */
    close(fd);

    static const struct {
        cr_image_format f;
        const char *name, *qfmt;
    } fmts[] = {
        {CR_IMAGE_QCOW2, "d.qcow2", "qcow2"},   {CR_IMAGE_VMDK, "d.vmdk", "vmdk"},
        {CR_IMAGE_VMDK_FLAT, "f.vmdk", "vmdk"}, {CR_IMAGE_VHDX, "d.vhdx", "vhdx"},
        {CR_IMAGE_VHD, "d.vhd", "vpc"},
    };
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        join(out, base, fmts[i].name);
        CHECK_OK(im_convert(raw, out, fmts[i].f));
        const char *cmp[] = {"qemu-img", "compare",    "-q", "-f", "raw",
                             "-F",       fmts[i].qfmt, raw,  out,  NULL};
        CHECK_OK(im_qemu_img(cmp));
        struct stat st;
        CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0600);
    }
    join(flat, base, "f-flat.vmdk");
    CHECK(access(flat, F_OK) == 0);

    /* An existing output is never replaced, and nothing is left behind. */
    join(out, base, "d.qcow2");
    struct stat before, after;
    REQUIRE(stat(out, &before) == 0);
    CHECK(im_convert(raw, out, CR_IMAGE_QCOW2) == CR_EEXISTS);
    REQUIRE(stat(out, &after) == 0);
    CHECK(before.st_ino == after.st_ino && before.st_size == after.st_size);
    /* disk.raw + 5 outputs + the -flat extent */
    CHECK(count_entries(base) == 7);

    /* raw: a rename. */
    join(keep, base, "moved.raw");
    CHECK_OK(im_convert(raw, keep, CR_IMAGE_RAW));
    CHECK(access(raw, F_OK) != 0 && access(keep, F_OK) == 0);
    CHECK(im_convert(keep, out, CR_IMAGE_RAW) == CR_EEXISTS);
    CHECK(access(keep, F_OK) == 0);

    free(saved);
    fx_scratch_done(base);
}

int main(void)
{
    cr_init();
    test_names();
    test_defaults();
    test_libvirt();
    test_ovf();
    test_hyperv();
    test_proxmox();
    test_qemu();
    return test_summary("test_vmexport");
}
