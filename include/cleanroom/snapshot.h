/*
 * cleanroom: snapshots (restore points).
 */
#ifndef CLEANROOM_SNAPSHOT_H
#define CLEANROOM_SNAPSHOT_H

#include "common.h"
#include "repo.h"
#include "tree.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ image snapshots */

/** Kind of a restore point. */
typedef enum cr_snapshot_kind {
    CR_SNAPSHOT_FILES = 0, /**< a file tree (paths of a server) */
    CR_SNAPSHOT_IMAGE = 1, /**< disk images of a virtual machine (see image.h) */
} cr_snapshot_kind;

/** Disk image formats (read at backup, written at restore). */
typedef enum cr_image_format {
    CR_IMAGE_AUTO = 0,        /**< backup: detect from the file's content */
    CR_IMAGE_RAW = 1,         /**< raw disk (sparse file or block device) */
    CR_IMAGE_QCOW2 = 2,       /**< QEMU copy-on-write v2/v3 (v1 read too) */
    CR_IMAGE_VMDK = 3,        /**< VMware: streamOptimized when written (import) */
    CR_IMAGE_VMDK_FLAT = 4,   /**< VMware monolithicFlat: descriptor + -flat extent */
    CR_IMAGE_VHDX = 5,        /**< Hyper-V VHDX */
    CR_IMAGE_VHD = 6,         /**< Virtual PC / Hyper-V / Azure VHD */
} cr_image_format;

/** Firmware a virtual machine boots with. */
typedef enum cr_firmware {
    CR_FIRMWARE_UNKNOWN = 0,
    CR_FIRMWARE_BIOS = 1,
    CR_FIRMWARE_UEFI = 2,
} cr_firmware;

/** What a VM needs to start, recorded at backup time. Strings may be NULL (unknown). */
typedef struct cr_vm_info {
    char *name;           /**< the VM's name (default: the snapshot's source) */
    unsigned int cpus;    /**< virtual CPUs, 0 = unknown */
    uint64_t memory_mib;  /**< memory in MiB, 0 = unknown */
    cr_firmware firmware;
    char *disk_bus;       /**< "virtio", "scsi", "sata" or "ide" */
    char *nic_model;      /**< "virtio", "e1000", "e1000e", "vmxnet3", "rtl8139" */
    char *os_type;        /**< "linux", "windows" or "other" */
    char *config_from;    /**< the .vmx / libvirt XML it was read from, if any */
} cr_vm_info;

/** A filesystem found in a disk image (a partition, or the whole disk). */
typedef struct cr_image_volume {
    char *name;           /**< folder in the snapshot: "p1", "p2"... or "fs" (no partition table) */
    uint64_t start;       /**< byte offset in the disk */
    uint64_t length;      /**< bytes */
    char *fs_type;        /**< "ext4", "ntfs", "fat32", "xfs"...; NULL when none was recognised */
    char *label;          /**< partition or filesystem label, or NULL */
    uint64_t files;       /**< files listed in the snapshot's tree */
    char *error;          /**< why its files could not be read, or NULL */
} cr_image_volume;

/** A file read under a disk: a qcow2 backing file, a VMDK or differencing VHD/VHDX parent. */
typedef struct cr_image_backing {
    char *path;           /**< the file read (its real path for qcow2) */
    cr_image_format format;
} cr_image_backing;

/** One disk of an image snapshot. */
typedef struct cr_image_disk {
    char *name;           /**< folder in the snapshot: "disk0", "disk1"... */
    char *source_path;    /**< the image file or device as given to backup */
    cr_image_format source_format;
    uint64_t virtual_size; /**< bytes the guest sees */
    uint64_t stored;      /**< bytes of the disk stored as data (the rest are holes) */
    char *partition_table; /**< "gpt", "dos" (MBR), or NULL */
    cr_image_volume *volumes;
    size_t nvolumes;
    /** The chain under the image, nearest first (its backing file, that one's...); NULL / 0
     *  for a disk without one, and in snapshots written before chains were recorded. */
    cr_image_backing *backing;
    size_t nbacking;
    /** Bytes of data the tables of the image (or of a file of its chain) map beyond the size
     *  their header gives: not stored, since the snapshot keeps the size the header claims
     *  (0: none). */
    uint64_t dropped;
} cr_image_disk;

