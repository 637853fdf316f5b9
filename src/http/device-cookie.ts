import type { Context } from 'koa';
import { randomToken } from '../shared/crypto.js';

const COOKIE = 'sesame.device';
const MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * The binding cookie: a random secret of the browser that asked for a link. Its keyed hash is
 * stored with the login request, so opening the link in the same browser is recognised (one click)
 * and anywhere else is not.
 */
export function deviceSecret(ctx: Context): string | undefined {
  return ctx.cookies.get(COOKIE, { signed: true }) || undefined;
}

export function ensureDeviceSecret(ctx: Context): string {
  const existing = deviceSecret(ctx);
  if (existing) return existing;
  const secret = randomToken(32);
  ctx.cookies.set(COOKIE, secret, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: MAX_AGE_MS, overwrite: true });
  return secret;
}
