// Test images without any container runtime: OCI image layouts written straight to a temp folder
// (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), which skopeo and podman read with the
// `oci:<dir>:<ref>` transport. Every layer holds random bytes, so every run pushes new blobs.
// Docker-format images (`format: 'docker'`) go into a `dir:` folder instead (containers/image's
// directory transport: `version`, `manifest.json`, `<hex>.manifest.json`, `<hex>` blobs), because
// skopeo 1.9 only finds OCI media types in an OCI layout's index.json.
//
// Kinds built here (each builder returns every digest it wrote):
//   singleArchImage   one image manifest (OCI, or Docker v2 schema 2 with `format: 'docker'`)
//   multiArchImage    an OCI index (or Docker manifest list) over linux/amd64 and linux/arm64/v8
//   artifactLayout    a subject image + an artifact manifest (`artifactType`, `subject`, OCI 1.1)
//                     + an artifact with the empty config (`application/vnd.oci.empty.v1+json`)
//   schema1Manifest   Docker v2 schema 1 bytes (unsigned), for "refused with MANIFEST_INVALID"
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The empty JSON blob `{}` of OCI 1.1 (config of artifacts that need none). */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export type Format = 'oci' | 'docker';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
  data?: string;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A JSON document serialized once: its bytes are what gets hashed, stored and pushed. */
export interface JsonBlob<T = unknown> {
  json: T;
  bytes: Buffer;
  descriptor: Descriptor;
}

export const OCI_REF_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Where builders write: an OCI layout (`OciLayout`) or a directory-transport folder (`DirLayout`). */
export interface ImageStore {
  readonly dir: string;
  putBlob(bytes: Buffer, mediaType: string): Descriptor;
  putJson<T>(json: T, mediaType: string): JsonBlob<T>;
  /** Writes a manifest or index; in a `dir:` folder manifests live apart from blobs. */
  putManifest<T>(json: T, mediaType: string): JsonBlob<T>;
  readBlob(digest: string): Buffer;
}

/** An OCI image layout being written: blobs land on disk at once, index.json on `save()`. */
export class OciLayout implements ImageStore {
  readonly dir: string;
  private readonly refs: Descriptor[] = [];

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    this.save();
  }

  /** A new layout in a fresh temp folder (or in `dir`, created if missing; its index.json is reset). */
  static create(dir?: string): OciLayout {
    return new OciLayout(dir ?? mkdtempSync(path.join(tmpdir(), 'oci-layout-')));
  }

  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':');
    return path.join(this.dir, 'blobs', alg, hex);
  }

  putBlob(bytes: Buffer, mediaType: string): Descriptor {
    const digest = sha256(bytes);
    writeFileSync(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  putJson<T>(json: T, mediaType: string): JsonBlob<T> {
    const bytes = Buffer.from(JSON.stringify(json));
    return { json, bytes, descriptor: this.putBlob(bytes, mediaType) };
  }

  putManifest<T>(json: T, mediaType: string): JsonBlob<T> {
    return this.putJson(json, mediaType);
  }

  readBlob(digest: string): Buffer {
    return readLayoutBlob(this.dir, digest);
  }

  /** Names `descriptor` as `ref` in index.json (what `oci:<dir>:<ref>` resolves). */
  addRef(ref: string, descriptor: Descriptor): void {
    const { mediaType, digest, size, platform, artifactType } = descriptor;
    this.refs.push({ mediaType, digest, size, ...(platform ? { platform } : {}), ...(artifactType ? { artifactType } : {}), annotations: { [OCI_REF_ANNOTATION]: ref } });
    this.save();
  }

  /** `oci:<dir>:<ref>` for skopeo and podman. */
  transportRef(ref: string): string {
    return `oci:${this.dir}:${ref}`;
  }

  save(): void {
    writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: this.refs }));
  }
}

/**
 * containers/image's directory transport (`dir:<folder>`): one image (or list) per folder, its
 * top manifest in `manifest.json`, the manifests of a list in `<hex>.manifest.json`, blobs as `<hex>`.
 */
