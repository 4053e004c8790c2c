// Removing a whole namespace (a user or an organization): deleteCurrentUser, deleteInstallUser,
// deleteOrganization and deleteAdminedOrganization all end here, so what a namespace owns goes the
// same way whoever deletes it.
import type { FastifyInstance } from 'fastify';
import type { Trx } from '../db/index.js';
import { deleteNamespace } from '../db/organizations.js';
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
