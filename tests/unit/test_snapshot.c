/* Unit tests of src/vault/snapshot.c: JSON encoding, validation, storing, listing, finding. */
#include "test.h"
#include "vault/vault.h"

#include <limits.h>
#include <stdarg.h>
#include <unistd.h>

static char base[256];

static char **strv(int n, ...)
{
    va_list ap;
    char **v = calloc((size_t)n, sizeof(char *));
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v[i] = strdup(va_arg(ap, const char *));
    va_end(ap);
    return v;
}

static cr_snapshot *make(const char *source, int64_t time_ns, uint8_t tree_byte)
{
    cr_snapshot *s = calloc(1, sizeof(*s));
    s->source = strdup(source);
    s->time_ns = time_ns;
    s->hostname = strdup("dpi-server.hospital.local");
    s->username = strdup("root");
    s->paths = strv(2, "/srv/dpi", "/etc");
    s->npaths = 2;
    s->tags = strv(1, "nightly");
    s->ntags = 1;
    s->excludes = strv(1, "*.tmp");
    s->nexcludes = 1;
    memset(s->tree.b, tree_byte, CR_ID_LEN);
    s->files = 1000;
    s->dirs = 20;
    s->others = 3;
    s->bytes = 123456789012ull;
    s->bytes_new = 4567;
    s->files_new = 10;
    s->files_changed = 5;
    s->files_unchanged = 985;
    s->errors = 1;
    s->duration = 12.5;
    s->program_version = strdup("0.1.0");
    return s;
}

static void test_roundtrip(void)
{
    cr_buf b = CR_BUF_INIT;
    cr_snapshot *s = make("dpi-server", 1795834800123456789LL, 0xab), *d = NULL;
    s->has_parent = 1;
    memset(s->parent.b, 0xcd, CR_ID_LEN);
    CHECK_OK(cr_snapshot_encode(&b, s));
    CHECK(memchr(b.ptr, '\0', b.len) == NULL);
    CHECK_OK(cr_snapshot_decode(&d, b.ptr, b.len));
    REQUIRE(d);
    CHECK(strcmp(d->source, "dpi-server") == 0);
    CHECK(d->time_ns == 1795834800123456789LL);
    CHECK(strcmp(d->hostname, s->hostname) == 0 && strcmp(d->username, "root") == 0);
    CHECK(d->npaths == 2 && strcmp(d->paths[1], "/etc") == 0);
    CHECK(d->ntags == 1 && strcmp(d->tags[0], "nightly") == 0);
    CHECK(d->nexcludes == 1 && strcmp(d->excludes[0], "*.tmp") == 0);
    CHECK(memcmp(d->tree.b, s->tree.b, CR_ID_LEN) == 0);
    CHECK(d->has_parent && memcmp(d->parent.b, s->parent.b, CR_ID_LEN) == 0);
    CHECK(d->files == 1000 && d->dirs == 20 && d->others == 3 && d->bytes == 123456789012ull);
    CHECK(d->bytes_new == 4567 && d->files_new == 10 && d->files_changed == 5);
    CHECK(d->files_unchanged == 985 && d->errors == 1 && d->duration == 12.5);
    CHECK(strcmp(d->program_version, "0.1.0") == 0);
    /* RFC 3339 in UTC with nanoseconds. */
    CHECK_OK(cr_buf_put_u8(&b, 0));
    CHECK(strstr((char *)b.ptr, "\"time\":\"2026-11-28T") != NULL);
    CHECK(strstr((char *)b.ptr, ".123456789Z\"") != NULL);
    cr_snapshot_free(d);

    /* No parent, no tags: null and empty arrays. */
    s->has_parent = 0;
    cr_buf_reset(&b);
    CHECK_OK(cr_snapshot_encode(&b, s));
    CHECK_OK(cr_buf_put_u8(&b, 0));
    CHECK(strstr((char *)b.ptr, "\"parent\":null") != NULL);
    CHECK_OK(cr_snapshot_decode(&d, b.ptr, b.len - 1));
    CHECK(d && !d->has_parent);
    cr_snapshot_free(d);

    /* The encoder refuses what the decoder would refuse. */
    free(s->source);
    s->source = strdup("");
    CHECK(cr_snapshot_encode(&b, s) == CR_EINPUT);
    free(s->source);
    s->source = strdup("bad\nname");
    CHECK(cr_snapshot_encode(&b, s) == CR_EINPUT);
    free(s->source);
    s->source = strdup("ok");
    s->time_ns = -5;
    CHECK(cr_snapshot_encode(&b, s) == CR_EINPUT);
    cr_snapshot_free(s);
    cr_snapshot_free(NULL);
    cr_snapshot_list_free(NULL, 0);
    cr_buf_free(&b);
}

