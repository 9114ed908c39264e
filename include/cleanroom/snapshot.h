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
} cr_snapshot;

void cr_snapshot_free(cr_snapshot *snap);
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