export class DirLayout implements ImageStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  }

  static create(dir?: string): DirLayout {
    return new DirLayout(dir ?? mkdtempSync(path.join(tmpdir(), 'image-dir-')));
  }

  putBlob(bytes: Buffer, mediaType: string): Descriptor {
    const digest = sha256(bytes);
    writeFileSync(path.join(this.dir, digest.slice('sha256:'.length)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  putJson<T>(json: T, mediaType: string): JsonBlob<T> {
    const bytes = Buffer.from(JSON.stringify(json));
    return { json, bytes, descriptor: this.putBlob(bytes, mediaType) };
  }

  putManifest<T>(json: T, mediaType: string): JsonBlob<T> {
    const bytes = Buffer.from(JSON.stringify(json));
    const digest = sha256(bytes);
    writeFileSync(path.join(this.dir, `${digest.slice('sha256:'.length)}.manifest.json`), bytes);
    return { json, bytes, descriptor: { mediaType, digest, size: bytes.length } };
  }

  /** Makes `manifest` the folder's image (what `dir:<folder>` copies). */
  setTop(manifest: JsonBlob): void {
    writeFileSync(path.join(this.dir, 'manifest.json'), manifest.bytes);
  }

  readBlob(digest: string): Buffer {
    const hex = digest.slice('sha256:'.length);
    try {
      return readFileSync(path.join(this.dir, hex));
    } catch {
      return readFileSync(path.join(this.dir, `${hex}.manifest.json`));
    }
  }

  transportRef(): string {
    return `dir:${this.dir}`;
  }
}

/** Reads `index.json` of a layout (e.g. one skopeo wrote) and returns its descriptors. */
export function readLayoutIndex(dir: string): Descriptor[] {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  return index.manifests ?? [];
}

/** A blob of the layout at `dir` (one written here or by skopeo). */
export function readLayoutBlob(dir: string, digest: string): Buffer {
  const [alg, hex] = digest.split(':');
  return readFileSync(path.join(dir, 'blobs', alg, hex));
}

/** The manifest (or index) bytes and digest that `ref` names in the layout at `dir`. */
export function readLayoutManifest(dir: string, ref?: string): { descriptor: Descriptor; bytes: Buffer } {
  const all = readLayoutIndex(dir);
  const descriptor = ref === undefined ? all[0] : all.find((d) => d.annotations?.[OCI_REF_ANNOTATION] === ref);
  if (!descriptor) throw new Error(`no manifest named ${ref ?? '(first)'} in ${dir}/index.json`);
  return { descriptor, bytes: readLayoutBlob(dir, descriptor.digest) };
}

/** Digests of `digests` that the layout at `dir` lacks or holds with other content (empty: all good). */
export function missingLayoutBlobs(dir: string, digests: string[]): string[] {
  return digests.filter((d) => {
    try {
      return sha256(readLayoutBlob(dir, d)) !== d;
    } catch {
      return true;
    }
  });
}

// --- tar ----------------------------------------------------------------------------------------

function tarHeader(name: string, size: number, mode = 0o644, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, 'ascii');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0');
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(1_700_000_000, 12), 136, 12); // mtime
  put('        ', 148, 8); // checksum is computed over spaces in its own field
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** A POSIX tar of regular files (and their directory entries), ending in two zero blocks. */
export function makeTar(files: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const f of files) {
    const segments = f.name.split('/').slice(0, -1);
    for (let i = 1; i <= segments.length; i++) {
      const d = `${segments.slice(0, i).join('/')}/`;
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(tarHeader(d, 0, 0o755, '5'));
      }
    }
    parts.push(tarHeader(f.name, f.data.length), f.data);
    const pad = (512 - (f.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface Layer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
}

/** A gzipped tar holding one file of `size` random bytes under a random name. */
export function addRandomLayer(layout: ImageStore, size: number, mediaType: string): Layer {
  const tag = randomBytes(6).toString('hex');
  const tar = makeTar([{ name: `data/layer-${tag}.bin`, data: randomBytes(size) }]);
  return { descriptor: layout.putBlob(gzipSync(tar), mediaType), diffId: sha256(tar) };
}

// --- images -------------------------------------------------------------------------------------

export interface ImageOptions {
  format?: Format;
  /** How many layers (default 2). */
  layers?: number;
  /** Random bytes per layer before compression (default 4096). */
  layerSize?: number;
  /** Config Labels; `quay.expires-after` is one Quay reads. */
  labels?: Record<string, string>;
  platform?: Platform;
  /** Manifest annotations (OCI only). */
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  format: Format;
  platform: Platform;
  manifest: JsonBlob<Record<string, unknown>>;
  config: JsonBlob<Record<string, unknown>>;
  layers: Layer[];
  labels: Record<string, string>;
  /** The manifest's digest. */
  digest: string;
  /** Manifest, config and layer digests. */
  digests: string[];
}

const DEFAULT_PLATFORM: Platform = { architecture: 'amd64', os: 'linux' };

/** Writes layers, a config (Labels, history) and a manifest into `layout`; names nothing in index.json. */
export function addImage(layout: ImageStore, opts: ImageOptions = {}): BuiltImage {
  const format = opts.format ?? 'oci';
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const labels = opts.labels ?? { 'quay.expires-after': '2w', 'org.example.build': randomBytes(4).toString('hex') };
  const mt =
    format === 'oci'
      ? { manifest: MediaType.ociManifest, config: MediaType.ociConfig, layer: MediaType.ociLayerGzip }
      : { manifest: MediaType.dockerManifest, config: MediaType.dockerConfig, layer: MediaType.dockerLayerGzip };
  const layers = Array.from({ length: opts.layers ?? 2 }, () => addRandomLayer(layout, opts.layerSize ?? 4096, mt.layer));
  const created = new Date().toISOString();
  const config = layout.putJson<Record<string, unknown>>(
    {
      created,
      author: 'quay-compat tests',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], Labels: labels },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [
        ...layers.map((_, i) => ({ created, created_by: `/bin/sh -c #(nop) COPY file:layer-${i} in /data/`, comment: `layer ${i}` })),
        { created, created_by: `/bin/sh -c #(nop) LABEL ${Object.keys(labels).join(' ')}`, empty_layer: true },
      ],
    },
    mt.config,
  );
  const manifest = layout.putManifest<Record<string, unknown>>(
    {
      schemaVersion: 2,
      mediaType: mt.manifest,
      config: config.descriptor,
      layers: layers.map((l) => l.descriptor),
      ...(format === 'oci' && opts.annotations ? { annotations: opts.annotations } : {}),
    },
    mt.manifest,
  );
  manifest.descriptor.platform = platform;
  return {
    format,
    platform,
    manifest,
    config,
    layers,
    labels,
    digest: manifest.descriptor.digest,
    digests: [manifest.descriptor.digest, config.descriptor.digest, ...layers.map((l) => l.descriptor.digest)],
  };
}

