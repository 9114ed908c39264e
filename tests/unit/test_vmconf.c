/*
 * VM definitions: .vmx and libvirt domain XML, names of formats, firmwares
 * and hypervisors. Hostile XML (entity expansion, external entities) must be
 * refused without expanding or fetching anything.
 */
#include "test.h"
#include "fixture.h"

#include "image/image.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>

static char base[PATH_MAX];

static cr_vm_info *vmx(const char *text)
{
    cr_vm_info *v = NULL;
    int rc = im_vmx_parse(&v, text, strlen(text));
    if (rc != 0)
        fprintf(stderr, "vmx parse: %d %s\n", rc, cr_error_last());
    return v;
}

static cr_vm_info *xml(const char *text)
{
    cr_vm_info *v = NULL;
    int rc = im_libvirt_parse(&v, text, strlen(text));
    if (rc != 0)
        fprintf(stderr, "xml parse: %d %s\n", rc, cr_error_last());
    return v;
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void test_names(void)
{
    cr_image_format f;
    CHECK(strcmp(cr_image_format_name(CR_IMAGE_QCOW2), "qcow2") == 0);
    CHECK(strcmp(cr_image_format_name(CR_IMAGE_VMDK_FLAT), "vmdk-flat") == 0);
    CHECK(strcmp(cr_image_format_name(CR_IMAGE_AUTO), "auto") == 0);
    CHECK_OK(cr_image_format_parse(&f, "vpc"));
    CHECK(f == CR_IMAGE_VHD);
    CHECK_OK(cr_image_format_parse(&f, "VMDK-STREAM"));
    CHECK(f == CR_IMAGE_VMDK);
    for (int i = CR_IMAGE_RAW; i <= CR_IMAGE_VHD; i++) { /* every name parses back */
        CHECK_OK(cr_image_format_parse(&f, cr_image_format_name((cr_image_format)i)));
        CHECK(f == (cr_image_format)i);
    }
    CHECK(cr_image_format_parse(&f, "iso") == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "iso") != NULL);
    CHECK(cr_image_format_parse(&f, NULL) == CR_EINPUT);

    cr_firmware fw;
    CHECK_OK(cr_firmware_parse(&fw, "OVMF"));
    CHECK(fw == CR_FIRMWARE_UEFI);
    CHECK_OK(cr_firmware_parse(&fw, "seabios"));
    CHECK(fw == CR_FIRMWARE_BIOS);
    CHECK(cr_firmware_parse(&fw, "coreboot") == CR_EINPUT);
    CHECK(strcmp(cr_firmware_name(CR_FIRMWARE_UEFI), "uefi") == 0);
    CHECK(strcmp(cr_firmware_name(CR_FIRMWARE_UNKNOWN), "unknown") == 0);

    cr_hypervisor h;
    CHECK_OK(cr_hypervisor_parse(&h, "Hyper-V"));
    CHECK(h == CR_HYPERVISOR_HYPERV);
    CHECK_OK(cr_hypervisor_parse(&h, "esxi"));
    CHECK(h == CR_HYPERVISOR_VMWARE);
    CHECK(strcmp(cr_hypervisor_name(CR_HYPERVISOR_PROXMOX), "proxmox") == 0);
    CHECK(cr_hypervisor_parse(&h, "xen") == CR_EINPUT);

    char **v = calloc(3, sizeof(*v));
    REQUIRE(v);
    v[0] = strdup("a");
    v[1] = strdup("b");
    cr_strv_free(v);
    cr_strv_free(NULL);
}

