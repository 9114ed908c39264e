# Every text the console's pages name (data-i18n="...", key: '...', CR.t('...') in
# console/assets) is in the console's list of messages (src/console/console.c), and
# every message of that list has a French translation in po/fr.po: a text shown only in
# a rare state (a damaged vault, a suspect backup) cannot be left untranslated.
set -u
. "${CR_TESTLIB:?}"
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
python3 - "$CR_SRC" <<'PY' || fail "the console's texts and the catalogue disagree (above)"
import glob, os, re, sys
src = sys.argv[1]
c = open(os.path.join(src, "src/console/console.c"), encoding="utf-8").read()
table = c[c.index("static const char *const texts[]"):]
table = table[:table.index("};")]
listed = set(re.findall(r'N_\("((?:[^"\\]|\\.)*)"\)', table))
used = set()
for f in glob.glob(os.path.join(src, "console/assets/*")):
    t = open(f, encoding="utf-8").read()
    used |= set(re.findall(r'data-i18n="([^"]+)"', t))
    used |= set(re.findall(r"(?:\bkey|CR\.t\(|\bt\()\s*:?\s*'((?:[^'\\]|\\.)+)'", t))
    # the words of states, grades and verdicts, mapped to classes or names in the scripts
    for m in re.finditer(r"const (?:gradeClass|verdictClass|stateClass|sevClass|roleKey) = \{(.*?)\};", t, re.S):
        for k, v in re.findall(r"'?([\w ]+?)'?\s*:\s*'([^']*)'", m.group(1)):
            used.add(k.strip())
            if "roleKey" in m.group(0):
                used.add(v)
used = {u.replace("\\'", "'") for u in used}
# keys of the role map are API values, not texts
used -= {"viewer", "operator", "admin"} - listed
missing = sorted(u for u in used if u not in listed)
po = open(os.path.join(src, "po/fr.po"), encoding="utf-8").read()
entries = dict(re.findall(r'\nmsgid "((?:[^"\\]|\\.)*)"\nmsgstr "((?:[^"\\]|\\.)*)"', po))
untranslated = sorted(k for k in listed if not entries.get(k))
for k in missing:
    print("used by a page, not in console.c's list:", k)
for k in untranslated:
    print("no French translation in po/fr.po:", k)
print(len(used), "texts used by the pages,", len(listed), "listed")
sys.exit(1 if missing or untranslated or len(used) < 40 else 0)
PY
pass "every text of the pages is listed and translated"
