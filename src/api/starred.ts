// USER section, stars (part2 §14.1, §14.2, §14.4): the caller's starred repositories. Unlike Quay,
// only repositories the caller can read are listed or starred, and a missing repository is a 404
// rather than 200 null.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userAccess } from '../auth/access.js';
import { effectiveRepoRole, repoRoleAtLeast } from '../auth/permissions.js';
import { maxRepoRole } from '../auth/scopes.js';
import { deleteStar, findRepositoryByPath, insertStar, isStarred, listVisibleRepositories } from '../db/repositories.js';
import { notFound } from '../lib/api-error.js';
import { decodePageToken, keysetPage } from '../lib/pagination.js';
import { firstString } from '../lib/validation.js';
import { RepoParams, REPOS_PER_PAGE } from './repository/schemas.js';

export const OPERATIONS = ['listStarredRepos', 'createStar', 'deleteStar'] as const;

const PAGE_KIND = 'starred';

const NewStarredRepository = z
  .object({
    namespace: z.string().describe('Namespace in which the repository belongs'),
    repository: z.string().describe('Repository name'),
  })
  .meta({ id: 'NewStarredRepository', description: 'Repository to star' });

const StarredRepo = z.object({
  namespace: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  is_public: z.boolean(),
});

export const starredRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/user/starred',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'listStarredRepos',
        tags: ['user'],
        description: 'List all starred repositories.',
        querystring: z.object({ next_page: firstString.describe('The page token for the next page') }),
        response: { 200: z.object({ repositories: z.array(StarredRepo), next_page: z.string().optional() }) },
      },
    },
    async (req) => {
      const user = req.auth.user!;
      const rows = await listVisibleRepositories(app.db, {
        // Stars on repositories the caller can no longer read (or whose token cannot read) are
        // hidden, public ones stay.
        readerId: maxRepoRole(req.auth.scopes) !== null ? user.id : null,
        includePublic: true,
        starredBy: user.id,
        starUserId: null,
        kind: 'image',
        afterId: decodePageToken(app.secrets, PAGE_KIND, req.query.next_page),
        limit: REPOS_PER_PAGE + 1,
      });
      const page = keysetPage(app.secrets, PAGE_KIND, rows, REPOS_PER_PAGE);
      return {
        repositories: page.items.map((r) => ({ namespace: r.namespace, name: r.name, description: r.description, is_public: r.visibility === 'public' })),
        ...(page.nextPage ? { next_page: page.nextPage } : {}),
      };
    },
  );

  app.post(
    '/user/starred',
    {
      // Quay's guide says repo:read; the real check is UserAdmin.
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'createStar',
        tags: ['user'],
        description: 'Star a repository.',
        body: NewStarredRepository,
        response: { 201: z.object({ namespace: z.string(), repository: z.string() }) },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      const { namespace, repository } = req.body;
      const repo = await findRepositoryByPath(app.db, namespace, repository);
      // Unreadable and missing look the same, so stars never reveal a private repository.
      if (!repo || !repoRoleAtLeast(await effectiveRepoRole(app.db, req.auth, repo), 'read')) throw notFound();
      await insertStar(app.db, user.id, repo.id);
      return reply.code(201).send({ namespace, repository });
    },
  );

  app.delete(
    '/user/starred/:namespace/:repository',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'deleteStar',
        tags: ['user'],
        description: 'Removes a star from a repository.',
        params: RepoParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      const repo = await findRepositoryByPath(app.db, req.params.namespace, req.params.repository);
      if (!repo) throw notFound();
      // A star the caller holds can always be removed, even after losing access; otherwise an
      // unreadable repository answers like a missing one.
      const starred = await isStarred(app.db, user.id, repo.id);
      if (!starred && !repoRoleAtLeast(await effectiveRepoRole(app.db, req.auth, repo), 'read')) throw notFound();
      if (starred) await deleteStar(app.db, user.id, repo.id);
      return reply.code(204).send(null);
    },
  );
};
