// Plans: every recovery plan of the console's plans folder with `plan check`'s result
// (/api/plans), and one plan (?name=): its problems with line numbers, its services by
// tier and start order, its drills with their reports, and the button that starts a
// drill (opérateur and admin; the server checks the role again).
'use strict';

(async () => {
  const name = new URLSearchParams(location.search).get('name');
  let list = null;
  let plan = null;
  let status = 0;
  let drillError = null;
  const roleKey = { viewer: 'viewer', operator: 'operator', admin: 'administrator' };
  const stateClass = { running: 'running', finished: 'finished', error: 'error', warning: 'warning' };

  function reportLinks(journal) {
    const base = '/api/report?plan=' + encodeURIComponent(name) + '&journal=' +
      encodeURIComponent(journal) + '&lang=' + CR.lang;
    const p = CR.el('span', { cls: 'links' });
    const view = CR.el('a', { key: 'Report (HTML)' });
    view.href = base + '&format=html';
    view.target = '_blank';
    view.rel = 'noopener';
    view.className = 'report-html';
    const md = CR.el('a', { key: 'Download (Markdown)' });
    md.href = base + '&format=md&download=1';
    md.className = 'report-md';
    const html = CR.el('a', { key: 'Download (HTML)' });
    html.href = base + '&format=html&download=1';
    p.append(view, md, html);
    return p;
  }

  function renderList() {
    const table = document.getElementById('plans');
    const body = table.querySelector('tbody');
    body.textContent = '';
    for (const p of list.plans) {
      const tr = CR.el('tr');
      tr.dataset.plan = p.name;
      const a = CR.el('a', { raw: p.name });
      a.href = 'plans.html?name=' + encodeURIComponent(p.name);
      tr.appendChild(CR.el('td', {}, [a]));
      tr.appendChild(CR.el('td', { raw: p.site || '' }));
      tr.appendChild(CR.el('td', { cls: 'num', raw: String(p.services) }));
      const check = CR.el('td');
      check.appendChild(p.errors
        ? CR.el('span', { cls: 'badge compromised', tr: CR.t('{n} error(s)', { n: p.errors }) })
        : CR.el('span', { cls: 'badge clean', key: 'No error' }));
      if (p.warnings) {
        check.appendChild(document.createTextNode(' '));
        check.appendChild(CR.el('span', { cls: 'badge late', tr: CR.t('{n} warning(s)', { n: p.warnings }) }));
      }
      tr.appendChild(check);
      body.appendChild(tr);
    }
    table.hidden = list.plans.length === 0;
  }

  function renderPlan() {
    document.getElementById('plan-name').textContent = plan.name;
    const sum = document.getElementById('check-summary');
    sum.textContent = '';
    sum.appendChild(plan.errors
      ? CR.el('span', { cls: 'badge compromised', tr: CR.t('{n} error(s)', { n: plan.errors }) })
      : CR.el('span', { cls: 'badge clean', key: 'No error' }));
    if (plan.warnings) {
      sum.appendChild(document.createTextNode(' '));
      sum.appendChild(CR.el('span', { cls: 'badge late', tr: CR.t('{n} warning(s)', { n: plan.warnings }) }));
    }
    const probs = document.getElementById('problems');
    probs.textContent = '';
    for (const p of plan.problems) {
      // the checker's own words (English, as `plan check` prints them), with the line
      probs.appendChild(CR.el('li', {}, [
        CR.el('span', { cls: 'badge ' + stateClass[p.level], key: p.level }),
        document.createTextNode(' '),
        CR.el('span', { cls: 'detail', tr: CR.t('line {line}', { line: p.line }) }),
        document.createTextNode(' '),
        CR.el('span', { raw: p.message }),
      ]));
    }
    // The start order as a picture: one box per tier, each service with what it needs.
    const tiers = document.getElementById('tiers');
    tiers.textContent = '';
    for (let t = 0; t <= 3; t++) {
      const svcs = plan.services.filter((s) => s.tier === t);
      if (!svcs.length) continue;
      const ul = CR.el('ul');
      for (const s of svcs) {
        const li = CR.el('li', {}, [CR.el('b', { raw: s.name })]);
        if (s.depends_on.length) {
          li.appendChild(document.createTextNode(' '));
          li.appendChild(CR.el('span', { cls: 'detail', tr: CR.t('depends on {list}', { list: s.depends_on.join(', ') }) }));
        }
        ul.appendChild(li);
      }
      const box = CR.el('div', { cls: 'tier' }, [CR.el('h4', { tr: CR.t('Tier {n}', { n: t }) }), ul]);
      box.dataset.tier = String(t);
      tiers.appendChild(box);
    }
    const order = document.getElementById('order');
    order.textContent = '';
    for (const n of plan.order) order.appendChild(CR.el('li', { raw: n }));
    const sess = CR.state.session;
    const btn = document.getElementById('start-drill');
    btn.hidden = sess.role === 'viewer' || plan.errors > 0;
    const dm = document.getElementById('drill-message');
    dm.hidden = !drillError && !plan.errors;
    if (drillError) {
      dm.dataset.i18n = drillError;
      dm.textContent = CR.t(drillError);
    } else if (plan.errors) {
      dm.dataset.i18n = 'The plan has errors: fix them before a drill.';
      dm.textContent = CR.t(dm.dataset.i18n);
    }
    const drills = document.getElementById('drills');
    drills.textContent = '';
    if (!plan.drills.length) drills.appendChild(CR.el('li', { key: 'No drill yet.' }));
    for (const d of plan.drills) {
      const li = CR.el('li');
      li.dataset.journal = d.journal;
      const a = CR.el('a', { raw: d.journal });
      a.href = 'drill.html?plan=' + encodeURIComponent(plan.name) + '&id=' + encodeURIComponent(d.journal);
      li.appendChild(CR.el('span', { cls: 'badge ' + (d.running ? 'running' : 'finished'), key: d.running ? 'running' : 'finished' }));
      li.append(document.createTextNode(' '), a, document.createTextNode(' '));
      if (!d.running) li.appendChild(reportLinks(d.journal));
      drills.appendChild(li);
    }
    document.getElementById('plan').hidden = false;
  }

  function render() {
    const sess = CR.state.session;
    const who = document.getElementById('who-role');
    who.dataset.i18n = roleKey[sess.role];
    who.textContent = CR.t(roleKey[sess.role]);
    const msg = document.getElementById('message');
    msg.hidden = true;
    if (!list) {
      msg.dataset.i18n = status ? 'The vault cannot be read right now.' : 'Loading…';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
      return;
    }
    renderList();
    if (!list.plans.length) {
      msg.dataset.i18n = 'No plan: put plan files (.yaml) in the console\'s plans folder.';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
    }
    if (name && !plan && status === 404) {
      msg.dataset.i18n = 'No such plan.';
      msg.textContent = CR.t(msg.dataset.i18n);
      msg.hidden = false;
    }
    if (plan) renderPlan();
  }

  if (!(await CR.startPage(render))) return;
  render();
  const l = await CR.api('/api/plans');
  status = l.status;
  list = l.ok ? await l.json() : null;
  if (name) {
    const p = await CR.api('/api/plan?name=' + encodeURIComponent(name));
    status = p.status;
    plan = p.ok ? await p.json() : null;
  }
  document.getElementById('start-drill').addEventListener('click', async () => {
    const s = await CR.api('/api/drill', { method: 'POST', body: { plan: name } });
    if (s.status === 202) {
      const j = await s.json();
      location.href = 'drill.html?plan=' + encodeURIComponent(name) + '&id=' + encodeURIComponent(j.id);
      return;
    }
    drillError = s.status === 409 ? 'A drill is already running.'
      : s.status === 403 ? 'Your role does not allow this.'
        : s.status === 422 ? 'The plan has errors: fix them before a drill.'
          : 'The console cannot be reached.';
    render();
  });
  render();
  document.body.dataset.lang = CR.lang;
  document.body.dataset.ready = '1';
})();