static void test_vmx(void)
{
    /* A real-looking ESXi .vmx with CRLF, comments, escapes and a duplicate key. */
    cr_vm_info *v = vmx(".encoding = \"UTF-8\"\r\n"
                        "config.version = \"8\"\r\n"
                        "virtualHW.version = \"19\"\r\n"
                        "# a comment line\r\n"
                        "displayName = \"PACS |22archive|22 01\"\r\n"
                        "numvcpus = \"2\"\r\n"
                        "memsize = \"4096\"\r\n"
                        "firmware = \"efi\"\r\n"
                        "scsi0.present = \"TRUE\"\r\n"
                        "scsi0.virtualDev = \"pvscsi\"\r\n"
                        "scsi0:0.present = \"TRUE\"\r\n"
                        "scsi0:0.fileName = \"pacs01.vmdk\"\r\n"
                        "ethernet0.present = \"TRUE\"\r\n"
                        "ethernet0.virtualDev = \"vmxnet3\"\r\n"
                        "guestOS = \"windows2019srv-64\"\r\n"
                        "numvcpus = \"8\"   # changed later: last one wins\r\n");
    REQUIRE(v);
    CHECK(streq(v->name, "PACS \"archive\" 01"));
    CHECK(v->cpus == 8);
    CHECK(v->memory_mib == 4096);
    CHECK(v->firmware == CR_FIRMWARE_UEFI);
    CHECK(streq(v->disk_bus, "scsi"));
    CHECK(streq(v->nic_model, "vmxnet3"));
    CHECK(streq(v->os_type, "windows"));
    CHECK(v->config_from == NULL);

    /* Deep copy. */
    cr_vm_info *c = NULL;
    CHECK_OK(im_vm_info_copy(&c, v));
    REQUIRE(c);
    CHECK(c->name != v->name && streq(c->name, v->name));
    CHECK(c->cpus == 8 && c->firmware == CR_FIRMWARE_UEFI && streq(c->disk_bus, "scsi"));
    cr_vm_info_free(c);
    CHECK_OK(im_vm_info_copy(&c, NULL));
    CHECK(c == NULL);
    cr_vm_info_free(v);

    /* A Workstation Linux VM: SATA disk with the CD on IDE, BIOS, e1000, unquoted values. */
    v = vmx("config.version = 8\n"
            "guestOS = \"other5xlinux-64\"\n"
            "memsize = 2048\n"
            "ide1:0.present = \"TRUE\"\n"
            "ide1:0.fileName = \"debian.iso\"\n"
            "ide1:0.deviceType = \"cdrom-image\"\n"
            "sata0.present = \"TRUE\"\n"
            "sata0:0.present = \"TRUE\"\n"
            "sata0:0.fileName = \"lab.vmdk\"\n"
            "ethernet0.present = \"TRUE\"\n"
            "ethernet0.virtualDev = \"e1000\"\n"
            "guestinfo.ward@site/2 = \"icu\"\n");
    REQUIRE(v);
    CHECK(v->name == NULL);
    CHECK(v->cpus == 1); /* VMware's default */
    CHECK(v->memory_mib == 2048);
    CHECK(v->firmware == CR_FIRMWARE_BIOS);
    CHECK(streq(v->disk_bus, "sata"));
    CHECK(streq(v->nic_model, "e1000"));
    CHECK(streq(v->os_type, "linux"));
    cr_vm_info_free(v);

    /* Bad input: each refused with a line number or the key. */
    static const struct {
        const char *text;
        const char *needle;
    } bad[] = {
        {"config.version = \"8\"\nthis is not a setting\n", "line 2"},
        {"config.version = \"8\"\nnumvcpus = \"two\"\n", "numvcpus"},
        {"config.version = \"8\"\nnumvcpus = \"0\"\n", "numvcpus"},
        {"config.version = \"8\"\nmemsize = \"99999999999999999999\"\n", "memsize"},
        {"config.version = \"8\"\ndisplayName = \"open quote\n", "line 2"},
        {"config.version = \"8\"\ndisplayName = \"x\" trailing\n", "line 2"},
        {"config.version = \"8\"\n = \"no key\"\n", "line 2"},
        {"config.version = \"8\"\nguest OS = \"windows\"\n", "line 2"},
        {"memsize = \"1024\"\n", "not a .vmx"},
        {"", "not a .vmx"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = (cr_vm_info *)1;
        int rc = im_vmx_parse(&v, bad[i].text, strlen(bad[i].text));
        CHECK(rc == CR_EINPUT);
        CHECK(v == NULL);
        if (!strstr(cr_error_last(), bad[i].needle))
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, cr_error_last(), bad[i].needle);
        CHECK(strstr(cr_error_last(), bad[i].needle) != NULL);
    }
    /* Binary data: a NUL on line 3. */
    static const char bin[] = "config.version = \"8\"\nguestOS = \"x\"\nmem\0size = \"1\"\n";
    v = (cr_vm_info *)1;
    CHECK(im_vmx_parse(&v, bin, sizeof(bin) - 1) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "line 3") != NULL);
    CHECK(strstr(cr_error_last(), "binary") != NULL);
    /* Oversized: 2 MiB of comments. */
    size_t big = 2u << 20;
    char *huge = malloc(big);
    REQUIRE(huge);
    memset(huge, '#', big);
    CHECK(im_vmx_parse(&v, huge, big) == CR_EINPUT);
    /* A line longer than the limit. */
    memcpy(huge, "config.version = \"8\"\n", 21);
    CHECK(im_vmx_parse(&v, huge, 200000) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "line 2") != NULL);
    free(huge);
}

