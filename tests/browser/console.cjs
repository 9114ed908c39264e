// The web console in a real browser (Debian's chromium driven by playwright-core):
// login, the dashboard's sources and grades in French, the source page (the compromised
// restore point and the clean point), the FR/EN switch (every
// visible text from the catalogue, none untranslated), a viewer refused (403), a
// POST without the CSRF token refused, 5 wrong passwords slowed down, the API
// without a session (401), no CSP violation; the source page's calendar and open
// findings; the plans page with `plan check`'s result; a viewer has no drill button
// (and gets 403); an operator starts a drill whose live page (Server-Sent Events)
// reaches "terminé" with every tier done, then opens its report in French; a guided
// restore proposes the clean point first, warns on the compromised one, needs the
// source's name typed, and restores files identical to the source's (SCRATCH).
// Saves screenshots of the dashboard (CR_SHOT), the source page (source.png), the
// plans page (plans.png) and the drill (drill.png) beside it.
// Environment: CON_URL, CR_BROWSER_DIR (playwright-core), CR_SHOT (png), PW_* passwords.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.CR_BROWSER_DIR, 'node_modules', 'playwright-core'));

const URL = process.env.CON_URL;
let failures = 0;
function check(cond, what, detail) {
  if (cond) {
    console.log('ok: ' + what);
  } else {
    failures++;
    console.log('FAIL: ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
  }
}

// Visible texts (with a letter) that come neither from the catalogue nor from the vault.
function untranslated(page) {
  return page.evaluate(() => {
    const bad = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent.trim();
      if (!/\p{L}/u.test(text)) continue;
      const el = n.parentElement;
      if (!el || !el.checkVisibility()) continue;
      if (!el.closest('[data-i18n],[data-tr],[data-raw]')) bad.push(text);
    }
    return bad.concat([...CR.missing].map((k) => 'no translation: ' + k));
  });
}

// Each catalogue text shown, with its message id.
function shown(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-i18n]')]
    .filter((e) => e.checkVisibility())
    .map((e) => [e.dataset.i18n, e.textContent]));
}

async function login(page, user, password) {
  await page.goto(URL + '/');
  await page.waitForSelector('body.login[data-ready="1"]');
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('#login-submit');
}

