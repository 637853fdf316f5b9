import { domainToASCII } from 'node:url';
import { badRequest } from '../shared/errors.js';

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
  if (typeof input !== 'string') throw invalid('Enter one email address.');
  const trimmed = input.normalize('NFC').trim();
  if (!trimmed) throw invalid('Enter your email address.');
  if (trimmed.length > MAX_LENGTH) throw invalid('That email address is too long.');
  if (/[\r\n\0]/.test(trimmed)) throw invalid('Enter one email address.');
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1 || trimmed.indexOf('@') !== at) throw invalid('Enter an email address like name@example.com.');
  const local = trimmed.slice(0, at);
  const domain = domainToASCII(trimmed.slice(at + 1).toLowerCase());
  if (local.length > MAX_LOCAL || !LOCAL.test(local)) throw invalid('Enter an email address like name@example.com.');
  const labels = domain.split('.');
  if (!domain || labels.length < 2 || !labels.every((label) => LABEL.test(label)) || /^[0-9]+$/.test(labels.at(-1)!)) {
    throw invalid('Enter an email address like name@example.com.');
  }
  const email = `${local.toLowerCase()}@${domain}`;
  if (email.length > MAX_LENGTH) throw invalid('That email address is too long.');
  return email;
}

const invalid = (message: string) => badRequest('invalid_email', message);
