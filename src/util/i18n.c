/*
 * GNU gettext for the library (see i18n.h). The catalogue folder is bound
 * once; switching language follows the gettext manual: set LANGUAGE, then
 * increment _nl_msg_cat_cntr so that gettext drops the translations it
 * cached for the previous language.
 */
#include "util/i18n.h"

#include <libintl.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CR_LOCALEDIR
#define CR_LOCALEDIR "/usr/local/share/locale"
#endif

extern int _nl_msg_cat_cntr;

static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

static void bind_run(void)
{
    const char *dir = getenv("CLEANROOM_LOCALEDIR");
    if (!dir || !*dir) {
        dir = CR_LOCALEDIR;
#ifdef CR_LOCALEDIR_BUILD
        /* Not installed: the catalogues of the build tree this program comes from. */
        if (access(CR_LOCALEDIR "/fr/LC_MESSAGES/" CR_TEXT_DOMAIN ".mo", R_OK) != 0)
            dir = CR_LOCALEDIR_BUILD;
#endif
    }
    bindtextdomain(CR_TEXT_DOMAIN, dir);
    bind_textdomain_codeset(CR_TEXT_DOMAIN, "UTF-8");
}

const char *cr_i18n(const char *msgid)
{
    pthread_once(&bind_once, bind_run);
    return dgettext(CR_TEXT_DOMAIN, msgid);
}

const char *cr_i18n_n(const char *singular, const char *plural, unsigned long n)
{
    pthread_once(&bind_once, bind_run);
    return dngettext(CR_TEXT_DOMAIN, singular, plural, n);
}

static char *saved_language, *saved_messages;
static int switched;

void cr_i18n_begin(const char *lang)
{
    const char *cur = getenv("LANGUAGE"), *msgs = setlocale(LC_MESSAGES, NULL);
    pthread_once(&bind_once, bind_run);
    cr_i18n_end();
    saved_language = cur ? strdup(cur) : NULL;
    saved_messages = msgs ? strdup(msgs) : NULL;
    if (!msgs || !strcmp(msgs, "C") || !strcmp(msgs, "POSIX"))
        if (!setlocale(LC_MESSAGES, "C.UTF-8"))
            setlocale(LC_MESSAGES, "C.utf8");
    /* English is the text of the program itself: no catalogue. */
    setenv("LANGUAGE", lang && *lang ? lang : "en", 1);
    ++_nl_msg_cat_cntr;
    switched = 1;
}

void cr_i18n_end(void)
{
    if (!switched)
        return;
    if (saved_language)
        setenv("LANGUAGE", saved_language, 1);
    else
        unsetenv("LANGUAGE");
    if (saved_messages)
        setlocale(LC_MESSAGES, saved_messages);
    free(saved_language);
    free(saved_messages);
    saved_language = saved_messages = NULL;
    switched = 0;
    ++_nl_msg_cat_cntr;
}
