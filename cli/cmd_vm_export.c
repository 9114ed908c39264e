/*
 * cleanroom vm-export: an image snapshot as a virtual machine a hypervisor
 * can import and start (disks converted to its format, its definition, a
 * README with the exact commands).
 *
 * Putting a whole machine back is the riskiest restore of all, so the same
 * hunt gate as 'restore' comes first: a snapshot with a finding at or above
 * high is refused (exit 8) unless --accept-risk; nothing can be set aside
 * file by file inside a disk, so there is no --quarantine.
 */
#include "common.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom vm-export SNAPSHOT --hypervisor H --target DIR [--name NAME]\n"
    "                           [--vm-cpus N] [--vm-memory SIZE] [--vm-firmware F]\n"
    "                           [--threads N] [--accept-risk]\n"
    "\n"
    "Export SNAPSHOT (an image snapshot made with 'backup --image': an id, a unique\n"
    "prefix, 'latest' or 'SOURCE:latest') as a virtual machine for the hypervisor H,\n"
    "into the folder DIR (created; if it exists it must be empty):\n"
    "  kvm      NAME.xml (libvirt domain) + NAME-diskN.qcow2\n"
    "  proxmox  NAME.conf (qm settings) + NAME-diskN.qcow2\n"
    "  vmware   NAME.ovf + NAME.mf (SHA-256 manifest) + NAME-diskN.vmdk (streamOptimized)\n"
    "  hyperv   create-NAME.ps1 (PowerShell) + NAME-diskN.vhdx\n"
    "and README.txt with the exact commands to import and start it, and which settings\n"
    "were recorded at backup and which are defaults.\n"
    "\n"
    "The VM's settings come from what the backup recorded (--vm-* options of backup, or\n"
    "the .vmx / libvirt XML it read); what is not recorded gets defaults: 2 CPUs,\n"
    "2048 MiB, BIOS, the hypervisor's usual disk bus and network card (for Windows,\n"
    "ones its own drivers know). The options below replace recorded values.\n"
    "\n"
    "Hunt gate: as for 'restore': a snapshot never hunted is exported with a warning;\n"
    "one holding a finding at or above high is refused with exit 8 unless --accept-risk.\n"
    "\n"
    "Options:\n"
    "  --hypervisor H   required: kvm, proxmox, vmware or hyperv\n"
    "  --target DIR     required: the folder to write (new, or empty); --out DIR is\n"
    "                   the same (its older name)\n"
    "  --name NAME      the VM's name (default: the recorded one, else the source)\n"
    "  --vm-cpus N      virtual CPUs (1-512)\n"
    "  --vm-memory SIZE memory: MiB, or with a unit: 4G, 512M\n"
    "  --vm-firmware F  bios or uefi\n"
    "  --threads N      worker threads of the restore (default: number of cores)\n"
    "  --accept-risk    export a compromised snapshot anyway (with a loud warning)\n"
    "  --json           print {snapshot, hypervisor, target, out (= target), files:[...],\n"
    "                   seconds, hunted,\n"
    "                   flagged:[findings], accepted_risk, lost:[{path, message}]}\n"
    "\n"
    "Exit codes: 0 exported, 1 error (e.g. DIR not empty: nothing written), 2 usage\n"
    "(also: a file snapshot), 3 wrong passphrase, 4 damaged vault data, 5 exported but\n"
    "some data of a disk was lost (zeros there), 6 locked, 7 no vault or no such\n"
    "snapshot, 8 refused: the snapshot is compromised (nothing was written).\n";

typedef struct export_ctx {
    cli_progress *progress;
    json_t *lost; /* [{path, message}] */
} export_ctx;

static void on_progress(const cr_progress *p, void *payload)
{
    cli_progress_cb(p, ((export_ctx *)payload)->progress);
}

/* Warnings may come from the restore's worker threads. */
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_warning(const char *path, const char *message, void *payload)
{
    export_ctx *ctx = payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
    json_t *o = json_object();
    json_object_set_new(o, "path", cli_json_str(path));
    json_object_set_new(o, "message", cli_json_str(message));
    pthread_mutex_lock(&lost_lock);
    json_array_append_new(ctx->lost, o);
    pthread_mutex_unlock(&lost_lock);
}

/* A word for the hint lines, in single quotes when it holds anything unusual. */
static void print_word(FILE *f, const char *s)
{
    char *w = cli_shell_word(s);
    fputs(w, f);
    free(w);
}

/* The file in `files` whose name ends with `suffix`, or NULL. */
static const char *file_ending(char **files, const char *suffix)
{
    size_t n = strlen(suffix);
    for (char **p = files; p && *p; p++) {
        size_t l = strlen(*p);
        if (l >= n && !strcmp(*p + l - n, suffix))
            return *p;
    }
    return NULL;
}

/* The VM's name if it is plain (then the library used it unchanged), else NULL. */
static const char *plain_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.')
        return NULL;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
            return NULL;
    return name;
}

