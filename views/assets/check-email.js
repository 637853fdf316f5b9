// The "check your email" tab. It polls the login status so it goes on by itself once the link is
// opened or approved elsewhere; when the state changes, the whole card is replaced by the
// outcome, rendered by the server in the page's language (<template data-outcome=…>), so nothing
// stale stays on screen. It also counts down the resend cooldown. Without JavaScript the page
// offers "I approved it, continue" instead, and every button still works.
(() => {
  const wait = document.getElementById('wait');
  if (!wait || wait.dataset.state !== 'waiting') return;
  const { statusUrl, continueUrl } = wait.dataset;
  // "this page goes on by itself": true now that this script runs
  const waitingLine = document.getElementById('login-status');
  if (waitingLine) waitingLine.hidden = false;

  const show = (state) => {
    const template = document.querySelector(`template[data-outcome="${state}"]`);
    if (!template) return false;
    wait.replaceChildren(template.content.cloneNode(true));
    wait.dataset.state = state;
    const heading = wait.querySelector('h1');
    if (heading) {
      document.title = `${heading.textContent} · ${document.title.split(' · ').pop()}`;
      // a screen reader hears the new heading; the keyboard starts from it
      heading.focus();
    }
    return true;
  };

  /** The page's state for an answer of /status (the same decision as waitStateOf on the server). */
  const stateOf = ({ status, mail, reason }) => {
    if (status === 'pending') return mail === 'failed' ? 'undeliverable' : 'waiting';
    if (status === 'denied' && reason === 'mismatch') return 'mismatch';
    return status;
  };

  // our mail relay is failing: the email is late, not lost (it is retried); waiting goes on
  const delayed = document.getElementById('mail-delayed');
  // the person sent a form of this page (the code, a new email…): its answer decides where the tab
  // goes; a look at the status now would race it and could send the tab elsewhere mid-submission
  let submitted = false;
  document.addEventListener('submit', () => { submitted = true; });
  // the server says how often (Sesame's defaults: after 1.5 s, then 1.2 times longer each time, up to 8 s)
  const maxDelay = Number(wait.dataset.pollMaxMs) || 8000;
  let delay = Number(wait.dataset.pollFirstMs) || 1500;
  const poll = async () => {
    if (submitted) return;
    try {
      const res = await fetch(statusUrl, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) {
        const answer = await res.json();
        if (submitted) return;
        if (delayed) delayed.hidden = !(answer.status === 'pending' && answer.mail === 'delayed');
        const state = stateOf(answer);
        // approved: the server finishes the sign-in and sends this tab on to the app
        if (state === 'approved') { window.location.assign(continueUrl); return; }
        if (state !== 'waiting' && show(state)) return;
      } else if (res.status === 404 && show('gone')) {
        return;
      }
    } catch { /* a network blip: try again */ }
    delay = Math.min(delay * 1.2, maxDelay);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);

  const resend = document.getElementById('resend');
  const waitText = document.getElementById('resend-wait');
  if (resend && waitText) {
    let left = Number(resend.dataset.wait || 0);
    const tick = () => {
      if (!resend.isConnected) return;
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
