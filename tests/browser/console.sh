# The web console in Debian's chromium (tests/browser/console.cjs): see that file
# for what it checks. The vault, accounts and console are tests/console-lib.bash's.
set -u
. "${CR_TESTLIB:?}"
. "$(dirname "$CR_TESTLIB")/console-lib.bash"

: "${CR_BROWSER_DIR:?set CR_BROWSER_DIR to the folder of scripts/install-browser-test}"
[ -d "$CR_BROWSER_DIR/node_modules/playwright-core" ] ||
    fail "playwright-core is not installed in $CR_BROWSER_DIR (scripts/install-browser-test)"
console_vault
console_plans
console_accounts
console_start
export CON_URL PW_alice PW_victor PW_mallory PW_oscar SCRATCH
export CR_SHOT=${CR_SHOT:-$CR_BROWSER_DIR/dashboard.png}
node "$(dirname "$0")/console.cjs" || fail "the browser checks (above); console log: $(tail -20 console.log)"
pass "login, dashboard, source calendar, plans, a drill live to 'terminé', FR/EN, roles, CSRF, slow-down in the browser; screenshots beside $CR_SHOT"
