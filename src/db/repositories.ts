// Repositories and stars (part2 §4, §14): lookups, creation, updates, deletion, and the visible-set
// queries behind listRepos and the starred lists.
import { randomUUID } from 'node:crypto';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db, Trx } from './index.js';
import type { Repository, RepoState, RepoVisibility } from './schema.js';
import { repositoryVisibleTo } from './visibility.js';

export type RepoKind = 'image' | 'application';

export async function findRepository(db: Db, namespaceId: number, name: string): Promise<Repository | undefined> {
  return db.selectFrom('repository').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
}

/** The repository `namespace/name` with its namespace, or undefined when either is missing. */
export async function findRepositoryByPath(db: Db, namespace: string, name: string) {
  return db
    .selectFrom('repository')
    .innerJoin('namespace', 'namespace.id', 'repository.namespace_id')
    .selectAll('repository')
    .select(['namespace.username as namespace_name', 'namespace.organization as namespace_is_org'])
    .where('namespace.username', '=', namespace)
    .where('repository.name', '=', name)
    .executeTakeFirst();
}

export async function insertRepository(
  trx: Trx,
  r: { namespaceId: number; name: string; visibility: RepoVisibility; description: string; kind: RepoKind },
): Promise<Repository> {
  return trx
    .insertInto('repository')
    .values({
      namespace_id: r.namespaceId,
      name: r.name,
      visibility: r.visibility,
      description: r.description,
      kind: r.kind,
      badge_token: randomUUID(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A direct grant to a user (the creator's admin grant, prototype delegates). */
export async function insertUserPermission(trx: Trx, repositoryId: number, userId: number, role: 'read' | 'write' | 'admin'): Promise<void> {
  await trx.insertInto('repository_permission').values({ repository_id: repositoryId, user_id: userId, team_id: null, role }).execute();
}

export async function insertTeamPermission(trx: Trx, repositoryId: number, teamId: number, role: 'read' | 'write' | 'admin'): Promise<void> {
  await trx.insertInto('repository_permission').values({ repository_id: repositoryId, user_id: null, team_id: teamId, role }).execute();
}

export async function setRepositoryDescription(db: Db, id: number, description: string): Promise<void> {
  await db.updateTable('repository').set({ description }).where('id', '=', id).execute();
}

export async function setRepositoryVisibility(db: Db, id: number, visibility: RepoVisibility): Promise<void> {
  await db.updateTable('repository').set({ visibility }).where('id', '=', id).execute();
}

/** NORMAL, READ_ONLY or MIRROR; anything but NORMAL refuses writes (part2 §1.10). */
export async function setRepositoryState(db: Db, id: number, state: RepoState): Promise<void> {
  await db.updateTable('repository').set({ state }).where('id', '=', id).execute();
}

/** Deletes the row; the foreign keys remove its permissions and stars with it. */
export async function deleteRepository(db: Db, id: number): Promise<void> {
  await db.deleteFrom('repository').where('id', '=', id).execute();
}

export async function isStarred(db: Db, userId: number, repositoryId: number): Promise<boolean> {
  const row = await db.selectFrom('star').select('id').where('user_id', '=', userId).where('repository_id', '=', repositoryId).executeTakeFirst();
  return row !== undefined;
}

/** Starring twice is a no-op. */
export async function insertStar(db: Db, userId: number, repositoryId: number): Promise<void> {
  await db
    .insertInto('star')
    .values({ user_id: userId, repository_id: repositoryId })
    .onConflict((oc) => oc.constraint('star_user_repository').doNothing())
    .execute();
}

export async function deleteStar(db: Db, userId: number, repositoryId: number): Promise<void> {
  await db.deleteFrom('star').where('user_id', '=', userId).where('repository_id', '=', repositoryId).execute();
}

export interface RepoListRow {
  id: number;
  namespace: string;
  name: string;
  description: string;
  visibility: RepoVisibility;
  kind: RepoKind;
  state: string;
  is_starred: boolean;
}

export interface VisibleRepoQuery {
  /** The user whose grants count; null for anonymous callers and for tokens that cannot read repositories. */
  readerId: number | null;
  /** Include public repositories. */
  includePublic: boolean;
  /** Only the repositories this user starred. */
  starredBy?: number;
  /** The user whose stars fill `is_starred` (false for everyone when null). */
  starUserId: number | null;
  namespace?: string;
  kind: RepoKind;
  /** Keyset: only ids greater than this. */
  afterId: number;
  limit: number;
}

/**
 * A page of readable repositories whose cost does not grow with the namespace or with the user's
 * grants (bench/namespaces.ts): the namespace is resolved to its id first (so the
 * (namespace_id, id) index drives the scan), the caller's teams and admin orgs are looked up once,
 * and each candidate row is checked with a correlated probe of the permission indexes. `offset 0`
 * keeps PostgreSQL from turning that probe back into a hash of every grant the user holds.
 */
function readablePage(readerId: number, teamIds: number[], adminOrgIds: number[], includePublic: boolean) {
  return sql<SqlBool>`(
    ${includePublic ? sql`r.visibility = 'public' or` : sql``}
    r.namespace_id = ${readerId}
    or r.namespace_id = any(${adminOrgIds}::int[])
    or exists (
      select 1 from repository_permission rp
      where rp.repository_id = r.id and (rp.user_id = ${readerId} or rp.team_id = any(${teamIds}::int[]))
      offset 0
    )
  )`;
}

export async function listVisibleRepositories(db: Db, q: VisibleRepoQuery): Promise<RepoListRow[]> {
  if (q.readerId === null && !q.includePublic) return [];
  let namespaceId: number | undefined;
  if (q.namespace !== undefined) {
    const ns = await db.selectFrom('namespace').select('id').where('username', '=', q.namespace).executeTakeFirst();
    if (!ns) return [];
    namespaceId = ns.id;
  }
  let visible: RawBuilder<SqlBool> = repositoryVisibleTo(null, 'r', { includePublic: q.includePublic });
  if (q.readerId !== null) {
    const memberships = await db
      .selectFrom('team_member as tm')
      .innerJoin('team as t', 't.id', 'tm.team_id')
      .select(['t.id', 't.role', 't.organization_id'])
      .where('tm.user_id', '=', q.readerId)
      .execute();
    const teamIds = memberships.map((m) => m.id);
    const adminOrgIds = [...new Set(memberships.filter((m) => m.role === 'admin').map((m) => m.organization_id))];
    visible = readablePage(q.readerId, teamIds, adminOrgIds, q.includePublic);
  }
  const starUser = q.starUserId;
  let query = db
    .selectFrom('repository as r')
    .innerJoin('namespace as ns', 'ns.id', 'r.namespace_id')
    .select([
      'r.id',
      'ns.username as namespace',
      'r.name',
      'r.description',
      'r.visibility',
      'r.kind',
      'r.state',
      (eb) =>
        starUser === null
          ? sql<boolean>`false`.as('is_starred')
          : eb.exists(eb.selectFrom('star as s').select(sql.lit(1).as('one')).whereRef('s.repository_id', '=', 'r.id').where('s.user_id', '=', starUser)).as('is_starred'),
    ])
    .where('r.kind', '=', q.kind)
    .where('r.id', '>', q.afterId)
    .where(visible);
  if (namespaceId !== undefined) query = query.where('r.namespace_id', '=', namespaceId);
  if (q.starredBy !== undefined) {
    const by = q.starredBy;
    query = query.where((eb) =>
      eb.exists(eb.selectFrom('star as s2').select(sql.lit(1).as('one')).whereRef('s2.repository_id', '=', 'r.id').where('s2.user_id', '=', by)),
    );
  }
  const rows = await query.orderBy('r.id').limit(q.limit).execute();
  return rows.map((r) => ({ ...r, is_starred: Boolean(r.is_starred) })) as RepoListRow[];
}
