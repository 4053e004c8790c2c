// Session cookies (web-endpoints.md §2.2): the cookie is named `_csrf_token` as Quay's, HttpOnly,
// SameSite=Lax, Secure when the configured scheme is https.
//
// Two kinds of cookie:
//   - before a login (GET /csrf_token, the sign-in page), an anonymous cookie `a.<issued>.<random>`
//     that is stored nowhere: its CSRF token is an HMAC of the cookie under DATABASE_SECRET_KEY, so
//     every replica derives the same token and a flood of anonymous requests writes nothing;
//   - from a login on, a random cookie whose SHA-256 keys a session row holding the user, the login
//     time (for fresh-login checks) and a CSRF token of its own.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/index.js';
import type { Namespace } from '../db/schema.js';
import { deleteSession, extendSession, findLiveSession, insertSession } from '../db/sessions.js';
import type { SessionInfo } from './context.js';
import { sha256Hex, type SecretBox } from './crypto.js';

export const SESSION_COOKIE = '_csrf_token';
/** Anonymous cookies are honoured for a day; logins live SESSION_TIMEOUT, sliding. */
const ANONYMOUS_SESSION_S = 86400;
const ANONYMOUS_PREFIX = 'a.';

export interface SessionSettings {
  secure: boolean;
  timeoutS: number;
}

export function newCsrfToken(): string {
  return randomBytes(48).toString('base64url');
}

/** The CSRF token that belongs to an anonymous cookie. */
function anonymousCsrf(secrets: SecretBox, cookie: string): string {
  return secrets.mac('anonymous-csrf', cookie);
}

function newAnonymousCookie(now = Date.now()): string {
  return `${ANONYMOUS_PREFIX}${Math.floor(now / 1000).toString(36)}.${randomBytes(24).toString('base64url')}`;
}

/** An anonymous cookie's session, or undefined when it is malformed or too old. */
function anonymousSession(secrets: SecretBox, cookie: string, now = Date.now()): SessionInfo | undefined {
  const m = /^a\.([0-9a-z]{1,10})\.[A-Za-z0-9_-]{32}$/.exec(cookie);
  if (!m) return undefined;
  const ageS = now / 1000 - parseInt(m[1], 36);
  if (ageS < -60 || ageS > ANONYMOUS_SESSION_S) return undefined;
  return { id: null, csrfToken: anonymousCsrf(secrets, cookie), loginTime: null };
}

export async function loadSession(
  db: Db,
  cookie: string | undefined,
  secrets: SecretBox,
): Promise<{ info: SessionInfo; user: Namespace | null; expiresAt: Date } | undefined> {
  if (!cookie || cookie.length > 200) return undefined;
  if (cookie.startsWith(ANONYMOUS_PREFIX)) {
    const info = anonymousSession(secrets, cookie);
    return info && { info, user: null, expiresAt: new Date(Date.now() + ANONYMOUS_SESSION_S * 1000) };
  }
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

/**
 * Returns the request's session, or starts an anonymous one: a browser-session cookie (no Expires,
 * as Quay's before login) and no database row.
 */
export function ensureSession(req: FastifyRequest, reply: FastifyReply, secrets: SecretBox, s: SessionSettings): SessionInfo {
  if (req.auth.session) return req.auth.session;
  const cookie = newAnonymousCookie();
  setCookie(reply, cookie, s);
  const info: SessionInfo = { id: null, csrfToken: anonymousCsrf(secrets, cookie), loginTime: null };
  req.auth.session = info;
  return info;
}

/**
 * Logs the user in on this browser: a new session id (no fixation), a new CSRF token returned in
 * X-Next-CSRF-Token, login_time = now. The previous session row of this browser is dropped.
 */
export async function loginSession(req: FastifyRequest, reply: FastifyReply, db: Db, user: Namespace, s: SessionSettings): Promise<SessionInfo> {
  if (req.auth.session?.id) await deleteSession(db, req.auth.session.id);
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
  if (!info.id) return;
  const target = Date.now() + s.timeoutS * 1000;
  if (target - expiresAt.getTime() < 3600_000) return;
  const expires = new Date(target);
  await extendSession(db, info.id, expires);
  setCookie(reply, cookie, s, expires);
}
