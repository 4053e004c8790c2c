// Removing a whole namespace (a user or an organization): deleteCurrentUser, deleteInstallUser,
// deleteOrganization and deleteAdminedOrganization all end here, so what a namespace owns goes the
// same way whoever deletes it.
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Trx } from '../db/index.js';
import { deleteNamespace } from '../db/organizations.js';
import type { Namespace } from '../db/schema.js';
import { findNamespaceByName } from '../db/users.js';
import { usernameProblem } from './accounts.js';
import { queueRepositoryCleanup, requestGarbageCollection } from '../jobs/gc.js';

/**
 * Inside the caller's transaction (opened with `app.jobs.transaction`, so queued jobs run after the
 * commit): queues the storage cleanup of every repository's upload sessions, then deletes the
 * namespace row. Foreign keys cascade to its repositories (tags, manifests, links, permissions,
 * stars), robots (and their grants and tokens), teams, prototypes, OAuth applications and the
 * tokens it granted, app-specific tokens, sessions and codes. Blobs only it used are left to
 * garbage collection, after the grace period. The name is free again once this commits.
 */
export async function removeNamespace(app: FastifyInstance, trx: Trx, namespaceId: number): Promise<void> {
  const repos = await trx.selectFrom('repository').select('id').where('namespace_id', '=', namespaceId).execute();
  for (const r of repos) await queueRepositoryCleanup(app, trx, r.id);
  await deleteNamespace(trx, namespaceId);
}

/** After the commit: forget cached tokens and memberships, and ask for a collection sweep. */
export async function afterNamespaceRemoval(app: FastifyInstance, log: FastifyInstance['log']): Promise<void> {
  app.authCache.clear();
  await requestGarbageCollection(app).catch((err) => log.warn({ err }, 'could not request a garbage-collection sweep; the periodic one will do'));
}

/** Why a namespace cannot be renamed to `newName`, in Quay's words, or undefined when it can. */
export async function renameProblem(trx: Trx, ns: Pick<Namespace, 'id' | 'username'>, newName: string): Promise<string | undefined> {
  const problem = usernameProblem(newName);
  if (problem) return problem;
  const taken = await findNamespaceByName(trx, newName);
  if (taken && taken.id !== ns.id) return `Username has already been taken by ${taken.organization ? 'an organization' : 'user'} cannot be reused: ${newName}`;
  return undefined;
}

/**
 * Renames a user or an organization inside the caller's transaction; its robots (`old+x`) follow
 * as `new+x`. Repositories, teams and grants hang on ids and follow by themselves. The caller
 * checked `renameProblem` under `lockNamespaces`, and clears app.authCache after the commit.
 */
export async function renameNamespace(trx: Trx, ns: Pick<Namespace, 'id' | 'username'>, newName: string): Promise<Namespace> {
  const renamed = await trx.updateTable('namespace').set({ username: newName }).where('id', '=', ns.id).returningAll().executeTakeFirstOrThrow();
  await trx
    .updateTable('namespace')
    .set({ username: sql<string>`${newName} || substr(username, ${ns.username.length + 1})` })
    .where('robot_owner_id', '=', ns.id)
    .where('robot', '=', true)
    .execute();
  return renamed;
}

/**
 * Turns a user into an organization inside the caller's transaction (Quay's
 * convert_user_to_organization, used by convertUserToOrganization and takeOwnership): the account
 * loses its password, sessions, OAuth tokens it granted, app-specific tokens, stars, pending
 * invites and team memberships elsewhere; it gains an `owners` team (role admin) whose one member is
 * `adminUserId`. Its repositories, robots and their grants stay. The caller clears app.authCache
 * after the commit.
 */
export async function convertUserToOrganization(trx: Trx, userId: number, adminUserId: number): Promise<Namespace> {
  const org = await trx
    .updateTable('namespace')
    .set({ organization: true, password_hash: null, verified: true, invalid_login_attempts: 0, last_invalid_login: null })
    .where('id', '=', userId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx.deleteFrom('session').where('user_id', '=', userId).execute();
  await trx.deleteFrom('oauth_access_token').where('authorized_user_id', '=', userId).execute();
  await trx.deleteFrom('app_specific_token').where('user_id', '=', userId).execute();
  await trx.deleteFrom('star').where('user_id', '=', userId).execute();
  await trx.deleteFrom('team_member').where('user_id', '=', userId).execute();
  await trx.deleteFrom('team_member_invite').where('user_id', '=', userId).execute();
  await trx.deleteFrom('email_confirmation').where('user_id', '=', userId).execute();
  // An organization holds no grants of its own: direct ones on other namespaces' repositories and
  // prototypes naming it elsewhere go.
  await trx.deleteFrom('repository_permission').where('user_id', '=', userId).execute();
  await trx
    .deleteFrom('permission_prototype')
    .where((eb) => eb.or([eb('activating_user_id', '=', userId), eb('delegate_user_id', '=', userId)]))
    .where('org_id', '!=', userId)
    .execute();
  const team = await trx
    .insertInto('team')
    .values({ organization_id: userId, name: 'owners', role: 'admin' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx.insertInto('team_member').values({ team_id: team.id, user_id: adminUserId }).execute();
  return org;
}
