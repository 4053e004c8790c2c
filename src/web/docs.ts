// swagger-ui at /api/docs over /api/v1/discovery, wired to this server's OAuth implicit flow through
// the built-in application, so "Authorize" then "Try it out" works for any signed-in user.
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { DOCS_CLIENT_ID, DOCS_REDIRECT_PATH } from '../auth/builtin-apps.js';
import { esc } from './pages.js';

const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

export async function docsRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: SWAGGER_UI_DIR,
    prefix: '/api/docs/static/',
    decorateReply: false,
    index: false,
    setHeaders: (res, file) => {
      if (file.endsWith('.js')) res.setHeader('Content-Type', 'application/javascript; charset=utf-8');
      if (file.endsWith('.css')) res.setHeader('Content-Type', 'text/css; charset=utf-8');
    },
  });

  // swagger-ui-dist 5's oauth2-redirect.html loads its script by the relative name
  // `oauth2-redirect.js`, which from /api/docs/oauth2-redirect.html would be a 404: point it at the
  // static prefix, or the popup never hands the token back nor closes.
  const redirectHtml = await import('node:fs/promises')
    .then((fs) => fs.readFile(path.join(SWAGGER_UI_DIR, 'oauth2-redirect.html'), 'utf8'))
    .then((html) => html.replace(/src="(?:\.\/)?oauth2-redirect\.js"/, 'src="/api/docs/static/oauth2-redirect.js"'));
  app.get(DOCS_REDIRECT_PATH, async (_req, reply) => reply.type('text/html; charset=utf-8').send(redirectHtml));

  const config = {
    url: '/api/v1/discovery',
    dom_id: '#swagger-ui',
    oauth2RedirectUrl: `${app.baseUrl}${DOCS_REDIRECT_PATH}`,
    deepLinking: true,
    persistAuthorization: false,
  };
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(app.config.REGISTRY_TITLE)} API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle(Object.assign(${JSON.stringify(config)}, {
  // Quay refuses browser API GETs without this header (BROWSER_API_CALLS_XHR_ONLY).
  requestInterceptor: function (r) { r.headers['X-Requested-With'] = 'XMLHttpRequest'; return r; }
}));
window.ui.initOAuth(${JSON.stringify({ clientId: DOCS_CLIENT_ID, scopeSeparator: ' ', appName: 'API documentation' })});
</script></body></html>`;
  app.get('/api/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/api/docs/', async (_req, reply) => reply.redirect('/api/docs'));
  app.get('/', async (_req, reply) => reply.redirect('/api/docs'));
}