/** A restore point of one source. */
typedef struct cr_snapshot {
    cr_id id;               /**< SHA-256 of the stored snapshot file */
    char *source;           /**< the system it protects, e.g. "dpi-server" */
    int64_t time_ns;        /**< time of the restore point, ns since epoch (UTC) */
    char *hostname;
    char *username;
    char **paths;           /**< absolute paths backed up */
    size_t npaths;
    char **tags;
    size_t ntags;
    char **excludes;
    size_t nexcludes;
    cr_id tree;             /**< root tree */
    int has_parent;
    cr_id parent;           /**< previous snapshot of the source used for change detection */
    uint64_t files, dirs, others; /**< node counts */
    uint64_t bytes;         /**< total size of regular files */
    uint64_t bytes_new;     /**< bytes of blobs that were new in the vault (stored size) */
    uint64_t files_new, files_changed, files_unchanged;
    uint64_t errors;        /**< items that could not be read during backup */
    double duration;        /**< seconds the backup took */
    char *program_version;
    /* Image snapshots (kind CR_SNAPSHOT_IMAGE). The tree then holds, per disk,
     * a folder "diskN" with a file "image" (the disk's bytes, size = virtual
     * size, 4 MiB extents, holes for unallocated or zero ranges) and one folder
     * per filesystem read in it ("p1", "p2", or "fs"). */
    cr_snapshot_kind kind;
    cr_vm_info *vm;           /**< NULL for file snapshots */
    cr_image_disk *disks;
    size_t ndisks;
    /**
     * The folder of the snapshot that holds the operating system ("/disk0/p2"
     * for an image), or NULL: the hunt judges paths relative to it. For file
     * snapshots NULL means "the single backed-up path, or /".
     */
    char *system_root;
} cr_snapshot;

/** Free a snapshot and everything it owns (VM description, disks). Accepts NULL. */
void cr_snapshot_free(cr_snapshot *snap);
/** Free a VM description and what it owns. Accepts NULL. (Also declared in image.h.) */
void cr_vm_info_free(cr_vm_info *vm);
void cr_snapshot_list_free(cr_snapshot **list, size_t count);

/**
 * Load every snapshot of the vault, oldest first (by time, then id).
 * @param source if not NULL, only snapshots of this source.
 */
int cr_snapshot_list(cr_snapshot ***out, size_t *count, cr_repo *repo, const char *source);

/**
 * Like cr_snapshot_list, and also name the snapshot files that could not be
 * read (damaged, or of an unknown format version), so that a listing can warn
 * that a restore point is missing instead of hiding it.
 * @param[out] damaged ids of unreadable snapshot files, freed with free() (NULL if none)
 * @param[out] ndamaged their number
 */
int cr_snapshot_list_checked(cr_snapshot ***out, size_t *count, cr_id **damaged,
                             size_t *ndamaged, cr_repo *repo, const char *source);

/**
 * Resolve a snapshot spec: a full id, a unique id prefix (>= 4 hex digits),
 * "latest" or "SOURCE:latest".
 * @return 0, CR_ENOTFOUND, CR_EAMBIGUOUS or an error.
 */
int cr_snapshot_find(cr_snapshot **out, cr_repo *repo, const char *spec);

/** Load a tree blob by id. @param[out] out freed with cr_tree_free(). */
int cr_tree_load(cr_tree **out, cr_repo *repo, const cr_id *id);

/**
 * Look up a path inside a snapshot ("/" or "" for the root). Components are
 * separated by "/".
 * @param[out] out a copy of the node (clear with cr_node_clear); for the root, a
 *             directory node with the root tree as subtree.
 */
int cr_snapshot_lookup(cr_node *out, cr_repo *repo, const cr_snapshot *snap, const char *path);

/** Callback of cr_snapshot_walk: path is "/a/b" relative to the snapshot root. Return non-zero to stop. */
typedef int (*cr_walk_cb)(const char *path, const cr_node *node, void *payload);

/**
 * Walk the tree under `path` of a snapshot depth first, in name order.
 * @param recursive 0 lists only the direct children of a directory.
 */
int cr_snapshot_walk(cr_repo *repo, const cr_snapshot *snap, const char *path, int recursive,
                     cr_walk_cb cb, void *payload);

#ifdef __cplusplus
}
#endif
#endif
