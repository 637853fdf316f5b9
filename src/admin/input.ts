import { AppError } from '../shared/errors.js';

/**
 * Reading what an admin API caller sent, strictly: unknown fields and repeated parameters are
 * refused, every problem is a 422 that names its field. No koa here: the routes hand over
 * `ctx.request.body` and `ctx.query`.
 */
export const invalid = (problems: string[]) =>
  new AppError('invalid_request', 422, problems.join('; '), { params: { details: problems.join('; ') } });

/** A JSON object with only the named fields (an absent body counts as `{}`). */
export function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid(['body: must be a JSON object']);
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length) throw invalid(unknown.map((key) => `${key}: unknown field${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`));
  return body as Record<string, unknown>;
}

/** Query parameters with only the named ones, each given at most once. */
export function queryParams(query: Record<string, string | string[] | undefined>, allowed: readonly string[]): Record<string, string | undefined> {
  const problems: string[] = [];
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(query)) {
    if (!allowed.includes(key)) problems.push(`${key}: unknown parameter${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
    else if (Array.isArray(value)) problems.push(`${key}: given more than once`);
    else out[key] = value;
  }
  if (problems.length) throw invalid(problems);
  return out;
}

/** `limit` of a list: a whole number from 1 to `max`. */
export function limitParam(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > max) throw invalid([`limit: a whole number from 1 to ${max}`]);
  return limit;
}

export function stringField(body: Record<string, unknown>, name: string, { required = false } = {}): string | undefined {
  const value = body[name];
  if (value === undefined) {
    if (required) throw invalid([`${name}: required`]);
    return undefined;
  }
  if (typeof value !== 'string') throw invalid([`${name}: must be a string`]);
  return value;
}

export function integerField(body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid([`${name}: a whole number from ${min} to ${max}`]);
  return value;
}
