// REPOSITORY (part2 §4): list, create, view, describe, change visibility or state, and delete
// repositories. changeRepoState exists only with FEATURE_REPO_MIRROR, as in Quay: without it the path
// is not registered (absent from discovery; the extended-name router then reads `…/changestate` as
// part of a repository name, as Quay's does).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, authenticatedAccess, repoAccess } from '../../auth/access.js';
import { effectiveOrgRole, effectiveRepoRole, orgRoleAtLeast, repoRoleAtLeast } from '../../auth/permissions.js';
import type { RepoRole } from '../../auth/scopes.js';
import { maxRepoRole } from '../../auth/scopes.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Trx } from '../../db/index.js';
import {
  deleteRepository,
  findRepository,
  isStarred,
  listVisibleRepositories,
  setRepositoryDescription,
  setRepositoryState,
  setRepositoryVisibility,
  type RepoKind,
} from '../../db/repositories.js';
import type { Namespace, Repository } from '../../db/schema.js';
import { insufficientScope, invalidRequest, message, notFound } from '../../lib/api-error.js';
import { queueRepositoryCleanup, requestGarbageCollection } from '../../jobs/gc.js';
import { logAction } from '../../lib/audit.js';
import type { LogKind } from '../../lib/log-kinds.js';
import { decodePageToken, keysetPage } from '../../lib/pagination.js';
import { firstString, quayBool } from '../../lib/validation.js';
import { latestLiveTagStarts, listTagHistory } from '../../db/tags.js';
import { repositoryUsage } from '../../db/search.js';
import { historyItem } from '../tag.js';
import { createRepository } from './create.js';

/** getRepo lists at most this many live tags, as Quay's page of 500. */
const GET_REPO_TAGS = 500;
import {
  BAD_REQUEST,
  ChangeRepoState,
  ChangeVisibility,
  emptyStats,
  isValidRepositoryName,
  listItem,
  NewRepo,
  PAGE_KIND,
  RepoListItem,
  RepoParams,
  RepoUpdate,
  REPOS_PER_PAGE,
  RepoView,
  Success,
  TagView,
} from './schemas.js';

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
      const ids = page.items.map((r) => r.id);
      const [starts, usage] = await Promise.all([
        opts.lastModified ? latestLiveTagStarts(app.db, ids) : undefined,
        opts.popularity ? repositoryUsage(app.db, ids) : undefined,
      ]);
      return {
        repositories: page.items.map((r) => listItem(r, kind, opts, { lastModifiedMs: starts?.get(r.id), actions: usage?.get(r.id)?.actions })),
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
          const repo = await createRepository(trx, { namespace: ns, name, visibility: body.visibility, description: body.description, kind, creator: user });
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
      ...(o.tags ? { tags: await liveTagSummary(repo.id) } : {}),
      ...(o.stats ? { stats: emptyStats() } : {}),
    };
  }

  /**
   * getRepo's `tags`: the live visible tags, newest first, at most 500 (Quay reads the first page
   * of 500 of its history, live tags only), by name.
   */
  async function liveTagSummary(repositoryId: number) {
    const rows = await listTagHistory(app.db, repositoryId, { offset: 0, limit: GET_REPO_TAGS, liveOnly: true });
    const out: Record<string, z.infer<typeof TagView>> = {};
    for (const r of rows) {
      const item = historyItem(r);
      out[r.name] = {
        name: item.name,
        size: item.size,
        ...(item.last_modified ? { last_modified: item.last_modified } : {}),
        ...(item.expiration ? { expiration: item.expiration } : {}),
        manifest_digest: item.manifest_digest,
      };
    }
    return out;
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
      await app.jobs.transaction(async (trx) => {
        // The bytes of its upload sessions, which no row will remember (src/jobs/gc.ts).
        await queueRepositoryCleanup(app, trx, repo.id);
        // The row goes at once (its name is free again); permissions, stars, tags, manifests and
        // links cascade with it. The blobs only it used are left to garbage collection.
        await deleteRepository(trx, repo.id);
        // Logged against the namespace, not the (gone) repository, as Quay does.
        await logAction(trx, req.auth, 'delete_repo', { accountId: ns.id }, { repo: repo.name, namespace: ns.username });
      });
      await requestGarbageCollection(app).catch((err) => req.log.warn({ err }, 'could not request a garbage-collection sweep; the periodic one will do'));
      return reply.code(204).send(null);
    },
  );
};
