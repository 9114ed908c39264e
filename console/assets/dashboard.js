// Tableau de bord: every source from /api/sources (the library's status, as
// `cleanroom status` shows it), rendered again when the language changes.
'use strict';

(async () => {
  let data = null;
  let failed = false;

  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  // The grade's colour; its words are the library's grade names.
  const gradeClass = {
    ok: 'ok', exceeded: 'late', 'severely exceeded': 'severe',
    'critically exceeded': 'critical', 'never backed up': 'never', 'no rpo': 'unwatched',
  };
  const verdictClass = {
    clean: 'clean', compromised: 'compromised', 'not hunted': 'unhunted', 'no snapshot': 'unhunted',
  };

  // "2026-12-07 19:55 UTC": the minute is enough on a dashboard.
  function when(iso) {
    return iso.slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function stateCell(s) {
    const td = CR.el('td');
    if (s.state === 'late') {
      td.appendChild(CR.el('span', { cls: 'badge ' + gradeClass[s.grade], key: 'late' }));
      td.appendChild(document.createTextNode(' '));
      td.appendChild(CR.el('span', { cls: 'detail', key: s.grade }));
    } else {
      td.appendChild(CR.el('span', { cls: 'badge ' + gradeClass[s.grade], key: s.state }));
    }
    td.dataset.grade = s.grade;
    td.dataset.state = s.state;
    return td;
  }

  function huntCell(s) {
    const td = CR.el('td');
    td.appendChild(CR.el('span', { cls: 'badge ' + verdictClass[s.verdict], key: s.verdict }));
    if (s.suspect) {
      td.appendChild(document.createTextNode(' '));
      td.appendChild(CR.el('span', { cls: 'badge compromised', key: 'suspect' }));
    }
    td.dataset.verdict = s.verdict;
    return td;
  }

  function cleanCell(s) {
    if (!s.clean_snapshot) return CR.el('td', { key: 'none' });
    return CR.el('td', {}, [
      CR.el('code', { raw: s.clean_snapshot.slice(0, 8) }),
      document.createTextNode(' '),
      CR.el('span', { cls: 'detail', tr: CR.t('{age} ago', { age: CR.age(s.clean_age_seconds) }) }),
    ]);
  }

  // Sizes in binary units, as the CLI prints them.
  function size(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }

  function renderVault(v) {
    const p = document.getElementById('vault');
    p.textContent = '';
    if (!v) return;
    const parts = [CR.el('span', { tr: CR.t('Vault: {size}, growing {growth} a day (last 7 days)',
      { size: size(v.bytes), growth: size(Math.round(v.growth_per_day)) }) })];
    if (v.space_free === null) {
      parts.push(CR.el('span', { key: 'free space: unknown (vault server or S3)' }));
    } else if (v.days_until_full !== null) {
      parts.push(CR.el('span', { tr: CR.t('free space: {free} of {total}, full in about {days} days at this rate',
        { free: size(v.space_free), total: size(v.space_total), days: Math.floor(v.days_until_full) }) }));
    } else {
      parts.push(CR.el('span', { tr: CR.t('free space: {free} of {total}',
        { free: size(v.space_free), total: size(v.space_total) }) }));
    }
    if (!v.last_verify) {
      parts.push(CR.el('span', { key: 'no verify job has run yet' }));
    } else {
      const age = CR.age(v.last_verify.age_seconds);
      parts.push(v.last_verify.ok
        ? CR.el('span', { tr: CR.t('last verify: {age} ago, no damage', { age }) })
        : CR.el('span', { cls: 'badge compromised', tr: CR.t('last verify: {age} ago, FAILED', { age }) }));
    }
    parts.forEach((e, i) => {
      if (i) p.appendChild(document.createTextNode(' · '));
      p.appendChild(e);
    });
  }

  function render() {
    const msg = document.getElementById('message');
    const table = document.getElementById('sources');
    const summary = document.getElementById('summary');
    const who = document.getElementById('who-role');
    const sess = CR.state.session;
    who.dataset.i18n = roleKey[sess.role];
    who.textContent = CR.t(roleKey[sess.role]);
    summary.textContent = '';
    if (failed || !data) {
      msg.dataset.i18n = failed ? 'The vault cannot be read right now.' : 'Loading…';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
      table.hidden = true;
      return;
    }
    msg.hidden = true;
    renderVault(data.vault);
    if (!data.sources.length) {
      msg.dataset.i18n = 'No source: the vault holds no snapshot and no jobs file names one.';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
      table.hidden = true;
      return;
    }
    const late = data.sources.filter((s) => s.state === 'late' || s.state === 'never backed up');
    const noClean = data.sources.filter((s) => s.snapshot && !s.clean_snapshot);
    summary.appendChild(late.length
      ? CR.el('span', { tr: CR.t('Late sources: {n}', { n: late.length }) })
      : CR.el('span', { key: 'Every source is within its RPO.' }));
    if (noClean.length) {
      summary.appendChild(document.createTextNode(' · '));
      summary.appendChild(CR.el('span', { tr: CR.t('Sources without a clean point: {n}',
        { n: noClean.length }) }));
    }
    const body = table.querySelector('tbody');
    body.textContent = '';
    for (const s of data.sources) {
      const tr = CR.el('tr');
      tr.dataset.source = s.source;
      const link = CR.el('a', { raw: s.source });
      link.href = 'source.html?name=' + encodeURIComponent(s.source);
      tr.appendChild(CR.el('td', {}, [s.snapshot ? CR.el('b', {}, [link]) : CR.el('b', { raw: s.source })]));
      tr.appendChild(s.time
        ? CR.el('td', {}, [CR.el('code', { raw: s.snapshot.slice(0, 8) }),
          document.createTextNode(' '), CR.el('span', { raw: when(s.time) })])
        : CR.el('td', { key: 'no snapshot' }));
      tr.appendChild(s.age_seconds !== null
        ? CR.el('td', { cls: 'num', tr: CR.t('{age} ago', { age: CR.age(s.age_seconds) }) })
        : CR.el('td'));
      tr.appendChild(s.rpo_seconds !== null
        ? CR.el('td', { cls: 'num', tr: CR.age(s.rpo_seconds) }) : CR.el('td'));
      tr.appendChild(stateCell(s));
      tr.appendChild(huntCell(s));
      tr.appendChild(cleanCell(s));
      body.appendChild(tr);
    }
    table.hidden = false;
  }

  async function load() {
    const r = await CR.api('/api/sources');
    if (r.status === 401) {
      location.href = '/login.html';
      return;
    }
    failed = !r.ok;
    data = r.ok ? await r.json() : null;
    render();
  }

  if (!(await CR.startPage(render))) return;
  render();
  await load();
  document.body.dataset.lang = CR.lang;
  document.body.dataset.ready = '1';
  setInterval(load, 60000);
})();
