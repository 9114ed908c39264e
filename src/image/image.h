/*
 * Private interfaces of the image module (src/image/). The public side is
 * include/cleanroom/image.h; the bytes stored are described in docs/format.md
 * (§9 extents with a blob offset, §11 image snapshots).
 *
 *   disk.c      im_disk: read a disk image of any supported format as a flat
 *               array of bytes (raw files and block devices directly; qcow2
 *               with libqcow, VMDK with libvmdk, VHD/VHDX with libvhdi),
 *               after our own sanity checks of the headers.
 *   fs.c        read the partition table and the filesystems of a disk with
 *               libtsk, and turn them into vault trees whose files point into
 *               the disk's stored chunks.
 *   vmconf.c    cr_vm_config_read: .vmx and libvirt XML; names of formats,
 *               firmwares, hypervisors.
 *   backup.c    cr_backup_image.
 *   restore.c   cr_restore_image (raw directly, other formats via qemu-img).
 *   vmexport.c  cr_vm_export: libvirt XML, Proxmox qm config, OVF, Hyper-V script.
 *
 * Layers: image depends on vault and util (it may use vault/vault.h); hunt and
 * vault do not know image.
 */
#ifndef CR_IMAGE_PRIV_H
#define CR_IMAGE_PRIV_H

#include "cleanroom/cleanroom.h"
#include "cleanroom/image.h"
#include "util/util.h"
#include "vault/vault.h"

/* ================================================================= disk.c */

/** An open disk image, read as the guest sees it. Not thread-safe: one reader at a time. */
typedef struct im_disk im_disk;

/**
 * Open a disk image read-only and recognise its format from its content
 * (never from its name): qcow (QFI\xfb), VMDK sparse (KDMV) or descriptor
 * ("# Disk DescriptorFile"), VHDX ("vhdxfile"), VHD ("conectix" footer, or
 * its copy at 0 when the end is gone), anything else raw. A qcow2 backing
 * file (it must be qcow2) is read only from the image's folder (or below it):
 * its name, relative or absolute, is resolved as text first, and a name that
 * lies outside is CR_EINPUT with one message whether or not the file exists;
 * its real path (symlinks followed) must lie inside too. A VMDK's extent and
 * parent files and a differencing VHD/VHDX's parent are looked for inside the
 * image's folder only (by relative name, else by file name). A missing one is
 * CR_ENOTFOUND naming it. Headers and tables are checked before the
 * library sees them (a table that points past the end of the file, a size
 * beyond 64 TiB, a bad region table, an encrypted image, a size of 0 with
 * data mapped...): CR_EINPUT with a message naming the image, the format and
 * what is wrong. A FIFO or other special file is CR_EINPUT (never waited on).
 * docs/design.md lists the checks.
 * @param expect CR_IMAGE_AUTO, or the format the caller insists on (CR_EINPUT
 *        if different; VMDK and VMDK_FLAT are both "a VMDK").
 * @return 0, CR_ENOTFOUND, CR_EINPUT, or CR_ERROR (cannot read the file).
 */
int im_open(im_disk **out, const char *path, cr_image_format expect);
/**
 * im_open, where qcow2 backing files may also lie in (or below) the folders
 * `allow_backing` (the operator's --allow-backing, e.g. a libvirt pool).
 * The array is used during the call only.
 */
int im_open_allow(im_disk **out, const char *path, cr_image_format expect,
                  const char *const *allow_backing, size_t nallow);
/**
 * im_open_allow of a file already open (fd is taken over, even on failure):
 * a block device the parent opened for a sandbox child. `path` names it in
 * messages; devsize, when not 0, is its size (the child may not ask it).
 */
int im_open_fd(im_disk **out, int fd, const char *path, uint64_t devsize,
               const char *const *allow_backing, size_t nallow);
void im_close(im_disk *d); /* accepts NULL */

/** p made absolute (relative to the working folder) and lexical (cr_path_lexical); NULL: no memory. */
char *im_abs_lexical(const char *p);

