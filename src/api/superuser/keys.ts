// SUPERUSER service keys (part2 §10.4, §10.5, §10.8–§10.11; quay/quay:endpoints/api/superuser.py
// SuperUserServiceKeyManagement, SuperUserServiceKey, SuperUserServiceKeyApproval). Keys made here
// are for other services: the private half is returned once and never stored. The instance key
// (src/registry/service-keys.ts) is listed and managed here like any other row: setting its
// expiry or deleting it moves signing to a new key.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { superuserAccess } from '../../auth/access.js';
import type { Trx } from '../../db/index.js';
import type { Namespace } from '../../db/schema.js';
import {
  approveServiceKey,
  deleteServiceKey,
  deleteStaleServiceKeys,
  findApprovers,
  findServiceKey,
  insertServiceKey,
  listAllServiceKeys,
  lockServiceKey,
  updateServiceKey,
  type ServiceKeyApprovalType,
  type ServiceKeyView as KeyRow,
} from '../../db/service-keys.js';
import { invalidRequest, message, notFound } from '../../lib/api-error.js';
import { logAction } from '../../lib/audit.js';
import { generateRsaKey } from '../../registry/service-keys.js';
import { superuserUserView, SuperuserUserView, TAGS } from './views.js';

export const OPERATIONS = [
  'listServiceKeys',
  'createServiceKey',
  'getServiceKey',
  'updateServiceKey',
  'approveServiceKey',
  'deleteServiceKey',
] as const;

// Quay's rules (data/model/service_keys.py _SERVICE_NAME_REGEX, util/validation.py
// VALID_SERVICE_KEY_NAME_REGEX). Both columns are 255-character fields in Quay's schema.
const SERVICE_RE = /^[a-z0-9_]+$/;
const NAME_RE = /^[\s a-zA-Z0-9\-_:/]*$/;
const MAX_FIELD = 255;
/** Metadata is free-form JSON shown in every listing: bounded, as Quay's is not. */
const MAX_METADATA_BYTES = 16 * 1024;

/**
 * The approval types as Quay's database holds them: peewee stored str() of the Python enum, and
 * both Quay UIs compare against these strings (part2 §10, top).
 */
const APPROVAL_TYPE_NAMES: Record<ServiceKeyApprovalType, string> = {
  'Super User API': 'ServiceKeyApprovalType.SUPERUSER',
  'Key Rotation': 'ServiceKeyApprovalType.KEY_ROTATION',
  Automatic: 'ServiceKeyApprovalType.AUTOMATIC',
};

const Metadata = z.record(z.string(), z.unknown());
const Expiration = z.union([z.number(), z.null()]).describe('The expiration date as a unix timestamp');

const ApprovalView = z.object({
  approver: SuperuserUserView.nullable(),
  approval_type: z.enum(['ServiceKeyApprovalType.SUPERUSER', 'ServiceKeyApprovalType.KEY_ROTATION', 'ServiceKeyApprovalType.AUTOMATIC']),
  approved_date: z.string().nullable(),
  notes: z.string().nullable(),
});

const ServiceKeyView = z
  .object({
    name: z.string().nullable(),
    kid: z.string(),
    service: z.string(),
    jwk: z.record(z.string(), z.unknown()),
    metadata: Metadata,
    created_date: z.string(),
    expiration_date: z.string().nullable(),
    rotation_duration: z.number().nullable(),
    approval: ApprovalView.nullable(),
  })
  .meta({ id: 'ServiceKey', description: 'A service key: its public JWK, metadata, expiry and approval.' });

const CreateServiceKey = z
  .object({
    service: z.string().describe('The service authenticating with this key'),
    name: z.string().optional().describe('The friendly name of a service key'),
    metadata: Metadata.optional().describe("The key/value pairs of this key's metadata"),
    notes: z.string().optional().describe('If specified, the extra notes for the key'),
    expiration: Expiration,
  })
  .meta({ id: 'CreateServiceKey', description: 'Description of creation of a service key' });

const PutServiceKey = z
  .object({
    name: z.string().optional().describe('The friendly name of a service key'),
    metadata: Metadata.optional().describe("The key/value pairs of this key's metadata"),
    expiration: Expiration.optional(),
  })
  .meta({ id: 'PutServiceKey', description: 'Description of updates for a service key' });

const ApproveServiceKey = z
  .object({ notes: z.string().optional().describe('Optional approval notes') })
  .meta({ id: 'ApproveServiceKey', description: 'Information for approving service keys' });

const KidParams = z.object({ kid: z.string().describe('The unique identifier for a service key') });

