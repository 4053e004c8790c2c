// GET /authrepoemail?code=… (with FEATURE_MAILING): the link sendAuthorizeRepoEmail mails
// (src/api/repositorynotification.ts). Following it authorizes the address to receive the
// repository's e-mail notifications, as Quay's confirm_repo_email (endpoints/web.py). No sign-in:
// the code proves the mailbox. The request log records the path only (src/lib/logger.ts).
import type { FastifyInstance } from 'fastify';
import { confirmAuthorizedEmail } from '../db/notifications.js';
import { messagePage } from './pages.js';

export async function repoEmailRoutes(app: FastifyInstance): Promise<void> {
  if (!app.mailer) return;
  app.get('/authrepoemail', async (req, reply) => {
    const code = (req.query as Record<string, unknown>).code;
    const record = typeof code === 'string' && code.length > 0 && code.length <= 200 ? await confirmAuthorizedEmail(app.db, code) : undefined;
    if (!record) return messagePage(reply, 400, 'E-mail authorization failed', 'Invalid confirmation code.');
    const repo = await app.db
      .selectFrom('repository')
      .innerJoin('namespace', 'namespace.id', 'repository.namespace_id')
      .select(['repository.name', 'namespace.username'])
      .where('repository.id', '=', record.repository_id)
      .executeTakeFirst();
    const name = repo ? `${repo.username}/${repo.name}` : 'the repository';
    return messagePage(reply, 200, 'E-mail authorized', `Your e-mail address has been authorized to receive notifications for repository ${name}.`);
  });
}
