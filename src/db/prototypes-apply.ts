// Applying an organization's default permissions (prototypes) to a new repository (part1 §12.0).
// Runs once, at creation, inside the creating transaction; the grants are ordinary permission rows
// and write no audit entry. Later edits to prototypes never touch existing repositories.
import type { Trx } from './index.js';
import { insertTeamPermission, insertUserPermission } from './repositories.js';

type Role = 'read' | 'write' | 'admin';

interface Candidate {
  specific: boolean;
  key: number;
  role: Role;
}

/**
 * Per delegate: a rule specific to the creator beats a generic one; among generic rules the first
 * found wins; among specific rules the last found wins ("found" = prototype id order).
 */
function select(candidates: Candidate[]): Map<number, Role> {
  const chosen = new Map<number, Role>();
  for (const c of candidates) {
    if (!c.specific && chosen.has(c.key)) continue;
    chosen.set(c.key, c.role);
  }
  return chosen;
}

/**
 * Grants what the org's prototypes say for a repository that `creatorId` (a user or robot) just
 * created in organization `orgId`. The creator is skipped as a user delegate: they already hold admin.
 */
export async function applyDefaultPermissions(trx: Trx, orgId: number, repositoryId: number, creatorId: number): Promise<void> {
  const protos = await trx
    .selectFrom('permission_prototype')
    .select(['activating_user_id', 'delegate_user_id', 'delegate_team_id', 'role'])
    .where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('activating_user_id', 'is', null), eb('activating_user_id', '=', creatorId)]))
    .orderBy('id')
    .execute();
  const teams = select(
    protos.filter((p) => p.delegate_team_id !== null).map((p) => ({ specific: p.activating_user_id !== null, key: p.delegate_team_id!, role: p.role })),
  );
  const users = select(
    protos.filter((p) => p.delegate_user_id !== null).map((p) => ({ specific: p.activating_user_id !== null, key: p.delegate_user_id!, role: p.role })),
  );
  for (const [teamId, role] of teams) await insertTeamPermission(trx, repositoryId, teamId, role);
  for (const [userId, role] of users) {
    if (userId === creatorId) continue;
    await insertUserPermission(trx, repositoryId, userId, role);
  }
}
