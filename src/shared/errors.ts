/**
 * One error type for everything Sesame itself decides to refuse. `code` is stable (tests and
 * API callers may rely on it), `status` is the HTTP status, and `expose` says whether the message
 * may be shown to the person or client; a 5xx never shows its message.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly retryAfterSeconds?: number;
  /** the key of the text shown to people (views/locales), and its parameters; `message` is the English for logs and APIs */
  readonly key: string;
  readonly params: Readonly<Record<string, string | number>>;
  /** whom and what a refusal is about, for the audit trail (`sesame audit --email`); never shown */
  readonly about?: ErrorSubject;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number; key?: string; params?: Record<string, string | number>; about?: ErrorSubject } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.expose = status < 500;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.key = options.key ?? `error.${code}`;
    this.params = options.params ?? {};
    this.about = options.about;
  }
}

/** The address, sign-in request and app a refused step belonged to. */
export interface ErrorSubject {
  readonly email?: string;
  readonly loginRequestId?: string;
  readonly clientId?: string;
}

export const badRequest = (code: string, message: string) => new AppError(code, 400, message);
export const notFound = (code: string, message: string) => new AppError(code, 404, message);
export const gone = (code: string, message: string, about?: ErrorSubject) => new AppError(code, 410, message, { about });
export const forbidden = (code: string, message: string) => new AppError(code, 403, message);
export const conflict = (code: string, message: string) => new AppError(code, 409, message);