static int dec(const char *json)
{
    cr_snapshot *d = NULL;
    int rc = cr_snapshot_decode(&d, json, strlen(json));
    if ((rc == 0) != (d != NULL))
        return 99;
    cr_snapshot_free(d);
    return rc;
}

#define T64 "\"tree\":\"abababababababababababababababababababababababababababababababab\""

static void test_decode_errors(void)
{
    char buf[2048], longsrc[300];
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64 "}") == 0);
    CHECK(dec("") == CR_ECORRUPT);
    CHECK(dec("nope") == CR_ECORRUPT);
    CHECK(dec("[1,2]") == CR_ECORRUPT);
    CHECK(dec("{\"source\":\"a\"}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":2,\"source\":\"a\"}") == CR_EVERSION);
    CHECK(dec("{\"version\":1,\"time\":\"2026-01-01T00:00:00Z\"," T64 "}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"\",\"time\":\"2026-01-01T00:00:00Z\"," T64 "}") ==
          CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":7,\"time\":\"2026-01-01T00:00:00Z\"," T64 "}") ==
          CR_ECORRUPT);
    memset(longsrc, 'x', 256);
    longsrc[256] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"version\":1,\"source\":\"%s\",\"time\":\"2026-01-01T00:00:00Z\"," T64 "}",
             longsrc);
    CHECK(dec(buf) == CR_ECORRUPT);
    longsrc[255] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"version\":1,\"source\":\"%s\",\"time\":\"2026-01-01T00:00:00Z\"," T64 "}",
             longsrc);
    CHECK(dec(buf) == 0);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"yesterday\"," T64 "}") == CR_ECORRUPT);
    CHECK(
        dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\",\"tree\":\"ab\"}") ==
        CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"parent\":\"zz\"}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"files\":-1}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"files\":1.5}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"paths\":\"/\"}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"paths\":[\"/\",3]}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"tags\":[\"\"]}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              ",\"duration\":-3}") == CR_ECORRUPT);
    CHECK(dec("{\"version\":1,\"source\":\"a\",\"source\":\"b\",\"time\":\"2026-01-01T00:00:"
              "00Z\"," T64 "}") == CR_ECORRUPT); /* duplicate keys */
    CHECK(dec("{\"version\":1,\"source\":\"a\\u0000b\",\"time\":\"2026-01-01T00:00:00Z\"," T64
              "}") == CR_ECORRUPT);
}

static cr_snapshot *make_image(void)
{
    cr_snapshot *s = make("pacs-vm", 1795834800000000000LL, 0x11);
    s->kind = CR_SNAPSHOT_IMAGE;
    s->system_root = strdup("/disk0/p2");
    s->vm = calloc(1, sizeof(cr_vm_info));
    s->vm->name = strdup("pacs-vm");
    s->vm->cpus = 4;
    s->vm->memory_mib = 8192;
    s->vm->firmware = CR_FIRMWARE_UEFI;
    s->vm->disk_bus = strdup("virtio");
    s->vm->nic_model = strdup("e1000e");
    s->vm->os_type = strdup("linux");
    s->vm->config_from = strdup("/etc/libvirt/qemu/pacs-vm.xml");
    s->ndisks = 2;
    s->disks = calloc(2, sizeof(cr_image_disk));
    cr_image_disk *d = &s->disks[0];
    d->name = strdup("disk0");
    d->source_path = strdup("/var/lib/libvirt/images/pacs.qcow2");
    d->source_format = CR_IMAGE_QCOW2;
    d->virtual_size = 64ull << 30;
    d->stored = 3ull << 30;
    d->partition_table = strdup("gpt");
    d->nvolumes = 2;
    d->volumes = calloc(2, sizeof(cr_image_volume));
    d->volumes[0].name = strdup("p1");
    d->volumes[0].start = 1 << 20;
    d->volumes[0].length = 512 << 20;
    d->volumes[0].fs_type = strdup("vfat");
    d->volumes[0].label = strdup("EFI System");
    d->volumes[0].files = 12;
    d->volumes[1].name = strdup("p2");
    d->volumes[1].start = 513 << 20;
    d->volumes[1].length = (64ull << 30) - (514 << 20);
    d->volumes[1].fs_type = strdup("ext4");
    d->volumes[1].files = 54321;
    d->volumes[1].error = strdup("");
    d->nbacking = 2;
    d->backing = calloc(2, sizeof(cr_image_backing));
    d->backing[0].path = strdup("/var/lib/libvirt/images/pacs-mid.qcow2");
    d->backing[0].format = CR_IMAGE_QCOW2;
    d->backing[1].path = strdup("/var/lib/libvirt/images/pacs-base.qcow2");
    d->backing[1].format = CR_IMAGE_QCOW2;
    d->dropped = 196608;
    d = &s->disks[1];
    d->name = strdup("disk1");
    d->source_format = CR_IMAGE_VMDK_FLAT; /* no path, no table, no volumes */
    d->virtual_size = 1 << 30;
    return s;
}

