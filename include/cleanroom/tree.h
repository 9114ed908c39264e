/*
 * cleanroom: the nodes of a snapshot's tree, as stored in the vault.
 */
#ifndef CLEANROOM_TREE_H
#define CLEANROOM_TREE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cr_node_type {
    CR_NODE_FILE = 1,
    CR_NODE_DIR = 2,
    CR_NODE_SYMLINK = 3,
    CR_NODE_FIFO = 4,
    CR_NODE_CHARDEV = 5,
    CR_NODE_BLOCKDEV = 6,
    CR_NODE_SOCKET = 7,
} cr_node_type;

/** An extended attribute. */
typedef struct cr_xattr {
    char *name;
    uint8_t *value;
    size_t len;
} cr_xattr;

/**
 * A stored piece of a regular file: `len` bytes at `offset` are the bytes
 * [blob_off, blob_off + len) of the blob `id`. Gaps between extents (and
 * after the last one, up to `size`) are holes.
 *
 * blob_off is 0 for the files of a file-tree backup (one blob per extent).
 * It is not 0 for the files seen inside a disk image: their bytes are a part
 * of a 4 MiB chunk of the disk, stored once for the disk and for the files.
 */
typedef struct cr_extent {
    uint64_t offset;
    uint32_t len;
    cr_id id;
    uint32_t blob_off;
} cr_extent;

/** One entry of a directory. Strings are NUL-terminated and owned by the tree. */
typedef struct cr_node {
    cr_node_type type;
    char *name;          /**< one path component; untrusted when read from a vault */
    uint32_t mode;       /**< permission bits incl. setuid/setgid/sticky (no type bits) */
    uint32_t uid, gid;
    char *user, *group;  /**< account names at backup time, or NULL */
    int64_t mtime_ns, atime_ns, ctime_ns; /**< nanoseconds since the Unix epoch */
    uint64_t inode, dev, nlink;
    uint64_t size;       /**< file size in bytes (files), 0 otherwise */
    uint64_t rdev;       /**< device number (character and block devices) */
    char *link_target;   /**< symlinks */
    cr_xattr *xattrs;    /**< extended attributes except POSIX ACLs */
    size_t nxattrs;
    char *acl_access;    /**< POSIX access ACL in text form, or NULL */
    char *acl_default;   /**< POSIX default ACL (directories), or NULL */
    cr_extent *content;  /**< files: stored extents, ascending offsets */
    size_t ncontent;
    int has_subtree;     /**< directories: 1 if `subtree` is set */
    cr_id subtree;       /**< directories: id of the tree blob of its entries */
} cr_node;

/** A directory listing: nodes sorted by name (bytewise), names unique. */
typedef struct cr_tree {
    cr_node *nodes;
    size_t count;
} cr_tree;

/** Free a tree and everything it owns. Accepts NULL. */
void cr_tree_free(cr_tree *tree);

/** Release what a node owns (not the node itself). */
void cr_node_clear(cr_node *node);

/** Deep-copy a node. @return 0 or CR_ERROR (out of memory). */
int cr_node_copy(cr_node *out, const cr_node *src);

#ifdef __cplusplus
}
#endif
#endif
