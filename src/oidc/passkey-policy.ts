import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_EMAIL, ACR_PASSKEY } from './acr.js';

const { Check, Prompt, base } = interactionPolicy;

/** The prompt shown when the app demands a passkey and this session has not (recently) used one. */
export const PASSKEY_PROMPT = 'passkey';
/** The prompt that offers a passkey right after a sign-in by email. */
export const PASSKEY_OFFER_PROMPT = 'passkey_offer';

/** Set by the email page's script when the browser has a platform authenticator with user verification. */
export const PASSKEY_CAPABLE_COOKIE = 'sesame.passkey_capable';
/** Signed; set when the offer was declined or taken on this browser, so it is not asked again for a while. */
export const PASSKEY_OFFER_COOKIE = 'sesame.passkey_offer';

/**
 * An app demands a passkey with `acr_values` naming the passkey acr and not the email one (the
 * values are listed in order of preference: an app that lists both takes either). `claims`
 * requesting an essential acr is handled by oidc-provider's own login checks.
 */
export function passkeyDemanded(params: { acr_values?: unknown }): boolean {
  const values = typeof params.acr_values === 'string' ? params.acr_values.split(' ') : [];
  return values.includes(ACR_PASSKEY) && !values.includes(ACR_EMAIL);
}

/**
 * oidc-provider's interaction policy with passkeys: step-up before the login prompt (the session
 * must have been proven by a passkey, within `max_age` when the app sent one, and again when it
 * sent prompt=login), and the offer after
 * consent, only on a resume that carries a fresh sign-in by email.
 */
export function passkeyPolicy(enabled: boolean): interactionPolicy.DefaultPolicy {
  const policy = base();
  if (!enabled) return policy;
  policy.add(new Prompt(
    { name: PASSKEY_PROMPT, requestable: false },
    new Check('passkey_required', 'the app requires a sign-in with a passkey', 'login_required', (ctx) => {
      const { oidc } = ctx;
      if (!passkeyDemanded(oidc.params ?? {})) return Check.NO_NEED_TO_PROMPT;
      const { session } = oidc;
      if (!session?.accountId || session.acr !== ACR_PASSKEY) return Check.REQUEST_PROMPT;
      // a passkey just used in this interaction is fresh; otherwise prompt=login (max_age=0 becomes
      // that) and an older sign-in than max_age ask for it again, here rather than on the email page
      if (oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      if (oidc.prompts.has('login')) return Check.REQUEST_PROMPT;
      const maxAge = oidc.params?.max_age;
      return maxAge !== undefined && session.past(Number(maxAge)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  ), 0);
  policy.add(new Prompt(
    { name: PASSKEY_OFFER_PROMPT, requestable: false },
    new Check('passkey_offer', 'a passkey may be added after a sign-in by email', (ctx) => (offerDue(ctx) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT)),
  ));
  return policy;
}

function offerDue(ctx: KoaContextWithOIDC): boolean {
  const login = ctx.oidc.result?.login as { amr?: unknown } | undefined;
  if (!Array.isArray(login?.amr) || !login.amr.includes('email')) return false;
  if (ctx.cookies.get(PASSKEY_CAPABLE_COOKIE) !== '1') return false;
  return !ctx.cookies.get(PASSKEY_OFFER_COOKIE, { signed: true });
}
