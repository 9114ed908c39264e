/*
 * Translations of the library's messages (GNU gettext, text domain
 * "cleanroom", catalogues in po/). Mark a text with _("...") where it is
 * used, or with N_("...") where it is stored and translated later with
 * cr_i18n(); plurals with cr_i18n_n(). xgettext finds the three (po/README).
 *
 * The catalogues are looked for in $CLEANROOM_LOCALEDIR (tests, a build
 * tree), then where `make install` puts them (CR_LOCALEDIR).
 *
 * A document can be written in another language than the program's
 * messages (a report in French for the agency, while the technician's
 * terminal is in English): cr_i18n_begin("fr") switches the translations of
 * this process until cr_i18n_end(). It sets LANGUAGE, and LC_MESSAGES to
 * C.UTF-8 when it is "C" (gettext ignores LANGUAGE in the C locale), so it is
 * not thread-safe: call it where one thread runs, as the report does.
 */
#ifndef CR_I18N_H
#define CR_I18N_H

#include <stddef.h>

#define CR_TEXT_DOMAIN "cleanroom"

/** Translate a text marked with N_() into the current language. */
const char *cr_i18n(const char *msgid) __attribute__((format_arg(1)));
/** The singular or plural form for n, translated. */
const char *cr_i18n_n(const char *singular, const char *plural, unsigned long n)
    __attribute__((format_arg(1))) __attribute__((format_arg(2)));

#define _(s) cr_i18n(s)
#define N_(s) s

/** Translate into `lang` ("fr", "en"...) until cr_i18n_end(); calls do not nest. */
void cr_i18n_begin(const char *lang);
/** Back to the language the process had before cr_i18n_begin(). */
void cr_i18n_end(void);

#endif