static const char DOMAIN_XML[] =
    "<domain type='kvm'>\n"
    "  <name>ris-db01</name>\n"
    "  <metadata>\n"
    "    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n"
    "      <libosinfo:os id='http://debian.org/debian/12'/>\n"
    "    </libosinfo:libosinfo>\n"
    "  </metadata>\n"
    "  <memory unit='GiB'>6</memory>\n"
    "  <currentMemory unit='KiB'>4194304</currentMemory>\n"
    "  <vcpu placement='static' current='3'>4</vcpu>\n"
    "  <os firmware='efi'>\n"
    "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
    "  </os>\n"
    "  <devices>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <target dev='sda' bus='sata'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/libvirt/images/ris-db01.qcow2'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <interface type='network'>\n"
    "      <source network='default'/>\n"
    "      <model type='e1000e'/>\n"
    "    </interface>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_libvirt(void)
{
    cr_vm_info *v = xml(DOMAIN_XML);
    REQUIRE(v);
    CHECK(streq(v->name, "ris-db01"));
    CHECK(v->cpus == 3);
    CHECK(v->memory_mib == 6 * 1024);
    CHECK(v->firmware == CR_FIRMWARE_UEFI);
    CHECK(streq(v->disk_bus, "virtio"));
    CHECK(streq(v->nic_model, "e1000e"));
    CHECK(streq(v->os_type, "linux"));
    cr_vm_info_free(v);

    /* BIOS with a pflash loader is UEFI; KiB by default; unknown models are NULL; Windows from libosinfo. */
    v = xml("<domain type='kvm'><name>w</name><memory>2097152</memory><vcpu>2</vcpu>"
            "<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>"
            "<libosinfo:os id='http://microsoft.com/win/2k19'/></libosinfo:libosinfo></metadata>"
            "<os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os>"
            "<devices><disk device='disk'><target dev='sda' bus='usb'/></disk>"
            "<interface type='bridge'><model type='ne2k_pci'/></interface></devices></domain>");
    REQUIRE(v);
    CHECK(v->memory_mib == 2048);
    CHECK(v->cpus == 2);
    CHECK(v->firmware == CR_FIRMWARE_UEFI);
    CHECK(v->disk_bus == NULL);
    CHECK(v->nic_model == NULL);
    CHECK(streq(v->os_type, "windows"));
    cr_vm_info_free(v);

    /* Plain BIOS, no OS hint: os_type NULL; memory in MB (powers of ten) rounded up; hyperv => windows. */
    v = xml("<domain><name>x</name><memory unit='MB'>1000</memory><os><type>hvm</type></os></domain>");
    REQUIRE(v);
    CHECK(v->firmware == CR_FIRMWARE_BIOS);
    CHECK(v->memory_mib == 954); /* 1e9 bytes = 953.67 MiB */
    CHECK(v->os_type == NULL);
    CHECK(v->cpus == 0);
    cr_vm_info_free(v);
    v = xml("<domain><name>y</name><features><hyperv mode='custom'/></features></domain>");
    REQUIRE(v);
    CHECK(streq(v->os_type, "windows"));
    cr_vm_info_free(v);

    static const struct {
        const char *text;
        const char *needle;
    } bad[] = {
        {"<domain><name>x</name>", "not valid XML"},
        {"<network><name>default</name></network>", "<network>"},
        {"<domain><vcpu>many</vcpu></domain>", "vcpu"},
        {"<domain><memory unit='parsecs'>3</memory></domain>", "parsecs"},
        {"<domain><memory unit='TiB'>100</memory></domain>", "64 TiB"},
        {"<domain><name>&undefined;</name></domain>", "not valid XML"},
        {"", "not valid XML"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = (cr_vm_info *)1;
        int rc = im_libvirt_parse(&v, bad[i].text, strlen(bad[i].text));
        CHECK(rc == CR_EINPUT);
        CHECK(v == NULL);
        if (!strstr(cr_error_last(), bad[i].needle))
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, cr_error_last(), bad[i].needle);
        CHECK(strstr(cr_error_last(), bad[i].needle) != NULL);
    }
}

