// The /v2 error catalogue and error type. Handlers throw `new RegistryError(code, …)`; the one error
// handler (src/lib/error-handler.ts, surface `registry`) writes the OCI envelope
//   {"errors": [{"code": "<CODE>", "message": "<text>", "detail": <any JSON>}]}
// with the entry's HTTP status, `Docker-Distribution-API-Version: registry/2.0`, and on every 401
// the Bearer challenge that sends clients to /v2/auth (with a `scope` when the error names one).
//
// Codes: every code of the OCI distribution spec v1.1 ("Error Codes", code-1 … code-14), the other
// codes distribution/distribution registers (UNKNOWN, UNAVAILABLE, the schema-1 era ones), and
// Quay's own (TAG_EXPIRED, TAG_IMMUTABLE, INVALID_REQUEST). The spec says clients must cope with
// codes they do not know; prefer the spec's where one fits.

export interface RegistryErrorInfo {
  /** Default HTTP status; a thrown error may choose another (Quay: MANIFEST_INVALID 415, DENIED 405). */
  status: number;
  /** Default message, the spec's wording where the spec has one. */
  message: string;
  /** When the code applies. */
  description: string;
  /** Where the code comes from. */
  origin: 'oci' | 'distribution' | 'quay';
}

export const REGISTRY_ERRORS = {
  BLOB_UNKNOWN: {
    status: 404, message: 'blob unknown to registry', origin: 'oci',
    description: 'The blob is not in the repository named in the URL: never uploaded there, not mounted there, or deleted.',
  },
  BLOB_UPLOAD_INVALID: {
    status: 400, message: 'blob upload invalid', origin: 'oci',
    description: 'The upload cannot go on or be committed: a missing digest, a bad chunk, a blob over the size limit, a storage failure.',
  },
  BLOB_UPLOAD_UNKNOWN: {
    status: 404, message: 'blob upload unknown to registry', origin: 'oci',
    description: 'No upload session has this id in this repository: it was never started, was cancelled, completed or expired.',
  },
  DIGEST_INVALID: {
    status: 400, message: 'provided digest did not match uploaded content', origin: 'oci',
    description: 'The digest sent with an upload or a manifest is malformed, uses an unsupported algorithm, or does not match the bytes received.',
  },
  MANIFEST_BLOB_UNKNOWN: {
    status: 400, message: 'manifest references a manifest or blob unknown to registry', origin: 'oci',
    description: 'A pushed manifest references a blob (config or layer) or a child manifest that the repository does not hold.',
  },
  MANIFEST_INVALID: {
    status: 400, message: 'manifest invalid', origin: 'oci',
    description: 'The pushed manifest could not be parsed or failed validation (unsupported media type, schema 1, size, references).',
  },
  MANIFEST_UNKNOWN: {
    status: 404, message: 'manifest unknown to registry', origin: 'oci',
    description: 'No manifest in the repository has this digest, or no live tag has this name.',
  },
  NAME_INVALID: {
    status: 400, message: 'invalid repository name', origin: 'oci',
    description: 'The repository name does not follow the naming rules (lower-case components separated by "/").',
  },
  NAME_UNKNOWN: {
    status: 404, message: 'repository name not known to registry', origin: 'oci',
    description: 'The repository does not exist (and the caller is allowed to know that).',
  },
  SIZE_INVALID: {
    status: 400, message: 'provided length did not match content length', origin: 'oci',
    description: 'A declared length (Content-Length, Content-Range, a descriptor size) does not match the bytes received.',
  },
  UNAUTHORIZED: {
    status: 401, message: 'authentication required', origin: 'oci',
    description: 'No credentials, invalid credentials, or a token that does not grant the operation. The WWW-Authenticate header says where to get a token and for which scope.',
  },
  DENIED: {
    status: 403, message: 'requested access to the resource is denied', origin: 'oci',
    description: 'The operation is refused whatever the credentials: a disabled namespace, a repository that is read-only, a quota.',
  },
  UNSUPPORTED: {
    status: 405, message: 'the operation is unsupported', origin: 'oci',
    description: 'This registry does not offer the operation: an unknown endpoint or method, blob deletion, a repository that does not hold container images.',
  },
  TOOMANYREQUESTS: {
    status: 429, message: 'too many requests', origin: 'oci',
    description: 'The client sent too many requests (or failed logins); retry after the time in Retry-After.',
  },
  // distribution/distribution
  UNKNOWN: {
    status: 500, message: 'unknown error', origin: 'distribution',
    description: 'An unexpected server error. It has been logged; the response says nothing more.',
  },
  UNAVAILABLE: {
    status: 503, message: 'service unavailable', origin: 'distribution',
    description: 'The registry or one of its backends (database, storage) is temporarily unavailable.',
  },
  RANGE_INVALID: {
    status: 416, message: 'invalid content range', origin: 'distribution',
    description: 'A chunk does not start where the upload stands; the Range header of the answer gives the bytes received so far.',
  },
  TAG_INVALID: {
    status: 400, message: 'manifest tag did not match URI', origin: 'distribution',
    description: 'The tag in the URL is not a valid tag name.',
  },
  MANIFEST_UNVERIFIED: {
    status: 400, message: 'manifest failed signature verification', origin: 'distribution',
    description: 'Docker schema 1 signature checks; never raised by this registry, which refuses schema 1.',
  },
  PAGINATION_NUMBER_INVALID: {
    status: 400, message: 'invalid number of results requested', origin: 'distribution',
    description: 'The `n` parameter is not a usable number.',
  },
  // Quay
  TAG_EXPIRED: {
    status: 404, message: 'Tag has expired', origin: 'quay',
    description: 'The tag existed but was deleted or has expired; it can be restored through the time machine.',
  },
  TAG_IMMUTABLE: {
    status: 409, message: 'tag is immutable', origin: 'quay',
    description: 'The tag is immutable: it cannot be moved or deleted.',
  },
  INVALID_REQUEST: {
    status: 400, message: 'Invalid request', origin: 'quay',
    description: 'The request is malformed: a bad scope at /v2/auth, a bad Content-Range, a URL, query or body the server cannot read.',
  },
} as const satisfies Record<string, RegistryErrorInfo>;

