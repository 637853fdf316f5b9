import type { Account } from '../accounts/account.js';
import type { RateLimitSettings } from '../config/config.js';
import type { AccountService } from '../accounts/account-service.js';
import type { LoginMailDetails } from '../mail/login-mail.js';
import type { MailMessage } from '../mail/message.js';
import { randomInt } from 'node:crypto';
import { KeyedHasher, randomCode, randomToken } from '../shared/crypto.js';
import { AppError, gone, notFound } from '../shared/errors.js';
import { normalizeEmail } from '../accounts/email-address.js';
import type { LoginRequest, LoginRequestStore } from './login-request.js';
import { ipKey } from './ip-key.js';
import { rule, type RateLimitStore, type RateRule } from './rate-limits.js';

const TOKEN = 'login-link';
const CODE = 'login-code';
const BINDING = 'login-binding';
const RATE_KEY = 'rate-email';

export interface LoginSettings {
  readonly issuer: string;
  readonly ttlSeconds: number;
  readonly codeMaxAttempts: number;
  /** numbers typed on another device per request (the right one included) */
  readonly matchMaxAttempts: number;
  readonly rateLimits: RateLimitSettings;
}

export interface LoginRequestInput {
  interactionUid: string;
  /** epoch ms; a login request never outlives its interaction */
  interactionExpiresAt: number;
  clientId: string;
  clientName: string;
  email: unknown;
  ip?: string;
  userAgent?: string;
  /** the secret in the requesting browser's binding cookie */
  bindingSecret: string;
  /** a new email for the same sign-in keeps the number its page already shows (see `numberToKeep`) */
  matchNumber?: number;
  /** language of the email and the approval page */
  locale?: string;
}

export interface LinkApproval {
  request: LoginRequest;
  /** the link was opened in the browser that asked for it */
  sameBrowser: boolean;
  /** false: another device typed a wrong number */
  matched: boolean;
  /** after a wrong number: how many more may be typed (0: the request was stopped) */
  left?: number;
}

export type LoginStatus = LoginRequest['status'] | 'none';

export class LoginService {
  constructor(
    private readonly store: LoginRequestStore,
    private readonly accounts: AccountService,
    private readonly hasher: KeyedHasher,
    private readonly composeMail: (details: LoginMailDetails) => MailMessage,
    private readonly limits: RateLimitStore,
    private readonly settings: LoginSettings,
  ) {}

  /**
   * Creates a login request and queues its email. Known, unknown and refused addresses take the
   * same path with the same database writes (for a refused one the worker takes the queued
   * mail and withholds it), so neither the answer nor its timing tells whether an account exists.
   */
  /**
   * `outboxId`: the queued mail, for the caller to hand to the outbox worker once its answer has
   * gone out (sending is CPU work that a sent mail has and a withheld one has not).
   */
  async request(input: LoginRequestInput, now = Date.now()): Promise<{ email: string; request: LoginRequest; suppressed: boolean; outboxId?: number }> {
    const email = normalizeEmail(input.email);
    const limits = this.settings.rateLimits;
    const address = this.hasher.hash(RATE_KEY, email);
    const bindingHash = this.hasher.hash(BINDING, input.bindingSecret);
    const decision = await this.limits.consume([
      // per browser: someone else asking for this address does not use up the owner's budget
      ...rule(`email:${address}:${bindingHash}`, limits.perEmail, limits.emailIntervalSeconds),
      ...rule(`email:${address}`, limits.perEmailAllBrowsers),
      ...rule(`ip:${ipKey(input.ip, limits.ipv6PrefixBits)}`, limits.perIp),
      ...rule('mail', limits.mailGlobal),
      ...(await this.afterStop(address, now)),
    ], now);
    if (!decision.allowed) throw tooManyEmails(decision.retryAfterMs, decision.key.split(':')[0], email);

    const token = randomToken(32);
    const code = randomCode();
    const id = randomToken(16);
    const expiresAt = Math.min(now + this.settings.ttlSeconds * 1000, input.interactionExpiresAt);
    const request: LoginRequest = {
      id,
      interactionUid: input.interactionUid,
      clientId: input.clientId,
      email,
      tokenHash: this.hasher.hash(TOKEN, token),
      codeHash: this.hasher.hash(CODE, `${id}:${code}`),
      codeAttempts: 0,
      bindingHash,
      requesterIp: input.ip?.slice(0, 64) ?? null,
      requesterUa: input.userAgent?.slice(0, 512) ?? null,
      status: 'pending',
      matchNumber: input.matchNumber ?? randomInt(10, 100),
      locale: input.locale ?? 'en',
      createdAt: now,
      expiresAt,
    };
    const recipient = await this.accounts.loginRecipient(email);
    const mail = this.composeMail({
      // mail only ever goes to the stored address of the matched account
      to: recipient ?? email,
      link: `${this.settings.issuer}/login/verify?t=${encodeURIComponent(token)}`,
      code,
      clientName: input.clientName,
      requestedAt: now,
      expiresInMinutes: Math.max(1, Math.round((expiresAt - now) / 60_000)),
      ip: request.requesterIp ?? undefined,
      userAgent: request.requesterUa ?? undefined,
      locale: request.locale,
    });
    const outboxId = await this.store.create(request, { ...mail, loginRequestId: id, expiresAt, suppressed: recipient === undefined });
    return { email, request, suppressed: recipient === undefined, outboxId };
  }

