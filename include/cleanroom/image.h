/*
 * cleanroom: disk images — back up the disks of a virtual machine, restore
 * them into any hypervisor's format, and export a VM definition beside them.
 *
 * An image snapshot (cr_snapshot.kind == CR_SNAPSHOT_IMAGE) stores each disk
 * as 4 MiB fixed chunks (unallocated and all-zero chunks are holes), so that
 * VMs cloned from one template, and the days of one VM, share their chunks.
 * The filesystems inside the disks (ext2/3/4, XFS, FAT, NTFS, on MBR or GPT)
 * are read with The Sleuth Kit at backup time and listed in the snapshot's
 * tree as ordinary folders whose files point into the disk's chunks (no data
 * stored twice): `ls`, file-level restore and the hunt work on them unchanged.
 * The types recorded in the snapshot are in snapshot.h.
 */
#ifndef CLEANROOM_IMAGE_H
#define CLEANROOM_IMAGE_H

#include "common.h"
#include "ops.h"
#include "repo.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the fixed chunks an image is stored in. */
#define CR_IMAGE_CHUNK (4u * 1024 * 1024)

/** "raw", "qcow2", "vmdk", "vmdk-flat", "vhdx", "vhd" ("auto" for CR_IMAGE_AUTO). */
const char *cr_image_format_name(cr_image_format f);
/** Parse a format name (also "vpc" = vhd, "vmdk-stream" = vmdk). @return 0 or CR_EINPUT. */
int cr_image_format_parse(cr_image_format *out, const char *name);

/** "bios", "uefi" or "unknown". */
const char *cr_firmware_name(cr_firmware f);
/** Parse "bios" / "uefi" (also "efi", "ovmf", "seabios"). @return 0 or CR_EINPUT. */
int cr_firmware_parse(cr_firmware *out, const char *name);

/** Free a VM description and what it owns. Accepts NULL. */
void cr_vm_info_free(cr_vm_info *vm);

/**
 * Read what a VM needs (CPUs, memory, firmware, disk bus, NIC, OS type, name)
 * from a hypervisor's own definition: a VMware .vmx, or a libvirt domain XML
 * (`virsh dumpxml`). The kind is recognised from the content.
 * @param[out] out freed with cr_vm_info_free().
 * @return 0, CR_ENOTFOUND, or CR_EINPUT (not a .vmx or domain XML, with the line).
 */
int cr_vm_config_read(cr_vm_info **out, const char *path);

/* ---------------------------------------------------------------- backup */

#define CR_IMAGE_BACKUP_OPTIONS_VERSION 3
/** The block a file's first bytes are judged on by cr_image_backup_options.block_random. */
#define CR_IMAGE_HEAD_BLOCK 4096u
typedef struct cr_image_backup_options {
    unsigned int version;
    const char *source;      /**< required: the system the snapshot protects */
    int64_t time_ns;         /**< time of the restore point; 0 = now */
    const char *const *tags; size_t ntags;
    const cr_vm_info *vm;    /**< what the VM needs to start (copied), or NULL */
    int no_files;            /**< 1: do not read the filesystems inside (disks only) */
    int threads;             /**< as for cr_backup */
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
    /** Version 2: folders a qcow2 backing file may also be read from (and their
     *  subfolders), besides the image's own folder: e.g. /var/lib/libvirt/images for a
     *  libvirt chain. A backing file named outside them is refused (CR_EINPUT). */
    const char *const *allow_backing; size_t nallow_backing;
    /**
     * Version 3: what the ransomware watch sees of the files inside the disks, at no
     * extra read (cr_ransom_watch_attach_image). With a parent image snapshot of the
     * disk, each chunk that differs from the parent's chunk at the same place is cut,
     * while the chunk pass holds it anyway, into CR_IMAGE_HEAD_BLOCK blocks, and
     * block_random says of each whether it would be a near-random head of a file
     * (called from the backup's threads at once). Then each file of the filesystems
     * added or changed (size or modification time) since the parent snapshot is
     * reported to file_seen with its path (/diskN/VOLUME/...) and whether the block
     * holding its first byte was judged near-random (0 when that block did not change,
     * or the file's data is not a range of the disk). tags_before_save as for
     * cr_backup. Any may be NULL; without a parent nothing is judged or reported.
     */
    int (*block_random)(const uint8_t *block, size_t len, void *read_payload);
    void (*file_seen)(const char *path, int is_new, uint64_t size, int head_random,
                      void *read_payload);
    const char *const *(*tags_before_save)(const cr_snapshot *snap, uint64_t parent_files,
                                           void *read_payload);
    void *read_payload;
} cr_image_backup_options;
#define CR_IMAGE_BACKUP_OPTIONS_INIT {CR_IMAGE_BACKUP_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL}

