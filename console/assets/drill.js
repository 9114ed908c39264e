// A drill, live: its journal entries and progress as Server-Sent Events
// (/api/drill/events, replayed from the start for a late viewer), one row per service
// (tier, phase, bytes, status), one box per tier, and the report once it ended.
'use strict';

(async () => {
  const q = new URLSearchParams(location.search);
  const planName = q.get('plan') || '';
  const id = q.get('id') || '';
  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  // the recovery's phases and a service's outcome, in words of the catalogue
  const stateClass = {
    waiting: 'waiting', restoring: 'running', starting: 'running', probing: 'running',
    done: 'done', failed: 'failed', blocked: 'blocked',
  };
  const phaseKey = { wait: 'waiting', restore: 'restoring', start: 'starting', probe: 'probing' };
  const services = new Map(); // name -> {tier, phase, done, total, status}
  let overall = null;
  let end = null;
  let unknown = false;

  function size(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    n = Number(n) || 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }

  function svc(name) {
    if (!services.has(name)) services.set(name, { tier: null, phase: 'waiting', done: 0, total: 0, status: null });
    return services.get(name);
  }

  function onEvent(ev) {
    const kv = ev.kv || {};
    if (ev.type === 'drill-end') {
      end = kv;
      return;
    }
    if (!ev.service) {
      if (ev.type === 'progress') overall = kv;
      return;
    }
    const s = svc(ev.service);
    if (kv.tier !== undefined) s.tier = Number(kv.tier);
    if (ev.type === 'progress') {
      s.phase = phaseKey[kv.phase] || 'waiting';
      s.done = Number(kv.bytes_done);
      s.total = Number(kv.bytes_total);
    } else if (ev.type === 'restore-start') {
      s.phase = 'restoring';
    } else if (ev.type === 'start-command') {
      s.phase = 'starting';
    } else if (ev.type === 'probe') {
      s.phase = 'probing';
    } else if (ev.type === 'service-done') {
      s.status = kv.status === 'ok' ? 'done' : 'failed';
      s.phase = s.status;
      if (s.total) s.done = s.total;
    } else if (ev.type === 'service-blocked') {
      s.status = 'blocked';
      s.phase = 'blocked';
    }
  }

  function render() {
    const sess = CR.state.session;
    const who = document.getElementById('who-role');
    who.dataset.i18n = roleKey[sess.role];
    who.textContent = CR.t(roleKey[sess.role]);
    document.getElementById('plan-name').textContent = planName;
    document.getElementById('journal').textContent = id;
    const st = document.getElementById('drill-state');
    st.textContent = '';
    const state = end || unknown ? 'finished' : 'running';
    st.dataset.state = state;
    st.appendChild(CR.el('span', { cls: 'badge ' + state, key: state }));
    if (end) {
      st.appendChild(document.createTextNode(' '));
      st.appendChild(CR.el('span', { tr: CR.t('The drill ended: {ok} service(s) back, {failed} failed, {blocked} blocked.', end) }));
      st.dataset.status = end.status;
    }
    const ov = document.getElementById('overall');
    ov.textContent = '';
    if (overall && !end) {
      ov.appendChild(CR.el('span', { tr: CR.t('Elapsed {t}', { t: CR.age(Math.round(Number(overall.elapsed))) }) }));
      ov.appendChild(document.createTextNode(' · '));
      ov.appendChild(CR.el('span', { raw: size(overall.bytes_done) + ' / ' + size(overall.bytes_total) }));
      ov.appendChild(document.createTextNode(' · '));
      ov.appendChild(CR.el('span', { tr: CR.t('ETA {t}', { t: CR.age(Math.round(Number(overall.eta))) }) }));
    }
    const body = document.querySelector('#services tbody');
    body.textContent = '';
    const rows = [...services.entries()].sort((a, b) => (a[1].tier ?? 9) - (b[1].tier ?? 9));
    for (const [name, s] of rows) {
      const tr = CR.el('tr');
      tr.dataset.service = name;
      tr.dataset.status = s.status || '';
      tr.appendChild(CR.el('td', { cls: 'num', raw: s.tier === null ? '' : String(s.tier) }));
      tr.appendChild(CR.el('td', { raw: name }));
      tr.appendChild(CR.el('td', {}, [CR.el('span', { cls: 'badge ' + stateClass[s.phase], key: s.phase })]));
      tr.appendChild(CR.el('td', { cls: 'num', raw: s.total ? size(s.done) + ' / ' + size(s.total) : '' }));
      tr.appendChild(CR.el('td', {}, s.status ? [CR.el('span', { cls: 'badge ' + stateClass[s.status], key: s.status })] : []));
      body.appendChild(tr);
    }
    // Each tier: done when all its services are back, failed when one is not.
    const tiers = document.getElementById('tiers');
    tiers.textContent = '';
    for (let t = 0; t <= 3; t++) {
      const list = rows.filter(([, s]) => s.tier === t);
      if (!list.length) continue;
      const failed = list.some(([, s]) => s.status === 'failed' || s.status === 'blocked');
      const done = list.every(([, s]) => s.status === 'done');
      const state = failed ? 'failed' : done ? 'done' : 'waiting';
      const box = CR.el('div', { cls: 'tier ' + state }, [
        CR.el('h4', { tr: CR.t('Tier {n}', { n: t }) }),
        CR.el('span', { cls: 'badge ' + stateClass[state], key: state }),
      ]);
      box.dataset.tier = String(t);
      box.dataset.state = state;
      tiers.appendChild(box);
    }
    const rep = document.getElementById('report');
    rep.hidden = !(end || unknown);
    if (!rep.hidden) {
      const base = '/api/report?plan=' + encodeURIComponent(planName) + '&journal=' +
        encodeURIComponent(id) + '&lang=' + CR.lang;
      const links = document.getElementById('report-links');
      links.textContent = '';
      links.className = 'links';
      const view = CR.el('a', { key: 'Report (HTML)' });
      view.href = base + '&format=html';
      view.target = '_blank';
      view.rel = 'noopener';
      view.id = 'report-html';
      const md = CR.el('a', { key: 'Download (Markdown)' });
      md.href = base + '&format=md&download=1';
      md.id = 'report-md';
      const html = CR.el('a', { key: 'Download (HTML)' });
      html.href = base + '&format=html&download=1';
      links.append(view, md, html);
    }
  }

  if (!(await CR.startPage(render))) return;
  document.getElementById('back').href = 'plans.html?name=' + encodeURIComponent(planName);
  const p = await CR.api('/api/plan?name=' + encodeURIComponent(planName));
  if (p.ok) {
    for (const s of (await p.json()).services) svc(s.name).tier = s.tier;
  }
  render();
  document.body.dataset.lang = CR.lang;
  const d = await CR.api('/api/drill?id=' + encodeURIComponent(id));
  if (!d.ok) {
    // a drill of an earlier run of the console: its journal and report remain
    unknown = true;
    render();
    document.body.dataset.ready = '1';
    return;
  }
  const es = new EventSource('/api/drill/events?id=' + encodeURIComponent(id));
  let pending = false;
  es.onmessage = (m) => {
    onEvent(JSON.parse(m.data));
    if (end) es.close(); // the server ends the stream; do not reconnect
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; render(); });
    }
  };
  es.onerror = () => {
    if (!end) {
      const msg = document.getElementById('message');
      msg.dataset.i18n = 'The console cannot be reached.';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
    }
  };
  document.body.dataset.ready = '1';
})();
