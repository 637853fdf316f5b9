export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** the Message-ID header, the same on every attempt to send this message */
  readonly messageId?: string;
}

/** A message waiting in the outbox; it is not sent after `expiresAt` (its link would be dead). */
export interface QueuedMail extends MailMessage {
  readonly loginRequestId?: string;
  readonly expiresAt: number;
  /** queued like any other (same work, same timing) but never sent: the address may not sign in */
  readonly suppressed?: boolean;
}
