import type { Context, Middleware } from 'koa';
import { DEFAULT_LOCALE, type Messages } from '../shared/i18n.js';
import type { Templates } from '../shared/templates.js';

/** The page language: the browser's preference (Accept-Language) until the app asks otherwise (ui_locales). */
export function localeFromBrowser(messages: Messages): Middleware {
  return async (ctx, next) => {
    ctx.state.locale = messages.pick(ctx.acceptsLanguages() as string[]) ?? DEFAULT_LOCALE;
    await next();
  };
}

/** `ui_locales` from the authorization request wins over the browser's own preference. */
export function preferLocales(ctx: Context, messages: Messages, uiLocales: unknown): void {
  if (typeof uiLocales !== 'string') return;
  ctx.state.locale = messages.pick(uiLocales.split(' ').filter(Boolean)) ?? ctx.state.locale;
}

export function renderPage(ctx: Context, templates: Templates, name: string, data: Record<string, unknown>): void {
  ctx.type = 'html';
  ctx.body = templates.page(name, { locale: ctx.state.locale ?? DEFAULT_LOCALE, ...data });
}

export function t(ctx: Context, templates: Templates, key: string, params: Record<string, unknown> = {}): string {
  return templates.messages.t(ctx.state.locale ?? DEFAULT_LOCALE, key, params);
}