export interface SingleArchLayout {
  /** An OciLayout, or a DirLayout for `format: 'docker'`. */
  layout: OciLayout | DirLayout;
  dir: string;
  ref: string;
  /** `oci:<dir>:<ref>`, or `dir:<dir>` for `format: 'docker'`. */
  source: string;
  image: BuiltImage;
  digest: string;
  digests: string[];
}

/** A layout holding one image named `ref` (default `latest`); a `dir:` folder for `format: 'docker'`. */
export function singleArchImage(opts: ImageOptions & { dir?: string; ref?: string } = {}): SingleArchLayout {
  const ref = opts.ref ?? 'latest';
  if (opts.format === 'docker') {
    const layout = DirLayout.create(opts.dir);
    const image = addImage(layout, opts);
    layout.setTop(image.manifest);
    return { layout, dir: layout.dir, ref, source: layout.transportRef(), image, digest: image.digest, digests: image.digests };
  }
  const layout = OciLayout.create(opts.dir);
  const image = addImage(layout, opts);
  const { platform: _platform, ...descriptor } = image.manifest.descriptor;
  layout.addRef(ref, descriptor);
  return { layout, dir: layout.dir, ref, source: layout.transportRef(ref), image, digest: image.digest, digests: image.digests };
}

export const TWO_PLATFORMS: Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux', variant: 'v8' },
];

