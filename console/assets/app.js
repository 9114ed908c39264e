// cleanroom console: what every page shares. The texts come from the server's
// gettext catalogue (/api/i18n), the same one as the command line's; an element
// shows a text by naming its message id in data-i18n (translated again when the
// language changes), or is filled by t() and marked data-tr (the page renders it
// again), or holds data from the vault and is marked data-raw.
'use strict';

const CR = (() => {
  let texts = {};
  let lang = 'fr';
  const missing = new Set();
  const state = { session: null };

  function chosenLang() {
    return localStorage.getItem('cr-lang') === 'en' ? 'en' : 'fr';
  }

  // The text of msgid in the page's language; {name} replaced from vars.
  function t(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : null;
    if (s === null) {
      missing.add(key);
      s = key;
    }
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    }
    return s;
  }

  async function loadTexts() {
    lang = chosenLang();
    const r = await fetch('/api/i18n?lang=' + lang, { credentials: 'same-origin' });
    const j = await r.json();
    texts = j.texts || {};
    for (const k of j.missing || []) missing.add(k);
    document.documentElement.lang = lang;
  }

  function apply(root) {
    root.querySelectorAll('[data-i18n]').forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    document.title = t('cleanroom console');
  }

  // An element with a translated text (msgid) or data (raw), never HTML from a string.
  function el(tag, opts, children) {
    const e = document.createElement(tag);
    opts = opts || {};
    if (opts.cls) e.className = opts.cls;
    if (opts.key !== undefined) {
      e.dataset.i18n = opts.key;
      e.textContent = t(opts.key);
    } else if (opts.tr !== undefined) {
      e.dataset.tr = '';
      e.textContent = opts.tr;
    } else if (opts.raw !== undefined) {
      e.dataset.raw = '';
      e.textContent = opts.raw;
    }
    if (opts.title) e.title = opts.title;
    for (const c of children || []) e.appendChild(c);
    return e;
  }

  async function api(path, opts) {
    opts = opts || {};
    const headers = {};
    const method = opts.method || 'GET';
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (method === 'POST' && state.session) headers['X-CSRF-Token'] = state.session.csrf;
    return fetch(path, {
      method,
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      credentials: 'same-origin',
    });
  }

  // The language button: the other language, named in itself.
  function langButton(rerender) {
    document.getElementById('lang').addEventListener('click', async () => {
      localStorage.setItem('cr-lang', lang === 'fr' ? 'en' : 'fr');
      await loadTexts();
      apply(document);
      if (rerender) rerender();
      document.body.dataset.lang = lang;
    });
  }

  // The start of every page behind the login: the texts, the session (else the login
  // page: false), the user's name, the language and logout buttons.
  async function startPage(rerender) {
    await loadTexts();
    apply(document);
    const r = await api('/api/session');
    if (r.status === 401) {
      location.href = '/login.html';
      return false;
    }
    state.session = await r.json();
    document.getElementById('who-name').textContent = state.session.user;
    langButton(rerender);
    document.getElementById('logout').addEventListener('click', async () => {
      await api('/api/logout', { method: 'POST', body: {} });
      location.href = '/login.html';
    });
    return true;
  }

  // "3 d", "5 h", "12 min", "40 s": the unit `cleanroom status` uses.
  function age(seconds) {
    const s = Math.max(0, seconds);
    if (s >= 2 * 86400) return t('{n} d', { n: Math.floor(s / 86400) });
    if (s >= 2 * 3600) return t('{n} h', { n: Math.floor(s / 3600) });
    if (s >= 120) return t('{n} min', { n: Math.floor(s / 60) });
    return t('{n} s', { n: s });
  }

  return { t, loadTexts, apply, el, api, langButton, startPage, age, missing, state,
           get lang() { return lang; } };
})();
