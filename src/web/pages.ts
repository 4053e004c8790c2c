// Server-rendered pages: sign-in, OAuth consent, the local OAuth landing page. Every value is
// HTML-escaped; pages carry a strict CSP and never embed secrets other than the CSRF token.
import type { FastifyReply } from 'fastify';
import type { OAuthApplication } from '../db/schema.js';
import { SCOPES, type ScopeName } from '../auth/scopes.js';

export function esc(v: unknown): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;padding:2rem;color:#111}
main{max-width:32rem;margin:2rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0} label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:4px;border:1px solid #0b5ed7;background:#0d6efd;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#333;border-color:#999} .error{color:#b00020;margin:.8rem 0}
ul.scopes{list-style:none;padding:0} ul.scopes li{padding:.6rem;border-bottom:1px solid #eee}
.dangerous{color:#b00020;font-weight:600} .warn{background:#fff4e5;border:1px solid #f0ad4e;padding:.6rem;border-radius:4px}
.row{display:flex;gap:.8rem} code{word-break:break-all}`;

export function page(reply: FastifyReply, status: number, title: string, body: string, script = ''): FastifyReply {
  return reply
    .code(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-cache, no-store, must-revalidate')
    .header('X-Frame-Options', 'DENY')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'")
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head><body><main>${body}</main>${script ? `<script>${script}</script>` : ''}</body></html>`);
}

export function signinPage(reply: FastifyReply, o: { csrf: string; next: string; error?: string; username?: string; title: string }, status = 200) {
  return page(
    reply,
    status,
    `Sign in · ${o.title}`,
    `<h1>Sign in to ${esc(o.title)}</h1>
${o.error ? `<p class="error" role="alert">${esc(o.error)}</p>` : ''}
<form method="post" action="/signin">
<input type="hidden" name="_csrf_token" value="${esc(o.csrf)}">
<input type="hidden" name="next" value="${esc(o.next)}">
<label for="username">Username or e-mail</label><input id="username" name="username" type="text" autocomplete="username" value="${esc(o.username ?? '')}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="signin">Sign in</button>
</form>`,
  );
}

export interface ConsentData {
  app: OAuthApplication;
  ownerName: string | null;
  scopes: ScopeName[];
  csrf: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  responseType: string;
  state: string | undefined;
  username: string;
}

export function consentPage(reply: FastifyReply, d: ConsentData) {
  const dangerous = d.scopes.some((s) => SCOPES[s].dangerous);
  const hidden = (name: string, v: string | undefined) =>
    v === undefined ? '' : `<input type="hidden" name="${name}" value="${esc(v)}">`;
  const fields =
    hidden('_csrf_token', d.csrf) +
    hidden('client_id', d.clientId) +
    hidden('redirect_uri', d.redirectUri) +
    hidden('scope', d.scope) +
    hidden('response_type', d.responseType) +
    hidden('state', d.state);
  const items = d.scopes
    .map((s) => {
      const i = SCOPES[s];
      return `<li data-scope="${esc(s)}"><strong>${esc(i.title)}</strong>${i.dangerous ? ' <span class="dangerous">(dangerous)</span>' : ''}<br><small>${esc(i.description)}</small></li>`;
    })
    .join('');
  return page(
    reply,
    200,
    `Authorize ${d.app.name}`,
    `<h1>Authorize ${esc(d.app.name)}</h1>
<p><strong>${esc(d.app.name)}</strong>${d.ownerName ? ` (by ${esc(d.ownerName)})` : ''} is asking for access to your account <strong>${esc(d.username)}</strong>.</p>
${d.app.description ? `<p>${esc(d.app.description)}</p>` : ''}
${d.app.application_uri ? `<p><small>${esc(d.app.application_uri)}</small></p>` : ''}
<p>It will be able to:</p><ul class="scopes">${items}</ul>
${dangerous ? '<p class="warn" id="dangerous-warning">Some of these permissions are dangerous: they let the application act on your whole account. Only authorize applications you trust.</p>' : ''}
<div class="row">
<form method="post" action="/oauth/authorizeapp" id="authorize-form" data-dangerous="${dangerous}">${fields}<button type="submit" id="authorize">Authorize Application</button></form>
<form method="post" action="/oauth/denyapp">${fields}<button type="submit" class="secondary" id="deny">Cancel</button></form>
</div>`,
    dangerous
      ? `document.getElementById('authorize-form').addEventListener('submit',function(e){if(!confirm('This application is asking for dangerous permissions. Authorize it anyway?'))e.preventDefault();});`
      : '',
  );
}

/** The landing page at LOCAL_OAUTH_HANDLER: shows the token from the URL fragment to the user. */
export function localAppPage(reply: FastifyReply) {
  return page(
    reply,
    200,
    'Access token',
    `<h1>Access token</h1><p id="message">Authorization was cancelled.</p><p><code id="token"></code></p>`,
    `var p=new URLSearchParams(location.hash.slice(1));var t=p.get('access_token');if(t){document.getElementById('message').textContent='Your access token (keep it secret; it is shown only once):';document.getElementById('token').textContent=t;}`,
  );
}

export function messagePage(reply: FastifyReply, status: number, title: string, text: string) {
  return page(reply, status, title, `<h1>${esc(title)}</h1><p role="status">${esc(text)}</p>`);
}
