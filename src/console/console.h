/*
 * Private interfaces of the web console (src/console): its config file, its
 * accounts, and the texts its pages show. The console reaches the vault
 * through the public API only (include/cleanroom); below that, util/ alone.
 */
#ifndef CR_CONSOLE_PRIV_H
#define CR_CONSOLE_PRIV_H

#include "cleanroom/cleanroom.h"
#include "cleanroom/console.h"
#include "util/util.h"

#include <limits.h>
#include <time.h>

#define CR_CON_MAX_HOSTNAMES 16

typedef struct cr_con_config {
    char path[PATH_MAX];
    char listen[128];
    int tls;
    char cert[PATH_MAX], key[PATH_MAX], users[PATH_MAX];
    unsigned max_connections, max_per_ip, timeout_s, threads;
    unsigned session_idle_s;   /* a session unused this long ends */
    unsigned session_max_s;    /* and any session after this long */
    char plans[PATH_MAX];      /* the folder of the recovery plans (*.yaml) */
    char scratch[PATH_MAX];    /* where drills make their scratch folder */
    char restore_root[PATH_MAX]; /* guided restores go into new folders of it */
    char hostnames[CR_CON_MAX_HOSTNAMES][256]; /* names the browser may use (Host) */
    size_t nhostnames;
} cr_con_config;

/** Load `path` (NULL: the default); a missing file gives the defaults, with files beside it. */
int cr_con_config_load(cr_con_config *c, const char *path);

#define CR_CON_MAX_NAME 64
#define CR_CON_MIN_PASSWORD 10
#define CR_CON_MAX_PASSWORD 1024

typedef struct cr_con_user {
    char name[CR_CON_MAX_NAME + 1];
    cr_console_role role;
    char hash[128]; /* crypto_pwhash_STRBYTES */
} cr_con_user;

typedef struct cr_con_users {
    cr_con_user *v;
    size_t n;
} cr_con_users;

/** The accounts file (missing: no account). CR_ECORRUPT when damaged. */
int cr_con_users_load(cr_con_users *u, const char *path);
void cr_con_users_clear(cr_con_users *u);
/** An account name: 1-64 bytes of letters, digits, '.', '_', '-'. */
int cr_con_name_ok(const char *name);

#endif
