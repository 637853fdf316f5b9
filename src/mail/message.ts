export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** A message waiting in the outbox; it is not sent after `expiresAt` (its link would be dead). */
export interface QueuedMail extends MailMessage {
  readonly loginRequestId?: string;
  readonly expiresAt: number;
}
