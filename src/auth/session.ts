// Session cookies (web-endpoints.md §2.2): the cookie is named `_csrf_token` as Quay's, HttpOnly,
// SameSite=Lax, Secure when the configured scheme is https. A session holds the CSRF token and,
// after a login, the user and the login time (for fresh-login checks).
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/index.js';
import type { Namespace } from '../db/schema.js';
import { deleteSession, extendSession, findLiveSession, insertSession } from '../db/sessions.js';
import type { SessionInfo } from './context.js';
import { sha256Hex } from './crypto.js';

export const SESSION_COOKIE = '_csrf_token';
/** Anonymous sessions (only a CSRF token) live a day; logins live SESSION_TIMEOUT, sliding. */
const ANONYMOUS_SESSION_S = 86400;

export interface SessionSettings {
  secure: boolean;
  timeoutS: number;
}

export function newCsrfToken(): string {
  return randomBytes(48).toString('base64url');
}

export async function loadSession(
  db: Db,
  cookie: string | undefined,
): Promise<{ info: SessionInfo; user: Namespace | null; expiresAt: Date } | undefined> {
  if (!cookie || cookie.length > 200) return undefined;
  const found = await findLiveSession(db, sha256Hex(cookie));
  if (!found) return undefined;
  const { session, user } = found;
  const usable = user && user.enabled && !user.organization && !user.robot ? user : null;
  return {
    info: { id: session.id, csrfToken: session.csrf_token, loginTime: session.login_time },
    user: usable,
    expiresAt: session.expires_at,
  };
}

function setCookie(reply: FastifyReply, value: string, s: SessionSettings, expires?: Date) {
  reply.setCookie(SESSION_COOKIE, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: s.secure,
    ...(expires ? { expires } : {}),
  });
}

/** Returns the request's session, creating an anonymous one (and its cookie) when there is none. */
export async function ensureSession(req: FastifyRequest, reply: FastifyReply, db: Db, s: SessionSettings): Promise<SessionInfo> {
  if (req.auth.session) return req.auth.session;
  const cookie = randomBytes(32).toString('base64url');
  const row = await insertSession(db, {
    id: sha256Hex(cookie),
    userId: null,
    csrfToken: newCsrfToken(),
    loginTime: null,
    expiresAt: new Date(Date.now() + ANONYMOUS_SESSION_S * 1000),
  });
  setCookie(reply, cookie, s);
  const info = { id: row.id, csrfToken: row.csrf_token, loginTime: null };
  req.auth.session = info;
  return info;
}

/**
 * Logs the user in on this browser: a new session id (no fixation), a new CSRF token returned in
 * X-Next-CSRF-Token, login_time = now. The previous session row of this browser is dropped.
 */
export async function loginSession(req: FastifyRequest, reply: FastifyReply, db: Db, user: Namespace, s: SessionSettings): Promise<SessionInfo> {
  if (req.auth.session) await deleteSession(db, req.auth.session.id);
  const cookie = randomBytes(32).toString('base64url');
  const now = new Date();
  const expires = new Date(now.getTime() + s.timeoutS * 1000);
  const row = await insertSession(db, { id: sha256Hex(cookie), userId: user.id, csrfToken: newCsrfToken(), loginTime: now, expiresAt: expires });
  setCookie(reply, cookie, s, expires);
  reply.header('X-Next-CSRF-Token', row.csrf_token);
  const info = { id: row.id, csrfToken: row.csrf_token, loginTime: now };
  req.auth.session = info;
  return info;
}

/** Slides a logged-in session's expiry forward, at most once an hour. */
export async function slideSession(reply: FastifyReply, db: Db, cookie: string, info: SessionInfo, expiresAt: Date, s: SessionSettings) {
  const target = Date.now() + s.timeoutS * 1000;
  if (target - expiresAt.getTime() < 3600_000) return;
  const expires = new Date(target);
  await extendSession(db, info.id, expires);
  setCookie(reply, cookie, s, expires);
}
