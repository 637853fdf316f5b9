// Passkeys on Sesame's pages, with @simplewebauthn/browser (webauthn.js, the global
// SimpleWebAuthnBrowser). Each [data-passkey] block names its ceremony (authenticate, register),
// where to get the options and where to send the answer; the server answers {location} to go on.
// Without WebAuthn the blocks stay hidden and the emailed link (or "Not now") remains.
(() => {
  const lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;

  // tells the server this browser can hold a passkey, so the offer after an emailed sign-in is made here
  lib.platformAuthenticatorIsAvailable().then((available) => {
    if (!available) return;
    const secure = window.location.protocol === 'https:' ? '; Secure' : '';
    document.cookie = `sesame.passkey_capable=1; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  }).catch(() => {});

  const post = async (url, body) => {
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(answer.error || String(res.status)), { server: true });
    return answer;
  };

  for (const block of document.querySelectorAll('[data-passkey]')) {
    const { passkey: kind, optionsUrl, verifyUrl, csrf } = block.dataset;
    const button = block.querySelector('[data-passkey-start]');
    const error = block.querySelector('[data-passkey-error]');
    const nameField = document.getElementById('passkey-name');

    const run = async (autofill) => {
      if (error) error.hidden = true;
      try {
        const optionsJSON = await post(optionsUrl, { csrf });
        const response = kind === 'register'
          ? await lib.startRegistration({ optionsJSON })
          : await lib.startAuthentication({ optionsJSON, useBrowserAutofill: autofill });
        const { location } = await post(verifyUrl, { csrf, response, ...(nameField ? { name: nameField.value } : {}) });
        window.location.assign(location);
      } catch (e) {
        // a ceremony replaced by another (the button after autofill) or cancelled by the person: no message
        if (e && (e.name === 'AbortError' || e.code === 'ERROR_CEREMONY_ABORTED')) return;
        if (autofill && !e.server) return;
        if (error) {
          error.textContent = block.dataset.failed;
          error.hidden = false;
        }
      }
    };

    block.hidden = false;
    if (button) button.addEventListener('click', () => run(false));
    if (kind === 'authenticate' && 'autofill' in block.dataset) {
      lib.browserSupportsWebAuthnAutofill().then((yes) => yes && run(true)).catch(() => {});
    }
  }
})();
