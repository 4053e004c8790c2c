// Search queries (part2 §8): repositories, namespaces, teams, robots and users matched by name.
// Every function is one query whatever the number of results (no per-result lookups), except
// searchNamespaces, which first looks up the viewer's teams (one small query) so that the search can
// decide per namespace, with those ids as constants, instead of per repository. Repository
// visibility is the SQL predicate of src/db/visibility.ts.
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from './index.js';
import { inOrgFlag } from './teams.js';
import type { RepoVisibility } from './schema.js';
import { repositoryVisibleTo } from './visibility.js';

/** Escapes LIKE wildcards so user input only ever matches literally (backslash is the default escape). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * `column ILIKE 'prefix%'`, written as `lower(column) LIKE lower('prefix') || '%'` (what ILIKE does
 * in a UTF-8 database, so the rows are the same) because no btree index serves ILIKE, while
 * namespace_username_lower_prefix, on lower(username) text_pattern_ops, serves this form: the
 * pattern is a bound parameter, which PostgreSQL folds to a constant prefix when it plans.
 */
function startsWithCi(value: string | RawBuilder<string>, prefix: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`lower(${typeof value === 'string' ? sql.ref(value) : value}) like lower(${likeEscape(prefix)}) || '%'`;
}

export interface RepoSearchRow {
  id: number;
  name: string;
  description: string;
  visibility: RepoVisibility;
  kind: 'image' | 'application';
  ns_username: string;
  ns_email: string | null;
  ns_organization: boolean;
  ns_robot: boolean;
}

/**
 * Repositories visible to `viewerId` whose name or description contains `text` (case-insensitive);
 * `namespace` restricts to one namespace. Name matches rank before description-only matches (Quay
 * weighs them 100×); ties are broken by namespace and name so pages are stable.
 */
export async function searchRepositories(
  db: Db,
  o: { viewerId: number | null; text: string; namespace?: string; limit: number; offset: number },
): Promise<RepoSearchRow[]> {
  const pattern = `%${likeEscape(o.text)}%`;
  let q = db
    .selectFrom('repository')
    .innerJoin('namespace as n', 'n.id', 'repository.namespace_id')
    .select([
      'repository.id',
      'repository.name',
      'repository.description',
      'repository.visibility',
      'repository.kind',
      'n.username as ns_username',
      'n.email as ns_email',
      'n.organization as ns_organization',
      'n.robot as ns_robot',
    ])
    .where(repositoryVisibleTo(o.viewerId));
  if (o.namespace !== undefined) q = q.where('n.username', '=', o.namespace);
  if (o.text) {
    q = q
      .where((eb) => eb.or([eb('repository.name', 'ilike', pattern), eb('repository.description', 'ilike', pattern)]))
      .orderBy(sql`repository.name ilike ${pattern}`, 'desc');
  }
  return q
    .orderBy('n.username')
    .orderBy('repository.name')
    .limit(o.limit)
    .offset(o.offset)
    .execute();
}

/** Star counts and recent activity (audit entries of the last week, Quay's action count) per repository. */
export async function repositoryUsage(db: Db, ids: number[]): Promise<Map<number, { stars: number; actions: number }>> {
  const out = new Map<number, { stars: number; actions: number }>(ids.map((id) => [id, { stars: 0, actions: 0 }]));
  if (ids.length === 0) return out;
  const since = new Date(Date.now() - 7 * 86400_000);
  const [stars, actions] = await Promise.all([
    db.selectFrom('star').select(['repository_id', (eb) => eb.fn.countAll<string>().as('n')]).where('repository_id', 'in', ids).groupBy('repository_id').execute(),
    db
      .selectFrom('log_entry')
      .select(['repository_id', (eb) => eb.fn.countAll<string>().as('n')])
      .where('repository_id', 'in', ids)
      .where('datetime', '>=', since)
      .groupBy('repository_id')
      .execute(),
  ]);
  for (const s of stars) out.get(s.repository_id)!.stars = Number(s.n);
  for (const a of actions) if (a.repository_id !== null) out.get(a.repository_id)!.actions = Number(a.n);
  return out;
}

export interface EntityRow {
  id: number;
  username: string;
  email: string | null;
  organization: boolean;
  robot: boolean;
}

/**
 * Where the viewer's teams give them repositories: the organizations they administer through an
 * admin team (every repository), and those in which one of their teams holds a grant. A team is only
 * ever granted repositories of its own organization (the permission API and default permissions look
 * the team up there), so a team grant makes its organization own a repository the viewer can read.
 */
