import { bodyParser } from '@koa/bodyparser';

/**
 * Form bodies for our own routes only (oidc-provider parses its own). Small (413 above 16 kB);
 * a repeated or nested field parses to an array or object, which `field` refuses to read as text.
 */
export const formBody = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

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
