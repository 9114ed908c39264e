/*
 * cleanroom backup: save folders as a new snapshot of a source.
 *
 * A file that cannot be read (permissions, vanished during the run) does not
 * stop the backup: it is reported as a warning, counted in the snapshot, and
 * the command exits 5 so a scheduler notices. A path named on the command
 * line that does not exist stops the command before anything is written,
 * because a snapshot silently missing a whole folder is worse than no snapshot.
 *
 * With --image, the disks of a virtual machine (raw, qcow2, VMDK, VHD, VHDX)
 * are saved instead as one image snapshot, with what the VM needs to start
 * again (CPUs, memory, firmware, disk bus, network card, OS type), read from
 * its .vmx / libvirt XML and the --vm-* options.
 */
#include "common.h"

#include "cleanroom/image.h"
#include "cleanroom/jobs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_text[] =
    "usage: cleanroom backup --source NAME [--time ISO8601] [--tag T]... [--exclude PATTERN]...\n"
    "                        [--force] [--threads N] [--root FOLDER] [--no-ransomware-check]\n"
    "                        [--ransomware-threshold KEY=N[,KEY=N]...] PATH...\n"
    "       cleanroom backup --source NAME --image FILE [--image FILE]... [--no-files]\n"
    "                        [--vm-config FILE] [--vm-cpus N] [--vm-memory SIZE]\n"
    "                        [--vm-firmware bios|uefi] [--vm-disk-bus virtio|scsi|sata|ide]\n"
    "                        [--vm-nic virtio|e1000|e1000e|vmxnet3|rtl8139]\n"
    "                        [--vm-os linux|windows|other] [--time ISO8601] [--tag T]...\n"
    "                        [--allow-backing DIR]... [--threads N] [--no-ransomware-check]\n"
    "                        [--ransomware-threshold KEY=N[,KEY=N]...]\n"
    "\n"
    "Save PATH... as a new snapshot (restore point) of the source NAME (the system the\n"
    "backup protects, e.g. dpi-server). Only data not already in the vault is stored.\n"
    "\n"
    "With --image, save the disk images of a virtual machine (raw file or block device,\n"
    "qcow2, VMDK, VHD, VHDX: recognised from the content) as one image snapshot: disk0,\n"
    "disk1... in the order given, each in 4 MiB chunks shared with every other disk and\n"
    "day in the vault. The files of the filesystems inside (ext2/3/4, XFS, FAT, NTFS) are\n"
    "listed as /diskN/p1, /diskN/p2... for 'ls', file restore and the hunt. Shut the VM\n"
    "down (or back up a snapshot of its disks): a running VM's disk changes while read.\n"
    "\n"
    "Options:\n"
    "  --source NAME      required: the system this snapshot protects\n"
    "  --time ISO8601     time of the restore point (default: now), e.g. 2026-11-22T10:00:00Z\n"
    "  --tag T            label the snapshot (repeatable)\n"
    "  --exclude PATTERN  skip names or paths matching this shell pattern (repeatable)\n"
    "  --force            read every file, even those unchanged since the last snapshot\n"
    "  --threads N        helper threads besides the main one, 1-64\n"
    "                     (default: one per core beyond the first)\n"
    "  --root FOLDER      the folder that is the system's / (holds its etc/ or Windows/),\n"
    "                     recorded for the hunt: with --root /mnt/dpi, /mnt/dpi/etc is\n"
    "                     judged as /etc. Default: the single PATH, or the common folder\n"
    "                     of several PATHs when it holds etc/ or Windows/\n"
    "  --no-ransomware-check  do not count the ransomware signals (below)\n"
    "  --ransomware-threshold KEY=N[,...]  move the thresholds of the signals (below):\n"
    "                     renamed=20 (files that got a ransomware extension), changed=20\n"
    "                     and percent=10 (files renamed so or become near-random, and\n"
    "                     their share of the previous snapshot's files), notes=5 (ransom\n"
    "                     notes); 0 turns a test off. The jobs file's `ransomware:` does\n"
    "                     the same for a job\n"
    "  --json             print the new snapshot as JSON (fields as in 'snapshots --json'),\n"
    "                     and the progress on stderr as JSON events, one per line\n"
    "\n"
    "Disk images (--image):\n"
    "  --image FILE       a disk image or block device (repeatable; not with PATH)\n"
    "  --no-files         store the disks only, do not list the files inside\n"
    "  --vm-config FILE   read CPUs, memory, firmware... from a VMware .vmx or a libvirt\n"
    "                     domain XML ('virsh dumpxml VM'); the --vm-* options override it\n"
    "  --vm-cpus N        virtual CPUs (1-1024)\n"
    "  --vm-memory SIZE   memory: MiB, or with a unit: 4G, 512M\n"
    "  --vm-firmware F    bios or uefi\n"
    "  --vm-disk-bus B    virtio, scsi, sata or ide\n"
    "  --vm-nic M         virtio, e1000, e1000e, vmxnet3 or rtl8139\n"
    "  --vm-os OS         linux, windows or other\n"
    "  --allow-backing DIR  a folder qcow2 backing files may also be read from (repeatable;\n"
    "                     e.g. /var/lib/libvirt/images). By default only the image's own\n"
    "                     folder: a backing file named elsewhere is refused\n"
    "\n"
    "Unreadable or vanished items are reported on stderr as 'warning: PATH: MESSAGE'; the\n"
    "snapshot is still saved and the exit code is 5.\n"
    "\n"
    "Ransomware signals: from the bytes it reads anyway, the backup counts the files that\n"
    "got a ransomware extension, became near-random, or are ransom notes, against the\n"
    "previous snapshot. When they pass the hunt's change-rate rule (docs/hunt.md) the\n"
    "snapshot is still saved — it is evidence — but tagged 'suspect', one line says why,\n"
    "and the exit code is 11. With --image, the same for the files inside the disks,\n"
    "against the previous image snapshot, judged on the 4 KiB blocks the backup reads\n"
    "anyway (a file's first block); not with --no-files.\n"
    "\n"
    "Exit codes: 0 saved, 1 error, 2 usage (also: not a disk image this program reads, a\n"
    "damaged or truncated image, a backing file outside the allowed folders), 3 wrong\n"
    "passphrase, 4 damaged vault, 5 saved with unreadable items (for images: files inside,\n"
    "or data beyond the size an image's header gives), 6 locked, 7 no vault or a PATH /\n"
    "image / backing file does not exist, 11 saved but tagged suspect (ransomware signals).\n";

