import { expect } from 'chai';
import type { Metadata } from './op-client.js';

/**
 * The discovery checks the OpenID Foundation's modules share (CheckDiscEndpoint…): each names the
 * condition it stands for. The logout plans reuse the endpoint checks.
 */

/** CheckDiscEndpointAllEndpointsAreHttps, and every endpoint at the issuer's host. */
export function checkEndpointsAtIssuer(metadata: Metadata): void {
  const issuer = new URL(metadata.issuer);
  const endpoints = Object.entries(metadata).filter(([key]) => key.endsWith('_endpoint') || key === 'jwks_uri');
  expect(endpoints.map(([key]) => key)).to.include.members(['authorization_endpoint', 'token_endpoint', 'jwks_uri']);
  for (const [key, value] of endpoints) {
    expect(value, key).to.be.a('string');
    const url = new URL(value as string);
    expect(url.protocol, key).to.equal(issuer.protocol);
    expect(url.host, key).to.equal(issuer.host);
    expect(url.hash, key).to.equal('');
  }
}

/** A JSON array of strings, when the member is there (AbstractValidateJsonArray). */
export function checkStringArray(metadata: Metadata, key: string, options: { required?: boolean; nonEmpty?: boolean } = {}): string[] | undefined {
  const value = metadata[key];
  if (value === undefined) {
    expect(options.required, `${key} is missing`).not.to.equal(true);
    return undefined;
  }
  expect(value, key).to.be.an('array');
  for (const item of value as unknown[]) expect(item, key).to.be.a('string');
  if (options.nonEmpty) expect(value, key).to.not.be.empty;
  return value as string[];
}

/** CheckDiscEndSessionEndpoint (OpenID Connect RP-Initiated Logout §2.1). */
export function checkEndSessionEndpoint(metadata: Metadata): void {
  expect(metadata.end_session_endpoint, 'end_session_endpoint').to.be.a('string');
  expect(() => new URL(metadata.end_session_endpoint!), 'end_session_endpoint is a URL').not.to.throw();
}
