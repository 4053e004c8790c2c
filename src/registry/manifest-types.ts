// Manifest documents: the media types this registry stores, and one parser that validates a pushed
// manifest and extracts what the database keeps about it (the blobs and child manifests it
// references, its subject and artifact type for the referrers API). The bytes are stored exactly as
// pushed; nothing here rewrites them.
//
// Accepted on PUT (OCI distribution spec v1.1 "Pushing Manifests"; Quay's list, minus schema 1):
//   application/vnd.docker.distribution.manifest.v2+json        Docker image manifest (schema 2)
//   application/vnd.docker.distribution.manifest.list.v2+json   Docker manifest list
//   application/vnd.oci.image.manifest.v1+json                  OCI image or artifact manifest
//   application/vnd.oci.image.index.v1+json                     OCI index
// Docker schema 1 (signed or not) is refused with MANIFEST_INVALID and a message saying so.
import { parseDigest } from './digest.js';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** The media types of manifests that list other manifests (is_manifest_list in the REST views). */
export const MANIFEST_LISTS: ReadonlySet<string> = new Set([DOCKER_LIST, OCI_INDEX]);
const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];

export const MANIFEST_MEDIA_TYPES: readonly string[] = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];
export const INDEX_MEDIA_TYPES: readonly string[] = [DOCKER_LIST, OCI_INDEX];

/** The largest manifest accepted (the spec asks registries to take at least 4 MB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

// Layers a registry need not hold: the image's author keeps them elsewhere (`urls`).
const NON_DISTRIBUTABLE = /^application\/vnd\.(oci\.image\.layer\.nondistributable\.|docker\.image\.rootfs\.foreign\.)/;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string; variant?: string };
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** Config and layers that must exist in the repository (non-distributable layers left out). */
  blobs: Descriptor[];
  /** For an index or list: the manifests it lists, which must exist in the repository. */
  children: Descriptor[];
  config?: Descriptor;
  subject?: Descriptor;
  /** The referrers API's artifactType: the field, else (image manifests) the config's media type. */
  artifactType: string | null;
  annotations?: Record<string, string>;
}

export class ManifestError extends Error {}

/** `type/subtype`, parameters dropped, lower-cased; undefined when the header holds none. */
export function bareMediaType(header: string | undefined): string | undefined {
  const t = header?.split(';')[0].trim().toLowerCase();
  return t ? t : undefined;
}

