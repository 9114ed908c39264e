// A source: its restore points by day (a calendar) and as a list, newest first, each with
// the library's verdict (/api/source: the restore gate's, and cr_clean_points' clean
// point), its findings, and the findings at or above high still open.
'use strict';

(async () => {
  const name = new URLSearchParams(location.search).get('name') || '';
  let data = null;
  let status = 0;
  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  const stateClass = {
    'clean point': 'clean', clean: 'clean', compromised: 'compromised', 'not hunted': 'unhunted',
    'hunt record missing': 'compromised',
  };
  // a day's colour: its worst restore point
  const rank = { compromised: 3, 'hunt record missing': 3, 'not hunted': 2, clean: 1, 'clean point': 1 };
  const sevClass = { critical: 'critical', high: 'severe', medium: 'late', low: 'unwatched', info: 'unwatched' };

  function when(iso) {
    return iso.slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function render() {
    const sess = CR.state.session;
    const who = document.getElementById('who-role');
    who.dataset.i18n = roleKey[sess.role];
    who.textContent = CR.t(roleKey[sess.role]);
    document.getElementById('source-name').textContent = name;
    const msg = document.getElementById('message');
    const table = document.getElementById('points');
    const verdict = document.getElementById('verdict');
    verdict.textContent = '';
    if (!data) {
      msg.dataset.i18n = status === 404 ? 'No such source in the vault.'
        : status ? 'The vault cannot be read right now.' : 'Loading…';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
      table.hidden = true;
      return;
    }
    msg.hidden = true;
    verdict.appendChild(data.first_compromised_time
      ? CR.el('span', { tr: CR.t('Compromised since {time}.', { time: when(data.first_compromised_time) }) })
      : CR.el('span', { key: 'No finding at or above high: no compromise seen.' }));
    const open = document.getElementById('open-high');
    open.textContent = '';
    open.appendChild(CR.el('span', { tr: CR.t('Open findings at or above high: {n}', { n: data.open_high }) }));
    open.dataset.open = String(data.open_high);
    const cal = document.getElementById('calendar');
    cal.textContent = '';
    const days = new Map();
    for (const p of data.points) {
      const day = p.time.slice(0, 10);
      const prev = days.get(day);
      if (!prev || rank[p.state] > rank[prev]) days.set(day, p.state);
    }
    for (const [day, state] of days) {
      const d = CR.el('span', { cls: 'day ' + stateClass[state], raw: day.slice(8, 10) });
      d.dataset.day = day;
      d.dataset.state = state;
      d.title = day + ' — ' + CR.t(state);
      cal.appendChild(d);
    }
    const body = table.querySelector('tbody');
    body.textContent = '';
    for (const p of data.points.slice().reverse()) {
      const tr = CR.el('tr');
      tr.dataset.snapshot = p.snapshot;
      tr.dataset.state = p.state;
      tr.appendChild(CR.el('td', {}, [CR.el('code', { raw: p.snapshot.slice(0, 8) }),
        document.createTextNode(' '), CR.el('span', { raw: when(p.time) })]));
      tr.appendChild(CR.el('td', {}, [CR.el('span', { cls: 'badge ' + stateClass[p.state], key: p.state })]));
      tr.appendChild(CR.el('td', { cls: 'num', raw: String(p.files) }));
      const ul = CR.el('ul', { cls: 'findings' });
      for (const f of p.findings) {
        // the hunt's own words (path, rule, detail) are evidence: shown as they are
        ul.appendChild(CR.el('li', {}, [
          CR.el('span', { cls: 'badge ' + sevClass[f.severity], key: f.severity }),
          document.createTextNode(' '), CR.el('code', { raw: f.path }),
          document.createTextNode(' '), CR.el('span', { cls: 'detail', raw: f.indicator + ' — ' + f.detail }),
        ]));
      }
      tr.appendChild(CR.el('td', {}, [ul]));
      body.appendChild(tr);
    }
    table.hidden = false;
  }

  if (!(await CR.startPage(render))) return;
  render();
  const s = await CR.api('/api/source?name=' + encodeURIComponent(name));
  if (s.status === 401) {
    location.href = '/login.html';
    return;
  }
  status = s.status;
  data = s.ok ? await s.json() : null;
  render();
  document.body.dataset.lang = CR.lang;
  document.body.dataset.ready = '1';
})();