export interface MultiArchLayout {
  layout: OciLayout | DirLayout;
  dir: string;
  ref: string;
  source: string;
  index: JsonBlob<Record<string, unknown>>;
  images: BuiltImage[];
  /** The index's (or manifest list's) digest. */
  digest: string;
  /** Index, every manifest, config and layer digest. */
  digests: string[];
}

/** A layout whose `ref` names an OCI index, or a `dir:` folder holding a Docker manifest list (`format: 'docker'`), over two platforms. */
export function multiArchImage(opts: Omit<ImageOptions, 'platform'> & { dir?: string; ref?: string; platforms?: Platform[] } = {}): MultiArchLayout {
  const format = opts.format ?? 'oci';
  const layout = format === 'oci' ? OciLayout.create(opts.dir) : DirLayout.create(opts.dir);
  const ref = opts.ref ?? 'latest';
  const images = (opts.platforms ?? TWO_PLATFORMS).map((platform) => addImage(layout, { ...opts, platform }));
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  const index = layout.putManifest<Record<string, unknown>>({ schemaVersion: 2, mediaType, manifests: images.map((i) => i.manifest.descriptor) }, mediaType);
  if (layout instanceof OciLayout) layout.addRef(ref, index.descriptor);
  else layout.setTop(index);
  return {
    layout,
    dir: layout.dir,
    ref,
    source: layout instanceof OciLayout ? layout.transportRef(ref) : layout.transportRef(),
    index,
    images,
    digest: index.descriptor.digest,
    digests: [index.descriptor.digest, ...images.flatMap((i) => i.digests)],
  };
}

// --- artifacts (OCI 1.1) ------------------------------------------------------------------------

export interface BuiltArtifact {
  manifest: JsonBlob<Record<string, unknown>>;
  artifactType: string;
  digest: string;
  digests: string[];
  /** The subject's descriptor, when the artifact has one. */
  subject?: Descriptor;
}

export interface ArtifactOptions {
  artifactType?: string;
  /** The manifest this artifact refers to (`subject`). */
  subject?: Descriptor;
  /** `'empty'` (default): the `{}` config of OCI 1.1; otherwise a JSON config of `configMediaType`. */
  config?: 'empty' | Record<string, unknown>;
  configMediaType?: string;
  /** Blobs carried as layers (default: one small random text file). */
  blobs?: { data: Buffer; mediaType: string; title?: string }[];
  annotations?: Record<string, string>;
}

/** An image manifest used as an artifact: `artifactType`, optional `subject`, any config. */
export function addArtifact(layout: ImageStore, opts: ArtifactOptions = {}): BuiltArtifact {
  const artifactType = opts.artifactType ?? 'application/vnd.example.sbom.v1+json';
  let config: Descriptor;
  if (opts.config === undefined || opts.config === 'empty') {
    config = { ...layout.putBlob(EMPTY_JSON, MediaType.ociEmpty), data: EMPTY_JSON.toString('base64') };
  } else {
    config = layout.putJson(opts.config, opts.configMediaType ?? artifactType).descriptor;
  }
  const blobs = opts.blobs ?? [{ data: Buffer.from(`sbom ${randomBytes(16).toString('hex')}\n`), mediaType: 'text/plain', title: 'sbom.txt' }];
  const layers = blobs.map((b) => ({
    ...layout.putBlob(b.data, b.mediaType),
    ...(b.title ? { annotations: { 'org.opencontainers.image.title': b.title } } : {}),
  }));
  const { mediaType, digest, size } = opts.subject ?? ({} as Partial<Descriptor>);
  const subject = opts.subject ? ({ mediaType, digest, size } as Descriptor) : undefined;
  const manifest = layout.putManifest<Record<string, unknown>>(
    {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType,
      config,
      layers,
      ...(subject ? { subject } : {}),
      annotations: { 'org.opencontainers.image.created': new Date().toISOString(), ...opts.annotations },
    },
    MediaType.ociManifest,
  );
  manifest.descriptor.artifactType = artifactType;
  return {
    manifest,
    artifactType,
    digest: manifest.descriptor.digest,
    digests: [manifest.descriptor.digest, config.digest, ...layers.map((l) => l.digest)],
    subject,
  };
}

