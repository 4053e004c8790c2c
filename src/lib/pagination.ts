// Quay's opaque `next_page` tokens (part1 §0.9, part2 §1.7): an encrypted, authenticated JSON blob
// that expires after two days. An unreadable, tampered, expired or foreign token silently means
// "first page", as in Quay. Lists page by key (the last id seen), never by OFFSET.
import type { SecretBox } from '../auth/crypto.js';

/** Quay's tokens live two days. */
export const PAGE_TOKEN_TTL_S = 2 * 86400;

interface TokenBody {
  /** What the token pages through, so a token of one list is never read by another. */
  k: string;
  /** The last key of the previous page. */
  after: number;
  /** Expiry, ms since the epoch. */
  exp: number;
}

export function encodePageToken(secrets: SecretBox, kind: string, after: number, now = Date.now()): string {
  const body: TokenBody = { k: kind, after, exp: now + PAGE_TOKEN_TTL_S * 1000 };
  return secrets.encrypt(JSON.stringify(body));
}

/** The key to start after; 0 (the first page) for a missing or unusable token. */
export function decodePageToken(secrets: SecretBox, kind: string, token: string | undefined, now = Date.now()): number {
  if (!token) return 0;
  const plain = secrets.decrypt(token);
  if (plain === undefined) return 0;
  try {
    const body = JSON.parse(plain) as Partial<TokenBody>;
    if (body.k !== kind || typeof body.exp !== 'number' || body.exp < now) return 0;
    return typeof body.after === 'number' && Number.isSafeInteger(body.after) && body.after > 0 ? body.after : 0;
  } catch {
    return 0;
  }
}

/**
 * Cuts a keyset page: `rows` were fetched with `limit + 1`, ordered by `id`. Returns the page and,
 * when another row exists, the token for the next one.
 */
export function keysetPage<T extends { id: number }>(
  secrets: SecretBox,
  kind: string,
  rows: T[],
  limit: number,
): { items: T[]; nextPage?: string } {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextPage: encodePageToken(secrets, kind, items[items.length - 1].id) };
}
