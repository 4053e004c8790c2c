// REPOSITORY (part2 §4): list, create, view, describe, change visibility or state, and delete
// repositories. changeRepoState exists only with FEATURE_REPO_MIRROR, as in Quay: without it the path
// is not registered at all (404, and absent from discovery).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, authenticatedAccess, repoAccess } from '../auth/access.js';
import { effectiveOrgRole, effectiveRepoRole, orgRoleAtLeast, repoRoleAtLeast } from '../auth/permissions.js';
import type { RepoRole } from '../auth/scopes.js';
import { maxRepoRole } from '../auth/scopes.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Trx } from '../db/index.js';
import { applyDefaultPermissions } from '../db/prototypes-apply.js';
import {
  deleteRepository,
  findRepository,
  insertRepository,
  insertUserPermission,
  isStarred,
  listVisibleRepositories,
  setRepositoryDescription,
  setRepositoryState,
  setRepositoryVisibility,
  type RepoKind,
  type RepoListRow,
} from '../db/repositories.js';
import type { Namespace, Repository } from '../db/schema.js';
import { insufficientScope, invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import type { LogKind } from '../lib/log-kinds.js';
import { decodePageToken, keysetPage } from '../lib/pagination.js';
import { firstString, quayBool } from '../lib/validation.js';

export const OPERATIONS = [
  'listRepos',
  'createRepo',
  'getRepo',
  'updateRepo',
  'changeRepoVisibility',
  // Registered only with FEATURE_REPO_MIRROR; served either way, so it never gets a 501 stub.
  'changeRepoState',
  'deleteRepository',
] as const;

export const REPOS_PER_PAGE = 100;
const PAGE_KIND = 'repository';
/** getRepo's `stats` cover the days before today, as Quay's 92-day window (1…91 days ago). */
const STATS_DAYS = 92;
/** Flask's text for a bare abort(400). */
const BAD_REQUEST = 'The browser (or proxy) sent a request that this server could not understand.';

/** Quay's REPOSITORY_NAME_EXTENDED_REGEX: `/`-separated components, 255 characters at most. */
const REPO_NAME = /^(?=.{1,255}$)[a-z0-9][.a-z0-9_-]*(?:\/[a-z0-9][.a-z0-9_-]*)*$/;

export function isValidRepositoryName(name: string): boolean {
  return REPO_NAME.test(name);
}

const Visibility = z.enum(['public', 'private']);

const NewRepo = z
  .object({
    repository: z.string().describe('Repository name'),
    visibility: Visibility.describe('Visibility which the repository will start with'),
    namespace: z.string().optional().describe('Namespace in which the repository should be created. If omitted, the username of the caller is used'),
    description: z.string().describe('Markdown encoded description for the repository'),
    repo_kind: z.enum(['image', 'application']).nullable().optional().describe('The kind of repository'),
  })
  .meta({ id: 'NewRepo', description: 'Description of a new repository' });

const RepoUpdate = z
  .object({ description: z.string().describe('Markdown encoded description for the repository') })
  .meta({ id: 'RepoUpdate', description: 'Fields which can be updated in a repository.' });

const ChangeVisibility = z
  .object({ visibility: Visibility.describe('Visibility which the repository will start with') })
  .meta({ id: 'ChangeVisibility', description: 'Change the visibility for the repository.' });

const ChangeRepoState = z
  .object({ state: z.enum(['NORMAL', 'READ_ONLY', 'MIRROR']).describe('Determines whether pushes are allowed.') })
  .meta({ id: 'ChangeRepoState', description: 'Change the state of the repository.' });

export const RepoParams = z.object({ namespace: z.string(), repository: z.string() });

const RepoListItem = z.object({
  namespace: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  is_public: z.boolean(),
  kind: z.string(),
  state: z.string().nullable(),
  is_starred: z.boolean().optional(),
  last_modified: z.number().int().nullable().optional(),
  popularity: z.number().optional(),
});

const TagView = z.looseObject({
  name: z.string(),
  size: z.number().nullable(),
  last_modified: z.string().optional(),
  expiration: z.string().optional(),
  manifest_digest: z.string().optional(),
});

const RepoView = z
  .object({
    namespace: z.string(),
    name: z.string(),
    kind: z.string(),
    description: z.string().nullable(),
    is_public: z.boolean(),
    is_organization: z.boolean(),
    is_starred: z.boolean(),
    status_token: z.string().optional(),
    trust_enabled: z.boolean().optional(),
    tag_expiration_s: z.number().optional(),
    is_free_account: z.boolean(),
    state: z.string().nullable(),
    can_write: z.boolean(),
    can_admin: z.boolean(),
    tags: z.record(z.string(), TagView).optional(),
    stats: z.array(z.object({ date: z.string(), count: z.number() })).optional(),
    channels: z.array(z.looseObject({ name: z.string() })).optional(),
    releases: z.array(z.looseObject({ name: z.string() })).optional(),
  })
  .meta({ id: 'RepositoryView', description: 'A repository, as seen by the caller.' });

const Success = z.object({ success: z.boolean() });

function listItem(r: RepoListRow, kind: string, o: { starred: boolean; lastModified: boolean; popularity: boolean }) {
  return {
    namespace: r.namespace,
    name: r.name,
    description: r.description,
    is_public: r.visibility === 'public',
    kind,
    state: r.state,
    // No pushes exist yet: no tag has a start time and no action has been counted.
    ...(o.lastModified ? { last_modified: null } : {}),
    ...(o.popularity ? { popularity: 0.0 } : {}),
    ...(o.starred ? { is_starred: r.is_starred } : {}),
  };
}

/** Zero counts for each of the last 91 days (no actions are counted yet), newest first. */
function emptyStats(now = new Date()) {
  const out: { date: string; count: number }[] = [];
  for (let day = 1; day < STATS_DAYS; day++) {
    out.push({ date: new Date(now.getTime() - day * 86400_000).toISOString().slice(0, 10), count: 0 });
  }
  return out;
}

export const repositoryRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/repository',
    {
      // Anyone may call it; what is listed depends on the caller.
      config: { access: { ...anonymousAccess(), scope: 'repo:read' } },
      schema: {
        operationId: 'listRepos',
        tags: ['repository'],
        description: 'Fetch the list of repositories visible to the current user under a variety of situations.',
        querystring: z.object({
          namespace: firstString.describe('Filters the repositories returned to this namespace'),
          starred: quayBool.describe('Filters the repositories returned to those starred by the user'),
          public: quayBool.describe('Adds any repositories visible to the user by virtue of being public'),
          last_modified: quayBool.describe('Whether to include when the repository was last modified.'),
          popularity: quayBool.describe("Whether to include the repository's popularity metric."),
          repo_kind: firstString.describe('The kind of repositories to return'),
          next_page: firstString.describe('The page token for the next page'),
        }),
        response: { 200: z.object({ repositories: z.array(RepoListItem), next_page: z.string().optional() }) },
      },
    },
    async (req) => {
      const q = req.query;
      // Quay refuses to list "everything visible" in one call.
      if (!q.namespace && !q.starred && !q.public) throw invalidRequest('namespace, starred or public are required for this API call');
      const user = req.auth.user;
      if (q.starred && !user) throw message(400, BAD_REQUEST);
      const kind = q.repo_kind ?? 'image';
      if (kind !== 'image' && kind !== 'application') throw message(400, 'Unknown repository kind');
      // A token that cannot read repositories sees only public ones, as ReadRepo would decide.
      const readerId = user && maxRepoRole(req.auth.scopes) !== null ? user.id : null;
      const rows = await listVisibleRepositories(app.db, {
        readerId,
        // Starred mode lists the caller's stars that they can still read, public ones included;
        // like Quay it ignores `namespace` and `public`.
        includePublic: q.starred ? true : !!q.public,
        starredBy: q.starred ? user!.id : undefined,
        starUserId: user?.id ?? null,
        namespace: q.starred ? undefined : q.namespace || undefined,
        kind: kind as RepoKind,
        afterId: decodePageToken(app.secrets, PAGE_KIND, q.next_page),
        limit: REPOS_PER_PAGE + 1,
      });
      const page = keysetPage(app.secrets, PAGE_KIND, rows, REPOS_PER_PAGE);
      const opts = { starred: user !== null, lastModified: !!q.last_modified, popularity: !!q.popularity };
      return {
        repositories: page.items.map((r) => listItem(r, kind, opts)),
        ...(page.nextPage ? { next_page: page.nextPage } : {}),
      };
    },
  );

  app.post(
    '/repository',
    {
      // CreateRepo(namespace): the namespace comes from the body, so the check runs in the handler,
      // after body validation, as in Quay.
      config: { access: authenticatedAccess('repo:create') },
      schema: {
        operationId: 'createRepo',
        tags: ['repository'],
        description: 'Create a new repository.',
        body: NewRepo,
        response: { 201: z.object({ namespace: z.string(), name: z.string(), kind: z.string() }) },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      const body = req.body;
      const namespaceName = body.namespace ?? user.username;
      const ns = await app.db.selectFrom('namespace').selectAll().where('username', '=', namespaceName).executeTakeFirst();
      // The caller's own namespace counts; tokens need repo:create (or org:admin) whatever the role.
      if (!ns || ns.robot || !orgRoleAtLeast(await effectiveOrgRole(app.db, req.auth, ns), 'creator')) throw insufficientScope();
      const name = body.repository;
      // Quay's order: existence, then (billing only) the private-repository limit, then the name.
      if (await findRepository(app.db, ns.id, name)) throw invalidRequest('Repository already exists');
      if (!isValidRepositoryName(name)) throw invalidRequest('Invalid repository name');
      const kind: RepoKind = body.repo_kind ?? 'image';
      try {
        await app.db.transaction().execute(async (trx) => {
          const repo = await insertRepository(trx, { namespaceId: ns.id, name, visibility: body.visibility, description: body.description, kind });
          await insertUserPermission(trx, repo.id, user.id, 'admin');
          if (ns.organization) await applyDefaultPermissions(trx, ns.id, repo.id, user.id);
          await logAction(trx, req.auth, 'create_repo', { accountId: ns.id, repositoryId: repo.id }, { repo: name, namespace: ns.username });
        });
      } catch (err) {
        // A concurrent creation of the same name.
        if (isUniqueViolation(err, 'repository_namespace_name')) throw invalidRequest('Repository already exists');
        throw err;
      }
      return reply.code(201).send({ namespace: ns.username, name, kind });
    },
  );

  app.get(
    '/repository/:namespace/:repository',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      schema: {
        operationId: 'getRepo',
        tags: ['repository'],
        description: 'Fetch the specified repository.',
        params: RepoParams,
        querystring: z.object({
          includeStats: quayBool.describe('Whether to include action statistics'),
          includeTags: quayBool.describe('Whether to include repository tags'),
        }),
        response: { 200: RepoView },
      },
    },
    async (req) => {
      const { repository: repo, namespace: ns } = req.target;
      if (!repo || !ns) throw notFound();
      // repoAccess (publicOk) already computed the caller's effective role: don't query it again.
      const role = req.target.repoRole ?? null;
      return repoView(req.auth, repo, ns, role, { tags: req.query.includeTags ?? true, stats: req.query.includeStats ?? false });
    },
  );

  async function repoView(
    auth: Parameters<typeof effectiveRepoRole>[1],
    repo: Repository,
    ns: Namespace,
    role: RepoRole | null,
    o: { tags: boolean; stats: boolean },
  ): Promise<z.infer<typeof RepoView>> {
    const isPublic = repo.visibility === 'public';
    const base = {
      namespace: ns.username,
      name: repo.name,
      kind: repo.kind,
      description: repo.description,
      is_public: isPublic,
      is_organization: ns.organization,
      is_starred: auth.user ? await isStarred(app.db, auth.user.id, repo.id) : false,
      is_free_account: true,
      state: repo.state,
      can_write: repoRoleAtLeast(role, 'write') && repo.state === 'NORMAL',
      can_admin: repoRoleAtLeast(role, 'admin'),
    };
    // 3.6's application (App Registry) repositories have channels and releases instead of tags;
    // this server stores none.
    if (repo.kind === 'application') return { ...base, channels: [], releases: [] };
    return {
      ...base,
      status_token: isPublic ? '' : repo.badge_token,
      trust_enabled: false,
      tag_expiration_s: ns.tag_expiration_s,
      // No registry yet, so no tags.
      ...(o.tags ? { tags: {} } : {}),
      ...(o.stats ? { stats: emptyStats() } : {}),
    };
  }

  /**
   * Applies `change` to the repository in the path and logs `kind` with `{repo, namespace,
   * ...metadata}` in the same transaction; 404 for a missing repository (only callers who
   * administer its namespace get this far).
   */
  async function changeRepository(
    target: FastifyRequest['target'],
    auth: FastifyRequest['auth'],
    kind: LogKind,
    metadata: Record<string, unknown>,
    change: (trx: Trx, repositoryId: number) => Promise<void>,
  ) {
    const { repository: repo, namespace: ns } = target;
    if (!repo || !ns) throw notFound();
    await app.db.transaction().execute(async (trx) => {
      await change(trx, repo.id);
      await logAction(trx, auth, kind, { accountId: ns.id, repositoryId: repo.id }, { repo: repo.name, namespace: ns.username, ...metadata });
    });
    return { success: true };
  }

  app.put(
    '/repository/:namespace/:repository',
    {
      config: { access: repoAccess('write') },
      schema: {
        operationId: 'updateRepo',
        tags: ['repository'],
        description: 'Update the description in the specified repository.',
        params: RepoParams,
        body: RepoUpdate,
        response: { 200: Success },
      },
    },
    async (req) => {
      const { description } = req.body;
      return changeRepository(req.target, req.auth, 'set_repo_description', { description }, (trx, id) => setRepositoryDescription(trx, id, description));
    },
  );

  app.post(
    '/repository/:namespace/:repository/changevisibility',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'changeRepoVisibility',
        tags: ['repository'],
        description: 'Change the visibility of a repository.',
        params: RepoParams,
        body: ChangeVisibility,
        // Quay answers 200, not the guide's 201.
        response: { 200: Success },
      },
    },
    async (req) => {
      // Quay answers 200 null for a missing repository; the 404 of changeRepository is the documented improvement.
      const { visibility } = req.body;
      return changeRepository(req.target, req.auth, 'change_repo_visibility', { visibility }, (trx, id) => setRepositoryVisibility(trx, id, visibility));
    },
  );

  if (app.config.FEATURE_REPO_MIRROR) {
    app.put(
      '/repository/:namespace/:repository/changestate',
      {
        config: { access: repoAccess('admin') },
        schema: {
          operationId: 'changeRepoState',
          tags: ['repository'],
          description: 'Change the state of a repository.',
          params: RepoParams,
          // The enum is checked here, before the handler, as Quay's schema does: an unknown state is
          // a 400 invalid_request, so Quay's own `{"detail": "… is not a valid Repository state."}`
          // and "Unknown Repository State" answers (MIRROR without FEATURE_REPO_MIRROR) are never
          // reached there either (quay/quay:endpoints/api/repository.py RepositoryStateResource).
          body: ChangeRepoState,
          response: { 200: Success },
        },
      },
      async (req) => {
        const { state } = req.body;
        return changeRepository(req.target, req.auth, 'change_repo_state', { state_changed: state }, (trx, id) => setRepositoryState(trx, id, state));
      },
    );
  }

  app.delete(
    '/repository/:namespace/:repository',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'deleteRepository',
        tags: ['repository'],
        description: 'Delete a repository.',
        params: RepoParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const { repository: repo, namespace: ns } = req.target;
      // Quay answers 204 even for a missing repository; the handler is reached only by namespace admins.
      if (!repo || !ns) throw notFound();
      await app.db.transaction().execute(async (trx) => {
        // The row goes at once (its name is free again); permissions and stars cascade with it.
        await deleteRepository(trx, repo.id);
        // Logged against the namespace, not the (gone) repository, as Quay does.
        await logAction(trx, req.auth, 'delete_repo', { accountId: ns.id }, { repo: repo.name, namespace: ns.username });
      });
      return reply.code(204).send(null);
    },
  );
};
