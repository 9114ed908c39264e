// A source: its restore points, oldest last, each with the hunt's findings and where it
// stands against the clean point (/api/source, the library's clean point).
'use strict';

(async () => {
  const name = new URLSearchParams(location.search).get('name') || '';
  let data = null;
  let status = 0;
  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  const stateClass = {
    'clean point': 'clean', clean: 'clean', compromised: 'compromised', 'not hunted': 'unhunted',
  };
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
    const body = table.querySelector('tbody');
    body.textContent = '';
    for (const p of data.points.slice().reverse()) {
      const tr = CR.el('tr');
      tr.dataset.snapshot = p.snapshot;
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

  await CR.loadTexts();
  CR.apply(document);
  const r = await CR.api('/api/session');
  if (r.status === 401) {
    location.href = '/login.html';
    return;
  }
  CR.state.session = await r.json();
  document.getElementById('who-name').textContent = CR.state.session.user;
  CR.langButton(render);
  document.getElementById('logout').addEventListener('click', async () => {
    await CR.api('/api/logout', { method: 'POST', body: {} });
    location.href = '/login.html';
  });
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
