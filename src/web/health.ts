// Health and liveness (web-endpoints.md §5). /health/instance answers 200 once the server is ready
// and its database answers; 503 (same body shape) when a checked service fails.
import { statfs } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { sql } from 'kysely';

const NO_CACHE = 'no-cache, no-store, must-revalidate';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  async function database(): Promise<boolean> {
    try {
      await sql`select 1`.execute(app.db);
      return true;
    } catch (err) {
      app.log.warn({ err }, 'health: database check failed');
      return false;
    }
  }
  async function diskSpace(): Promise<boolean> {
    // Only the embedded defaults keep data on the local disk.
    if (app.config.DATABASE_URL) return true;
    try {
      const s = await statfs(app.config.DATA_DIR);
      return s.blocks === 0 || s.bavail / s.blocks >= 0.01;
    } catch {
      return true;
    }
  }
  function send(reply: FastifyReply, services: Record<string, boolean>) {
    const ok = Object.values(services).every(Boolean);
    const code = ok ? 200 : 503;
    return reply.code(code).header('Cache-Control', NO_CACHE).send({ data: { services }, status_code: code });
  }

  const instance = async (_req: unknown, reply: FastifyReply) => {
    const db = await database();
    // This one process serves the web and registry routes, so both "gunicorn" checks are this answer.
    return send(reply, { auth: db, database: db, disk_space: await diskSpace(), registry_gunicorn: true, service_key: true, web_gunicorn: true });
  };
  app.get('/health/instance', instance);
  app.get('/health', instance);

  const endtoend = async (_req: unknown, reply: FastifyReply) => {
    const db = await database();
    return send(reply, { auth: db, database: db, redis: true, storage: await diskSpace() });
  };
  app.get('/health/endtoend', endtoend);
  app.get('/status', endtoend);

  for (const p of ['/_internal_ping', '/v1/_internal_ping']) app.get(p, async () => true);
}
