// The "check your email" tab: polls the login status so it continues by itself once the link is
// opened or approved elsewhere, and counts down the resend cooldown. Texts come from the page
// (data attributes), so they are in the page's language; without JavaScript the buttons still work.
(() => {
  const status = document.getElementById('login-status');
  if (status) {
    const { statusUrl, continueUrl } = status.dataset;
    const final = ['completed', 'expired', 'superseded', 'locked', 'denied'];
    const delayed = document.getElementById('mail-delayed');
    let delay = 1500;
    const poll = async () => {
      try {
        const res = await fetch(statusUrl, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
        if (res.ok) {
          const { status: state, mail } = await res.json();
          if (state === 'approved') { window.location.assign(continueUrl); return; }
          // our mail relay is failing: the email is late, not lost (it is retried); waiting goes on
          if (delayed) delayed.hidden = !(state === 'pending' && mail === 'delayed');
          // the email was given up (the address was refused): no link or code will come
          const undeliverable = state === 'pending' && mail === 'failed';
          if (final.includes(state) || undeliverable) {
            status.textContent = undeliverable ? status.dataset.undeliverable : status.dataset[state];
            // nothing left to type or confirm here; a new email (resend) or another address remain
            for (const el of document.querySelectorAll('[data-pending-only]')) el.hidden = true;
            return;
          }
        } else if (res.status === 404) {
          status.textContent = status.dataset.gone;
          return;
        }
      } catch { /* a network blip: try again */ }
      delay = Math.min(delay * 1.2, 8000);
      setTimeout(poll, delay);
    };
    setTimeout(poll, delay);
  }

  const resend = document.getElementById('resend');
  const waitText = document.getElementById('resend-wait');
  if (resend && waitText) {
    let left = Number(resend.dataset.wait || 0);
    const tick = () => {
      if (left <= 0) {
        resend.disabled = false;
        waitText.textContent = '';
        return;
      }
      waitText.textContent = resend.dataset.waitText.replace('{s}', String(left));
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }
})();