static void print_next(cr_hypervisor hv, char **files, const char *out, const char *name)
{
    const char *def;
    printf("next:\n");
    switch (hv) {
    case CR_HYPERVISOR_KVM:
        if ((def = file_ending(files, ".xml"))) {
            printf("  virsh define ");
            print_word(stdout, def);
            if (plain_name(name))
                printf("\n  virsh start %s\n", name);
            else
                printf("\n  virsh start NAME   (the VM's name, as README.txt writes it)\n");
        }
        break;
    case CR_HYPERVISOR_PROXMOX:
        printf("  copy ");
        print_word(stdout, out);
        printf(" to the Proxmox VE host and run the 'qm' commands of its README.txt\n");
        break;
    case CR_HYPERVISOR_VMWARE:
        if ((def = file_ending(files, ".ovf"))) {
            printf("  deploy ");
            print_word(stdout, def);
            printf(" (vSphere 'Deploy OVF Template', or: ovftool --datastore=DS FILE.ovf "
                   "vi://root@ESXI-HOST/)\n");
        }
        break;
    case CR_HYPERVISOR_HYPERV:
        if ((def = file_ending(files, ".ps1"))) {
            const char *base = strrchr(def, '/');
            printf("  copy ");
            print_word(stdout, out);
            printf(" to the Hyper-V host; there, in an elevated PowerShell in that folder:\n"
                   "  powershell -ExecutionPolicy Bypass -File .\\%s\n",
                   base ? base + 1 : def);
        }
        break;
    }
    printf("  (details: README.txt in the folder)\n");
}