typedef struct backup_ctx {
    cli_progress *progress;
} backup_ctx;

static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
}

static void on_progress(const cr_progress *p, void *payload)
{
    backup_ctx *ctx = payload;
    cli_progress_cb(p, ctx->progress);
}

/* --json: the "backup-done" event, with the new snapshot's counts. */
static void progress_done(cli_progress *pr, int err, const cr_snapshot *snap)
{
    char hex[CR_ID_HEX_LEN + 1];
    cli_total t[] = {{"files", snap ? snap->files : 0},
                     {"dirs", snap ? snap->dirs : 0},
                     {"bytes", snap ? snap->bytes : 0},
                     {"bytes_new", snap ? snap->bytes_new : 0},
                     {"errors", snap ? snap->errors : 0},
                     {"disks", snap ? snap->ndisks : 0}};
    cli_progress_done(pr, err, snap ? cr_id_to_hex(hex, &snap->id) : NULL, t,
                      snap && snap->ndisks ? 6 : 5);
}

/* ------------------------------------------------------------ ransomware */

/* The watch of the ransomware signals, or NULL (said why) when they cannot be counted. */
static cr_ransom_watch *new_watch(const cr_ransom_thresholds *thresholds)
{
    cr_ransom_watch *w = NULL;
    const char *rules = NULL;
    cr_error_clear();
    if (cli_builtin_rules_dir(&rules, NULL) != 0) {
        cli_warn("the shipped rules are not found: ransomware signals are not counted (set "
                 "CLEANROOM_RULES, or say --no-ransomware-check)");
        return NULL;
    }
    if (cr_ransom_watch_new(&w, rules) < 0) {
        cli_warn("ransomware signals are not counted: %s", cr_error_last());
        return NULL;
    }
    cr_ransom_watch_set_thresholds(w, thresholds);
    return w;
}

