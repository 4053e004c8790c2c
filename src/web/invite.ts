// GET /confirminvite?code=… is where an invitation mail points (FEATURE_MAILING only, as in Quay).
// A signed-in browser sees who invited it to which team and answers with a form (CSRF-checked
// POST); anybody else is sent to /signin first and comes back here.
import type { FastifyInstance } from 'fastify';
import { checkCsrf } from '../auth/hook.js';
import { PlainError } from '../lib/api-error.js';
import { findInviteByCode } from '../db/invites.js';
import { acceptTeamInvite, declineTeamInvite } from '../services/team-invites.js';
import { esc, messagePage as notice, page } from './pages.js';
import { WEB_FIELD as W, webBody, webFields } from './fields.js';

export async function inviteRoutes(app: FastifyInstance): Promise<void> {
  if (!app.mailer) return;
  const title = app.config.REGISTRY_TITLE;

  app.get('/confirminvite', { schema: { querystring: webFields({ code: W.token }) } }, async (req, reply) => {
    const code = (req.query as Record<string, unknown>).code;
    if (typeof code !== 'string' || !code) return notice(reply, 400, 'Invitation', 'The link has no invitation code.');
    if (!req.auth.user || !req.auth.session) {
      return reply.redirect(`/signin?next=${encodeURIComponent(`/confirminvite?code=${encodeURIComponent(code)}`)}`);
    }
    const invite = await findInviteByCode(app.db, code);
    if (!invite) return notice(reply, 400, 'Invitation', 'This invitation is no longer valid.');
    const csrf = req.auth.session.csrfToken;
    const form = (action: string, label: string, cls = '') => `<form method="post" action="/confirminvite">
<input type="hidden" name="_csrf_token" value="${esc(csrf)}"><input type="hidden" name="code" value="${esc(code)}">
<input type="hidden" name="action" value="${action}"><button type="submit" id="${action}"${cls ? ` class="${cls}"` : ''}>${label}</button></form>`;
    return page(
      reply,
      200,
      `Invitation · ${title}`,
      `<h1>Join ${esc(invite.org)}/${esc(invite.team)}</h1>
<p>${esc(invite.inviter ?? 'An administrator')} has invited you to join the team <strong>${esc(invite.team)}</strong> of the organization <strong>${esc(invite.org)}</strong>. You are signed in as <strong>${esc(req.auth.user.username)}</strong>.</p>
<div class="row">${form('accept', 'Join the team')}${invite.userId !== null ? form('decline', 'Decline', 'secondary') : ''}</div>`,
    );
  });

  app.post('/confirminvite', { schema: { body: webBody({ code: W.token, action: W.short, _csrf_token: W.token }) } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const user = req.auth.user;
    if (!user || !req.auth.session) return reply.redirect('/signin', 303);
    checkCsrf(req);
    const code = typeof body.code === 'string' ? body.code : '';
    try {
      if (body.action === 'decline') {
        await declineTeamInvite(app.db, req.auth, user, code);
        return notice(reply, 200, 'Invitation declined', 'You declined the invitation.');
      }
      const joined = await acceptTeamInvite(app.db, req.auth, user, code);
      app.authCache.clear();
      return notice(reply, 200, 'Invitation accepted', `You are now a member of the team ${joined.team} of the organization ${joined.org}.`);
    } catch (err) {
      if (err instanceof PlainError && err.statusCode === 400) return notice(reply, 400, 'Invitation', err.message);
      throw err;
    }
  });
}
