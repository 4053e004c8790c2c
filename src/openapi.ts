// Discovery documents, generated from the route schemas and access declarations, never edited by
// hand. @fastify/swagger builds the OpenAPI 3.1 document (/api/v1/openapi.json); the Swagger 2.0
// document that Quay serves at /api/v1/discovery is converted from it here, in one place, because
// the zod transform does not emit Swagger 2.0.
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { SCOPES, SCOPE_NAMES } from './auth/scopes.js';
import type { Config } from './config.js';
import { repoDocPath } from './api/repo-path.js';

/** Quay's API sections (discovery tags), with their descriptions. */
export const SECTIONS: Record<string, string> = {
  appspecifictokens: 'Manage app specific tokens for the current user.',
  build: 'Create, list, cancel and get status/logs of repository builds.',
  discovery: 'API discovery information.',
  error: 'Error details API.',
  globalmessages: 'Messages API.',
  image: 'List and lookup repository images.',
  logs: 'Access usage logs for organizations or repositories.',
  manifest: 'Manage the manifests of a repository.',
  mirror: 'Configure and manage repository mirroring.',
  organization: 'Manage organizations, members and OAuth applications.',
  permission: 'Manage repository permissions.',
  prototype: 'Manage default permissions added to repositories.',
  repository: 'List, create and manage repositories.',
  repositorynotification: 'List, create and manage repository events/notifications.',
  repotoken: 'Manage repository access tokens (DEPRECATED).',
  robot: 'Manage user and organization robot accounts.',
  search: 'Conduct searches against all registry context.',
  secscan: 'List and manage repository vulnerabilities and other security information.',
  superuser: 'Superuser API.',
  tag: 'Manage the tags of a repository.',
  team: 'Create, list and manage an organization\'s teams.',
  trigger: 'Create, list and manage build triggers.',
  user: 'Manage the current user.',
};

function scopeCatalogue(config: Pick<Config, 'FEATURE_SUPER_USERS'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of SCOPE_NAMES) {
    if (s === 'super:user' && !config.FEATURE_SUPER_USERS) continue;
    out[s] = `${SCOPES[s].title}: ${SCOPES[s].description}`;
  }
  return out;
}


export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Quay Frontend',
        version: 'v1',
        description: 'A Quay-compatible registry API. This document is generated from the routes this server serves.',
        contact: { email: app.config.MAIL_DEFAULT_SENDER },
      },
      servers: [{ url: app.baseUrl }],
      tags: Object.entries(SECTIONS).map(([name, description]) => ({ name, description })),
      components: {
        securitySchemes: {
          oauth2_implicit: {
            type: 'oauth2',
            flows: { implicit: { authorizationUrl: `${app.baseUrl}/oauth/authorize`, scopes: scopeCatalogue(app.config) } },
          },
        },
      },
    },
    hideUntagged: true,
    transformObject: jsonSchemaTransformObject,
    transform: (input) => {
      const { route, url } = input;
      const access = route.config?.access;
      const schema = input.schema as Record<string, unknown> | undefined;
      if (!access || access.hidden || !schema?.tags) return { schema: { ...schema, hide: true } as never, url };
      const t = jsonSchemaTransform(input as never) as { schema: Record<string, unknown>; url: string };
      const out: Record<string, unknown> = { ...t.schema };
      if (access.scope) out.security = [{ oauth2_implicit: [access.scope] }];
      if (access.internal) out['x-internal'] = true;
      if (access.fresh) out['x-requires-fresh-login'] = true;
      const docUrl = repoDocPath(url);
      if (docUrl !== url) {
        // The router sees `namespace` and `repository`; clients see Quay's single `{repository}`.
        const fromUrl = Object.fromEntries([...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => [m[1], { type: 'string' }]));
        const params = (out.params ?? { type: 'object', properties: fromUrl, required: Object.keys(fromUrl) }) as {
          properties: Record<string, unknown>;
          required?: string[];
        };
        const { namespace: _ns, repository: _repo, ...rest } = params.properties;
        out.params = {
          type: 'object',
          properties: { repository: { type: 'string', description: 'The full path of the repository. e.g. namespace/name' }, ...rest },
          required: ['repository', ...(params.required ?? []).filter((r) => r !== 'namespace' && r !== 'repository')],
        };
      }
      return { schema: out as never, url: docUrl };
    },
  });
}