/* The one line that says why a saved snapshot is suspect; *rc becomes CLI_EXIT_SUSPECT. */
static void report_watch(const cr_ransom_watch *w, const cr_snapshot *snap, const char *source,
                         int *rc)
{
    cr_ransom_signals sig;
    char sid[9], *r, *ex;
    if (!w)
        return;
    cr_ransom_watch_result(w, &sig);
    if (!sig.suspect)
        return;
    r = cli_escape(sig.reason);
    ex = cli_escape(sig.example);
    cli_warn("ransomware signals: %s%s%s; snapshot %s is saved as evidence, tagged 'suspect'", r,
             *ex ? ", e.g. " : "", ex, cli_short_id(sid, &snap->id));
    cli_hint("isolate %s now; 'cleanroom hunt' then 'cleanroom clean-point' name the last clean "
             "restore point",
             source);
    free(r);
    free(ex);
    *rc = CLI_EXIT_SUSPECT;
}

/* ------------------------------------------------------------ disk images */

static int one_of(const char *v, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(v, *names) == 0)
            return 1;
    return 0;
}

/* A disk's volumes, one line each: "    p1  ext4  \"root\"  1,234 files". */
static void print_volumes(const cr_image_disk *d)
{
    for (size_t k = 0; k < d->nvolumes; k++) {
        const cr_image_volume *v = &d->volumes[k];
        char *name = cli_escape(v->name ? v->name : "?");
        char *fs = cli_escape(v->fs_type ? v->fs_type : "unknown");
        char size[32], files[32];
        printf("    %s  %s  %s", name, fs, cli_human_size(size, sizeof(size), v->length));
        if (v->label) {
            char *l = cli_escape(v->label);
            printf("  \"%s\"", l);
            free(l);
        }
        if (v->error) {
            char *e = cli_escape(v->error);
            printf("  files not listed: %s\n", e);
            free(e);
        } else {
            printf("  %s files\n", cli_count(files, sizeof(files), v->files));
        }
        free(name);
        free(fs);
    }
}

static void print_image_summary(const cr_snapshot *snap, double seconds)
{
    char a[32], b[32], c[32];
    for (size_t i = 0; i < snap->ndisks; i++) {
        const cr_image_disk *d = &snap->disks[i];
        char *name = cli_escape(d->name ? d->name : "?");
        char *path = cli_escape(d->source_path ? d->source_path : "?");
        printf("  %s: %s (%s), size %s, stored %s", name, path,
               cr_image_format_name(d->source_format),
               cli_human_size(a, sizeof(a), d->virtual_size),
               cli_human_size(b, sizeof(b), d->stored));
        if (d->partition_table)
            printf(", partition table %s", strcmp(d->partition_table, "dos") == 0
                                               ? "MBR"
                                               : d->partition_table);
        printf("\n");
        /* The files read under the disk: the operator must see a chain that reaches
         * somewhere unexpected. */
        for (size_t k = 0; k < d->nbacking; k++) {
            char *bp = cli_escape(d->backing[k].path ? d->backing[k].path : "?");
            printf("    backing file: %s (%s)\n", bp,
                   cr_image_format_name(d->backing[k].format));
            free(bp);
        }
        if (d->dropped)
            printf("    not stored: %s of data mapped beyond the size the header gives\n",
                   cli_human_size(c, sizeof(c), d->dropped));
        print_volumes(d);
        free(name);
        free(path);
    }
    if (snap->system_root) {
        char *r = cli_escape(snap->system_root);
        printf("  system root: %s\n", r);
        free(r);
    }
    if (snap->ndisks && snap->files + snap->dirs)
        printf("  files: %llu, dirs: %llu\n", (unsigned long long)snap->files,
               (unsigned long long)snap->dirs);
    printf("  size: %s, added to the vault: %s, time: %s\n",
           cli_human_size(a, sizeof(a), snap->bytes),
           cli_human_size(b, sizeof(b), snap->bytes_new),
           cli_human_duration(c, sizeof(c), seconds));
}