int cmd_vm_export(int argc, char **argv)
{
    enum {
        OPT_HYPERVISOR = CLI_OPT_FIRST_CMD,
        OPT_OUT,
        OPT_NAME,
        OPT_CPUS,
        OPT_MEMORY,
        OPT_FIRMWARE,
        OPT_THREADS,
        OPT_ACCEPT_RISK,
    };
    static const struct option longopts[] = {
        {"hypervisor", required_argument, NULL, OPT_HYPERVISOR},
        {"target", required_argument, NULL, OPT_OUT},
        {"out", required_argument, NULL, OPT_OUT}, /* its older name */
        {"name", required_argument, NULL, OPT_NAME},
        {"vm-cpus", required_argument, NULL, OPT_CPUS},
        {"vm-memory", required_argument, NULL, OPT_MEMORY},
        {"vm-firmware", required_argument, NULL, OPT_FIRMWARE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"accept-risk", no_argument, NULL, OPT_ACCEPT_RISK},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_vm_export_options opts = CR_VM_EXPORT_OPTIONS_INIT;
    cr_vm_info ov;
    export_ctx ctx = {NULL, NULL};
    cr_repo *repo = NULL;
    cr_snapshot *snap = NULL;
    json_t *flagged = NULL;
    char **files = NULL;
    const char *hv_arg = NULL;
    unsigned long v;
    int c, rc = CLI_EXIT_USAGE, err, accept_risk = 0, hunted = 0, have_ov = 0;
    double t0, secs;

    memset(&ov, 0, sizeof(ov));
    while ((c = cli_getopt(argc, argv, "", longopts, "vm-export")) != -1) {
        switch (c) {
        case OPT_HYPERVISOR:
            hv_arg = optarg;
            break;
        case OPT_OUT:
            opts.out_dir = optarg;
            break;
        case OPT_NAME:
            if (!*optarg) {
                rc = cli_usage_error("vm-export", "--name needs a name for the VM");
                goto done;
            }
            opts.name = optarg;
            break;
        case OPT_CPUS:
            if (cli_parse_uint(&v, optarg, 1, 512) < 0) {
                rc = cli_usage_error("vm-export", "--vm-cpus must be a number from 1 to 512");
                goto done;
            }
            ov.cpus = (unsigned int)v;
            have_ov = 1;
            break;
        case OPT_MEMORY:
            if (cli_parse_memory_mib(&ov.memory_mib, optarg, 16, 16ull << 20) < 0) {
                char *e = cli_escape(optarg);
                rc = cli_usage_error("vm-export",
                                     "--vm-memory '%s' is not a memory size; give "
                                     "MiB (4096) or a size with a unit (4G, 512M), "
                                     "at least 16 MiB",
                                     e);
                free(e);
                goto done;
            }
            have_ov = 1;
            break;
        case OPT_FIRMWARE:
            if (cr_firmware_parse(&ov.firmware, optarg) < 0) {
                rc = cli_usage_error("vm-export", "--vm-firmware must be bios or uefi");
                goto done;
            }
            have_ov = 1;
            break;
        case OPT_THREADS:
            if (cli_parse_uint(&v, optarg, 1, 1024) < 0) {
                rc = cli_usage_error("vm-export", "--threads must be a number from 1 to 1024");
                goto done;
            }
            opts.threads = (int)v;
            break;
        case OPT_ACCEPT_RISK:
            accept_risk = 1;
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default:
            goto done;
        }
    }
    if (argc - optind != 1) {
        rc = argc - optind < 1
                 ? cli_usage_error("vm-export", "give the SNAPSHOT to export (see 'cleanroom "
                                                "snapshots')")
                 : cli_unexpected_argument("vm-export", argv[optind + 1],
                                           "give exactly one SNAPSHOT");
        goto done;
    }
    if (!hv_arg) {
        rc = cli_usage_error("vm-export", "--hypervisor is required: kvm, proxmox, vmware or "
                                          "hyperv");
        goto done;
    }
    if (cr_hypervisor_parse(&opts.hypervisor, hv_arg) < 0) {
        char *e = cli_escape(hv_arg);
        rc = cli_usage_error("vm-export",
                             "unknown hypervisor '%s': use kvm, proxmox, vmware or "
                             "hyperv",
                             e);
        free(e);
        goto done;
    }
    if (!opts.out_dir || !*opts.out_dir) {
        rc = cli_usage_error("vm-export", "--target DIR is required (a new or empty folder)");
        goto done;
    }
    if (have_ov)
        opts.overrides = &ov;

    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    if ((rc = cli_find_snapshot(&snap, repo, argv[optind])) != 0)
        goto done;
    if (snap->kind != CR_SNAPSHOT_IMAGE) {
        char sid[9];
        cli_error("snapshot %s is a file snapshot: only snapshots of disk images ('backup "
                  "--image') can be exported as a VM; restore its files with 'cleanroom restore "
                  "%s --target DIR'",
                  cli_short_id(sid, &snap->id), sid);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    {
        char *o = cli_escape(opts.out_dir), *redo = cli_xmalloc(strlen(o) + 64);
        sprintf(redo, "--hypervisor %s --target %s", cr_hypervisor_name(opts.hypervisor), o);
        rc = cli_hunt_gate(&hunted, &flagged, repo, snap, accept_risk, "vm-export", redo);
        free(redo);
        free(o);
        if (rc != 0)
            goto done;
    }

    ctx.lost = json_array();
    ctx.progress = cli_progress_new("export");
    opts.progress = on_progress;
    opts.warning = on_warning;
    opts.payload = &ctx;
    t0 = cli_now();
    cr_error_clear();
    err = cr_vm_export(&files, repo, snap, &opts);
    {
        char hex[CR_ID_HEX_LEN + 1];
        size_t nf = 0;
        for (char **p = files; p && *p; p++)
            nf++;
        cli_total t[] = {{"files", nf}};
        cli_progress_done(ctx.progress, err, cr_id_to_hex(hex, &snap->id), t, 1);
    }
    cli_progress_free(ctx.progress);
    ctx.progress = NULL;
    secs = cli_now() - t0;
    if (err < 0 && err != CR_EPARTIAL) {
        rc = cli_fail(err, "vm export failed");
        if (err == CR_EEXISTS)
            cli_hint("nothing was written; give --target a new or empty folder");
        goto done;
    }

    if (cli_g.json) {
        char hex[CR_ID_HEX_LEN + 1];
        json_t *o = json_object(), *a = json_array();
        for (char **p = files; p && *p; p++)
            json_array_append_new(a, cli_json_str(*p));
        json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &snap->id)));
        json_object_set_new(o, "hypervisor", json_string(cr_hypervisor_name(opts.hypervisor)));
        json_object_set_new(o, "target", cli_json_str(opts.out_dir));
        json_object_set_new(o, "out", cli_json_str(opts.out_dir));
        json_object_set_new(o, "files", a);
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "hunted", json_boolean(hunted));
        json_object_set_new(o, "flagged", flagged ? json_incref(flagged) : json_array());
        json_object_set_new(o, "accepted_risk",
                            json_boolean(accept_risk && flagged && json_array_size(flagged) > 0));
        json_object_set_new(o, "lost", json_incref(ctx.lost));
        cli_json_print(o);
    } else {
        char sid[9], d[32];
        char *out = cli_escape(opts.out_dir);
        printf("exported snapshot %s as a %s VM into %s in %s:\n", cli_short_id(sid, &snap->id),
               cr_hypervisor_name(opts.hypervisor), out, cli_human_duration(d, sizeof(d), secs));
        free(out);
        for (char **p = files; p && *p; p++) {
            char *e = cli_escape(*p);
            printf("  %s\n", e);
            free(e);
        }
        print_next(opts.hypervisor, files, opts.out_dir,
                   opts.name                                       ? opts.name
                   : snap->vm && snap->vm->name && *snap->vm->name ? snap->vm->name
                                                                   : snap->source);
    }
    if (err == CR_EPARTIAL) {
        cli_warn("some data of the disks could not be restored (zeros there): see the warnings "
                 "above");
        cli_hint("run 'cleanroom verify --read-data' to see the damage; an older snapshot may "
                 "still hold the lost data");
        rc = CLI_EXIT_PARTIAL;
    } else {
        rc = CLI_EXIT_OK;
    }
done:
    cr_strv_free(files);
    json_decref(flagged);
    json_decref(ctx.lost);
    cli_progress_free(ctx.progress);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    return rc;
}