type Json = Record<string, any>;

/**
 * zod marks objects `additionalProperties: false`, but the server, like Quay, accepts and ignores
 * unknown keys: drop that claim so the documents describe what is enforced.
 */
function dropClosedObjects(node: unknown): void {
  if (Array.isArray(node)) node.forEach(dropClosedObjects);
  else if (node && typeof node === 'object') {
    const o = node as Json;
    if (o.additionalProperties === false) delete o.additionalProperties;
    for (const v of Object.values(o)) dropClosedObjects(v);
  }
}

/** OpenAPI 3.1, with internal operations only when asked. */
export function openapiDocument(app: FastifyInstance, internal: boolean): Json {
  const doc = structuredClone(app.swagger() as Json);
  dropClosedObjects(doc);
  if (!internal) {
    for (const [p, item] of Object.entries(doc.paths ?? {}) as [string, Json][]) {
      for (const m of Object.keys(item)) if (item[m]?.['x-internal']) delete item[m];
      if (Object.keys(item).length === 0) delete doc.paths[p];
    }
  }
  return doc;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** JSON Schema 2020-12 (OpenAPI 3.1) → Swagger 2.0 schema object. */
function toSwagger2Schema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toSwagger2Schema);
  if (!s || typeof s !== 'object') return s;
  const src = s as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/definitions/').replace(/Input$/, '');
    else if (k === 'const') out.enum = [v];
    else if (k === 'type' && Array.isArray(v)) {
      const types = v.filter((t) => t !== 'null');
      out.type = types.length === 1 ? types[0] : types[0];
      if (v.includes('null')) out['x-nullable'] = true;
    } else if (k === 'anyOf' || k === 'oneOf') {
      const members = (v as Json[]).filter((m) => m.type !== 'null');
      if (members.length === 1 && members.length < (v as Json[]).length) {
        Object.assign(out, toSwagger2Schema(members[0]));
        out['x-nullable'] = true;
      } else out[k === 'oneOf' ? 'x-oneOf' : 'x-anyOf'] = toSwagger2Schema(v);
    } else if (k === 'exclusiveMinimum' && typeof v === 'number') {
      out.minimum = v;
      out.exclusiveMinimum = true;
    } else if (k === 'exclusiveMaximum' && typeof v === 'number') {
      out.maximum = v;
      out.exclusiveMaximum = true;
    } else if (k === '$schema' || k === '$id' || k === 'examples' || k === 'propertyNames') continue;
    else out[k] = toSwagger2Schema(v);
  }
  return out;
}

const API_ERROR_SCHEMA = {
  type: 'object',
  description: 'An error response (RFC 7807 style), as Quay emits it.',
  required: ['status', 'type', 'title'],
  properties: {
    status: { type: 'integer', description: 'Status code of the response.' },
    type: { type: 'string', description: 'Reference to the type of the error.' },
    title: { type: 'string', description: 'Unique error code to identify the type of error.' },
    detail: { type: 'string', description: 'Details about the specific instance of the error.' },
    error_message: { type: 'string', description: 'Deprecated; alias for detail.' },
    error_type: { type: 'string', description: 'Deprecated; alias for title.' },
  },
};

