// redirect_uri validation (registry-and-auth.md A.5). Accepted when it is exactly this server's local
// OAuth handler, or when it matches the application's registered redirect URI: same scheme, same
// authority as written, no userinfo, no `..` or `@` in the path, the path starting with the
// registered path and no percent-escape after that prefix. Query and fragment are not compared.
import type { OAuthApplication } from '../db/schema.js';

const URI_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/;

function parts(uri: string): { scheme: string; authority: string; path: string } | undefined {
  const m = URI_RE.exec(uri);
  if (!m) return undefined;
  return { scheme: m[1].toLowerCase(), authority: m[2], path: m[3] };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function isValidRedirectUri(
  app: Pick<OAuthApplication, 'redirect_uri'>,
  uri: string | undefined,
  localHandlerUrl: string,
): boolean {
  if (!uri) return false;
  // Browsers strip tabs and newlines from URLs (WHATWG URL), so `/cb/.\t./x` would land on `/x`; a
  // CR or LF would also break the Location header. No control character is ever valid here.
  if (/[\x00-\x1f\x7f]/.test(uri)) return false;
  if (uri === localHandlerUrl) return true;
  if (!app.redirect_uri) return false;
  const reg = parts(app.redirect_uri);
  const got = parts(uri);
  if (!reg || !got) return false;
  if (got.scheme !== reg.scheme || got.authority !== reg.authority) return false;
  if (got.authority.includes('@')) return false;
  const decoded = safeDecode(got.path);
  if (decoded === undefined || decoded.includes('..') || decoded.includes('\\')) return false;
  if (got.path.includes('@')) return false;
  if (!got.path.startsWith(reg.path)) return false;
  if (got.path.slice(reg.path.length).includes('%')) return false;
  return true;
}

/** Appends query parameters to a URI, keeping the query it already has (and dropping its fragment). */
export function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const hash = uri.indexOf('#');
  const base = hash >= 0 ? uri.slice(0, hash) : uri;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.append(k, v);
  const s = qs.toString();
  if (!s) return base;
  return base + (base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?') + s;
}