async function teamReach(db: Db, viewerId: number): Promise<{ adminOrgIds: number[]; grantOrgIds: number[] }> {
  const rows = await db
    .selectFrom('team_member as tm')
    .innerJoin('team as t', 't.id', 'tm.team_id')
    .select([
      't.role',
      't.organization_id',
      // `between` rather than `=`: with `=` PostgreSQL expects rows/distinct teams grants per team and
      // scans the whole table for a team that has none (few teams, one holding most grants); a range
      // is estimated small, so this stays one probe of repository_permission_team_id.
      sql<boolean>`exists (select 1 from repository_permission rp where rp.team_id between t.id and t.id)`.as('has_grant'),
    ])
    .where('tm.user_id', '=', viewerId)
    .execute();
  const orgs = (keep: (r: (typeof rows)[number]) => boolean) => [...new Set(rows.filter(keep).map((r) => r.organization_id))];
  return { adminOrgIds: orgs((r) => r.role === 'admin'), grantOrgIds: orgs((r) => Boolean(r.has_grant)) };
}

/**
 * Namespace `n` owns a repository (matching `cond`): one probe of repository_namespace_visibility.
 * `offset 0` keeps it a probe per candidate; as a semi-join PostgreSQL hashed every public
 * repository whenever a short prefix made it expect many candidates.
 */
function ownsRepository(cond: RawBuilder<SqlBool> = sql<SqlBool>`true`): RawBuilder<SqlBool> {
  return sql<SqlBool>`exists (select 1 from repository r where r.namespace_id = n.id and ${cond} offset 0)`;
}

/**
 * Namespace `n` owns a repository the viewer can read (the sources of src/db/visibility.ts), decided
 * per namespace so that no branch walks n's repositories: their own namespace or an organization
 * they administer (any repository), an organization where a team of theirs holds a grant, a public
 * repository, or a direct grant (the namespaces of the viewer's direct grants, hashed once).
 */
function ownsVisibleRepository(viewerId: number, reach: { adminOrgIds: number[]; grantOrgIds: number[] }): RawBuilder<SqlBool> {
  return sql<SqlBool>`(
    (n.id = ${viewerId} or n.id = any(${reach.adminOrgIds}::int[])) and ${ownsRepository()}
    or n.id = any(${reach.grantOrgIds}::int[])
    or ${ownsRepository(sql<SqlBool>`r.visibility = 'public'`)}
    or n.id in (
      select gr.namespace_id from repository_permission rp join repository gr on gr.id = rp.repository_id
      where rp.user_id = ${viewerId}
    )
  )`;
}

/**
 * Users and organizations named `prefix…` that own at least one repository visible to the viewer.
 * Every candidate costs a few index probes, whatever its number of repositories (an organization
 * of 10,000 private repositories the viewer cannot read included).
 */
export async function searchNamespaces(db: Db, viewerId: number | null, prefix: string, limit: number): Promise<EntityRow[]> {
  const visible =
    viewerId === null ? ownsRepository(sql<SqlBool>`r.visibility = 'public'`) : ownsVisibleRepository(viewerId, await teamReach(db, viewerId));
  return db
    .selectFrom('namespace as n')
    .select(['n.id', 'n.username', 'n.email', 'n.organization', 'n.robot'])
    .where(startsWithCi('n.username', prefix))
    .where('n.robot', '=', false)
    .where(visible)
    .orderBy('n.username')
    .limit(limit)
    .execute();
}

export interface TeamSearchRow {
  id: number;
  name: string;
  org_id: number;
  org_username: string;
  org_email: string | null;
}

function teamSearchQuery(db: Db, prefix: string) {
  return db
    .selectFrom('team as t')
    .innerJoin('namespace as o', 'o.id', 't.organization_id')
    .select(['t.id', 't.name', 'o.id as org_id', 'o.username as org_username', 'o.email as org_email'])
    .where('t.name', 'ilike', `${likeEscape(prefix)}%`);
}

/** Teams named `prefix…` that the user belongs to. */
export async function searchMemberTeams(db: Db, userId: number, prefix: string, limit: number): Promise<TeamSearchRow[]> {
  return teamSearchQuery(db, prefix)
    .where((eb) => eb.exists(eb.selectFrom('team_member as tm').select(sql`1`.as('one')).whereRef('tm.team_id', '=', 't.id').where('tm.user_id', '=', userId)))
    .orderBy('o.username')
    .orderBy('t.name')
    .limit(limit)
    .execute();
}

