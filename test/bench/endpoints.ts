import { performance } from 'node:perf_hooks';
import type { HttpClient, Response } from './http-client.js';
import type { BenchClient } from './processes.js';
import { basicAuth, type ShardTarget, type TokenSet } from './sign-ins.js';
import { Samples } from './stats.js';

export const ENDPOINTS = ['discovery', 'jwks', 'userinfo', 'introspection', 'token_refresh', 'token_client_credentials'] as const;
export type EndpointName = (typeof ENDPOINTS)[number];

export interface EndpointTarget {
  /** worker i talks to shards[i % length] */
  shards: ShardTarget[];
  /** tokens from this run's sign-ins: worker i uses tokens[i] (its own refresh-token chain), issued by its shard */
  tokens: TokenSet[];
}

export interface EndpointResult {
  /** false when the server does not offer this (e.g. a grant type that is not enabled) */
  available: boolean;
  note?: string;
  requests: number;
  failed: number;
  perSecond: number;
  latency: Samples;
}

/**
 * One endpoint at fixed concurrency for a fixed time (and at most maxRequests): every worker sends
 * its next request as soon as the previous answered, over keep-alive connections.
 */
export async function runEndpoint(target: EndpointTarget, name: EndpointName, options: { concurrency: number; seconds: number; maxRequests: number }): Promise<EndpointResult> {
  const calls = target.shards.map((shard) => requestFor(shard, target.tokens, name));
  const call = (worker: number) => calls[worker % calls.length](worker);
  const counter = target.shards[0].http.counter;
  if (name === 'token_client_credentials') {
    // a grant the server does not offer answers 400 unsupported_grant_type (or unauthorized_client
    // when the server knows the grant but not for this client): one deliberate probe, then n/a
    const probe = await call(0);
    if (probe.status !== 200) {
      const error = safeJson(probe.body).error;
      if (error === 'unsupported_grant_type' || error === 'unauthorized_client') {
        counter.flag(counter.deliberate, 'token_client_credentials probe', `${probe.status} ${error}`);
        return { available: false, note: `n/a (not enabled: ${error})`, requests: 0, failed: 0, perSecond: NaN, latency: new Samples() };
      }
    }
  }
  if ((name === 'token_refresh' || name === 'userinfo' || name === 'introspection') && target.tokens.length < options.concurrency) {
    throw new Error(`${name} needs ${options.concurrency} token sets from the sign-ins, got ${target.tokens.length}`);
  }
  const latency = new Samples();
  let requests = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const worker = async (index: number) => {
    while (requests < options.maxRequests && performance.now() < deadline) {
      requests++;
      const t0 = performance.now();
      const res = await call(index);
      latency.add(performance.now() - t0);
      if (!ok(name, res)) {
        failed++;
        counter.flag(counter.unexpected, name, res.status);
        if (name === 'token_refresh') return; // its chain is broken: stop this worker rather than hammer with a spent token
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  const elapsed = performance.now() - started;
  return { available: true, requests, failed, perSecond: (requests - failed) / (elapsed / 1000), latency };
}

function requestFor({ http, client, machine }: ShardTarget, tokens: TokenSet[], name: EndpointName): (worker: number) => Promise<Response> {
  const json = { accept: 'application/json' };
  const form = { ...json, authorization: basicAuth(client), 'content-type': 'application/x-www-form-urlencoded' };
  switch (name) {
    case 'discovery':
      return () => http.request('/.well-known/openid-configuration', { headers: json });
    case 'jwks':
      return () => http.request('/jwks', { headers: json });
    case 'userinfo':
      return (i) => http.request('/me', { headers: { ...json, authorization: `Bearer ${tokens[i].accessToken}` } });
    case 'introspection':
      return (i) => http.request('/token/introspection', { method: 'POST', headers: form, body: new URLSearchParams({ token: tokens[i].accessToken }).toString() });
    case 'token_client_credentials':
      return () => http.request('/token', { method: 'POST', headers: { ...form, authorization: basicAuth(machine) }, body: 'grant_type=client_credentials' });
    case 'token_refresh':
      return async (i) => {
        const res = await http.request('/token', {
          method: 'POST',
          headers: form,
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens[i].refreshToken ?? '' }).toString(),
        });
        // refresh tokens rotate: the next request of this worker must use the new one
        if (res.status === 200) tokens[i].refreshToken = (JSON.parse(res.body) as { refresh_token?: string }).refresh_token;
        return res;
      };
  }
}

function ok(name: EndpointName, res: Response): boolean {
  if (res.status !== 200) return false;
  // an inactive token is a 200 too: it would mean the benchmark measured the cheap path
  if (name === 'introspection') return safeJson(res.body).active === true;
  return true;
}

function safeJson(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return {};
  }
}
