import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import { AppError } from '../shared/errors.js';

const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

/**
 * Form bodies for our own routes only (oidc-provider parses its own). Small (413 above 16 kB);
 * a repeated or nested field parses to an array or object, which `field` refuses to read as text.
 * A body that cannot be read (a `Content-Encoding: gzip` that is not gzip, a truncated stream) is
 * the client's mistake: 400, never 500.
 */
export const formBody: Middleware = async (ctx, next) => {
  try {
    await parseForm(ctx, async () => {});
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) throw error;
    throw new AppError('bad_request', 400, 'The request could not be read.', { cause: error });
  }
  await next();
};

export function field(body: unknown, name: string): string | undefined {
  if (!body || typeof body !== 'object' || !Object.hasOwn(body, name)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** True when the field was sent more than once or as a structure: "one address only". */
export function isMalformedField(body: unknown, name: string): boolean {
  if (!body || typeof body !== 'object' || !Object.hasOwn(body, name)) return false;
  return typeof (body as Record<string, unknown>)[name] !== 'string';
}