/**
 * Back up disk images (raw files, block devices, qcow2, VMDK, VHD, VHDX;
 * the format is recognised from the content; backing files of qcow2 overlays
 * (from the image's folder or opts->allow_backing only) and the extent files
 * of a VMDK descriptor are read too) as one new image snapshot of
 * opts->source. The disks are "disk0", "disk1"... in the order given; each
 * records the chain of files read under it (cr_image_disk.backing). Chunks
 * already in the vault (the same VM yesterday, a VM cloned from the same
 * template) are hashed only, never compressed, encrypted or written again. A
 * filesystem that cannot be read is reported through opts->warning and
 * recorded in its volume's `error`; the disk itself is still complete. Data
 * an image's tables map beyond the size its header gives is reported through
 * opts->warning and counted in cr_image_disk.dropped (the header's size is
 * kept).
 * @return 0; CR_EPARTIAL if the snapshot was written but some filesystem or
 *         file could not be listed, or data beyond a header's size was left
 *         out; CR_ENOTFOUND (no such image); CR_EINPUT (not a disk image this
 *         program reads, a damaged header, a size of 0 with data mapped, a
 *         backing file outside the allowed folders: the message says which and
 *         where); an error.
 */
int cr_backup_image(cr_snapshot **out, cr_repo *repo, const char *const *images, size_t nimages,
                    const cr_image_backup_options *opts);

/* --------------------------------------------------------------- restore */

#define CR_IMAGE_RESTORE_OPTIONS_VERSION 1
typedef struct cr_image_restore_options {
    unsigned int version;
    const char *output;      /**< required: the image file to create (must not exist) */
    cr_image_format format;  /**< CR_IMAGE_AUTO = raw */
    const char *disk;        /**< "disk0"...; NULL = the only disk (CR_EINPUT if several) */
    const char *scratch;     /**< folder for the raw staging copy of a converted disk
                                  (default: the output's folder); holes stay holes */
    int threads;
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
} cr_image_restore_options;
#define CR_IMAGE_RESTORE_OPTIONS_INIT {CR_IMAGE_RESTORE_OPTIONS_VERSION, NULL, CR_IMAGE_AUTO, NULL, NULL, 0, NULL, NULL, NULL}

/**
 * Restore one disk of an image snapshot into an image file of the given
 * format, sparse. Raw is written directly; the other formats are written by
 * qemu-img from a raw staging copy that is removed afterwards. The output
 * appears only when complete (written under a temporary name, then renamed).
 * @return 0; CR_EPARTIAL if some data was lost (damaged vault: zeros there,
 *         reported through opts->warning); CR_EEXISTS (output exists);
 *         CR_EINPUT (not an image snapshot, unknown disk, ...); an error.
 */
int cr_restore_image(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
                     const cr_image_restore_options *opts);

/* ------------------------------------------------------------- vm export */

typedef enum cr_hypervisor {
    CR_HYPERVISOR_KVM = 1,     /**< libvirt domain XML + qcow2 */
    CR_HYPERVISOR_PROXMOX = 2, /**< qm config + qcow2 + import commands */
    CR_HYPERVISOR_VMWARE = 3,  /**< OVF + streamOptimized VMDK + manifest */
    CR_HYPERVISOR_HYPERV = 4,  /**< PowerShell creation script + VHDX */
} cr_hypervisor;

/** "kvm", "proxmox", "vmware", "hyperv". */
const char *cr_hypervisor_name(cr_hypervisor h);
/** Parse a hypervisor name (also "libvirt", "qemu", "esxi", "hyper-v"). @return 0 or CR_EINPUT. */
int cr_hypervisor_parse(cr_hypervisor *out, const char *name);

#define CR_VM_EXPORT_OPTIONS_VERSION 1
typedef struct cr_vm_export_options {
    unsigned int version;
    cr_hypervisor hypervisor; /**< required */
    const char *out_dir;      /**< required: created; must be empty if it exists */
    const char *name;         /**< VM name; NULL = the recorded one, else the source */
    const cr_vm_info *overrides; /**< non-zero / non-NULL fields replace the recorded ones, or NULL */
    int threads;
    cr_progress_cb progress; cr_warning_cb warning; void *payload;
} cr_vm_export_options;
#define CR_VM_EXPORT_OPTIONS_INIT {CR_VM_EXPORT_OPTIONS_VERSION, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL}

/**
 * Export an image snapshot as a VM the hypervisor can start: every disk
 * converted to its format, its definition (from the VM information recorded
 * at backup, with defaults for what is unknown: 2 CPUs, 2048 MiB, BIOS,
 * virtio or the hypervisor's usual bus), and a README.txt with the exact
 * commands to import and start it.
 * @param[out] files paths of the files written, NULL-terminated, freed with
 *             cr_strv_free() (may be NULL if not wanted).
 * @return 0; CR_EPARTIAL (some data lost, see cr_restore_image); CR_EINPUT; an error.
 */
int cr_vm_export(char ***files, cr_repo *repo, const cr_snapshot *snap,
                 const cr_vm_export_options *opts);

/** Free a NULL-terminated array of strings (accepts NULL). */
void cr_strv_free(char **v);

#ifdef __cplusplus
}
#endif
#endif