/** The backing file (qcow2), parent disk (VMDK, differencing VHD/VHDX) read under d, or NULL. */
const im_disk *im_parent(const im_disk *d);

/**
 * Bytes of data that d's own tables map at or beyond the virtual size its
 * header gives (0 for most images): L2 tables or grains past the size (qcow2,
 * VMDK), block table entries past it (VHD, VHDX). They cannot be read through
 * the disk and are not stored: the size the header gives is kept. A size of 0
 * with data mapped is refused by im_open. Raw files and fixed disks have no
 * tables: always 0.
 */
uint64_t im_dropped(const im_disk *d);

cr_image_format im_format(const im_disk *d);
/** Virtual size in bytes (what the guest sees). */
uint64_t im_size(const im_disk *d);
/** The path as given to im_open (borrowed). */
const char *im_path(const im_disk *d);

/**
 * Read exactly `len` bytes at `off`. Unallocated ranges read as zeros.
 * @return 0; CR_EINPUT if off + len > im_size; CR_ECORRUPT with a message
 *         naming the image and the first failing offset when the data is not
 *         in the file (truncated image, damaged table: never zeros or
 *         garbage instead); CR_ERROR (I/O error).
 */
int im_read(im_disk *d, uint64_t off, void *buf, size_t len);

/**
 * Allocation hint: *out = the first offset >= off that may hold data
 * (im_size if none; [off, *out) reads as zeros). Raw files and fixed VHDs
 * use SEEK_DATA, qcow2 its cluster map (through backing files), VMDK its
 * grain directories and tables (through parents; SEEK_DATA in flat extents),
 * dynamic VHD and VHDX their block tables; block devices return off itself
 * (every range "may" hold data; zero chunks are then found by looking at them).
 */
int im_next_data(im_disk *d, uint64_t off, uint64_t *out);

/* =================================================================== fs.c */

/**
 * Where the bytes of a disk are stored: chunk i covers [i*CR_IMAGE_CHUNK,
 * (i+1)*CR_IMAGE_CHUNK) (the last one may be shorter); present[i] == 0 means
 * a hole (zeros), else ids[i] is the stored blob of the chunk.
 */
typedef struct im_chunkmap {
    uint64_t size;
    size_t n;
    cr_id *ids;
    uint8_t *present;
} im_chunkmap;

/** A filesystem read from a disk (fills a cr_image_volume of the snapshot). */
typedef struct im_fsresult {
    cr_image_volume vol;  /**< name, start, length, fs_type, label, files, error */
    int has_tree;         /**< 1 if `tree` is the root folder of its files */
    cr_id tree;
    cr_node root;         /**< metadata of the filesystem's root folder (name = vol.name) */
    uint64_t dirs, others, bytes; /**< folders below the root, other nodes, bytes of files */
    uint64_t errors;      /**< entries left out because they could not be read (warned) */
    int is_system;        /**< 1 if it looks like an OS root (etc/ + usr/ or bin/, or Windows/System32) */
    int reused;           /**< in the sandbox child: st->reuse said the parent keeps its own result */
} im_fsresult;

void im_fsresult_clear(im_fsresult *r);

/**
 * Number of filesystems walked by im_fs_read for this process, in it or in
 * its sandbox children (for tests of the reuse path).
 */
uint64_t im_fs_walk_count(void);
/** Count walks a sandbox child made (a volume it opened and listed). */
void im_fs_walk_note(uint64_t n);

/**
 * Where fs.c stores what is not a plain range of the disk (NTFS resident or
 * compressed data, ext4 inline data, ...) and saves the trees it builds.
 */
typedef struct im_store {
    cr_repo *repo;
    cr_packer *packer; /**< owned by the caller, flushed by the caller */
    cr_index *idx;
    uint64_t bytes_new; /**< stored bytes added (updated by fs.c) */
    /*
     * In the parser sandbox's child, which holds no vault, these replace the
     * vault (sbx.c asks the parent, which checks and stores): a data blob, a
     * folder's tree, and whether a volume keeps the parent snapshot's tree
     * (1: the parent keeps its own result; r is left empty). NULL: the vault above.
     */
    int (*put_blob)(void *ud, const void *data, size_t len, cr_id *out);
    int (*put_tree)(void *ud, const cr_tree *t, cr_id *out);
    int (*reuse)(void *ud, im_fsresult *r);
    void *ud;
} im_store;

