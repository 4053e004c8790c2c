// pino options: JSON logs with request ids; credentials never reach the log.
import type { FastifyServerOptions } from 'fastify';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'res.headers["x-next-csrf-token"]',
  '*.password',
  '*.access_token',
  '*.token_code',
  '*.client_secret',
];

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Query strings can carry `_csrf_token`, `code` or `access_token`: log the path only.
    serializers: {
      req: (req: { method: string; url: string; id: string; ip?: string }) => ({
        method: req.method,
        url: req.url.split('?')[0],
        id: req.id,
        remoteAddress: req.ip,
      }),
    },
  };
}
