// Quay's key server (quay/quay:endpoints/keyserver/__init__.py, mounted at /keys): the public
// service keys, so that other services (and anyone checking a registry token) can verify what a
// service signed. GET only: the PUT and DELETE by which a service publishes or removes its own key
// with a self-signed JWT are not served.
import type { FastifyInstance } from 'fastify';
import { findServiceKey, listPublishedKeys } from '../db/service-keys.js';
import { message } from '../lib/api-error.js';

/** The longest a client may cache a key (Quay: one day, or less when the key expires sooner). */
const MAX_CACHE_S = 86400;

interface KeyParams {
  service: string;
  kid: string;
}

export async function keyServerRoutes(app: FastifyInstance): Promise<void> {
  // The approved, unexpired keys of the service as a JWK Set, each with its kid.
  app.get<{ Params: { service: string } }>('/keys/services/:service/keys', async (req) => {
    const keys = await listPublishedKeys(app.db, req.params.service, new Date());
    return { keys: keys.map((k) => ({ ...k.jwk, kid: k.kid })) };
  });

  // One key, whatever its state, answered as Quay does: 404 unknown, 409 not approved yet,
  // 403 expired; otherwise the JWK, cacheable until the key expires (at most a day).
  app.get<{ Params: KeyParams }>('/keys/services/:service/keys/:kid', async (req, reply) => {
    const now = new Date();
    const key = await findServiceKey(app.db, req.params.kid, now);
    // Quay looks the kid up in every service; a key is only ever asked for under its own.
    if (!key || key.service !== req.params.service) throw message(404, 'Unknown service key');
    if (key.approval_type === null) throw message(409, 'The service key has not been approved');
    if (key.expiration_date && key.expiration_date <= now) throw message(403, 'The service key has expired');
    const lifetimeS = key.expiration_date ? Math.floor((key.expiration_date.getTime() - now.getTime()) / 1000) : MAX_CACHE_S;
    reply.header('Cache-Control', `max-age=${Math.max(0, Math.min(MAX_CACHE_S, lifetimeS))}`);
    return { ...key.jwk, kid: key.kid };
  });
}
