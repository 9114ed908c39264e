/*
 * Fuzz the reader of a Samba AD DC's directory database (samdb.c) and the
 * parent's side of its sandboxed answers. The first byte chooses:
 *   0  the rest is a whole sam.ldb partition (hn_samdb_autoruns: libtdb's
 *      check and traversal, libldb's unpacking, then cleanroom's own reading
 *      of the objects: SIDs, userAccountControl, member links, times);
 *   1  the rest is one packed ldb record (hn_samdb_record), which reaches the
 *      object reader faster than a whole database;
 *   2  the rest is the "files" child's answer (hn_autoruns_decode), whose
 *      entries windows.c splits with hn_samdb_value_len.
 * Either the reader fails with CR_ECORRUPT or CR_EINPUT and returns nothing, or
 * its entries have a directory kind and clean texts (fuzz_autoruns.h); an
 * answer is accepted with clean texts or refused as CR_EHOSTILE.
 * The seeds (corpus/samdb) were written with libldb's ldb_pack_data and
 * libtdb's tdb_store: the groups, accounts and attributes samdb.c reads.
 */
#include "fuzz_autoruns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libldb loads Samba's modules (of no use to unpack records) from the folder it was built
 * with when its context is made, with RTLD_DEEPBIND, which the sanitizers refuse; libldb
 * then leaves that flag out. (The sandbox's child sees no such folder in its empty root.) */
static void fuzz_ldb_modules(void)
{
    static int done;
    if (done++)
        return;
    if (setenv("LDB_MODULES_DISABLE_DEEPBIND", "1", 1) < 0 || hn_samdb_prepare() < 0) {
        perror("fuzz_samdb: cannot prepare libldb");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ldb_modules();
    if (size < 1)
        return 0;
    if (data[0] == 0) {
        fuzz_autoruns(hn_samdb_autoruns, HN_AUTORUN_AD_MEMBER, HN_AUTORUN_AD_KRBTGT, data + 1,
                      size - 1);
    } else if (data[0] == 1) {
        fuzz_autoruns(hn_samdb_record, HN_AUTORUN_AD_MEMBER, HN_AUTORUN_AD_KRBTGT, data + 1,
                      size - 1);
    } else {
        hn_autorun *a = NULL;
        size_t n = 0;
        int err = hn_autoruns_decode(&a, &n, data + 1, size - 1);
        if (err == 0) {
            for (size_t i = 0; i < n; i++) {
                fuzz_check_text(a[i].key);
                fuzz_check_text(a[i].name);
                fuzz_check_text(a[i].data);
                if (hn_samdb_value_len(a[i].data) > strlen(a[i].data))
                    abort();
            }
        } else if (err != CR_EHOSTILE && err != CR_ERROR) {
            abort();
        }
        hn_autoruns_free(a, n);
    }
    return 0;
}
