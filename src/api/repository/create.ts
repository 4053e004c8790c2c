// Creating a repository, shared by createRepo (POST /api/v1/repository) and the registry's
// create-on-push (GET /v2/auth with a `push` scope): the row, an explicit admin grant for a creator
// who is not an organization (users and robots alike, as Quay's create_repository), and the
// organization's default permissions (prototypes). Audit entries are the caller's: createRepo logs
// create_repo, a push-created repository is not logged (registry-and-auth.md D.7).
import type { Trx } from '../../db/index.js';
import { applyDefaultPermissions } from '../../db/prototypes-apply.js';
import { insertRepository, insertUserPermission, type RepoKind } from '../../db/repositories.js';
import type { Namespace, Repository, RepoVisibility } from '../../db/schema.js';

export interface NewRepository {
  namespace: Pick<Namespace, 'id' | 'organization'>;
  name: string;
  visibility: RepoVisibility;
  description: string;
  kind: RepoKind;
  /** The user or robot creating it. */
  creator: Pick<Namespace, 'id' | 'organization'>;
}

/** Inserts the repository and its initial permissions. Throws the unique violation of a name taken concurrently. */
export async function createRepository(trx: Trx, r: NewRepository): Promise<Repository> {
  const repo = await insertRepository(trx, { namespaceId: r.namespace.id, name: r.name, visibility: r.visibility, description: r.description, kind: r.kind });
  if (!r.creator.organization) await insertUserPermission(trx, repo.id, r.creator.id, 'admin');
  if (r.namespace.organization) await applyDefaultPermissions(trx, r.namespace.id, repo.id, r.creator.id);
  return repo;
}
