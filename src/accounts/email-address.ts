import { domainToASCII } from 'node:url';
import { AppError } from '../shared/errors.js';

const MAX_LENGTH = 254;
const MAX_LOCAL = 64;
// dot-atom local part (RFC 5322 without quoted strings or comments) and an LDH domain after IDNA
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Normalises an address typed into the login form, or refuses it with a message a person can act
 * on. Policy: surrounding spaces are dropped; the whole address is lower-cased (so `Alice@Example.com`
 * and `alice@example.com` are one mailbox, one account, one rate limit); the domain may be Unicode
 * and is stored in its ASCII (punycode) form; the local part must be plain ASCII (no quoted strings,
 * comments or SMTPUTF8 local parts). One address only: no lists, no display names, no CR/LF.
 */
export function normalizeEmail(input: unknown): string {
  if (typeof input !== 'string') throw notOne();
  const trimmed = input.normalize('NFC').trim();
  if (!trimmed) throw malformed();
  if (trimmed.length > MAX_LENGTH) throw tooLong();
  if (/[\r\n\0]/.test(trimmed)) throw notOne();
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1 || trimmed.indexOf('@') !== at) throw malformed();
  const local = trimmed.slice(0, at);
  const domain = domainToASCII(trimmed.slice(at + 1).toLowerCase());
  if (local.length > MAX_LOCAL || !LOCAL.test(local)) throw malformed();
  const labels = domain.split('.');
  if (!domain || labels.length < 2 || !labels.every((label) => LABEL.test(label)) || /^[0-9]+$/.test(labels.at(-1)!)) {
    throw malformed();
  }
  const email = `${local.toLowerCase()}@${domain}`;
  if (email.length > MAX_LENGTH) throw tooLong();
  return email;
}

const malformed = () => new AppError('invalid_email', 400, 'Enter an email address like name@example.com.');
const tooLong = () => new AppError('invalid_email', 400, 'That email address is too long.', { key: 'error.invalid_email.long' });
const notOne = () => new AppError('invalid_email', 400, 'Enter one email address.', { key: 'error.invalid_email.one' });