const MIME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v) || !Object.values(v).every((x) => typeof x === 'string')) throw new ManifestError(`${where} must map strings to strings`);
  return v as Record<string, string>;
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isRecord(v)) throw new ManifestError(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || !MIME.test(mediaType)) throw new ManifestError(`${where}.mediaType is missing or not a media type`);
  if (typeof digest !== 'string' || !parseDigest(digest)) throw new ManifestError(`${where}.digest is missing or not a valid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new ManifestError(`${where}.size must be a non-negative integer`);
  const d: Descriptor = { mediaType, digest, size };
  if (v.artifactType !== undefined) {
    if (typeof v.artifactType !== 'string' || !MIME.test(v.artifactType)) throw new ManifestError(`${where}.artifactType is not a media type`);
    d.artifactType = v.artifactType;
  }
  const annotations = stringMap(v.annotations, `${where}.annotations`);
  if (annotations) d.annotations = annotations;
  if (isRecord(v.platform)) {
    const p = v.platform;
    d.platform = {
      ...(typeof p.architecture === 'string' ? { architecture: p.architecture } : {}),
      ...(typeof p.os === 'string' ? { os: p.os } : {}),
      ...(typeof p.variant === 'string' ? { variant: p.variant } : {}),
    };
  }
  return d;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) throw new ManifestError(`${where} must be an array`);
  if (v.length > 10_000) throw new ManifestError(`${where} lists too many descriptors`);
  return v.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/**
 * Validates a pushed manifest. `contentType` is the request's Content-Type; when it is absent or
 * generic the document's own `mediaType` decides. Throws ManifestError with the reason.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ManifestError('failed to parse manifest: not a JSON document in UTF-8');
  }
  if (!isRecord(doc)) throw new ManifestError('failed to parse manifest: not a JSON object');
  const header = bareMediaType(contentType);
  const declared = doc.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw new ManifestError('mediaType must be a string');
  if (doc.schemaVersion === 1 || (header && SCHEMA1.includes(header)) || (declared && SCHEMA1.includes(declared))) {
    throw new ManifestError('Docker schema 1 manifests are not supported: push the image as Docker schema 2 or OCI');
  }
  if (doc.schemaVersion !== 2) throw new ManifestError('schemaVersion must be 2');
  const generic = !header || header === 'application/json' || header === 'application/octet-stream';
  const mediaType = generic ? declared : header;
  if (!mediaType) throw new ManifestError('the manifest type is unknown: send its media type as Content-Type');
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw new ManifestError(`manifest media type ${mediaType} is not supported`);
  if (declared !== undefined && declared !== mediaType) {
    throw new ManifestError(`the manifest's mediaType ${declared} does not match its Content-Type ${mediaType}`);
  }
  const oci = mediaType === OCI_MANIFEST || mediaType === OCI_INDEX;
  const annotations = stringMap(doc.annotations, 'annotations');
  let artifactType: string | undefined;
  if (doc.artifactType !== undefined) {
    if (!oci || typeof doc.artifactType !== 'string' || !MIME.test(doc.artifactType)) throw new ManifestError('artifactType is not a media type');
    artifactType = doc.artifactType;
  }
  let subject: Descriptor | undefined;
  if (doc.subject !== undefined) {
    if (!oci) throw new ManifestError('subject is only defined for OCI manifests and indexes');
    subject = descriptor(doc.subject, 'subject');
  }

  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    if (doc.config !== undefined || doc.layers !== undefined) throw new ManifestError('an index must not have config or layers');
    const children = descriptors(doc.manifests, 'manifests');
    return { mediaType, kind: 'index', blobs: [], children, subject, artifactType: artifactType ?? null, annotations };
  }
  if (doc.manifests !== undefined) throw new ManifestError('an image manifest must not list manifests');
  const config = descriptor(doc.config, 'config');
  const layers = doc.layers === undefined && oci ? [] : descriptors(doc.layers, 'layers');
  const blobs = [config, ...layers.filter((l) => !NON_DISTRIBUTABLE.test(l.mediaType))];
  return {
    mediaType,
    kind: 'image',
    blobs,
    children: [],
    config,
    subject,
    artifactType: artifactType ?? (oci ? config.mediaType : null),
    annotations,
  };
}

/**
 * Content negotiation for a GET: which of the stored manifest or (for an index or list) one of its
 * children a client accepting `accept` gets. 'stored': the stored bytes; 'child': the
 * linux/amd64 (else the first) child, for clients that accept image manifests but not indexes;
 * 'none': nothing the client accepts.
 */
export function negotiate(storedType: string, accept: string | undefined): 'stored' | 'child' | 'none' {
  const types = (accept ?? '')
    .split(',')
    .map((t) => bareMediaType(t))
    .filter((t): t is string => !!t);
  if (types.length === 0 || types.includes('*/*') || types.includes('application/*') || types.includes(storedType)) return 'stored';
  if (types.every((t) => t === 'application/json')) return 'stored';
  if (INDEX_MEDIA_TYPES.includes(storedType) && types.some((t) => t === DOCKER_MANIFEST || t === OCI_MANIFEST)) return 'child';
  return 'none';
}

/** The compressed size of an image manifest's layers (config excluded), as the tag views show it; null for indexes and lists. */
export function layersSize(parsed: Pick<ParsedManifest, 'kind'>, bytes: Uint8Array): number | null {
  if (parsed.kind === 'index') return null;
  try {
    const doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as { layers?: { size?: unknown }[] };
    let total = 0;
    for (const l of Array.isArray(doc.layers) ? doc.layers : []) if (typeof l?.size === 'number' && Number.isSafeInteger(l.size) && l.size > 0) total += l.size;
    return total;
  } catch {
    return 0;
  }
}