/** Store a data blob in the vault through st (dedup through the index); bytes_new updated. */
int im_store_blob(im_store *st, const void *data, size_t len, cr_id *out);
/** Save a tree through st's packer (flushed when full). */
int im_store_tree(im_store *st, const cr_tree *t, cr_id *out);

/**
 * A volume whose chunks in `map` are all those of a parent's volume of the
 * same name and place takes the parent's tree (r filled from it; counts and
 * is_system read from the stored tree when the parent did not record them).
 * Not when the parent left entries out (errors).
 * @return 1 (r filled), 0 (walk it), or an error.
 */
int im_fs_reuse(im_fsresult *r, cr_repo *repo, const im_chunkmap *map,
                const im_chunkmap *parent_map, const im_fsresult *parent_vols, size_t nparent);

/**
 * Read the partition table of `disk` (MBR or GPT; none = whole disk) and
 * every filesystem libtsk recognises, and save one tree per filesystem into
 * the vault. A file's extents point into the chunks of `map` (blob_off =
 * offset inside the chunk; ranges in hole chunks are holes); data that is not
 * a plain disk range is stored as blobs of its own through `st`. Only
 * allocated names are listed (deleted files are not resurrected); NTFS system
 * files ($MFT...) and libtsk's virtual folders ($OrphanFiles) are left out.
 * Unsupported or damaged filesystems give a volume with `error` set and no
 * tree; they never fail the call. A damaged filesystem and every entry left
 * out are reported through warn (path "<image>:<volume>/<path>"); a volume
 * with no filesystem recognised (swap, LVM, LUKS, a reserved partition) is
 * not: the disk itself is complete, and such partitions are normal.
 * @param parent_vols the parent snapshot's volumes of the same disk with their
 *        trees (may be NULL): a volume whose chunks are all unchanged keeps
 *        the parent's tree without being read again. What a snapshot file
 *        does not record may be left 0: dirs/others/bytes (all 0) are then
 *        counted from the stored tree, and is_system is judged on it. A parent
 *        volume with errors > 0 is read again, so its warnings are not lost.
 * @param[out] out array of results, freed with im_fsresult_clear each + free().
 * @param[out] ptable "gpt", "dos" or NULL (strdup'd).
 * @return 0 or a vault-side error (write failure): source-side problems are warnings.
 */
int im_fs_read(im_fsresult **out, size_t *nout, char **ptable, im_disk *disk,
               const im_chunkmap *map, const im_chunkmap *parent_map,
               const im_fsresult *parent_vols, size_t nparent, im_store *st,
               cr_warning_cb warn, void *payload);

/* ================================================================== sbx.c */

/*
 * A disk being backed up, read in the parser sandbox ("image" service of
 * src/util/sandbox.h): disk.c and fs.c run in a child that sees only the
 * image's folder and the allowed backing folders; the parent asks it for the
 * allocation map and the chunks, then for the filesystems, and stores what
 * the child gives after checking it as untrusted input. With
 * CLEANROOM_SANDBOX=off the same calls run in this process. A block device
 * is opened by the parent and handed to the child open (its root is nodev).
 */
typedef struct im_src im_src;

/** One file of a disk's chain: the image itself, then its backing or parent files. */
typedef struct im_layer {
    char *path;
    cr_image_format format;
    uint64_t size;    /**< virtual size its header gives */
    uint64_t dropped; /**< im_dropped */
} im_layer;

/**
 * Open a disk image as im_open_allow does, in a sandbox child named after
 * `name` ("disk0") in messages.
 * @return as im_open_allow; CR_EHOSTILE when the child crashed or broke the
 *         protocol (the image may be crafted); CR_ERROR when the sandbox
 *         cannot start on this machine.
 */
