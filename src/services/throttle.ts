// Throttling of credential guessing, keyed so that an attacker's failures never block the owner.
//
// A subject is what is being guessed: an account (`user:<id>`), a login name that matches no account
// (`login:<name>`, so unknown names behave exactly like known ones), an OAuth client
// (`client:<client_id>`), an e-mail address that recovery or sign-up mails (`mail:<address>`).
// Failures are counted per subject *and client IP*:
//   - a client that keeps failing waits 0.5·(2ⁿ−1) s after its n-th failure (Quay's backoff,
//     capped at an hour), whatever it sends next, the right password included (passwords only: an
//     OAuth client's 40-character secret is not guessed one try at a time);
//   - when a subject collects ACCOUNT_FAILURE_LIMIT failures within ACCOUNT_FAILURE_WINDOW, from any
//     number of addresses, every address that has itself failed on it waits out the window;
//   - a client with no failure of its own on the subject is never refused here, so the owner signs
//     in from their usual address while someone else hammers the account. (Per-IP request rates are
//     limited separately, by @fastify/rate-limit on the same routes.)
// Counts live in the database, so every replica sees them.
import type { Db } from '../db/index.js';
import { clearFailures, deleteStaleFailures, findFailures, recordFailure } from '../db/auth-failures.js';

export interface ThrottlePolicy {
  /** Failures of one subject, from all addresses, within `windowS` before failing addresses are refused. */
  accountLimit: number;
  windowS: number;
  /** The per-address exponential backoff (default on; off where a failure is not a guess at a password). */
  backoff?: boolean;
}

const MAX_BACKOFF_S = 3600;

/** Quay's backoff: after n failures, 0.5·(2ⁿ−1) seconds (util/backoff.py), capped. */
export function backoffSeconds(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(0.5 * (2 ** Math.min(failures, 30) - 1), MAX_BACKOFF_S);
}

/** Seconds this client must wait before trying `subject` again, or 0. */
export async function throttleWait(db: Db, subject: string, ip: string, policy: ThrottlePolicy, now = Date.now()): Promise<number> {
  const windowStart = new Date(now - policy.windowS * 1000);
  const rows = await findFailures(db, subject, ip, windowStart);
  const own = rows.find((r) => r.ip === ip);
  if (!own) return 0;
  const sinceOwn = now - own.last_failure.getTime();
  const backoff = policy.backoff === false ? 0 : backoffSeconds(own.failures) * 1000 - sinceOwn;
  let waitMs = Math.max(0, backoff);
  if (sinceOwn < policy.windowS * 1000) {
    const recent = rows.filter((r) => r.last_failure.getTime() > windowStart.getTime()).reduce((n, r) => n + r.failures, 0);
    if (recent >= policy.accountLimit) waitMs = Math.max(waitMs, policy.windowS * 1000 - sinceOwn);
  }
  return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
}

export const noteFailure = recordFailure;
export const noteSuccess = clearFailures;

/** Rows older than a day are forgotten (the longest wait they can impose is an hour). */
export async function sweepFailures(db: Db, now = Date.now()): Promise<number> {
  return deleteStaleFailures(db, new Date(now - 86400_000));
}