async function catalogue(ctx, lang) {
  const r = await ctx.request.get(URL + '/api/i18n?lang=' + lang);
  return (await r.json()).texts;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 640 } });
  const problems = [];
  const page = await ctx.newPage();
  // The refusals the test asks for (401, 403, 429) are expected; anything else is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403|429) /.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const fr = await catalogue(ctx, 'fr');
  const en = await catalogue(ctx, 'en');

  // Without a session: the API says 401, the page sends to the login.
  const anon = await ctx.request.get(URL + '/api/sources');
  check(anon.status() === 401, '/api/sources without a session is 401', anon.status());
  await page.goto(URL + '/');
  await page.waitForSelector('body.login[data-ready="1"]');
  check(page.url().endsWith('/login.html'), 'the dashboard sends to the login page', page.url());
  check(await page.getAttribute('html', 'lang') === 'fr', 'French by default');
  check(await page.textContent('h1') === 'Se connecter', 'the login page in French', await page.textContent('h1'));

  // 5 wrong passwords, then even the right one is slowed down.
  for (let i = 1; i <= 5; i++) {
    await login(page, 'mallory', 'wrong guess ' + i);
    await page.waitForSelector('#login-error:not([hidden])');
    check(await page.textContent('#login-error') === fr['Wrong account or password.'],
      'wrong password ' + i + ' said in French', await page.textContent('#login-error'));
    await page.evaluate(() => { document.getElementById('login-error').hidden = true; });
  }
  await login(page, 'mallory', process.env.PW_mallory);
  await page.waitForSelector('#login-error:not([hidden])');
  check(await page.textContent('#login-error') === fr['Too many wrong passwords: wait before trying again.'],
    'the 6th try is slowed down, even with the right password', await page.textContent('#login-error'));

  // The admin logs in: the dashboard lists the sources with their grades in words.
  await login(page, 'alice', process.env.PW_alice);
  await page.waitForURL(/index\.html$/);
  await page.waitForSelector('body[data-ready="1"] #sources:not([hidden])');
  const rows = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#sources tbody tr')]
    .map((tr) => [tr.dataset.source, [...tr.cells].map((c) => c.innerText.trim())])));
  check(Object.keys(rows).sort().join(',') === 'dpi,lab,pacs,web', 'every source listed', Object.keys(rows));
  check(rows.pacs && rows.pacs[4].startsWith('en retard') && rows.pacs[4].includes('gravement dépassé'),
    'the late source shows "en retard" and its grade', rows.pacs);
  check(rows.dpi && rows.dpi[4] === "à l'heure" && rows.dpi[5] === 'sain', 'the source on time, hunted clean', rows.dpi);
  check(rows.lab && rows.lab[4] === 'jamais sauvegardé' && rows.lab[1] === 'aucune sauvegarde', 'the job never run', rows.lab);
  check(rows.web && rows.web[5] === 'compromis' && /^[0-9a-f]{8} il y a /.test(rows.web[6]),
    'the compromised source and its clean point', rows.web);
  check(rows.dpi && /^il y a \d+ (s|min)$/.test(rows.dpi[2]), 'ages in French', rows.dpi);
  check((await page.textContent('#summary')).includes('Sources en retard : 2'), 'the summary counts the late ones',
    await page.textContent('#summary'));
  const vaultLine = await page.textContent('#vault');
  check(/^Coffre : [0-9.]+ (B|KiB|MiB|GiB), croissance de .* par jour/.test(vaultLine) &&
    vaultLine.includes('espace libre : ') && vaultLine.includes('aucune vérification planifiée'),
    'the vault\'s size, growth, free space and last verify, in French', vaultLine);
  let bad = await untranslated(page);
  check(bad.length === 0, 'every visible French text comes from the catalogue', bad);
  const frShown = await shown(page);
  check(frShown.length > 10 && frShown.every(([k, t]) => t === fr[k]), 'French texts are the catalogue\'s', frShown);
  if (process.env.CR_SHOT) await page.screenshot({ path: process.env.CR_SHOT });

  // One click: English, every text.
  await page.click('#lang');
  await page.waitForSelector('body[data-lang="en"]');
  check(await page.getAttribute('html', 'lang') === 'en', 'the page says it is English');
  bad = await untranslated(page);
  check(bad.length === 0, 'every visible English text comes from the catalogue', bad);
  const enShown = await shown(page);
  check(enShown.length === frShown.length && enShown.every(([k, t]) => t === en[k]), 'English texts are the catalogue\'s', enShown);
  const changed = frShown.filter(([k], i) => fr[k] !== en[k]).every(([k, t], i) => enShown.find(([k2]) => k2 === k)[1] !== t);
  check(changed, 'every text with a translation changed');
  const pacsEn = await page.evaluate(() => document.querySelector('tr[data-source="pacs"]').cells[4].innerText.trim());
  check(pacsEn === 'late severely exceeded', 'the late source in English', pacsEn);
  const dpiAge = await page.evaluate(() => document.querySelector('tr[data-source="dpi"]').cells[2].innerText.trim());
  check(/ ago$/.test(dpiAge), 'ages rendered again in English', dpiAge);
  check(await page.textContent('h1') === 'Dashboard', 'the title in English');
  await page.click('#lang');
  await page.waitForSelector('body[data-lang="fr"]');
  check(await page.textContent('h1') === 'Tableau de bord', 'and back to French');

  // The source page: the compromised restore point with its finding, the clean point before it.
  await page.click('tr[data-source="web"] a');
  await page.waitForURL(/source\.html\?name=web$/);
  await page.waitForSelector('body[data-ready="1"] #points:not([hidden])');
  const points = () => page.evaluate(() => [...document.querySelectorAll('#points tbody tr')]
    .map((tr) => [...tr.cells].map((c) => c.innerText.trim())));
  let pts = await points();
  check(pts.length === 2 && pts[0][1] === 'compromis' && pts[1][1] === 'point sain',
    'the source page: the compromised point and the clean point', pts);
  check(pts.length === 2 && pts[0][3].startsWith('haute') && pts[0][3].includes('/www/up.php'),
    'the finding with its severity and path', pts[0]);
  check((await page.textContent('#verdict')).startsWith('Compromis depuis le '), 'the verdict in French',
    await page.textContent('#verdict'));
  const cal = await page.evaluate(() => [...document.querySelectorAll('#calendar .day')].map((d) => d.dataset.state));
  check(cal.length >= 1 && cal.includes('compromised'), 'the calendar shows the compromised day', cal);
  check((await page.textContent('#open-high')).startsWith('Détections ouvertes de gravité élevée ou plus : 1'),
    'the open findings at or above high, in French', await page.textContent('#open-high'));
  if (process.env.CR_SHOT) await page.screenshot({ path: path.join(path.dirname(process.env.CR_SHOT), 'source.png') });
  bad = await untranslated(page);
  check(bad.length === 0, 'source page: every visible French text comes from the catalogue', bad);
  await page.click('#lang');
  await page.waitForSelector('body[data-lang="en"]');
  bad = await untranslated(page);
  check(bad.length === 0, 'source page: every visible English text comes from the catalogue', bad);
  pts = await points();
  check(pts.length === 2 && pts[0][1] === 'compromised' && pts[1][1] === 'clean point' && pts[0][3].startsWith('high'),
    'the source page in English', pts);
  await page.click('#lang');
  await page.waitForSelector('body[data-lang="fr"]');
  await page.goto(URL + '/index.html');
  await page.waitForSelector('body[data-ready="1"] #sources:not([hidden])');

  // A POST without the session's CSRF token is refused; with it, it works.
  const post = (withToken) => page.evaluate(async (withToken) => {
    const headers = { 'Content-Type': 'application/json' };
    if (withToken) headers['X-CSRF-Token'] = CR.state.session.csrf;
    const r = await fetch('/api/users', { method: 'POST', headers, credentials: 'same-origin',
      body: JSON.stringify({ name: withToken ? 'nina' : 'eve', role: 'admin', password: 'a long enough password' }) });
    return r.status;
  }, withToken);
  check(await post(false) === 403, 'a POST without the CSRF token is refused (403)');
  check(await post(true) === 201, 'the same POST with the token is accepted (201)');

  // A viewer: sees the dashboard, gets 403 on the admin API.
  const vctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const vpage = await vctx.newPage();
  await login(vpage, 'victor', process.env.PW_victor);
  await vpage.waitForSelector('body[data-ready="1"] #sources:not([hidden])');
  check(await vpage.textContent('#who-role') === 'lecteur', 'the viewer\'s role shown in French');
  const vs = await vpage.evaluate(async () => {
    const get = await fetch('/api/users');
    const post = await fetch('/api/users', { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CR.state.session.csrf },
      body: JSON.stringify({ name: 'victor2', role: 'admin', password: 'a long enough password' }) });
    return [get.status, post.status];
  });
  check(vs[0] === 403 && vs[1] === 403, 'a viewer gets 403 on the admin API', vs);

  // A viewer on the plans page: the check's result, no drill button, 403 if forced.
  await vpage.goto(URL + '/plans.html?name=hopital');
  await vpage.waitForSelector('body[data-ready="1"] #plan:not([hidden])');
  check(await vpage.isHidden('#start-drill'), 'a viewer has no drill button');
  const vd = await vpage.evaluate(async () => (await fetch('/api/drill', { method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CR.state.session.csrf },
    body: JSON.stringify({ plan: 'hopital' }) })).status);
  check(vd === 403, 'a viewer cannot start a drill (403)', vd);

  // An operator: the plans, `plan check`'s result, a drill followed live to "terminé".
  const octx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 640 } });
  const opage = await octx.newPage();
  opage.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401 /.test(m.text())) problems.push(m.text()); // the login page's
  });
  opage.on('pageerror', (e) => problems.push(String(e)));
  await login(opage, 'oscar', process.env.PW_oscar);
  await opage.waitForSelector('body[data-ready="1"] #sources:not([hidden])');
  await opage.click('nav a[href="plans.html"]');
  await opage.waitForSelector('body[data-ready="1"] #plans:not([hidden])');
  const plans = await opage.evaluate(() => Object.fromEntries([...document.querySelectorAll('#plans tbody tr')]
    .map((tr) => [tr.dataset.plan, [...tr.cells].map((c) => c.innerText.trim())])));
  check(plans.hopital && plans.hopital[3].startsWith('Aucune erreur') && plans.broken && /^\d+ erreur\(s\)/.test(plans.broken[3]),
    'the plans with their check, in French', plans);
  await opage.click('tr[data-plan="broken"] a');
  await opage.waitForSelector('body[data-ready="1"] #plan:not([hidden])');
  const probs = await opage.evaluate(() => [...document.querySelectorAll('#problems li')].map((l) => l.innerText));
  check(probs.some((p) => p.startsWith('erreur ligne 6') && p.includes('nowhere')), 'a problem with its line', probs);
  check(await opage.isHidden('#start-drill'), 'no drill of a plan with errors');
  await opage.goto(URL + '/plans.html?name=hopital');
  await opage.waitForSelector('body[data-ready="1"] #plan:not([hidden])');
  const tiers = await opage.evaluate(() => [...document.querySelectorAll('#tiers .tier')].map((t) => t.innerText.replace(/\s+/g, ' ').trim()));
  check(tiers.length === 3 && tiers[0].startsWith('Niveau 0') && tiers[1].includes('pacs dépend de dpi'),
    'the start order as tiers', tiers);
  bad = await untranslated(opage);
  check(bad.length === 0, 'plans page: every visible French text comes from the catalogue', bad);
  if (process.env.CR_SHOT) await opage.screenshot({ path: path.join(path.dirname(process.env.CR_SHOT), 'plans.png') });
  await opage.click('#start-drill');
  await opage.waitForURL(/drill\.html\?plan=hopital&id=hopital-drill-/);
  await opage.waitForSelector('body[data-ready="1"]');
  await opage.waitForSelector('#drill-state[data-state="running"]');
  check(await opage.textContent('#drill-state .badge') === 'en cours', 'the drill runs, said in French');
  await opage.waitForSelector('#drill-state[data-state="finished"]', { timeout: 60000 });
  check(await opage.textContent('#drill-state .badge') === 'terminé', 'the live page reaches "terminé"');
  check(await opage.getAttribute('#drill-state', 'data-status') === 'ok', 'the drill ended ok');
  const tierStates = await opage.evaluate(() => [...document.querySelectorAll('#tiers .tier')].map((t) => [t.dataset.tier, t.dataset.state]));
  check(JSON.stringify(tierStates) === '[["0","done"],["1","done"],["2","done"]]', 'every tier done', tierStates);
  const svcs = await opage.evaluate(() => [...document.querySelectorAll('#services tbody tr')].map((tr) => [tr.dataset.service, tr.dataset.status]));
  check(svcs.length === 3 && svcs.every(([, st]) => st === 'done'), 'every service done', svcs);
  bad = await untranslated(opage);
  check(bad.length === 0, 'drill page: every visible French text comes from the catalogue', bad);
  if (process.env.CR_SHOT) await opage.screenshot({ path: path.join(path.dirname(process.env.CR_SHOT), 'drill.png') });
  const reportUrl = await opage.getAttribute('#report-html', 'href');
  const rep = await octx.request.get(URL + reportUrl);
  check(rep.status() === 200 && (await rep.text()).includes('<html lang="fr">'), 'the drill\'s report in French', rep.status());
  await opage.click('#lang');
  await opage.waitForSelector('body[data-lang="en"]');
  check(await opage.textContent('#drill-state .badge') === 'finished', 'the drill page in English');
  bad = await untranslated(opage);
  check(bad.length === 0, 'drill page: every visible English text comes from the catalogue', bad);
  const repEn = await octx.request.get(URL + await opage.getAttribute('#report-html', 'href'));
  check((await repEn.text()).includes('<html lang="en">'), 'the report in English after the switch');
  await opage.click('#lang');
  await opage.waitForSelector('body[data-lang="fr"]');

  // The guided restore: the clean point first, a warning on another, a typed confirmation.
  const vr = await vpage.evaluate(async () => (await fetch('/api/restore', { method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CR.state.session.csrf },
    body: JSON.stringify({ source: 'web', snapshot: '0'.repeat(64), target: 'x', confirm: 'web' }) })).status);
  check(vr === 403, 'a viewer cannot start a restore (403)', vr);
  await opage.goto(URL + '/restore.html?source=web');
  await opage.waitForSelector('body[data-ready="1"] #points li');
  const first = await opage.evaluate(() => {
    const li = document.querySelector('#points li');
    return [li.dataset.state, li.querySelector('input').checked];
  });
  check(first[0] === 'clean point' && first[1], 'the clean point is proposed first', first);
  check(await opage.isHidden('#risk-warning'), 'no warning on the clean point');
  await opage.check('#points li[data-state="compromised"] input');
  check(await opage.isVisible('#risk-warning') && await opage.isVisible('#risk-label'),
    'a warning and the risk to accept on the compromised point');
  bad = await untranslated(opage);
  check(bad.length === 0, 'restore page: every visible French text comes from the catalogue', bad);
  if (process.env.CR_SHOT) await opage.screenshot({ path: path.join(path.dirname(process.env.CR_SHOT), 'restore.png') });
  await opage.check('#points li[data-state="clean point"] input');
  check(await opage.isHidden('#risk-warning'), 'back to the clean point: no warning');
  await opage.fill('#target', 'browser-web');
  await opage.fill('#confirm', 'we');
  check(await opage.isDisabled('#restore-go'), 'no restore before the source\'s name is typed');
  await opage.fill('#confirm', 'web');
  check(await opage.isEnabled('#restore-go'), 'the name typed: the restore may start');
  await opage.click('#restore-go');
  await opage.waitForSelector('#restore-state[data-state="finished"]', { timeout: 60000 });
  check(await opage.textContent('#restore-state .badge') === 'terminé', 'the restore reaches "terminé"');
  const fs = require('fs');
  const scratch = process.env.SCRATCH;
  const restored = path.join(scratch, 'restores', 'browser-web', scratch, 'data', 'web', 'www', 'index.html');
  const same = fs.existsSync(restored) &&
    fs.readFileSync(restored).equals(fs.readFileSync(path.join(scratch, 'data', 'web', 'www', 'index.html')));
  check(same, 'the restored file is identical to the source\'s', restored);
  check(!fs.existsSync(path.join(scratch, 'restores', 'browser-web', scratch, 'data', 'web', 'www', 'up.php')),
    'the clean point does not hold the web shell');

  // Logout ends the session.
  await page.click('#logout');
  await page.waitForURL(/login\.html$/);
  const after = await page.evaluate(async () => (await fetch('/api/sources')).status);
  check(after === 401, 'after logout the API says 401', after);
  check(problems.length === 0, 'no script error and no CSP violation in the pages', problems);

  await browser.close();
  console.log(failures ? failures + ' check(s) failed' : 'all checks passed');
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.log('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
