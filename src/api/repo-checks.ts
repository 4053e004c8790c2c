// Route-level checks shared by the repository-content sections (TAG, MANIFEST): they run after the
// access check (the app-wide preValidation hook) and before the body is read, in the order of
// Quay's decorators: an application repository has no tags or manifests (501), and a repository
// that is not NORMAL (READ_ONLY, MIRROR) takes no change (503).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { message } from '../lib/api-error.js';

export function imageRepositoryChecks(o: { write: boolean }) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const repo = req.target?.repository;
    if (!repo) return;
    if (repo.kind === 'application') throw message(501, 'The server does not support the action requested by the browser.');
    if (o.write && repo.state !== 'NORMAL') throw message(503, `Repository is in read only or mirror mode: RepositoryState.${repo.state}`);
  };
}