export type RegistryErrorCode = keyof typeof REGISTRY_ERRORS;

/** A repository scope for the Bearer challenge: `repository:<name>:<actions>`. */
export interface ChallengeScope {
  repository: string;
  actions: readonly string[];
}

export interface RegistryErrorOptions {
  /** Replaces the catalogue's message. Never put request URLs here. */
  message?: string;
  /** Any JSON; `{}` when omitted (as Quay). */
  detail?: unknown;
  /** Replaces the catalogue's status. */
  status?: number;
  /** Extra response headers (Retry-After, Range, Location …). */
  headers?: Record<string, string>;
  /** For UNAUTHORIZED: the scope the challenge advertises. */
  scope?: ChallengeScope;
}

export class RegistryError extends Error {
  readonly statusCode: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;
  readonly scope?: ChallengeScope;

  constructor(
    readonly code: RegistryErrorCode,
    o: RegistryErrorOptions = {},
  ) {
    super(o.message ?? REGISTRY_ERRORS[code].message);
    this.statusCode = o.status ?? REGISTRY_ERRORS[code].status;
    this.detail = o.detail ?? {};
    this.headers = o.headers ?? {};
    this.scope = o.scope;
  }
}

/** 401 UNAUTHORIZED with Quay's message and, for repository routes, the scope to ask for. */
export function unauthorized(o: { scope?: ChallengeScope; message?: string; detail?: unknown } = {}): RegistryError {
  return new RegistryError('UNAUTHORIZED', {
    message: o.message ?? 'access to the requested resource is not authorized',
    detail: o.detail,
    scope: o.scope,
  });
}

/** The code of an error that reached the registry surface without one (Fastify's, the input guard's). */
export function codeForStatus(status: number): RegistryErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404 || status === 405) return 'UNSUPPORTED';
  if (status === 416) return 'RANGE_INVALID';
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 500) return 'UNKNOWN';
  return 'INVALID_REQUEST';
}

/** The envelope body. */
export function registryErrorBody(code: string, message: string, detail: unknown = {}): { errors: { code: string; message: string; detail: unknown }[] } {
  return { errors: [{ code, message, detail }] };
}

/** `Docker-Distribution-API-Version`, sent with every /v2 response. */
export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/**
 * `Bearer realm="<scheme>://<host>/v2/auth",service="<SERVER_HOSTNAME>"[,scope="repository:<name>:<actions>"]`.
 * The name comes from a path the router accepted (lower-case components), but is checked anyway:
 * a quote or control character would break the header, so such a scope is left out.
 */
export function bearerChallenge(baseUrl: string, service: string, scope?: ChallengeScope): string {
  let h = `Bearer realm="${baseUrl}/v2/auth",service="${service}"`;
  if (scope && /^[\x21-\x7e]+$/.test(scope.repository) && !scope.repository.includes('"')) {
    h += `,scope="repository:${scope.repository}:${scope.actions.join(',')}"`;
  }
  return h;
}