export interface ArtifactLayout {
  layout: OciLayout;
  dir: string;
  /** The image the artifacts refer to, named `subject` in the layout. */
  subject: BuiltImage;
  /** A JSON-config artifact with `subject`, named `artifact`. */
  artifact: BuiltArtifact;
  /** An empty-config artifact with `subject`, named `empty-artifact`. */
  emptyArtifact: BuiltArtifact;
  source: { subject: string; artifact: string; emptyArtifact: string };
  digests: string[];
}

/** A subject image and two artifacts referring to it (one with a JSON config, one with the empty config). */
export function artifactLayout(opts: { dir?: string; artifactType?: string } = {}): ArtifactLayout {
  const layout = OciLayout.create(opts.dir);
  const subject = addImage(layout, { layers: 1 });
  const { platform: _p, ...subjectDescriptor } = subject.manifest.descriptor;
  const artifactType = opts.artifactType ?? 'application/vnd.example.signature.v1+json';
  const artifact = addArtifact(layout, {
    artifactType,
    subject: subjectDescriptor,
    config: { signer: 'tests', nonce: randomBytes(8).toString('hex') },
    configMediaType: 'application/vnd.example.signature.config.v1+json',
    blobs: [{ data: Buffer.from(JSON.stringify({ signature: randomBytes(32).toString('base64') })), mediaType: 'application/vnd.example.signature.v1+json' }],
  });
  const emptyArtifact = addArtifact(layout, { artifactType: 'application/vnd.example.sbom.v1+json', subject: subjectDescriptor, config: 'empty' });
  layout.addRef('subject', subjectDescriptor);
  layout.addRef('artifact', artifact.manifest.descriptor);
  layout.addRef('empty-artifact', emptyArtifact.manifest.descriptor);
  return {
    layout,
    dir: layout.dir,
    subject,
    artifact,
    emptyArtifact,
    source: { subject: layout.transportRef('subject'), artifact: layout.transportRef('artifact'), emptyArtifact: layout.transportRef('empty-artifact') },
    digests: [...new Set([...subject.digests, ...artifact.digests, ...emptyArtifact.digests])],
  };
}

// --- Docker v2 schema 1 -------------------------------------------------------------------------

/**
 * Docker v2 schema 1 manifest bytes (the unsigned `application/vnd.docker.distribution.manifest.v1+json`
 * form) for `name:tag`, over layers that need not exist: registries must refuse it (MANIFEST_INVALID
 * on our server). For a signed one written by a real client, see `schema1FromSkopeo` in
 * registry-clients.ts.
 */
export function schema1Manifest(name: string, tag: string, layerDigests: string[] = [sha256(randomBytes(32))]): Buffer {
  const history = layerDigests.map((_, i) => ({
    v1Compatibility: JSON.stringify({ id: createHash('sha256').update(`${name}:${tag}:${i}`).digest('hex'), created: new Date().toISOString(), container_config: { Cmd: [''] } }),
  }));
  return Buffer.from(
    JSON.stringify({ schemaVersion: 1, name, tag, architecture: 'amd64', fsLayers: layerDigests.map((blobSum) => ({ blobSum })), history }, null, 3),
  );
}
