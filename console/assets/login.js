// The login page: POST /api/login, then the dashboard.
'use strict';

(async () => {
  await CR.loadTexts();
  CR.apply(document);
  CR.langButton();
  document.body.dataset.lang = CR.lang;
  document.body.dataset.ready = '1';
  const form = document.getElementById('login-form');
  const err = document.getElementById('login-error');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = document.getElementById('user').value;
    const password = document.getElementById('password').value;
    let key;
    try {
      const r = await CR.api('/api/login', { method: 'POST', body: { user, password } });
      if (r.ok) {
        location.href = '/index.html';
        return;
      }
      key = r.status === 429 ? 'Too many wrong passwords: wait before trying again.'
        : r.status === 401 || r.status === 400 ? 'Wrong account or password.'
          : 'The console cannot be reached.';
    } catch (e) {
      key = 'The console cannot be reached.';
    }
    err.dataset.i18n = key;
    err.textContent = CR.t(key);
    err.hidden = false;
  });
})();
