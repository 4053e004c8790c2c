// One AuthContext per request, built by the auth hook (src/auth/hook.ts) before any handler runs.
import type { Namespace } from '../db/schema.js';
import type { ScopeSet } from './scopes.js';

export interface TokenInfo {
  id: number;
  uuid: string;
  applicationId: number;
  clientId: string;
  applicationName: string;
}

export interface SessionInfo {
  /** SHA-256 of the cookie value (the row id); null for an anonymous cookie, which has no row. */
  id: string | null;
  csrfToken: string;
  loginTime: Date | null;
}

export interface AuthContext {
  kind: 'anonymous' | 'session' | 'oauth' | 'basic';
  /** The acting user, when authenticated. */
  user: Namespace | null;
  /** Token scopes; null means a direct login (session), which has every scope. */
  scopes: ScopeSet;
  token: TokenInfo | null;
  /** The browser session, when a valid session cookie came with the request (even without a login). */
  session: SessionInfo | null;
  ip: string;
  /**
   * Set by the access hook when a superuser's powers reach into namespaces for this request
   * (src/auth/access.ts superuserPowers): 'admin' acts as every namespace's admin (capped by the
   * token's scopes as usual). Full superusers get it with FEATURE_SUPERUSERS_FULL_ACCESS; global
   * read-only superusers on reads (GET/HEAD) only.
   */
  namespacePower?: 'admin';
}

export function anonymousContext(ip: string, session: SessionInfo | null = null): AuthContext {
  return { kind: 'anonymous', user: null, scopes: new Set(), token: null, session, ip };
}

/** Describes the caller in CSRF error messages, as Quay does (" (authorized: user alice)"). */
export function describeCaller(auth: AuthContext): string {
  if (auth.kind === 'oauth' && auth.user) return ` (authorized: oauthtoken for user ${auth.user.username})`;
  if (auth.user) return ` (authorized: user ${auth.user.username})`;
  return '';
}
