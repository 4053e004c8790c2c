// The pages the account mails link to (web-endpoints.md §3.8), served only with FEATURE_MAILING:
// GET /confirm?code=… confirms a new user's address or an e-mail change (changeUserDetails),
// GET /recovery?code=… recovers an account.
// Both log the browser in, as Quay's do, and work with anonymous access off (they are web routes,
// outside the API's access rules). The query string carries a one-time code: the request log
// records the path only (src/lib/logger.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loginSession } from '../auth/session.js';
import type { EmailCodeKind } from '../db/email-codes.js';
import type { Namespace } from '../db/schema.js';
import { isEmailAddress } from '../lib/email.js';
import { emailChangedMail } from '../mail/templates.js';
import { redeemEmailChange } from '../services/account-changes.js';
import { redeemEmailCode } from '../services/accounts.js';
import { esc, messagePage, page } from './pages.js';
import { WEB_FIELD as W, webFields } from './fields.js';

const CodeQuery = webFields({ code: W.token });

// A code is 48 characters; anything much longer is not one of ours and is not hashed.
const MAX_CODE_LENGTH = 200;

function codeOf(req: FastifyRequest): string | undefined {
  const code = (req.query as Record<string, unknown>).code;
  return typeof code === 'string' && code.length > 0 && code.length <= MAX_CODE_LENGTH ? code : undefined;
}

/** Redeems the request's code and logs its user in; 'invalid' (nothing changed) or 'disabled' (no login) otherwise. */
async function redeemAndLogin(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply, kind: EmailCodeKind): Promise<Namespace | 'invalid' | 'disabled'> {
  const code = codeOf(req);
  const user = code ? await redeemEmailCode(app.db, kind, code) : undefined;
  if (!user) return 'invalid';
  if (!user.enabled) return 'disabled';
  await loginSession(req, reply, app.db, user, app.sessionSettings);
  return user;
}

export async function emailLinkRoutes(app: FastifyInstance): Promise<void> {
  if (!app.mailer) return;
  const title = app.config.REGISTRY_TITLE;

  /**
   * An e-mail change code (changeUserDetails with mail on): the address changes, the old address is
   * told (Quay's send_email_changed), and the browser is logged in as for a sign-up confirmation.
   */
  async function redeemChangeAndLogin(req: FastifyRequest, reply: FastifyReply): Promise<Namespace | 'invalid' | 'taken'> {
    const code = codeOf(req);
    const r = code ? await redeemEmailChange(app, req.auth, code) : 'invalid';
    if (typeof r === 'string') return r;
    const { user, oldEmail } = r;
    app.authCache.clear();
    const mailer = app.mailer!;
    if (oldEmail && oldEmail !== user.email && isEmailAddress(oldEmail)) {
      const mail = emailChangedMail({ registry: title, to: oldEmail, username: user.username, newEmail: user.email ?? '' });
      app.background.run('e-mail changed mail', () => mailer.send(mail), req.log);
    }
    await loginSession(req, reply, app.db, user, app.sessionSettings);
    return user;
  }

  app.get('/confirm', { schema: { querystring: CodeQuery } }, async (req, reply) => {
    let r: Namespace | 'invalid' | 'disabled' | 'taken' = await redeemAndLogin(app, req, reply, 'confirm');
    if (r === 'invalid') r = await redeemChangeAndLogin(req, reply);
    if (r === 'taken') return messagePage(reply, 400, 'E-mail confirmation failed', 'E-mail address already used');
    if (r === 'invalid') {
      return messagePage(reply, 400, 'E-mail confirmation failed', 'Invalid email confirmation code: it is unknown, has expired or has already been used.');
    }
    if (r === 'disabled') return messagePage(reply, 403, 'E-mail confirmed', 'Could not perform login: this account is disabled.');
    // Quay sends the browser to its UI's start page; ours is the API documentation.
    return reply.redirect('/');
  });

  app.get('/recovery', { schema: { querystring: CodeQuery } }, async (req, reply) => {
    const r = await redeemAndLogin(app, req, reply, 'recovery');
    if (r === 'invalid') {
      return messagePage(reply, 400, 'Account recovery failed', 'Invalid recovery code: This code is invalid or may have already been used.');
    }
    if (r === 'disabled') return messagePage(reply, 403, 'Account recovery failed', 'Could not perform login: this account is disabled.');
    // Quay opens its UI's password form here; this server has no UI, so it says what happened.
    return page(
      reply,
      200,
      `Signed in · ${title}`,
      `<h1>You are signed in</h1>
<p>This browser is now signed in to ${esc(title)} as <strong>${esc(r.username)}</strong>.</p>
<p>The recovery link has been used and works only once. While signed in, this browser can authorize
applications and create app-specific tokens, for example for <code>docker login</code>.</p>
<p><a href="/api/docs">Open the API documentation</a></p>`,
    );
  });
}
