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

function entryRow(
  auth: Pick<AuthContext, 'user' | 'token' | 'ip'> | null,
  kind: LogKind,
  target: LogTarget,
  metadata: Record<string, unknown>,
  opts: { performerId?: number | null },
) {
  const meta: Record<string, unknown> = { ...metadata };
  if (auth?.token) {
    meta.oauth_token_id = auth.token.id;
    meta.oauth_token_application_id = auth.token.clientId;
    meta.oauth_token_application = auth.token.applicationName;
  }
  return {
    kind,
    account_id: target.accountId,
    performer_id: opts.performerId !== undefined ? opts.performerId : (auth?.user?.id ?? null),
    repository_id: target.repositoryId ?? null,
    ip: auth?.ip ?? null,
    metadata: JSON.stringify(meta),
  };
}

export async function logAction(
  db: Db,
  auth: Pick<AuthContext, 'user' | 'token' | 'ip'> | null,
  kind: LogKind,
  target: LogTarget,
  metadata: Record<string, unknown> = {},
  opts: { performerId?: number | null } = {},
): Promise<void> {
  await db.insertInto('log_entry').values(entryRow(auth, kind, target, metadata, opts)).execute();
}

type EntryRow = ReturnType<typeof entryRow>;

/**
 * Group commit for entries written outside any change (pulls): each resolves once its row is
 * committed, as logAction does, so a failed write still fails the request. Entries are written at
 * the end of the event loop's turn in which they arrive, and those arriving while a write is in
 * flight by the next statement, so under load many pulls share one INSERT and one commit (one
 * fsync on the embedded database) instead of one each.
 */
class GroupWriter {
  private pending: { row: EntryRow; done: (err?: unknown) => void }[] = [];
  private running = false;
  private scheduled = false;

  constructor(private readonly db: Db) {}

  add(row: EntryRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!this.running && !this.scheduled) {
        // After the I/O callbacks of this turn of the event loop: on PGlite a statement runs on
        // this thread as soon as it is sent, so sending at once would write one row per request.
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.run();
        });
      }
    });
  }

  private async run() {
    this.running = true;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, 500);
        try {
          await this.db.insertInto('log_entry').values(batch.map((b) => b.row)).execute();
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err ?? new Error('audit write failed'));
        }
      }
    } finally {
      this.running = false;
    }
  }
}

const writers = new WeakMap<Db, GroupWriter>();

/** logAction for an entry that belongs to no transaction, written by group commit (see GroupWriter). */
export async function logActionGrouped(
  db: Db,
  auth: Pick<AuthContext, 'user' | 'token' | 'ip'> | null,
  kind: LogKind,
  target: LogTarget,
  metadata: Record<string, unknown> = {},
  opts: { performerId?: number | null } = {},
): Promise<void> {
  let w = writers.get(db);
  if (!w) writers.set(db, (w = new GroupWriter(db)));
  await w.add(entryRow(auth, kind, target, metadata, opts));
}