/** Quay's discovery document: Swagger 2.0 (part1 §3.1). */
export function discoveryDocument(app: FastifyInstance, internal: boolean): Json {
  const oas = openapiDocument(app, internal);
  const config = app.config;
  const paths: Json = {};
  const sortedPaths = Object.entries(oas.paths ?? {}).sort(([a, ia], [b, ib]) => {
    const ta = firstTag(ia as Json);
    const tb = firstTag(ib as Json);
    return ta === tb ? a.localeCompare(b) : ta.localeCompare(tb);
  });
  for (const [p, item] of sortedPaths as [string, Json][]) {
    const tag = firstTag(item);
    const outItem: Json = { 'x-path': p, 'x-tag': tag, 'x-name': `${tag}.${p.split('/').filter((s) => s && !s.startsWith('{')).slice(2).join('.') || tag}` };
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const parameters: Json[] = [];
      for (const prm of op.parameters ?? []) {
        const { schema, ...rest } = prm;
        parameters.push({ ...rest, ...(toSwagger2Schema(schema ?? {}) as Json), required: prm.in === 'path' ? true : !!prm.required });
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      // A body schema that also accepts null/nothing (optional bodies, e.g. createUserRobot).
      const optionalBody = !!body && (body.type === 'null' || (Array.isArray(body.anyOf) && body.anyOf.some((m: Json) => m.type === 'null')));
      if (body) parameters.push({ in: 'body', name: 'body', required: !optionalBody, schema: toSwagger2Schema(body) });
      const responses: Json = {};
      for (const [code, r] of Object.entries(op.responses ?? {}) as [string, Json][]) {
        const schema = r.content?.['application/json']?.schema;
        const description = !r.description || r.description === 'Default Response' ? 'Successful invocation' : r.description;
        responses[code] = { description, ...(schema ? { schema: toSwagger2Schema(schema) } : {}) };
      }
      for (const code of ['400', '401', '403', '404']) {
        responses[code] ??= { description: errorText(code), schema: { $ref: '#/definitions/ApiError' } };
      }
      const outOp: Json = {
        operationId: op.operationId,
        tags: op.tags,
        description: op.description ?? op.summary ?? '',
        parameters,
        responses,
      };
      if (op.security) outOp.security = op.security;
      if (internal) {
        if (op['x-internal']) outOp['x-internal'] = true;
        outOp['x-requires-fresh-login'] = !!op['x-requires-fresh-login'];
        outOp['x-user-related'] = tag === 'user';
      }
      outItem[m] = outOp;
    }
    paths[p] = outItem;
  }
  const definitions: Json = { ApiError: API_ERROR_SCHEMA };
  // zod registers an input and an output variant of each named schema (`NewTokenInput`, `NewToken`);
  // Swagger 2.0 gets one definition per name, the output variant where both exist.
  const schemas = (oas.components?.schemas ?? {}) as Json;
  for (const [name, s] of Object.entries(schemas)) {
    const base = name.replace(/Input$/, '');
    if (base !== name && schemas[base]) continue;
    definitions[base] = toSwagger2Schema(s);
  }
  return {
    swagger: '2.0',
    host: config.SERVER_HOSTNAME,
    basePath: '/',
    schemes: [config.PREFERRED_URL_SCHEME],
    info: {
      version: 'v1',
      title: 'Quay Frontend',
      description: oas.info?.description ?? '',
      termsOfService: `${app.baseUrl}/tos`,
      contact: { email: config.MAIL_DEFAULT_SENDER },
    },
    securityDefinitions: {
      oauth2_implicit: {
        type: 'oauth2',
        flow: 'implicit',
        authorizationUrl: `${app.baseUrl}/oauth/authorize`,
        scopes: scopeCatalogue(config),
      },
    },
    paths,
    definitions,
    tags: (oas.tags ?? []) as Json[],
  };
}

function firstTag(item: Json): string {
  for (const m of METHODS) if (item[m]?.tags?.[0]) return item[m].tags[0];
  return '';
}

function errorText(code: string): string {
  return { '400': 'Bad Request', '401': 'Session required', '403': 'Unauthorized access', '404': 'Not found' }[code] ?? '';
}
