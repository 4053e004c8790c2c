// Quay's org_view, and the helpers every route of the ORGANIZATION section uses.
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { AuthContext } from '../../auth/context.js';
import { effectiveOrgRole } from '../../auth/permissions.js';
import { orgRoleAtLeast } from '../../auth/scopes.js';
import { listTeamsWithCounts, listUserTeamIds } from '../../db/organizations.js';
import type { Namespace } from '../../db/schema.js';
import { notFound } from '../../lib/api-error.js';
import { avatar } from '../../lib/avatar.js';
import type { OrgView } from './schemas.js';

export const teamAvatar = (name: string) => avatar(name, null, 'team');
export const accountAvatar = (u: { username: string; email: string | null; robot?: boolean }) =>
  avatar(u.username, u.email, u.robot ? 'robot' : 'user');

/**
 * Quay's org_view for the caller. `teams`: 'ifMember' lists them for org members (getOrganization),
 * 'always' for callers known to be admins, 'empty' gives `{}`/`[]` (getApplicationInformation).
 */
export async function buildOrgView(
  app: FastifyInstance,
  auth: AuthContext,
  org: Namespace,
  teams: 'ifMember' | 'always' | 'empty',
): Promise<z.infer<typeof OrgView>> {
  const role = await effectiveOrgRole(app.db, auth, org);
  const isAdmin = role === 'admin';
  const isMember = orgRoleAtLeast(role, 'member');
  const view: z.infer<typeof OrgView> = {
    name: org.username,
    email: isAdmin ? (org.email ?? '') : '',
    // Quay labels the org's own avatar kind "user" here (part1 §0.10).
    avatar: avatar(org.username, org.email, 'user'),
    is_admin: isAdmin,
    is_member: isMember,
  };
  if (teams === 'empty') {
    view.teams = {};
    view.ordered_teams = [];
  } else if (teams === 'always' || isMember) {
    const rows = await listTeamsWithCounts(app.db, org.id);
    const mine = isAdmin || !auth.user ? new Set<number>() : await listUserTeamIds(app.db, org.id, auth.user.id);
    view.teams = Object.fromEntries(
      rows.map((t) => [
        t.name,
        {
          name: t.name,
          description: t.description,
          role: t.role,
          avatar: teamAvatar(t.name),
          can_view: isAdmin || mine.has(t.id),
          repo_count: t.repo_count,
          member_count: t.member_count,
          is_synced: false,
        },
      ]),
    );
    view.ordered_teams = rows.map((t) => t.name);
  }
  if (isAdmin) {
    // The invoicing settings are kept (changeOrganizationDetails) though no invoice is ever sent:
    // there is no billing here, so every organization is a free account.
    view.invoice_email = org.invoice_email;
    view.invoice_email_address = org.invoice_email_address;
    view.tag_expiration_s = org.tag_expiration_s;
    view.is_free_account = true;
  }
  return view;
}

/** The organization named by the path, as looked up by orgAccess; 404 for users and missing names. */
export function targetOrg(target: { namespace?: Namespace }): Namespace {
  const ns = target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}