static void test_image(void)
{
    cr_buf b = CR_BUF_INIT;
    cr_snapshot *s = make_image(), *d = NULL;
    CHECK_OK(cr_snapshot_encode(&b, s));
    CHECK_OK(cr_snapshot_decode(&d, b.ptr, b.len));
    REQUIRE(d);
    CHECK(d->kind == CR_SNAPSHOT_IMAGE && !strcmp(d->system_root, "/disk0/p2"));
    REQUIRE(d->vm);
    CHECK(!strcmp(d->vm->name, "pacs-vm") && d->vm->cpus == 4 && d->vm->memory_mib == 8192);
    CHECK(d->vm->firmware == CR_FIRMWARE_UEFI && !strcmp(d->vm->disk_bus, "virtio"));
    CHECK(!strcmp(d->vm->nic_model, "e1000e") && !strcmp(d->vm->os_type, "linux"));
    CHECK(!strcmp(d->vm->config_from, "/etc/libvirt/qemu/pacs-vm.xml"));
    REQUIRE(d->ndisks == 2);
    cr_image_disk *k = &d->disks[0];
    CHECK(!strcmp(k->name, "disk0") && !strcmp(k->source_path, s->disks[0].source_path));
    CHECK(k->source_format == CR_IMAGE_QCOW2 && k->virtual_size == 64ull << 30);
    CHECK(k->stored == 3ull << 30 && !strcmp(k->partition_table, "gpt"));
    REQUIRE(k->nvolumes == 2);
    CHECK(!strcmp(k->volumes[0].name, "p1") && k->volumes[0].start == 1 << 20);
    CHECK(k->volumes[0].length == 512 << 20 && !strcmp(k->volumes[0].fs_type, "vfat"));
    CHECK(!strcmp(k->volumes[0].label, "EFI System") && k->volumes[0].files == 12);
    CHECK(k->volumes[0].error == NULL && k->volumes[1].label == NULL);
    CHECK(k->volumes[1].error && !strcmp(k->volumes[1].error, ""));
    CHECK(k->volumes[1].files == 54321);
    /* The chain, nearest first, and what the header's size left out. */
    REQUIRE(k->nbacking == 2);
    CHECK(!strcmp(k->backing[0].path, "/var/lib/libvirt/images/pacs-mid.qcow2"));
    CHECK(!strcmp(k->backing[1].path, "/var/lib/libvirt/images/pacs-base.qcow2"));
    CHECK(k->backing[0].format == CR_IMAGE_QCOW2 && k->backing[1].format == CR_IMAGE_QCOW2);
    CHECK(k->dropped == 196608);
    k = &d->disks[1];
    CHECK(!strcmp(k->name, "disk1") && k->source_path == NULL && k->partition_table == NULL);
    CHECK(k->source_format == CR_IMAGE_VMDK_FLAT && k->nvolumes == 0 && k->volumes == NULL);
    /* No chain, nothing dropped: no key written (a snapshot of before reads the same). */
    CHECK(k->nbacking == 0 && k->backing == NULL && k->dropped == 0);
    /* Stable: decode(encode(x)) encodes to the same bytes. */
    cr_buf b2 = CR_BUF_INIT;
    CHECK_OK(cr_snapshot_encode(&b2, d));
    CHECK(b2.len == b.len && !memcmp(b.ptr, b2.ptr, b.len));
    cr_buf_free(&b2);
    cr_snapshot_free(d);
    d = NULL;

    /* Unknown VM facts are left out and read back as unknown. */
    cr_vm_info *vm = s->vm;
    s->vm = calloc(1, sizeof(cr_vm_info));
    CHECK_OK(cr_snapshot_encode(&b, s));
    CHECK_OK(cr_buf_put_u8(&b, 0));
    CHECK(strstr((char *)b.ptr, "\"vm\":{}") != NULL);
    CHECK_OK(cr_snapshot_decode(&d, b.ptr, b.len - 1));
    CHECK(d && d->vm && d->vm->cpus == 0 && d->vm->firmware == CR_FIRMWARE_UNKNOWN &&
          !d->vm->name && !d->vm->disk_bus);
    cr_snapshot_free(d);
    d = NULL;
    cr_vm_info_free(s->vm);
    s->vm = vm;
    cr_vm_info_free(NULL);

    /* A file snapshot has none of the new keys: its bytes are as before. */
    cr_snapshot *f = make("dpi-server", 1795834800123456789LL, 0xab);
    cr_buf_reset(&b);
    CHECK_OK(cr_snapshot_encode(&b, f));
    CHECK_OK(cr_buf_put_u8(&b, 0));
    CHECK(!strstr((char *)b.ptr, "kind") && !strstr((char *)b.ptr, "disks") &&
          !strstr((char *)b.ptr, "\"vm\"") && !strstr((char *)b.ptr, "system_root"));
    CHECK(!strcmp((char *)b.ptr,
                  "{\"version\":1,\"source\":\"dpi-server\",\"time\":\"2026-11-28T03:00:00."
                  "123456789Z\",\"hostname\":\"dpi-server.hospital.local\",\"username\":\"root\","
                  "\"paths\":[\"/srv/dpi\",\"/etc\"],\"tags\":[\"nightly\"],\"excludes\":[\"*."
                  "tmp\"],\"tree\":\"abababababababababababababababababababababababababababab"
                  "abababab\",\"parent\":null,\"files\":1000,\"dirs\":20,\"others\":3,\"bytes\":"
                  "123456789012,\"bytes_new\":4567,\"files_new\":10,\"files_changed\":5,\"files_"
                  "unchanged\":985,\"errors\":1,\"duration\":12.5,\"program_version\":\"0.1.0\"}"));
    /* ... and it may not carry a VM or disks. */
    f->vm = calloc(1, sizeof(cr_vm_info));
    CHECK(cr_snapshot_encode(&b, f) == CR_EINPUT);
    cr_snapshot_free(f);

    /* The writer refuses what a reader would refuse. */
#define REFUSED(stmt, undo)                                                                        \
    do {                                                                                           \
        stmt;                                                                                      \
        CHECK(cr_snapshot_encode(&b, s) == CR_EINPUT);                                             \
        undo;                                                                                      \
        CHECK_OK(cr_snapshot_encode(&b, s));                                                       \
    } while (0)
    char *keep;
    cr_image_disk *d0 = &s->disks[0];
    cr_image_volume *v0 = &d0->volumes[0];
    keep = d0->name;
    REFUSED(d0->name = "..", d0->name = keep);
    REFUSED(d0->name = "a/b", d0->name = keep);
    REFUSED(d0->name = "", d0->name = keep);
    REFUSED(d0->name = NULL, d0->name = keep);
    REFUSED(d0->name = "disk1", d0->name = keep); /* twice */
    keep = v0->name;
    REFUSED(v0->name = "p2", v0->name = keep);
    REFUSED(v0->name = "p\n1", v0->name = keep);
    keep = v0->label;
    REFUSED(v0->label = "EFI\x1b[31m", v0->label = keep);
    keep = v0->fs_type;
    REFUSED(v0->fs_type = "ext4 ", v0->fs_type = keep);
    REFUSED(v0->fs_type = "", v0->fs_type = keep);
    keep = s->vm->disk_bus;
    REFUSED(s->vm->disk_bus = "virtio\"/><x", s->vm->disk_bus = keep);
    REFUSED(s->vm->disk_bus = "abcdefghijklmnopqrstuvwxyz0123456", s->vm->disk_bus = keep);
    keep = s->system_root;
    REFUSED(s->system_root = "disk0/p2", s->system_root = keep);
    REFUSED(s->vm->cpus = 5000, s->vm->cpus = 4);
    REFUSED(s->vm->firmware = (cr_firmware)3, s->vm->firmware = CR_FIRMWARE_UEFI);
    REFUSED(d0->source_format = (cr_image_format)7, d0->source_format = CR_IMAGE_QCOW2);
    REFUSED(d0->virtual_size = UINT64_MAX, d0->virtual_size = 64ull << 30);
    REFUSED(v0->length = INT64_MAX, v0->length = 512 << 20); /* start + length overflows */
    REFUSED(s->kind = (cr_snapshot_kind)2, s->kind = CR_SNAPSHOT_IMAGE);
    REFUSED(s->ndisks = 65, s->ndisks = 2);
    REFUSED(d0->nvolumes = 257, d0->nvolumes = 2);
#undef REFUSED
    cr_snapshot_free(s);
    cr_buf_free(&b);
}

