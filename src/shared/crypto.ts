import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** 32 bytes from the CSPRNG, base64url: a link token, a binding secret, an id that must not be guessed. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * An identifier people type or paste (client and account ids): 128 random bits, base64url, never
 * starting with "-", which a command line would take for an option.
 */
export function randomId(): string {
  for (;;) {
    const id = randomToken(16);
    if (!id.startsWith('-')) return id;
  }
}

/** A 6-digit code, uniformly distributed (randomInt rejects modulo bias). */
export function randomCode(): string {
  return randomInt(0, 1_000_000).toString().padStart(6, '0');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time independent of the match.
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/**
 * A 32-byte key for one purpose (HKDF-SHA256 of a configured secret, the purpose as its info):
 * every instance configured with the same secret derives the same key, and a key for one purpose
 * tells nothing about another's.
 */
export function derivedKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', `sesame ${purpose}`, 32));
}

/**
 * Keyed hashing with rotation and one key per purpose: a purpose's key is derived (HKDF) from each
 * configured secret, so a hash made for one purpose (a link) says nothing about another (a client
 * secret). The newest secret hashes new values; every configured secret still verifies old ones.
 *
 * Values hashed before keys were derived per purpose (HMAC of the secret itself over
 * `purpose NUL value`) still verify and are still found, so client secrets and admin tokens issued
 * by an earlier Sesame keep working; everything hashed now uses the derived keys.
 */
export class KeyedHasher {
  readonly #secrets: readonly string[];
  readonly #keys = new Map<string, readonly Buffer[]>();

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('KeyedHasher needs at least one secret');
    this.#secrets = secrets;
  }

  hash(purpose: string, value: string): string {
    return hmac(this.#keysFor(purpose)[0], value);
  }

  /** Every hash the value may be stored under, newest secret first: for indexed look-ups. */
  candidates(purpose: string, value: string): string[] {
    return [...this.current(purpose, value), ...this.#secrets.map((secret) => legacyHmac(secret, purpose, value))];
  }

  /** The hashes under this version's derived keys only, newest secret first (no earlier scheme). */
  current(purpose: string, value: string): string[] {
    return this.#keysFor(purpose).map((key) => hmac(key, value));
  }

  verify(purpose: string, value: string, stored: string): boolean {
    let match = false;
    for (const candidate of this.candidates(purpose, value)) {
      // no early exit: every secret is tried so timing does not tell which one matched
      match = constantTimeEqual(candidate, stored) || match;
    }
    return match;
  }

  #keysFor(purpose: string): readonly Buffer[] {
    let keys = this.#keys.get(purpose);
    if (!keys) {
      keys = this.#secrets.map((secret) => derivedKey(secret, `hash ${purpose}`));
      this.#keys.set(purpose, keys);
    }
    return keys;
  }
}

/**
 * Authenticated encryption with rotation (AES-256-GCM, a fresh 96-bit IV each time), with keys
 * derived for one purpose from the configured secrets: the newest seals, every one still opens.
 * `context` (e.g. the row's id) is bound as additional data, so a sealed value moved to another row
 * does not open there. Sealed text: `v1.<iv>.<ciphertext and tag>`, base64url.
 */
export class SecretBox {
  readonly #keys: readonly Buffer[];

  constructor(secrets: readonly string[], purpose: string) {
    if (secrets.length === 0) throw new Error('SecretBox needs at least one secret');
    this.#keys = secrets.map((secret) => derivedKey(secret, purpose));
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0], iv).setAAD(Buffer.from(context));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  /** The plaintext, and which secret sealed it (0: the newest); undefined if none of them did. */
  open(sealed: string, context: string): { plaintext: string; secretIndex: number } | undefined {
    const [version, iv, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !data) return undefined;
    const bytes = Buffer.from(data, 'base64url');
    if (bytes.length < 16) return undefined;
    for (const [secretIndex, key] of this.#keys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url')).setAAD(Buffer.from(context));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        const plaintext = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
        return { plaintext, secretIndex };
      } catch {
        // another secret sealed it (or it was altered): try the next
      }
    }
    return undefined;
  }
}

function hmac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

/** the hashing of Sesame before one key per purpose: verified, never written */
function legacyHmac(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', secret).update(`${purpose}\0${value}`).digest('base64url');
}

/**
 * Signs cookies for koa (it takes any object with keygrip's `sign` and `index`), with the same
 * signatures as keygrip (HMAC-SHA1, base64url) so cookies set before stay valid. keygrip compares
 * through tsscmp, which draws 32 random bytes and computes two more HMACs per comparison: with
 * about 15 signed cookies read per sign-in that was 0.5 ms of CPU per sign-in (profiled), while a
 * comparison of two equal-length HMACs is constant-time with timingSafeEqual alone.
 */
export class CookieSigner {
  readonly #keys: readonly string[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('CookieSigner needs at least one key');
    this.#keys = keys;
  }

  sign(data: string): string {
    return signCookie(this.#keys[0], data);
  }

  /** part of keygrip's interface (oidc-provider's types require it); koa calls `index` */
  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** which key signed `digest` (0 is the newest; koa re-signs with it when another did), or -1 */
  index(data: string, digest: string): number {
    if (typeof digest !== 'string') return -1;
    return this.#keys.findIndex((key) => constantTimeEqual(signCookie(key, data), digest));
  }
}

function signCookie(key: string, data: string): string {
  return createHmac('sha1', key).update(data).digest('base64url');
}