int im_src_open(im_src **out, const char *path, const char *name,
                const char *const *allow_backing, size_t nallow);
void im_src_close(im_src *s); /* accepts NULL */
/** The chain, layers[0] being the image itself (borrowed). */
const im_layer *im_src_layers(const im_src *s, size_t *n);
/** im_next_data of the disk; CR_EHOSTILE as above. */
int im_src_next_data(im_src *s, uint64_t off, uint64_t *out);
/**
 * im_read of the disk into *buf, a malloc'd buffer of CR_IMAGE_CHUNK bytes
 * (len <= CR_IMAGE_CHUNK), which may be exchanged for another one of at least
 * that size (the child's answer, not copied); CR_EHOSTILE as above.
 */
int im_src_read(im_src *s, uint64_t off, uint8_t **buf, size_t len);
/** im_fs_read of the disk (st: the vault; parent_*: as im_fs_read). */
int im_src_fs_read(im_src *s, im_fsresult **out, size_t *nout, char **ptable,
                   const im_chunkmap *map, const im_chunkmap *parent_map,
                   const im_fsresult *parent_vols, size_t nparent, im_store *st,
                   cr_warning_cb warn, void *payload);

/* The parent's decoders of the child's answers (exposed for fuzz/fuzz_image_sbx.c). */

/** The answer to an open: the chain. @return 0 or CR_EHOSTILE. */
int im_sbx_decode_layers(im_layer **out, size_t *n, const void *data, size_t len);
void im_layers_free(im_layer *v, size_t n);

/** What the parent knows while a child walks the filesystems of one disk. */
typedef struct im_sbx_known im_sbx_known;
int im_sbx_known_new(im_sbx_known **out, const im_chunkmap *map);
void im_sbx_known_free(im_sbx_known *k);
/** Note a blob (of `len` bytes) or a tree the child may name from now on. */
int im_sbx_known_blob(im_sbx_known *k, const cr_id *id, uint32_t len);
int im_sbx_known_tree(im_sbx_known *k, const cr_id *id);
/**
 * A folder's tree sent by the child: decoded like any tree read from the
 * vault, then every name must be safe, every extent a known blob (within its
 * length), every subtree a tree the child was given back.
 * @return 0 or CR_EHOSTILE (message says what is wrong).
 */
int im_sbx_check_tree(cr_tree **out, const im_sbx_known *k, const void *data, size_t len);
/**
 * The child's list of volumes. Volumes it marks as kept from the parent
 * snapshot come back with `reused` set and nothing else (the caller
 * substitutes its own result). @return 0 or CR_EHOSTILE.
 */
int im_sbx_decode_volumes(im_fsresult **out, size_t *nout, char **ptable, const im_sbx_known *k,
                          uint64_t disk_size, const void *data, size_t len);

/* =============================================================== vmconf.c */

/** Parse .vmx text (key = "value" lines). @return 0 or CR_EINPUT (message names the line). */
int im_vmx_parse(cr_vm_info **out, const char *text, size_t len);
/** Parse a libvirt domain XML. @return 0 or CR_EINPUT. */
int im_libvirt_parse(cr_vm_info **out, const char *text, size_t len);
/** Deep copy (NULL -> NULL). */
int im_vm_info_copy(cr_vm_info **out, const cr_vm_info *in);

/* ============================================================== restore.c */

/**
 * Run qemu-img with argv (argv[0] = "qemu-img", NULL-terminated) without a
 * shell; on failure, CR_ERROR with qemu-img's own message (first lines of its
 * stderr). CR_ENOTFOUND if qemu-img is not installed (message says the package).
 */
int im_qemu_img(const char *const *argv);

/**
 * Convert a raw file into `out` in format `fmt` (qcow2, vmdk (streamOptimized),
 * vmdk-flat, vhdx, vhd (dynamic, exact size)). raw -> rename only.
 */
int im_convert(const char *raw, const char *out, cr_image_format fmt);

#endif
