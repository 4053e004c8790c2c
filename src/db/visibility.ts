// Which repositories a user can see (read), as one SQL predicate, so lists and searches filter in
// the database instead of asking src/auth/permissions.ts once per row. It mirrors realRepoRole's
// sources (part1 §11.0): public repositories, direct grants, grants of the user's teams, every
// repository of an org where the user is in an admin team, and the user's own namespace.
// The caller decides who the viewer is: pass null (public only) when the credential in use cannot
// read repositories at all (a token without repo:* scopes), as scopes cap every repository role.
import { sql, type RawBuilder, type SqlBool } from 'kysely';

/**
 * A boolean SQL expression over the repository row named `alias` (default `repository`): true
 * when `userId` (null = anonymous) may read it. Each branch is an indexed lookup keyed by the user
 * (repository_permission_user_id, team_member_user + repository_permission_team_id,
 * repository_namespace_name), so the cost grows with the user's grants, not with the table.
 */
export function repositoryVisibleTo(
  userId: number | null,
  alias = 'repository',
  opts: { includePublic?: boolean } = {},
): RawBuilder<SqlBool> {
  const visibility = sql.ref(`${alias}.visibility`);
  const pub = opts.includePublic === false ? sql<SqlBool>`false` : sql<SqlBool>`${visibility} = 'public'`;
  if (userId === null) return sql<SqlBool>`(${pub})`;
  const id = sql.ref(`${alias}.id`);
  const namespaceId = sql.ref(`${alias}.namespace_id`);
  return sql<SqlBool>`(
    ${pub}
    or ${namespaceId} = ${userId}
    or ${id} in (
      select rp.repository_id from repository_permission rp where rp.user_id = ${userId}
      union
      select rp.repository_id from repository_permission rp
        join team_member tm on tm.team_id = rp.team_id
        where tm.user_id = ${userId}
    )
    or ${namespaceId} in (
      select t.organization_id from team t
        join team_member tm on tm.team_id = t.id
        where tm.user_id = ${userId} and t.role = 'admin'
    )
  )`;
}
