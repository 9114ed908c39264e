// Guided restore: a source, then its restore points with the clean point proposed first
// (the library's verdicts, /api/source), a warning on any other point and the risk to
// accept when the restore gate flags it, a new target folder, the source's name typed to
// confirm, then the restore followed live (/api/restore/events). opérateur and admin.
'use strict';

(async () => {
  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  const stateClass = {
    'clean point': 'clean', clean: 'clean', compromised: 'compromised', 'not hunted': 'unhunted',
    'hunt record missing': 'compromised', running: 'running', finished: 'finished', failed: 'failed',
  };
  let sources = [];
  let points = [];
  let end = null;
  let started = false;
  let progress = null;
  let error = null;

  function when(iso) {
    return iso.slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function chosen() {
    const r = document.querySelector('input[name="point"]:checked');
    return r ? points.find((p) => p.snapshot === r.value) : null;
  }

  function update() {
    const p = chosen();
    const src = document.getElementById('source').value;
    const flagged = p && (p.state === 'compromised' || p.state === 'hunt record missing');
    document.getElementById('risk-warning').hidden = !p || p.state === 'clean point';
    document.getElementById('risk-label').hidden = !flagged;
    document.getElementById('confirm-name').textContent = src;
    const ok = src && p && document.getElementById('target').value.trim() &&
      document.getElementById('confirm').value === src &&
      (!flagged || document.getElementById('accept-risk').checked) && !started;
    document.getElementById('restore-go').disabled = !ok;
  }

  function renderPoints() {
    const ul = document.getElementById('points');
    const keep = chosen();
    ul.textContent = '';
    // the clean point first (checked), then the others, newest first
    const list = points.filter((p) => p.clean_point).concat(points.filter((p) => !p.clean_point).reverse());
    for (const p of list) {
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'point';
      input.value = p.snapshot;
      input.checked = keep ? keep.snapshot === p.snapshot : p.clean_point;
      input.addEventListener('change', update);
      const li = CR.el('li', {}, [CR.el('label', {}, [input, document.createTextNode(' '),
        CR.el('code', { raw: p.snapshot.slice(0, 8) }), document.createTextNode(' '),
        CR.el('span', { raw: when(p.time) }), document.createTextNode(' '),
        CR.el('span', { cls: 'badge ' + stateClass[p.state], key: p.state })])]);
      li.dataset.snapshot = p.snapshot;
      li.dataset.state = p.state;
      ul.appendChild(li);
    }
  }

  function render() {
    const sess = CR.state.session;
    const who = document.getElementById('who-role');
    who.dataset.i18n = roleKey[sess.role];
    who.textContent = CR.t(roleKey[sess.role]);
    const sel = document.getElementById('source');
    sel.options[0].textContent = CR.t('Choose a source');
    renderPoints();
    const msg = document.getElementById('message');
    msg.hidden = !error;
    if (error) {
      msg.dataset.i18n = error;
      msg.textContent = CR.t(error);
    }
    const st = document.getElementById('restore-state');
    st.textContent = '';
    document.getElementById('progress').hidden = !started;
    if (started) {
      const state = end ? (end.status === 'ok' ? 'finished' : 'failed') : 'running';
      st.dataset.state = state;
      st.appendChild(CR.el('span', { cls: 'badge ' + stateClass[state], key: state }));
      if (end) {
        st.appendChild(document.createTextNode(' '));
        st.appendChild(CR.el('span', { tr: CR.t('The restore ended: {files} file(s).', end) }));
      }
      document.getElementById('restore-bytes').textContent = progress
        ? progress.bytes_done + ' / ' + progress.bytes_total + ' B' : '';
    }
    update();
  }

  async function loadPoints() {
    const name = document.getElementById('source').value;
    points = [];
    if (name) {
      const r = await CR.api('/api/source?name=' + encodeURIComponent(name));
      points = r.ok ? (await r.json()).points : [];
    }
    render();
  }

  if (!(await CR.startPage(render))) return;
  const s = await CR.api('/api/sources');
  sources = s.ok ? (await s.json()).sources.filter((x) => x.snapshot) : [];
  const sel = document.getElementById('source');
  for (const x of sources) {
    const o = document.createElement('option');
    o.value = x.source;
    o.textContent = x.source;
    o.dataset.raw = '';
    sel.appendChild(o);
  }
  const want = new URLSearchParams(location.search).get('source');
  if (want) sel.value = want;
  sel.addEventListener('change', loadPoints);
  for (const id of ['target', 'confirm', 'accept-risk']) {
    document.getElementById(id).addEventListener('input', update);
    document.getElementById(id).addEventListener('change', update);
  }
  document.getElementById('wizard').addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = chosen();
    const res = await CR.api('/api/restore', { method: 'POST', body: {
      source: sel.value, snapshot: p.snapshot, target: document.getElementById('target').value.trim(),
      confirm: document.getElementById('confirm').value,
      accept_risk: document.getElementById('accept-risk').checked,
    } });
    if (res.status !== 202) {
      const j = await res.json().catch(() => ({}));
      error = res.status === 403 ? 'Your role does not allow this.'
        : j.error === 'refused' ? 'The restore gate refuses this restore point.'
          : j.error === 'target-not-empty' ? 'The target folder holds data: choose a new name.'
            : j.error === 'busy' ? 'A drill is already running.'
              : 'The console cannot be reached.';
      render();
      return;
    }
    error = null;
    started = true;
    const job = await res.json();
    render();
    const es = new EventSource('/api/restore/events?id=' + encodeURIComponent(job.id));
    es.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (ev.type === 'progress') progress = ev.kv;
      if (ev.type === 'restore-end') {
        end = ev.kv;
        es.close();
      }
      render();
    };
  });
  await loadPoints();
  document.body.dataset.lang = CR.lang;
  document.body.dataset.ready = '1';
})();