  /**
   * The request of a link whatever its state (for the page that explains why it no longer works
   * and what to do instead); an unknown token is link_invalid, counted like any other.
   */
  requestOfLink(token: unknown, ip: string | undefined, now = Date.now()): Promise<LoginRequest> {
    return this.findByToken(token, ip, now);
  }

  /** Looks a link up without changing anything (GET and HEAD of the link). */
  async inspectLink(token: unknown, ip: string | undefined, now = Date.now()): Promise<LoginRequest> {
    const request = await this.findByToken(token, ip, now);
    assertUsable(request, now);
    return request;
  }

  isSameBrowser(request: LoginRequest, bindingSecret: string | undefined): boolean {
    return Boolean(bindingSecret) && this.hasher.verify(BINDING, bindingSecret!, request.bindingHash);
  }

  /**
   * Consumes the link, once: at once in the browser that asked (binding cookie); on any other device
   * (a phone, a mail app's browser) only with the number the original tab shows, typed. Nothing
   * typed changes nothing (a scanner submitting the form empty); every number typed counts against
   * a small budget before it is compared (so parallel guesses cannot exceed it), and when the budget
   * is spent the request stops and further emails to the address slow down. Of any number of
   * concurrent calls with one token, at most one is approved.
   */
  async approveLink(token: unknown, proof: { bindingSecret?: string; number?: unknown }, ip: string | undefined, now = Date.now()): Promise<LinkApproval> {
    const request = await this.findByToken(token, ip, now);
    assertUsable(request, now);
    const sameBrowser = this.isSameBrowser(request, proof.bindingSecret);
    if (!sameBrowser) {
      const typed = typeof proof.number === 'string' ? proof.number.replace(/\s+/g, '') : '';
      if (!/^\d{1,4}$/.test(typed)) throw new AppError('number_missing', 400, 'Type the number shown on the page where you asked to sign in.');
      const max = this.settings.matchMaxAttempts;
      const attempts = await this.store.countAttempt('match', request.id, max, now);
      if (attempts === undefined) throw linkUsed();
      if (Number(typed) !== request.matchNumber) {
        if (attempts < max) return { request, sameBrowser, matched: false, left: max - attempts };
        await this.stop(request, now);
        return { request, sameBrowser, matched: false, left: 0 };
      }
    }
    if (!(await this.store.approve(request.id, now))) throw linkUsed();
    return { request, sameBrowser, matched: true };
  }

