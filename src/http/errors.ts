import type { Middleware } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Templates } from '../shared/templates.js';

/**
 * The one place errors become responses: a page for people, JSON for callers that ask for it.
 * Client mistakes keep their 4xx and their message; anything else is a 500 whose cause is logged
 * with the request id and never shown.
 */
export function errorHandler(templates: Templates, logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const view = toView(error);
      if (view.status >= 500) {
        logger.error({ err: error, requestId: ctx.state.requestId, path: ctx.path }, 'request failed');
      }
      ctx.status = view.status;
      if (view.retryAfter) ctx.set('Retry-After', String(view.retryAfter));
      ctx.set('Cache-Control', 'no-store');
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: view.code, error_description: view.message };
      } else {
        ctx.type = 'html';
        ctx.body = templates.page('error', { title: view.heading, heading: view.heading, message: view.message, code: view.code, restart: view.restart });
      }
    }
  };
}

interface ErrorView {
  status: number;
  code: string;
  heading: string;
  message: string;
  restart?: boolean;
  retryAfter?: number;
}

function toView(error: unknown): ErrorView {
  if (error instanceof AppError) {
    return {
      status: error.status,
      code: error.code,
      heading: error.status >= 500 ? 'Something went wrong' : 'We could not continue',
      message: error.expose ? error.message : 'Please try again in a moment.',
      restart: error.status === 410 || error.code.startsWith('link_'),
      retryAfter: error.retryAfterSeconds,
    };
  }
  if (error instanceof oidcErrors.SessionNotFound) {
    return {
      status: 400,
      code: 'interaction_expired',
      heading: 'This sign-in has expired',
      message: 'The sign-in you started is no longer open in this browser. Go back to the app and sign in again.',
      restart: true,
    };
  }
  const e = error as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body parser and koa errors: too large (413), malformed (400), unsupported type (415)
    return { status, code: e.type?.replace(/\./g, '_') ?? 'bad_request', heading: 'We could not continue', message: status === 413 ? 'The request was too large.' : 'The request could not be read.' };
  }
  return { status: 500, code: 'server_error', heading: 'Something went wrong', message: 'Please try again in a moment.' };
}
