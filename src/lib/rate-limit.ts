// Per-client-address request limits on the credential endpoints (sign-in, the OAuth token
// exchange, sign-up, recovery; /v2/auth will join the `login` group), with @fastify/rate-limit's
// in-process counters: RATE_LIMIT_PER_IP requests per RATE_LIMIT_WINDOW and group, then 429 with
// Retry-After in the surface's error format. The routes of a group share one counter (the page and
// the API sign-in are one door). Per-account throttling of failures, which must not lock the owner
// out, is src/services/throttle.ts.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { InputError } from './input-guard.js';

export type LimitGroup = 'login' | 'token' | 'signup' | 'recovery';

declare module 'fastify' {
  interface FastifyInstance {
    /** The onRequest hooks that count a request against its address's limit in `group`. */
    ipLimit(group: LimitGroup): onRequestAsyncHookHandler[];
  }
}

export async function registerRateLimits(app: FastifyInstance): Promise<void> {
  const { RATE_LIMIT_PER_IP: max, RATE_LIMIT_WINDOW: windowS } = app.config;
  await app.register(rateLimit, {
    global: false,
    keyGenerator: (req) => req.ip,
    errorResponseBuilder: (_req, ctx) => new InputError(ctx.statusCode, `Too many requests from this address; retry in ${ctx.after}`),
  });
  const hooks = new Map<LimitGroup, onRequestAsyncHookHandler>();
  app.decorate('ipLimit', (group: LimitGroup) => {
    if (max === 0) return [];
    let hook = hooks.get(group);
    if (!hook) {
      hook = app.rateLimit({ max, timeWindow: windowS * 1000 }) as onRequestAsyncHookHandler;
      hooks.set(group, hook);
    }
    return [hook];
  });
}