static void test_image_decode_errors(void)
{
#define HEAD "{\"version\":1,\"source\":\"a\",\"time\":\"2026-01-01T00:00:00Z\"," T64
#define DISK(x) HEAD ",\"kind\":\"image\",\"disks\":[{\"name\":\"disk0\"" x "}]}"
#define VOL(x) DISK(",\"volumes\":[{\"name\":\"p1\"" x "}]")
    CHECK(dec(HEAD ",\"kind\":\"image\"}") == 0);
    CHECK(dec(HEAD ",\"kind\":\"files\"}") == 0);
    CHECK(dec(HEAD ",\"kind\":\"tape\"}") == CR_EVERSION);
    CHECK(dec(HEAD ",\"kind\":1}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"system_root\":\"/disk0/p1\"}") == 0);
    CHECK(dec(HEAD ",\"system_root\":\"disk0\"}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"system_root\":7}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"vm\":{}}") == CR_ECORRUPT); /* a file snapshot with a VM */
    CHECK(dec(HEAD ",\"disks\":[]}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":[]}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"cpus\":4097}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"cpus\":-1}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"memory_mib\":1.5}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"firmware\":\"coreboot\"}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"firmware\":\"unknown\"}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"firmware\":\"bios\",\"name\":\"x\"}}") == 0);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"name\":\"\"}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"os_type\":\"li nux\"}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"vm\":{\"nic_model\":3}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"disks\":{}}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"disks\":[7]}") == CR_ECORRUPT);
    CHECK(dec(DISK("")) == 0);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"disks\":[{}]}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"disks\":[{\"name\":\"..\"}]}") == CR_ECORRUPT);
    CHECK(dec(HEAD ",\"kind\":\"image\",\"disks\":[{\"name\":\"a\"},{\"name\":\"a\"}]}") ==
          CR_ECORRUPT);
    CHECK(dec(DISK(",\"source_format\":\"vdi\"")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"source_format\":\"auto\"")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"source_format\":\"vmdk-flat\"")) == 0);
    CHECK(dec(DISK(",\"virtual_size\":-4")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"partition_table\":\"\"")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"source_path\":\"/a\\nb\"")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"volumes\":{}")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"volumes\":[1]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"volumes\":[{}]")) == CR_ECORRUPT);
    CHECK(dec(VOL("")) == 0);
    CHECK(dec(VOL(",\"start\":9223372036854775807,\"length\":1")) == CR_ECORRUPT);
    CHECK(dec(VOL(",\"start\":9223372036854775806,\"length\":1")) == 0);
    CHECK(dec(VOL(",\"label\":\"a\\u001bb\"")) == CR_ECORRUPT);
    CHECK(dec(VOL(",\"label\":\"a\\u0000b\"")) == CR_ECORRUPT);
    CHECK(dec(VOL(",\"label\":\"\"")) == 0);
    CHECK(dec(VOL(",\"fs_type\":\"ext4;rm\"")) == CR_ECORRUPT);
    CHECK(dec(VOL(",\"files\":\"3\"")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"volumes\":[{\"name\":\"p1\"},{\"name\":\"p1\"}]")) == CR_ECORRUPT);
    /* The chain and the bytes dropped (absent in snapshots written before them). */
    CHECK(dec(DISK(",\"backing\":[]")) == 0);
    CHECK(dec(DISK(",\"backing\":[{\"path\":\"/a/b.qcow2\",\"format\":\"qcow2\"}]")) == 0);
    CHECK(dec(DISK(",\"backing\":[{\"path\":\"/a/b.vhd\"}]")) == 0);
    CHECK(dec(DISK(",\"backing\":{}")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"backing\":[7]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"backing\":[{}]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"backing\":[{\"path\":\"\"}]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"backing\":[{\"path\":\"/a\\nb\"}]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"backing\":[{\"path\":\"/a\",\"format\":\"vdi\"}]")) == CR_ECORRUPT);
    CHECK(dec(DISK(",\"dropped\":196608")) == 0);
    CHECK(dec(DISK(",\"dropped\":-1")) == CR_ECORRUPT);
    {
        char chain[40 * 20 + 256];
        size_t m = (size_t)sprintf(chain, HEAD ",\"kind\":\"image\",\"disks\":[{\"name\":\"d\",\"backing\":[");
        for (int i = 0; i < 17; i++)
            m += (size_t)sprintf(chain + m, "%s{\"path\":\"/b%d\"}", i ? "," : "", i);
        sprintf(chain + m, "]}]}");
        CHECK(dec(chain) == CR_ECORRUPT); /* 17 files: deeper than any chain read */
    }
    /* 65 disks; 257 volumes. */
    char *big = malloc(65 * 32 + 256);
    size_t n = (size_t)sprintf(big, HEAD ",\"kind\":\"image\",\"disks\":[");
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(big + n, "%s{\"name\":\"d%d\"}", i ? "," : "", i);
    strcpy(big + n, "]}");
    CHECK(dec(big) == CR_ECORRUPT);
    strcpy(strrchr(big, ','), "]}"); /* 64 */
    CHECK(dec(big) == 0);
    free(big);
    big = malloc(257 * 32 + 256);
    n = (size_t)sprintf(big, HEAD ",\"kind\":\"image\",\"disks\":[{\"name\":\"d\",\"volumes\":[");
    for (int i = 0; i < 257; i++)
        n += (size_t)sprintf(big + n, "%s{\"name\":\"p%d\"}", i ? "," : "", i);
    strcpy(big + n, "]}]}");
    CHECK(dec(big) == CR_ECORRUPT);
    strcpy(strrchr(big, ','), "]}]}"); /* 256 */
    CHECK(dec(big) == 0);
    free(big);