  /** "This wasn't me": the link and the code stop working, and the original tab is told. */
  async deny(token: unknown, ip: string | undefined, now = Date.now()): Promise<LoginRequest> {
    const request = await this.findByToken(token, ip, now);
    assertUsable(request, now);
    if (!(await this.stop(request, now))) throw linkUsed();
    return request;
  }

  /**
   * Ends a pending request that its address's owner did not confirm, and slows down further emails
   * to the address: someone is asking for it who is not its owner.
   */
  private async stop(request: LoginRequest, now: number): Promise<boolean> {
    const stopped = await this.store.setStatus(request.id, 'pending', 'denied');
    if (stopped) await this.limits.record(`stopped:${this.hasher.hash(RATE_KEY, request.email)}`, now);
    return stopped;
  }

  /** After a stopped request, one email per RATE_LIMIT_EMAIL window to the address (any browser). */
  private async afterStop(address: string, now: number): Promise<RateRule[]> {
    const windowMs = (this.settings.rateLimits.perEmail?.windowSeconds ?? 900) * 1000;
    const recent = await this.limits.check([{ key: `stopped:${address}`, limit: 1, windowMs }], now);
    return recent.allowed ? [] : [{ key: `after-stop:${address}`, limit: 1, windowMs }];
  }

  /**
   * The code typed into the original tab. Attempts are counted before the comparison, so parallel
   * guesses cannot exceed the cap: per request, and per address across its requests (after which
   * only the link works), so asking for new emails does not buy new guesses.
   */
  async approveByCode(interactionUid: string, code: unknown, now = Date.now()): Promise<LoginRequest> {
    const request = await this.store.latestForInteraction(interactionUid);
    if (!request || request.status !== 'pending' || request.expiresAt <= now) {
      throw new AppError('code_expired', 410, 'This code has expired. Ask for a new email.');
    }
    const budget = await this.limits.consume(rule(`code:${this.hasher.hash(RATE_KEY, request.email)}`, this.settings.rateLimits.codeAttemptsPerEmail), now);
    if (!budget.allowed) {
      throw new AppError('code_budget', 429, 'Too many codes were tried for this address. Use the link in the email instead.', { retryAfterSeconds: Math.ceil(budget.retryAfterMs / 1000), params: { email: request.email } });
    }
    const attempts = await this.store.countAttempt('code', request.id, this.settings.codeMaxAttempts, now);
    if (attempts === undefined) throw codeLocked();
    const value = typeof code === 'string' ? code.replace(/\s+/g, '') : '';
    if (/^\d{6}$/.test(value) && this.hasher.verify(CODE, `${request.id}:${value}`, request.codeHash)) {
      if (await this.store.approve(request.id, now)) return request;
      throw new AppError('code_expired', 410, 'This code has expired. Ask for a new email.');
    }
    if (attempts >= this.settings.codeMaxAttempts) {
      await this.store.setStatus(request.id, 'pending', 'locked');
      throw codeLocked();
    }
    const left = this.settings.codeMaxAttempts - attempts;
    throw new AppError('code_invalid', 400, `That code is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`, { params: { count: left } });
  }

  /**
   * The number a new email for this sign-in keeps: the waiting page shows it, and the person may
   * already be typing it on the other device. A sign-in stopped on the other device ("This wasn't
   * me", or wrong numbers typed too often) gets a fresh one: its number was guessed at.
   */
  numberToKeep(previous: LoginRequest | undefined): number | undefined {
    return previous && previous.status !== 'denied' ? previous.matchNumber : undefined;
  }

  /** Why a denied request was stopped: the wrong number typed too often, or "This wasn't me". */
  stoppedBy(request: LoginRequest): 'mismatch' | 'not_me' {
    return (request.matchAttempts ?? 0) >= this.settings.matchMaxAttempts ? 'mismatch' : 'not_me';
  }

  async status(interactionUid: string, now = Date.now()): Promise<LoginStatus> {
    return this.statusOf(await this.store.latestForInteraction(interactionUid), now);
  }

