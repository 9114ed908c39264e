/*
 * Private to the image module: the VM an export describes, and the writers of
 * each hypervisor's definition (vmexport.c). Apart from cr_vm_export so that
 * the unit tests can feed them hostile names without a vault.
 *
 * Every string of an im_vmdef is already cleaned (valid UTF-8, no control
 * characters); each writer still escapes for its own syntax (XML, PowerShell
 * single quotes, shell single quotes).
 */
#ifndef CR_IMAGE_VMEXPORT_H
#define CR_IMAGE_VMEXPORT_H

#include "image/image.h"

/** Where a setting of the exported VM came from (said in README.txt). */
typedef enum im_origin {
    IM_ORIGIN_DEFAULT = 0, /**< not recorded: the hypervisor's usual value */
    IM_ORIGIN_BACKUP = 1,  /**< recorded at backup */
    IM_ORIGIN_GIVEN = 2,   /**< given for this export (overrides) */
    IM_ORIGIN_CHANGED = 3, /**< recorded, but this hypervisor has no such thing: replaced */
} im_origin;

typedef struct im_vmdisk {
    char *disk;                     /**< the snapshot's disk name ("disk0"), cleaned */
    char *file;                     /**< file name in the export folder (safe characters only) */
    uint64_t virtual_size;          /**< bytes the guest sees */
    uint64_t file_size;             /**< bytes of the file written */
    char sha256[CR_ID_HEX_LEN + 1]; /**< of the file (VMware's manifest), or "" */
    int lost;                       /**< 1: some of its data could not be restored (zeros) */
} im_vmdisk;

typedef struct im_vmdef {
    cr_hypervisor hv;
    char *name;      /**< the VM's name, cleaned, no '/' or '\\', at most 64 bytes */
    char *file_base; /**< the name for file names: [A-Za-z0-9._-] only, at most 64 bytes */
    unsigned int cpus;
    uint64_t memory_mib;
    cr_firmware firmware; /**< BIOS or UEFI (never unknown) */
    const char *disk_bus; /**< for this hypervisor: virtio, scsi, sata, ide */
    const char
        *nic_model; /**< for this hypervisor: virtio, e1000, e1000e, vmxnet3, rtl8139, synthetic */
    const char *os_type; /**< linux, windows, other */
    im_origin o_cpus, o_memory, o_firmware, o_bus, o_nic, o_os;
    char *recorded_bus, *recorded_nic; /**< what was recorded, when replaced (cleaned) */
    char *source;                      /**< the snapshot's source, cleaned */
    char snapshot[CR_ID_HEX_LEN + 1];
    int64_t time_ns;
    char *out_dir; /**< absolute path of the export folder */
    im_vmdisk *disks;
    size_t ndisks;
} im_vmdef;

/**
 * Fill `d` for an export of `snap` (kind image) to opts->hypervisor: the
 * name, the settings with their origins, one im_vmdisk per disk with its file
 * name (sizes, hashes and out_dir are filled in later by the caller).
 */
int im_vmdef_init(im_vmdef *d, const cr_snapshot *snap, const cr_vm_export_options *opts);
void im_vmdef_clear(im_vmdef *d);

/** An untrusted name as text: valid UTF-8, control characters -> '_', at most max bytes. */
char *im_clean_text(const char *s, size_t max);
/** A name usable as a file name on Linux and Windows: [A-Za-z0-9._-], no leading dot, 1-64 bytes.
 */
char *im_file_name(const char *s);
/** A Proxmox VM name (a DNS name: letters, digits, '-', '.'), 1-63 bytes. */
char *im_proxmox_name(const char *s);

/* The text of each file (malloc'd, NUL-terminated). */
int im_write_libvirt(char **out, const im_vmdef *d);
int im_write_proxmox(char **out, const im_vmdef *d);
int im_write_ovf(char **out, const im_vmdef *d);
/** VMware's manifest: "SHA256(file)= hex" for the OVF text and each disk (sha256 set). */
int im_write_manifest(char **out, const im_vmdef *d, const char *ovf_file, const char *ovf_text);
int im_write_hyperv(char **out, const im_vmdef *d);
/** README.txt: what is there, where each setting came from, the commands to import and start. */
int im_write_readme(char **out, const im_vmdef *d, const char *def_file);

/** File names of the definition and README for d (e.g. "NAME.xml"). */
char *im_def_file(const im_vmdef *d);

#endif