/** Flask's jsonify writes datetimes as RFC 7231 dates ("Tue, 14 Dec 2021 11:41:55 GMT"). */
const httpDate = (d: Date) => d.toUTCString();
/** Quay's audit log writes datetimes as unix seconds (data/model/log.py _json_serialize). */
const unixSeconds = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null);

function checkName(name: string | undefined): void {
  if (name !== undefined && (name.length > MAX_FIELD || !NAME_RE.test(name))) {
    throw invalidRequest(`Invalid service key friendly name: ${name}`);
  }
}

function checkMetadata(metadata: Record<string, unknown> | undefined): void {
  if (metadata !== undefined && Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw invalidRequest(`Metadata may not exceed ${MAX_METADATA_BYTES} bytes`);
  }
}

/** A unix timestamp (seconds) in the future → its date; Quay's messages otherwise. */
function futureDate(seconds: number, now: Date, pastMessage: string): Date {
  const d = new Date(seconds * 1000);
  if (!Number.isFinite(seconds) || Number.isNaN(d.getTime())) throw invalidRequest(`Invalid expiration date: ${seconds}`);
  if (d <= now) throw invalidRequest(pastMessage);
  return d;
}

export const serviceKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;
  if (!config.FEATURE_SUPER_USERS) return;

  async function views(rows: KeyRow[]): Promise<z.infer<typeof ServiceKeyView>[]> {
    const approvers = await findApprovers(app.db, rows.flatMap((r) => (r.approval_type && r.approver_id !== null ? [r.approver_id] : [])));
    return rows.map((r) => keyView(r, r.approver_id !== null ? approvers.get(r.approver_id) : undefined));
  }

  function keyView(r: KeyRow, approver: Namespace | undefined): z.infer<typeof ServiceKeyView> {
    return {
      name: r.name,
      kid: r.kid,
      service: r.service,
      jwk: r.jwk,
      metadata: r.metadata,
      created_date: httpDate(r.created_date),
      expiration_date: r.expiration_date ? httpDate(r.expiration_date) : null,
      rotation_duration: r.rotation_duration,
      approval: r.approval_type
        ? {
            approver: approver ? superuserUserView(config, approver) : null,
            approval_type: APPROVAL_TYPE_NAMES[r.approval_type as ServiceKeyApprovalType] as z.infer<typeof ApprovalView>['approval_type'],
            approved_date: r.approved_date ? httpDate(r.approved_date) : null,
            notes: r.approval_notes,
          }
        : null,
    };
  }

  /** The key `kid`, locked for the rest of the transaction; 404 when there is none. */
  async function lockedKey(trx: Trx, kid: string, now: Date) {
    const key = await lockServiceKey(trx, kid, now);
    if (!key) throw notFound();
    return key;
  }

  app.get(
    '/superuser/keys',
    {
      config: { access: superuserAccess('read', { fresh: false }) },
      schema: {
        operationId: 'listServiceKeys',
        tags: TAGS,
        description: 'List all service keys.',
        response: { 200: z.object({ keys: z.array(ServiceKeyView) }) },
      },
    },
    async () => ({ keys: await views(await listAllServiceKeys(app.db, new Date())) }),
  );

  app.post(
    '/superuser/keys',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'createServiceKey',
        tags: TAGS,
        description: 'Create a new service key.',
        body: CreateServiceKey,
        response: {
          // Quay answers 200 here (endpoints/api/superuser.py), though its guide says 201.
          200: z.object({ kid: z.string(), name: z.string(), service: z.string(), public_key: z.string(), private_key: z.string() }),
        },
      },
    },
    async (req) => {
      const body = req.body;
      const now = new Date();
      // Quay's order of checks: name, expiration, then the service (a data-model error: {message: ""}).
      const name = body.name ?? '';
      checkName(name);
      const expirationDate = body.expiration === null ? null : futureDate(body.expiration, now, 'Expiration date cannot be in the past');
      checkMetadata(body.metadata);
      if (body.service.length > MAX_FIELD || !SERVICE_RE.test(body.service)) throw message(400, '');
      const user = req.auth.user!;
      const metadata = { ...body.metadata, created_by: 'Quay Superuser Panel', creator: user.username, ip: req.auth.ip };
      const key = await generateRsaKey();
      await app.db.transaction().execute(async (trx) => {
        await deleteStaleServiceKeys(trx, body.service, now);
        // The private half is never stored: the caller gets it once, below.
        await insertServiceKey(trx, {
          kid: key.kid,
          service: body.service,
          name,
          jwk: key.jwk,
          privateKeyEnc: null,
          metadata,
          expirationDate,
          approvalType: 'Super User API',
          approverId: user.id,
          approvalNotes: body.notes ?? '',
          now,
        });
        const logMeta = {
          kid: key.kid,
          preshared: true,
          service: body.service,
          name,
          expiration_date: unixSeconds(expirationDate),
          auto_approved: true,
        };
        await logAction(trx, req.auth, 'service_key_create', { accountId: null }, logMeta);
        await logAction(trx, req.auth, 'service_key_approve', { accountId: null }, logMeta);
      });
      return {
        kid: key.kid,
        name,
        service: body.service,
        public_key: key.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        // PKCS#1 ("BEGIN RSA PRIVATE KEY"), as Quay's TraditionalOpenSSL.
        private_key: key.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      };
    },
  );

  app.get(
    '/superuser/keys/:kid',
    {
      config: { access: superuserAccess('read', { fresh: false }) },
      schema: {
        operationId: 'getServiceKey',
        tags: TAGS,
        description: 'Returns information about a service key.',
        params: KidParams,
        response: { 200: ServiceKeyView },
      },
    },
    async (req) => {
      const row = await findServiceKey(app.db, req.params.kid, new Date());
      if (!row) throw notFound();
      return (await views([row]))[0];
    },
  );

  app.put(
    '/superuser/keys/:kid',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'updateServiceKey',
        tags: TAGS,
        description: 'Updates information about a service key.',
        params: KidParams,
        body: PutServiceKey,
        response: { 200: ServiceKeyView },
      },
    },
    async (req) => {
      const body = req.body;
      const now = new Date();
      // Everything is checked before anything changes (Quay applies the expiry before it looks at
      // the name, so a bad name there still moves the expiry).
      const expirationDate =
        body.expiration === undefined || body.expiration === null
          ? body.expiration
          : futureDate(body.expiration, now, 'Cannot have an expiration date in the past');
      checkName(body.name);
      checkMetadata(body.metadata);
      await app.db.transaction().execute(async (trx) => {
        const key = await lockedKey(trx, req.params.kid, now);
        const logMeta: Record<string, unknown> = {
          kid: key.kid,
          service: key.service,
          name: body.name ?? key.name,
          expiration_date: unixSeconds(key.expiration_date),
        };
        if (expirationDate !== undefined) {
          Object.assign(logMeta, { old_expiration_date: unixSeconds(key.expiration_date), expiration_date: unixSeconds(expirationDate) });
          await logAction(trx, req.auth, 'service_key_extend', { accountId: null }, logMeta);
        }
        // Metadata is merged into what the key has, as Quay's update_service_key does.
        const metadata = body.metadata === undefined ? undefined : { ...key.metadata, ...body.metadata };
        checkMetadata(metadata);
        await updateServiceKey(trx, key.id, { name: body.name, metadata, expirationDate });
        if (body.name !== undefined || body.metadata !== undefined) {
          await logAction(trx, req.auth, 'service_key_modify', { accountId: null }, logMeta);
        }
      });
      const row = await findServiceKey(app.db, req.params.kid, now);
      if (!row) throw notFound();
      return (await views([row]))[0];
    },
  );

  app.post(
    '/superuser/approvedkeys/:kid',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'approveServiceKey',
        tags: TAGS,
        description: 'Approves a service key.',
        params: KidParams,
        body: ApproveServiceKey,
        response: { 201: z.literal('').describe('Approved (empty body)') },
      },
    },
    async (req, reply) => {
      const now = new Date();
      await app.db.transaction().execute(async (trx) => {
        const key = await lockedKey(trx, req.params.kid, now);
        // An approved key stays as it was approved; the answer is the same 201 (Quay).
        if (key.approval_type !== null) return;
        await approveServiceKey(trx, key.id, { approvalType: 'Super User API', approverId: req.auth.user!.id, notes: req.body.notes ?? '', now });
        await logAction(trx, req.auth, 'service_key_approve', { accountId: null }, {
          kid: key.kid,
          service: key.service,
          name: key.name,
          expiration_date: unixSeconds(key.expiration_date),
        });
      });
      return reply.code(201).type('text/plain; charset=utf-8').send('');
    },
  );

  app.delete(
    '/superuser/keys/:kid',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'deleteServiceKey',
        tags: TAGS,
        description: 'Deletes a service key.',
        params: KidParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const now = new Date();
      await app.db.transaction().execute(async (trx) => {
        const key = await lockedKey(trx, req.params.kid, now);
        await deleteServiceKey(trx, key.id);
        await logAction(trx, req.auth, 'service_key_delete', { accountId: null }, {
          kid: key.kid,
          service: key.service,
          name: key.name,
          created_date: unixSeconds(key.created_date),
          expiration_date: unixSeconds(key.expiration_date),
        });
        await deleteStaleServiceKeys(trx, key.service, now);
      });
      return reply.code(204).send(null);
    },
  );
};