/* Billion laughs: refused at once, nothing expanded. */
static void test_xml_attacks(void)
{
    static const char laughs[] =
        "<?xml version='1.0'?>\n"
        "<!DOCTYPE domain [\n"
        " <!ENTITY lol 'lol'>\n"
        " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
        " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        " <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
        " <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
        " <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
        " <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
        " <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
        " <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
        "]>\n"
        "<domain><name>&lol9;</name></domain>\n";
    cr_vm_info *v = (cr_vm_info *)1;
    CHECK(im_libvirt_parse(&v, laughs, strlen(laughs)) == CR_EINPUT);
    CHECK(v == NULL);
    CHECK(strstr(cr_error_last(), "refused") != NULL);

    /* An external entity pointing at a local server: refused, and the server never sees a connection. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    socklen_t al = sizeof(a);
    REQUIRE(getsockname(s, (struct sockaddr *)&a, &al) == 0);
    REQUIRE(listen(s, 4) == 0);
    char secret[PATH_MAX], doc[2 * PATH_MAX];
    join(secret, base, "secret.txt");
    write_at(base, "secret.txt", "TOPSECRET", 9);
    snprintf(doc, sizeof(doc),
             "<?xml version='1.0'?>\n"
             "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:%d/domain.dtd' [\n"
             " <!ENTITY net SYSTEM 'http://127.0.0.1:%d/x'>\n"
             " <!ENTITY file SYSTEM 'file://%s'>\n"
             "]>\n"
             "<domain><name>&file;&net;</name></domain>\n",
             ntohs(a.sin_port), ntohs(a.sin_port), secret);
    v = (cr_vm_info *)1;
    CHECK(im_libvirt_parse(&v, doc, strlen(doc)) == CR_EINPUT);
    CHECK(v == NULL);
    CHECK(strstr(cr_error_last(), "TOPSECRET") == NULL);
    struct pollfd pf = {.fd = s, .events = POLLIN};
    CHECK(poll(&pf, 1, 0) == 0); /* no connection waiting */
    close(s);
}

static void test_read_file(void)
{
    char p[PATH_MAX];
    cr_vm_info *v = NULL;

    write_at(base, "vm.xml", DOMAIN_XML, strlen(DOMAIN_XML));
    join(p, base, "vm.xml");
    CHECK_OK(cr_vm_config_read(&v, p));
    CHECK(v && streq(v->name, "ris-db01") && streq(v->config_from, p));
    cr_vm_info_free(v);

    /* The kind is recognised from the content, not the name. */
    static const char vmxt[] = "\xEF\xBB\xBF.encoding = \"UTF-8\"\nconfig.version = \"8\"\nnumvcpus = \"4\"\n";
    write_at(base, "vm.xml.bak", vmxt, strlen(vmxt));
    join(p, base, "vm.xml.bak");
    CHECK_OK(cr_vm_config_read(&v, p));
    CHECK(v && v->cpus == 4);
    cr_vm_info_free(v);

    /* XML with leading blank lines. */
    static const char sp[] = "\n\n  <domain><name>z</name></domain>";
    write_at(base, "z.xml", sp, strlen(sp));
    join(p, base, "z.xml");
    CHECK_OK(cr_vm_config_read(&v, p));
    CHECK(v && streq(v->name, "z"));
    cr_vm_info_free(v);

    join(p, base, "missing.vmx");
    v = (cr_vm_info *)1;
    CHECK(cr_vm_config_read(&v, p) == CR_ENOTFOUND);
    CHECK(v == NULL);
    CHECK(strstr(cr_error_last(), "missing.vmx") != NULL);

    /* A disk image given by mistake: refused, naming the file. */
    uint8_t junk[4096];
    fill_random(junk, sizeof(junk));
    junk[0] = 'Q';
    write_at(base, "disk.img", junk, sizeof(junk));
    join(p, base, "disk.img");
    CHECK(cr_vm_config_read(&v, p) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "disk.img") != NULL);

    /* Too large. */
    join(p, base, "big.vmx");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 3 << 20) == 0);
    close(fd);
    CHECK(cr_vm_config_read(&v, p) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "big.vmx") != NULL);
}

int main(void)
{
    fx_scratch_new(base, "vmconf");
    test_names();
    test_vmx();
    test_libvirt();
    test_xml_attacks();
    test_read_file();
    fx_scratch_done(base);
    return test_summary("test_vmconf");
}
