// The one place effective permissions are computed (part1 §11.0, part2 §1.3). A user's real role
// comes from the rows; the token's scopes then cap it (src/auth/scopes.ts). Every route uses these.
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { Namespace, Repository } from '../db/schema.js';
import type { AuthContext } from './context.js';
import { capOrgRole, capRepoRole, type OrgRole, type RepoRole } from './scopes.js';

export { orgRoleAtLeast, repoRoleAtLeast } from './scopes.js';

const REPO_RANK: Record<RepoRole, number> = { read: 1, write: 2, admin: 3 };
const ORG_RANK: Record<OrgRole, number> = { member: 1, creator: 2, admin: 3 };

/**
 * The highest of: the direct grant, the grants of the user's teams, admin for org admins (a team
 * with role admin in the owning org) and admin in the user's own namespace. Not capped.
 */
export async function realRepoRole(db: Db, userId: number, repo: Pick<Repository, 'id' | 'namespace_id'>): Promise<RepoRole | null> {
  if (userId === repo.namespace_id) return 'admin';
  const rows = await sql<{ role: RepoRole }>`
    select role from repository_permission where repository_id = ${repo.id} and user_id = ${userId}
    union all
    select rp.role from repository_permission rp
      join team_member tm on tm.team_id = rp.team_id
      where rp.repository_id = ${repo.id} and tm.user_id = ${userId}
    union all
    select 'admin' as role from team t
      join team_member tm on tm.team_id = t.id
      where t.organization_id = ${repo.namespace_id} and t.role = 'admin' and tm.user_id = ${userId}
  `.execute(db);
  let best: RepoRole | null = null;
  for (const r of rows.rows) if (!best || REPO_RANK[r.role] > REPO_RANK[best]) best = r.role;
  return best;
}

/** The user's highest team role in an organization; admin in their own namespace. Not capped. */
export async function realOrgRole(db: Db, userId: number, namespaceId: number): Promise<OrgRole | null> {
  if (userId === namespaceId) return 'admin';
  const rows = await db
    .selectFrom('team_member')
    .innerJoin('team', 'team.id', 'team_member.team_id')
    .select('team.role')
    .where('team_member.user_id', '=', userId)
    .where('team.organization_id', '=', namespaceId)
    .execute();
  let best: OrgRole | null = null;
  for (const r of rows) if (!best || ORG_RANK[r.role] > ORG_RANK[best]) best = r.role;
  return best;
}

/**
 * The role the caller may use on a repository: the real role capped by the token's scopes, and at
 * least read on a public repository (for everyone, anonymous included).
 */
export async function effectiveRepoRole(db: Db, auth: Pick<AuthContext, 'user' | 'scopes' | 'namespacePower'>, repo: Repository): Promise<RepoRole | null> {
  const real = auth.user ? (auth.namespacePower ?? (await realRepoRole(db, auth.user.id, repo))) : null;
  const capped = capRepoRole(real, auth.scopes);
  if (repo.visibility === 'public' && (!capped || REPO_RANK[capped] < REPO_RANK.read)) return 'read';
  return capped;
}

/** The org/team role the caller may use in a namespace (own namespace counts as admin). */
export async function effectiveOrgRole(db: Db, auth: Pick<AuthContext, 'user' | 'scopes' | 'namespacePower'>, ns: Pick<Namespace, 'id'>): Promise<OrgRole | null> {
  if (!auth.user) return null;
  return capOrgRole(auth.namespacePower ?? (await realOrgRole(db, auth.user.id, ns.id)), auth.scopes);
}