/** The organizations in which the user is in a team with role admin, as a subquery. */
function adminedOrgIds(db: Db, userId: number) {
  return db
    .selectFrom('team as at')
    .innerJoin('team_member as atm', 'atm.team_id', 'at.id')
    .select('at.organization_id')
    .where('atm.user_id', '=', userId)
    .where('at.role', '=', 'admin');
}

/** Teams named `prefix…` in the organizations the user administers. */
export async function searchAdminedTeams(db: Db, userId: number, prefix: string, limit: number): Promise<TeamSearchRow[]> {
  return teamSearchQuery(db, prefix)
    .where('t.organization_id', 'in', adminedOrgIds(db, userId))
    .orderBy('o.username')
    .orderBy('t.name')
    .limit(limit)
    .execute();
}

/**
 * Robots whose short name starts with `prefix`, owned by the user (when `own`) or by an
 * organization the user administers (when `admined`).
 */
export async function searchRobots(db: Db, userId: number, prefix: string, o: { own: boolean; admined: boolean; limit: number }): Promise<EntityRow[]> {
  if (!o.own && !o.admined) return [];
  // One owner set, so that PostgreSQL probes the robot_owner_id index once per owner (an OR of
  // "= user" and "in (orgs)" made it walk every namespace in username order instead).
  const self = db.selectNoFrom(sql<number>`${userId}::int`.as('organization_id'));
  const owners = o.own && o.admined ? self.union(adminedOrgIds(db, userId)) : o.own ? self : adminedOrgIds(db, userId);
  return db
    .selectFrom('namespace as r')
    .select(['r.id', 'r.username', 'r.email', 'r.organization', 'r.robot'])
    .where('r.robot', '=', true)
    .where('r.robot_owner_id', 'in', owners)
    // The short name is what follows `owner+`; owner names never contain `+`, so no join to the
    // owner is needed to find where it starts.
    .where(startsWithCi(sql<string>`substr(r.username, strpos(r.username, '+') + 1)`, prefix))
    .orderBy('r.username')
    .limit(o.limit)
    .execute();
}

/** Teams of an organization named `prefix…`. */
export async function matchingOrgTeams(db: Db, orgId: number, prefix: string, limit: number): Promise<{ id: number; name: string }[]> {
  return db
    .selectFrom('team')
    .select(['id', 'name'])
    .where('organization_id', '=', orgId)
    .where('name', 'ilike', `${likeEscape(prefix)}%`)
    .orderBy('name')
    .limit(limit)
    .execute();
}

export interface MatchingUserRow extends EntityRow {
  /** In any team of the given organization (false when none was given). */
  in_org: boolean;
}

/**
 * Entity autocomplete: users named `prefix…` (or exactly `prefix` with `exactOnly`), plus robots of
 * `robotOwner` whose short name starts with `prefix`. The exact username match comes first, so a
 * limit never cuts it off; then robots, then users by name.
 */
export async function matchingUsers(
  db: Db,
  o: { prefix: string; exactOnly: boolean; robotOwner: { id: number; username: string } | null; orgId: number | null; limit: number },
): Promise<MatchingUserRow[]> {
  const owner = o.robotOwner;
  return db
    .selectFrom('namespace as u')
    .select(['u.id', 'u.username', 'u.email', 'u.organization', 'u.robot'])
    .select(inOrgFlag(o.orgId).as('in_org'))
    .where('u.organization', '=', false)
    .where((eb) => {
      const users = eb.and([eb('u.robot', '=', false), o.exactOnly ? eb('u.username', '=', o.prefix) : startsWithCi('u.username', o.prefix)]);
      if (owner === null) return users;
      // A robot's name is `owner+short`, so its short name starts with `prefix` exactly when its
      // name starts with `owner+prefix`: one more range of the same index, no join to the owner.
      const robots = eb.and([eb('u.robot', '=', true), eb('u.robot_owner_id', '=', owner.id), startsWithCi('u.username', `${owner.username}+${o.prefix}`)]);
      return eb.or([users, robots]);
    })
    .orderBy(sql`u.username = ${o.prefix}`, 'desc')
    .orderBy('u.robot', 'desc')
    .orderBy('u.username')
    .limit(o.limit)
    .execute();
}