/* A source name is typed at 3 a.m. and used in "SOURCE:latest": keep it plain. */
static int valid_source(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':' || *p == '/')
            return 0;
    return 1;
}

int cmd_backup(int argc, char **argv)
{
    enum {
        OPT_SOURCE = CLI_OPT_FIRST_CMD,
        OPT_TIME,
        OPT_TAG,
        OPT_EXCLUDE,
        OPT_FORCE,
        OPT_THREADS,
        OPT_IMAGE,
        OPT_NO_FILES,
        OPT_VM_CONFIG,
        OPT_VM_CPUS,
        OPT_VM_MEMORY,
        OPT_VM_FIRMWARE,
        OPT_VM_DISK_BUS,
        OPT_VM_NIC,
        OPT_VM_OS,
        OPT_ROOT,
        OPT_ALLOW_BACKING,
        OPT_NO_RANSOM,
        OPT_RANSOM_THRESHOLD,
    };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"time", required_argument, NULL, OPT_TIME},
        {"tag", required_argument, NULL, OPT_TAG},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"force", no_argument, NULL, OPT_FORCE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"no-files", no_argument, NULL, OPT_NO_FILES},
        {"vm-config", required_argument, NULL, OPT_VM_CONFIG},
        {"vm-cpus", required_argument, NULL, OPT_VM_CPUS},
        {"vm-memory", required_argument, NULL, OPT_VM_MEMORY},
        {"vm-firmware", required_argument, NULL, OPT_VM_FIRMWARE},
        {"vm-disk-bus", required_argument, NULL, OPT_VM_DISK_BUS},
        {"vm-nic", required_argument, NULL, OPT_VM_NIC},
        {"vm-os", required_argument, NULL, OPT_VM_OS},
        {"root", required_argument, NULL, OPT_ROOT},
        {"allow-backing", required_argument, NULL, OPT_ALLOW_BACKING},
        {"no-ransomware-check", no_argument, NULL, OPT_NO_RANSOM},
        {"ransomware-threshold", required_argument, NULL, OPT_RANSOM_THRESHOLD},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    static const char *const buses[] = {"virtio", "scsi", "sata", "ide", NULL};
    static const char *const nics[] = {"virtio", "e1000", "e1000e", "vmxnet3", "rtl8139", NULL};
    static const char *const oses[] = {"linux", "windows", "other", NULL};
    cr_backup_options opts = CR_BACKUP_OPTIONS_INIT;
    cr_image_backup_options iopts = CR_IMAGE_BACKUP_OPTIONS_INIT;
    const char **tags = cli_xmalloc(sizeof(char *) * (size_t)argc);
    const char **excludes = cli_xmalloc(sizeof(char *) * (size_t)argc);
    const char **images = cli_xmalloc(sizeof(char *) * (size_t)argc);
    const char **allow = cli_xmalloc(sizeof(char *) * (size_t)argc);
    size_t ntags = 0, nexcludes = 0, nimages = 0, nallow = 0;
    /* --vm-* values as given (borrowed from argv); 0 / NULL = not given */
    cr_vm_info vmopt = {0}, vm = {0};
    cr_vm_info *vmcfg = NULL;
    const char *vm_config = NULL;
    int force_given = 0, excludes_given = 0, vm_given = 0, no_files = 0, no_ransom = 0;
    cr_ransom_watch *watch = NULL;
    cr_ransom_thresholds thresholds = CR_RANSOM_THRESHOLDS_DEFAULT;
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    backup_ctx ctx = {NULL};
    unsigned long threads;
    int c, rc = CLI_EXIT_USAGE, err;
    double t0;

    while ((c = cli_getopt(argc, argv, "", longopts, "backup")) != -1) {
        switch (c) {
        case OPT_SOURCE: opts.source = optarg; break;
        case OPT_TIME:
            if (cr_time_parse(&opts.time_ns, optarg) < 0) {
                rc = cli_usage_error("backup",
                                     "--time '%s' is not a date/time; use e.g. 2026-11-22 or "
                                     "2026-11-22T10:00:00Z",
                                     optarg);
                goto done;
            }
            break;
        case OPT_TAG:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--tag needs a non-empty value");
                goto done;
            }
            tags[ntags++] = optarg;
            break;
        case OPT_EXCLUDE:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--exclude needs a non-empty pattern");
                goto done;
            }
            excludes[nexcludes++] = optarg;
            excludes_given = 1;
            break;
        case OPT_FORCE:
            opts.force_read = 1;
            force_given = 1;
            break;
        case OPT_IMAGE:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--image needs a file or device");
                goto done;
            }
            images[nimages++] = optarg;
            break;
        case OPT_NO_FILES: no_files = 1; break;
        case OPT_ALLOW_BACKING: {
            struct stat st;
            if (!*optarg) {
                rc = cli_usage_error("backup", "--allow-backing needs a folder");
                goto done;
            }
            if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode)) {
                char *e = cli_escape(optarg);
                rc = cli_usage_error("backup", "--allow-backing %s: not a folder", e);
                free(e);
                goto done;
            }
            allow[nallow++] = optarg;
            break;
        }
        case OPT_NO_RANSOM: no_ransom = 1; break;
        case OPT_RANSOM_THRESHOLD:
            cr_error_clear();
            if (cr_ransom_thresholds_parse(&thresholds, optarg) < 0) {
                rc = cli_usage_error("backup", "%s", cr_error_last());
                goto done;
            }
            break;
        case OPT_ROOT:
            if (!*optarg) {
                rc = cli_usage_error("backup", "--root needs the folder that holds the "
                                               "system's etc/ (or Windows/)");
                goto done;
            }
            opts.root = optarg;
            break;
        case OPT_VM_CONFIG:
            vm_config = optarg;
            vm_given = 1;
            break;
        case OPT_VM_CPUS:
            if (cli_parse_uint(&threads, optarg, 1, 1024) < 0) {
                rc = cli_usage_error("backup", "--vm-cpus must be a number from 1 to 1024");
                goto done;
            }
            vmopt.cpus = (unsigned int)threads;
            vm_given = 1;
            break;
        case OPT_VM_MEMORY:
            if (cli_parse_memory_mib(&vmopt.memory_mib, optarg, 1, 1ull << 30) < 0) {
                rc = cli_usage_error("backup", "--vm-memory '%s' is not a memory size; give MiB "
                                               "(4096) or a size with a unit (4G, 512M)",
                                     optarg);
                goto done;
            }
            vm_given = 1;
            break;
        case OPT_VM_FIRMWARE:
            if (cr_firmware_parse(&vmopt.firmware, optarg) < 0) {
                rc = cli_usage_error("backup", "--vm-firmware must be bios or uefi");
                goto done;
            }
            vm_given = 1;
            break;
        case OPT_VM_DISK_BUS:
            if (!one_of(optarg, buses)) {
                rc = cli_usage_error("backup", "--vm-disk-bus must be virtio, scsi, sata or ide");
                goto done;
            }
            vmopt.disk_bus = optarg;
            vm_given = 1;
            break;
        case OPT_VM_NIC:
            if (!one_of(optarg, nics)) {
                rc = cli_usage_error("backup", "--vm-nic must be virtio, e1000, e1000e, vmxnet3 "
                                               "or rtl8139");
                goto done;
            }
            vmopt.nic_model = optarg;
            vm_given = 1;
            break;
        case OPT_VM_OS:
            if (!one_of(optarg, oses)) {
                rc = cli_usage_error("backup", "--vm-os must be linux, windows or other");
                goto done;
            }
            vmopt.os_type = optarg;
            vm_given = 1;
            break;
        case OPT_THREADS:
            if (cli_parse_uint(&threads, optarg, 1, 64) < 0) {
                rc = cli_usage_error("backup", "--threads must be a number from 1 to 64");
                goto done;
            }
            opts.threads = (int)threads;
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (!opts.source) {
        rc = cli_usage_error("backup", "--source NAME is required (the system this backup "
                                       "protects, e.g. --source dpi-server)");
        goto done;
    }
    if (!valid_source(opts.source)) {
        rc = cli_usage_error("backup", "--source must be a plain name (no '/', ':' or control "
                                       "characters, at most 200 bytes)");
        goto done;
    }
    if (nimages > 0) {
        if (optind < argc) {
            rc = cli_usage_error("backup", "--image and PATH cannot be used together: back up "
                                           "the disk images and the folders ('%s') in two "
                                           "commands",
                                 argv[optind]);
            goto done;
        }
        if (opts.root) {
            rc = cli_usage_error("backup", "--root applies to folders; the system volume of "
                                           "disk images is found by itself");
            goto done;
        }
        if (force_given || excludes_given) {
            rc = cli_usage_error("backup", "--force and --exclude apply to folders, not to "
                                           "--image");
            goto done;
        }
        goto image;
    }
    if (vm_given || no_files || nallow) {
        rc = cli_usage_error("backup", "--vm-* options, --no-files and --allow-backing need "
                                       "--image FILE");
        goto done;
    }
    if (optind >= argc) {
        rc = cli_usage_error("backup", "give at least one PATH to back up (or --image FILE)");
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (lstat(argv[i], &st) != 0) {
            char *e = cli_escape(argv[i]);
            cli_error("cannot back up %s: %s; nothing was saved", e, strerror(errno));
            if (errno == ENOENT)
                cli_hint("check the path (is the disk mounted?)");
            free(e);
            rc = errno == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
            goto done;
        }
    }

    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;

    opts.tags = tags;
    opts.ntags = ntags;
    opts.excludes = excludes;
    opts.nexcludes = nexcludes;
    ctx.progress = cli_progress_new("backup");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;
    if (!no_ransom && (watch = new_watch(&thresholds)))
        cr_ransom_watch_attach(watch, &opts);

    t0 = cli_now();
    cr_error_clear();
    err = cr_backup(&snap, repo, (const char *const *)(argv + optind), (size_t)(argc - optind),
                    &opts);
    progress_done(ctx.progress, err, snap);
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "backup failed");
        cli_hint("nothing of this run is visible in the vault; earlier snapshots are intact");
        goto done;
    }
    if (!snap) {
        cli_error("backup finished but returned no snapshot");
        rc = CLI_EXIT_ERROR;
        goto done;
    }

    if (cli_g.json) {
        cli_json_print(cli_snapshot_json(snap));
    } else {
        char sid[9], a[32], b[32], d[32];
        printf("snapshot %s saved\n", cli_short_id(sid, &snap->id));
        if (!cli_g.quiet) {
            printf("  files: %llu (%llu new, %llu changed, %llu unchanged), dirs: %llu",
                   (unsigned long long)snap->files, (unsigned long long)snap->files_new,
                   (unsigned long long)snap->files_changed,
                   (unsigned long long)snap->files_unchanged, (unsigned long long)snap->dirs);
            if (snap->others)
                printf(", other items: %llu", (unsigned long long)snap->others);
            printf("\n  size: %s, added to the vault: %s, time: %s\n",
                   cli_human_size(a, sizeof(a), snap->bytes),
                   cli_human_size(b, sizeof(b), snap->bytes_new),
                   cli_human_duration(d, sizeof(d), cli_now() - t0));
            if (snap->system_root) {
                char *r = cli_escape(snap->system_root);
                printf("  system root: %s\n", r);
                free(r);
            }
        }
    }
    if (err == CR_EPARTIAL || snap->errors) {
        char sid[9];
        cli_warn("%llu item(s) could not be read and are missing from snapshot %s (see the "
                 "warnings above)",
                 (unsigned long long)snap->errors, cli_short_id(sid, &snap->id));
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
    report_watch(watch, snap, opts.source, &rc);
    goto done;

image:
    if (vm_config) {
        cr_error_clear();
        if ((err = cr_vm_config_read(&vmcfg, vm_config)) < 0) {
            char *e = cli_escape(vm_config);
            char *m = cli_escape(cr_error_last());
            cli_error("cannot read the VM configuration %s: %s; nothing was saved", e, m);
            cli_hint("give a VMware .vmx file or a libvirt domain XML ('virsh dumpxml VM'), "
                     "or leave --vm-config out and give --vm-cpus, --vm-memory...");
            free(e);
            free(m);
            rc = cli_exit_code(err);
            goto done;
        }
        vm = *vmcfg; /* strings borrowed from vmcfg */
    }
    /* Explicit options override the configuration file. */
    if (vmopt.cpus)
        vm.cpus = vmopt.cpus;
    if (vmopt.memory_mib)
        vm.memory_mib = vmopt.memory_mib;
    if (vmopt.firmware)
        vm.firmware = vmopt.firmware;
    if (vmopt.disk_bus)
        vm.disk_bus = vmopt.disk_bus;
    if (vmopt.nic_model)
        vm.nic_model = vmopt.nic_model;
    if (vmopt.os_type)
        vm.os_type = vmopt.os_type;
    for (size_t i = 0; i < nimages; i++) {
        struct stat st;
        if (stat(images[i], &st) != 0) {
            char *e = cli_escape(images[i]);
            cli_error("cannot back up the disk image %s: %s; nothing was saved", e,
                      strerror(errno));
            if (errno == ENOENT)
                cli_hint("check the path (is the datastore or disk mounted?)");
            free(e);
            rc = errno == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
            goto done;
        }
    }
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;

    iopts.source = opts.source;
    iopts.time_ns = opts.time_ns;
    iopts.tags = tags;
    iopts.ntags = ntags;
    iopts.vm = &vm;
    iopts.no_files = no_files;
    iopts.threads = opts.threads;
    iopts.allow_backing = allow;
    iopts.nallow_backing = nallow;
    ctx.progress = cli_progress_new("backup");
    iopts.progress = on_progress;
    iopts.warning = on_warning;
    iopts.payload = &ctx;
    if (!no_ransom && !no_files && (watch = new_watch(&thresholds)))
        cr_ransom_watch_attach_image(watch, &iopts);

    t0 = cli_now();
    cr_error_clear();
    err = cr_backup_image(&snap, repo, images, nimages, &iopts);
    progress_done(ctx.progress, err, snap);
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "image backup failed");
        cli_hint("nothing of this run is visible in the vault; earlier snapshots are intact");
        goto done;
    }
    if (!snap) {
        cli_error("backup finished but returned no snapshot");
        rc = CLI_EXIT_ERROR;
        goto done;
    }
    if (cli_g.json) {
        cli_json_print(cli_snapshot_json(snap));
    } else {
        char sid[9];
        printf("snapshot %s saved (image, %zu disk%s)\n", cli_short_id(sid, &snap->id),
               snap->ndisks, snap->ndisks == 1 ? "" : "s");
        if (!cli_g.quiet)
            print_image_summary(snap, cli_now() - t0);
    }
    if (err == CR_EPARTIAL || snap->errors) {
        char sid[9];
        uint64_t dropped = 0;
        for (size_t i = 0; i < snap->ndisks; i++)
            dropped += snap->disks[i].dropped;
        if (dropped)
            cli_warn("%llu warning(s) above, among them data beyond the size a disk image's "
                     "header gives, left out of snapshot %s: check those images",
                     (unsigned long long)snap->errors, cli_short_id(sid, &snap->id));
        else
            cli_warn("%llu filesystem(s) or file(s) inside the disks could not be listed (see "
                     "the warnings above); the disks of snapshot %s are complete",
                     (unsigned long long)snap->errors, cli_short_id(sid, &snap->id));
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
    report_watch(watch, snap, opts.source, &rc);

done:
    cr_snapshot_free(snap);
    cr_ransom_watch_free(watch);
    cr_repo_free(repo);
    cli_progress_free(ctx.progress);
    cr_vm_info_free(vmcfg);
    free(tags);
    free(excludes);
    free(images);
    free(allow);
    return rc;
}
