import type { Context } from 'koa';
import { KeyedHasher, randomToken } from '../shared/crypto.js';
import { forbidden } from '../shared/errors.js';

const COOKIE = 'sesame.csrf';

/**
 * CSRF tokens bound to a browser and to one purpose (an interaction, a link): the form field is
 * an HMAC of the browser's random CSRF cookie and the purpose, so a token from one form or one
 * browser is worthless anywhere else. The cookie is HttpOnly and SameSite=Lax.
 */
export class Csrf {
  readonly #hasher: KeyedHasher;

  constructor(keys: readonly string[]) {
    this.#hasher = new KeyedHasher(keys);
  }

  token(ctx: Context, purpose: string): string {
    let secret = ctx.cookies.get(COOKIE, { signed: true });
    if (!secret) {
      secret = randomToken(24);
      ctx.cookies.set(COOKIE, secret, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true });
    }
    return this.#hasher.hash('csrf', `${secret}:${purpose}`);
  }

  verify(ctx: Context, purpose: string, submitted: unknown): void {
    const secret = ctx.cookies.get(COOKIE, { signed: true });
    if (!secret || typeof submitted !== 'string' || !this.#hasher.verify('csrf', `${secret}:${purpose}`, submitted)) {
      throw forbidden('csrf_failed', 'This form has expired. Go back, reload the page and try again.');
    }
  }
}
