// Polls the login status so this tab continues by itself once the link is opened elsewhere.
(() => {
  const el = document.getElementById('login-status');
  if (!el) return;
  const statusUrl = el.dataset.statusUrl;
  const continueUrl = el.dataset.continueUrl;
  const messages = {
    completed: 'You are signed in in another tab. You can close this one.',
    expired: 'This sign-in email has expired. Ask for a new one.',
    superseded: 'A newer sign-in email was sent. Use the latest one.',
    locked: 'Too many wrong codes. Ask for a new email.',
  };
  let delay = 2000;
  const poll = async () => {
    try {
      const res = await fetch(statusUrl, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) {
        const { status } = await res.json();
        if (status === 'approved') { window.location.assign(continueUrl); return; }
        if (messages[status]) { el.textContent = messages[status]; return; }
      } else if (res.status === 400) {
        el.textContent = 'This sign-in has expired. Go back to the app and start again.';
        return;
      }
    } catch { /* network blip: try again */ }
    delay = Math.min(delay * 1.2, 10000);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);
})();