  /** `status` of a request already read with `latest` (one read serves a whole HTTP request). */
  statusOf(request: LoginRequest | undefined, now = Date.now()): LoginStatus {
    if (!request) return 'none';
    if (request.status === 'pending' && request.expiresAt <= now) return 'expired';
    return request.status;
  }

  latest(interactionUid: string): Promise<LoginRequest | undefined> {
    return this.store.latestForInteraction(interactionUid);
  }

  /**
   * Finishes an approved request of this interaction: approved → completed (guarded, so the link tab
   * and the polling tab cannot both finish), then the account is found or created and every other
   * pending request of the address dies. Undefined when nothing is approved, or the address may not sign in.
   */
  async complete(interactionUid: string, now = Date.now(), latest?: { request: LoginRequest | undefined }): Promise<{ account: Account; request: LoginRequest } | undefined> {
    // `latest`: the interaction's latest request, when the caller has just read it
    const request = latest ? latest.request : await this.store.latestForInteraction(interactionUid);
    if (!request || request.status !== 'approved') return undefined;
    const account = await this.accounts.signIn(request.email, now);
    if (!account) {
      await this.store.setStatus(request.id, 'approved', 'expired');
      return undefined;
    }
    if (!(await this.store.complete(request.id, now, account.id))) return undefined;
    await this.store.supersedePending(request.email, request.id);
    return { account, request };
  }

  /** Guessing tokens is pointless (256 bits) and throttled anyway: failed look-ups are counted per IP. */
  private async findByToken(token: unknown, ip: string | undefined, now: number): Promise<LoginRequest> {
    const guesses = rule(`verify-ip:${ipKey(ip, this.settings.rateLimits.ipv6PrefixBits)}`, this.settings.rateLimits.verifyFailuresPerIp);
    const throttled = await this.limits.check(guesses, now);
    if (!throttled.allowed) throw tooManyGuesses(throttled.retryAfterMs);
    const request = typeof token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(token)
      ? await this.store.findByTokenHash(this.hasher.candidates(TOKEN, token))
      : undefined;
    if (!request) {
      await this.limits.consume(guesses, now);
      throw linkInvalid();
    }
    return request;
  }
}

function assertUsable(request: LoginRequest, now: number): void {
  if (request.status === 'pending' && request.expiresAt > now) return;
  if (request.status === 'pending' || request.status === 'expired') throw gone('link_expired', 'This sign-in link has expired.');
  if (request.status === 'superseded') throw gone('link_superseded', 'A newer sign-in link was sent; this one no longer works.');
  if (request.status === 'denied') throw gone('link_stopped', 'This sign-in was stopped, so this link no longer works.');
  if (request.status === 'locked') throw gone('link_locked', 'Too many wrong codes were typed for this sign-in, so it was stopped for your safety.');
  throw linkUsed();
}

function tooManyEmails(retryAfterMs: number, limit: string, email: string): AppError {
  const seconds = Math.ceil(retryAfterMs / 1000);
  // limit and email are for the audit trail; no text shows them
  return new AppError('rate_limited', 429, `Too many sign-in emails were asked for. Try again in ${seconds} s.`, { retryAfterSeconds: seconds, params: { limit, email } });
}

function tooManyGuesses(retryAfterMs: number): AppError {
  const seconds = Math.ceil(retryAfterMs / 1000);
  return new AppError('rate_limited', 429, `Too many sign-in links that do not work were opened from your network. Try again in ${seconds} s.`, {
    retryAfterSeconds: seconds,
    key: 'error.rate_limited.verify',
    params: { limit: 'verify-ip' },
  });
}

const linkInvalid = () => notFound('link_invalid', 'This sign-in link is not valid. Check that you copied the whole link.');
const linkUsed = () => gone('link_used', 'This sign-in link has already been used.');
const codeLocked = () => new AppError('code_locked', 429, 'Too many wrong codes. Ask for a new email.');
