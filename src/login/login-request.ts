import type { QueuedMail } from '../mail/message.js';

/**
 * pending ──link POST / code / approval elsewhere──▶ approved ──original tab finishes──▶ completed
 *    └──▶ expired (time), superseded (newer request, or a login completed), locked (too many codes),
 *         denied ("This wasn't me", or too many wrong numbers typed on another device)
 */
export type LoginRequestStatus = 'pending' | 'approved' | 'completed' | 'expired' | 'superseded' | 'locked' | 'denied';

export interface LoginRequest {
  readonly id: string;
  readonly interactionUid: string;
  readonly clientId: string;
  readonly email: string;
  readonly tokenHash: string;
  readonly codeHash: string;
  readonly codeAttempts: number;
  /** numbers typed on another device (read back from the store; a new request has none) */
  readonly matchAttempts?: number;
  readonly bindingHash: string;
  readonly requesterIp: string | null;
  readonly requesterUa: string | null;
  readonly status: LoginRequestStatus;
  /** shown on the original tab; another device approves only by typing it (number matching) */
  readonly matchNumber: number;
  readonly locale: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The storage the login domain needs. Every state change is a guarded update that reports whether it won. */
export interface LoginRequestStore {
  /** Inserts the request (and its mail, in the same transaction) and supersedes older pending
   *  requests of the same address from the same browser, or of the same interaction. Returns the mail's outbox id. */
  create(request: LoginRequest, mail: QueuedMail | undefined): Promise<number | undefined>;
  findByTokenHash(candidates: string[]): Promise<LoginRequest | undefined>;
  latestForInteraction(interactionUid: string): Promise<LoginRequest | undefined>;
  /** pending → approved, only while unexpired */
  approve(id: string, now: number): Promise<boolean>;
  /** approved → completed */
  complete(id: string, now: number, accountId: string): Promise<boolean>;
  /** counts one attempt (a typed code, or a number typed on another device) while pending and
   *  under the cap; returns the new count, or undefined when refused */
  countAttempt(kind: 'code' | 'match', id: string, maxAttempts: number, now: number): Promise<number | undefined>;
  setStatus(id: string, from: LoginRequestStatus, to: LoginRequestStatus): Promise<boolean>;
  /** after a completed login every other pending request of the address dies */
  supersedePending(email: string, exceptId: string): Promise<number>;
}