#undef VOL
#undef DISK
#undef HEAD
}

static void test_repo(void)
{
    char v[PATH_MAX];
    cr_repo *r = NULL;
    cr_snapshot *s[4], *f = NULL, **list = NULL;
    size_t n = 0;
    char hex[4][CR_ID_HEX_LEN + 1];
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    snprintf(v, sizeof(v), "%s/vault", base);
    REQUIRE(cr_repo_init(v, "pw", &o) == 0);
    REQUIRE(cr_repo_open(&r, v, "pw") == 0);

    CHECK(cr_snapshot_find(&f, r, "latest") == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "no snapshots") != NULL);

    /* Saved out of time order on purpose. */
    const int64_t sec = 1000000000LL;
    s[0] = make("pacs", 1800000300 * sec, 1);
    s[1] = make("pacs", 1800000100 * sec + 5, 2);
    s[2] = make("dpi-server", 1800000200 * sec, 3);
    s[3] = make("pacs", 1800000200 * sec, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(cr_snapshot_save(r, s[i]));
        cr_id_to_hex(hex[i], &s[i]->id);
    }

    CHECK_OK(cr_snapshot_list(&list, &n, r, NULL));
    REQUIRE(n == 4);
    CHECK(list[0]->time_ns == 1800000100 * sec + 5);
    CHECK(list[3]->time_ns == 1800000300 * sec);
    /* Equal times: ordered by id. */
    CHECK(list[1]->time_ns == list[2]->time_ns &&
          memcmp(list[1]->id.b, list[2]->id.b, CR_ID_LEN) < 0);
    CHECK(memcmp(list[3]->id.b, s[0]->id.b, CR_ID_LEN) == 0);
    cr_snapshot_list_free(list, n);
    CHECK_OK(cr_snapshot_list(&list, &n, r, "pacs"));
    CHECK(n == 3);
    cr_snapshot_list_free(list, n);
    CHECK_OK(cr_snapshot_list(&list, &n, r, "nobody"));
    CHECK(n == 0);
    cr_snapshot_list_free(list, n);

    /* Load by id gives back what was saved. */
    CHECK_OK(cr_snapshot_load(&f, r, &s[2]->id));
    CHECK(f && strcmp(f->source, "dpi-server") == 0 && f->tree.b[0] == 3);
    CHECK(f && memcmp(f->id.b, s[2]->id.b, CR_ID_LEN) == 0);
    cr_snapshot_free(f);

    /* Finding: full id, upper case, prefixes, latest, SOURCE:latest. */
    CHECK_OK(cr_snapshot_find(&f, r, hex[1]));
    CHECK(f && f->tree.b[0] == 2);
    cr_snapshot_free(f);
    char upper[CR_ID_HEX_LEN + 1];
    for (int i = 0; i <= CR_ID_HEX_LEN; i++)
        upper[i] = (char)(hex[1][i] >= 'a' && hex[1][i] <= 'f' ? hex[1][i] - 32 : hex[1][i]);
    CHECK_OK(cr_snapshot_find(&f, r, upper));
    cr_snapshot_free(f);
    /* The shortest prefix that is unique among the 4 (at most 64 digits). */
    for (size_t len = 4; len <= 64; len++) {
        int unique = 1;
        for (int j = 0; j < 4; j++)
            if (j != 2 && strncmp(hex[j], hex[2], len) == 0)
                unique = 0;
        if (unique) {
            char pre[65];
            snprintf(pre, sizeof(pre), "%.*s", (int)len, hex[2]);
            CHECK_OK(cr_snapshot_find(&f, r, pre));
            CHECK(f && f->tree.b[0] == 3);
            cr_snapshot_free(f);
            break;
        }
    }
    CHECK_OK(cr_snapshot_find(&f, r, "latest"));
    CHECK(f && f->tree.b[0] == 1);
    cr_snapshot_free(f);
    CHECK_OK(cr_snapshot_find(&f, r, "dpi-server:latest"));
    CHECK(f && f->tree.b[0] == 3);
    cr_snapshot_free(f);
    CHECK(cr_snapshot_find(&f, r, "ris:latest") == CR_ENOTFOUND);
    CHECK(f == NULL);
    CHECK(strstr(cr_error_last(), "dpi-server") != NULL); /* names the sources that exist */
    CHECK(cr_snapshot_find(&f, r, "abc") == CR_EINPUT);   /* too short */
    CHECK(cr_snapshot_find(&f, r, "pacs") == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "pacs:latest") != NULL);
    CHECK(cr_snapshot_find(&f, r, "") == CR_EINPUT);
    char missing[CR_ID_HEX_LEN + 1];
    snprintf(missing, sizeof(missing), "%s", hex[0]);
    missing[10] = missing[10] == '0' ? '1' : '0';
    CHECK(cr_snapshot_find(&f, r, missing) == CR_ENOTFOUND);
    missing[12] = '\0';
    CHECK(cr_snapshot_find(&f, r, missing) == CR_ENOTFOUND);

    /* Ambiguous prefix: a second file whose name shares the first 12 digits.
     * Its content does not match its name, so listing skips it as damaged. */
    char from[PATH_MAX + 100], to[PATH_MAX + 100], twin[CR_ID_HEX_LEN + 1];
    snprintf(twin, sizeof(twin), "%s", hex[0]);
    twin[63] = twin[63] == '0' ? '1' : '0';
    snprintf(from, sizeof(from), "%s/snapshots/%s", v, hex[0]);
    snprintf(to, sizeof(to), "%s/snapshots/%s", v, twin);
    REQUIRE(link(from, to) == 0);
    char pre[13];
    snprintf(pre, sizeof(pre), "%.12s", hex[0]);
    CHECK(cr_snapshot_find(&f, r, pre) == CR_EAMBIGUOUS);
    CHECK(strstr(cr_error_last(), "ambiguous") != NULL);
    CHECK(strstr(cr_error_last(), pre) != NULL);
    CHECK(f == NULL);
    CHECK(cr_snapshot_find(&f, r, twin) == CR_ECORRUPT);
    CHECK_OK(cr_snapshot_list(&list, &n, r, NULL));
    CHECK(n == 4);
    cr_snapshot_list_free(list, n);

    for (int i = 0; i < 4; i++)
        cr_snapshot_free(s[i]);
    cr_repo_free(r);
}

int main(void)
{
    char tmpl[] = "/tmp/cr-test-snap-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    snprintf(base, sizeof(base), "%s", tmpl);
    REQUIRE(cr_init() == 0);
    test_roundtrip();
    test_decode_errors();
    test_image();
    test_image_decode_errors();
    test_repo();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", base);
    return test_summary("test_snapshot");
}
