/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: the scheme in any case,
 * then one or more spaces), or undefined for any other header. One reading for every bearer-guarded
 * endpoint of ours (admin API, client registration, metrics); oidc-provider reads its own.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
}
