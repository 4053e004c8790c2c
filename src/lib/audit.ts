// logAction is the only writer of audit rows. Like Quay's log_action it fills in the performer, the
// client address and, when an OAuth token is in use, the token and application (part1 §0.12).
// Call it with the transaction that makes the change, so the entry commits with it.
import type { AuthContext } from '../auth/context.js';
import type { Db } from '../db/index.js';
import type { LogKind } from './log-kinds.js';

export interface LogTarget {
  /** The namespace (user or org) id the entry belongs to. */
  accountId: number | null;
  repositoryId?: number | null;
}

export async function logAction(
  db: Db,
  auth: Pick<AuthContext, 'user' | 'token' | 'ip'> | null,
  kind: LogKind,
  target: LogTarget,
  metadata: Record<string, unknown> = {},
  opts: { performerId?: number | null } = {},
): Promise<void> {
  const meta: Record<string, unknown> = { ...metadata };
  if (auth?.token) {
    meta.oauth_token_id = auth.token.id;
    meta.oauth_token_application_id = auth.token.clientId;
    meta.oauth_token_application = auth.token.applicationName;
  }
  await db
    .insertInto('log_entry')
    .values({
      kind,
      account_id: target.accountId,
      performer_id: opts.performerId !== undefined ? opts.performerId : (auth?.user?.id ?? null),
      repository_id: target.repositoryId ?? null,
      ip: auth?.ip ?? null,
      metadata: JSON.stringify(meta),
    })
    .execute();
}
