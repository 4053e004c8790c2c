// Content digests, and the running hash of a blob upload.
//
// Digests. The OCI image spec's grammar (`algorithm ":" encoded`, algorithm components
// `[a-z0-9]+` joined by `[+._-]`, encoded `[a-zA-Z0-9=_-]+`) with the two registered algorithms
// this registry verifies: sha256 (64 lowercase hex digits) and sha512 (128). parseDigest accepts
// exactly those; isDigestSyntax tells a well-formed digest of another algorithm (answer "unsupported")
// from garbage. Neither throws, whatever they are given.
//
// Upload hashing. An upload session is a database row (blob_upload), so the running hash must be
// saved there after each request and resumed by whichever process gets the next one; the blob is
// never read back to hash it. Node's own hashes (crypto.createHash) cannot export their state, so
// a resumable hash needs another engine (see "engines" below). Measured here (bench/hashing.ts,
// 64 KiB chunks, one thread, 2-core shared machine):
//
//     Node sha256 1.2–1.7 GB/s   Node sha512 0.8–0.9   hash-wasm sha256 0.37   hash-wasm sha512 0.51
//     openssl engine (our addon over Node's OpenSSL): the same as Node's, since it is the same code
//
// Each request uses the cheapest hasher that is still correct:
//   - a request that starts at byte 0 and completes the upload (monolithic POST ?digest=, or POST
//     then PUT ?digest= with the whole body) knows its algorithm and never needs a saved state:
//     OneShotHasher, Node's hash of that one algorithm;
//   - a PATCH ends mid-upload, so it needs an exportable state: UploadHasher. The algorithm is
//     only known at the final PUT; every client in use sends sha256, so sha256 alone is hashed
//     unless the POST declared `digest-algorithm` (spec v1.1);
//   - the final PUT of a chunked upload resumes only the algorithm of its digest. When the upload
//     was hashed with another one (a sha512 digest without the declaration, as the conformance
//     suite sends), the upload is read back from storage and hashed before it is committed, as
//     distribution does for any digest but its canonical one: rare, and twice the I/O, instead
//     of every PATCH hashing both algorithms (which cost a third of a PATCH's CPU).
// hasherForRequest() applies these rules; the /v2 handlers call it rather than choosing themselves.
//
// The saved state is a few hundred bytes, not data: a versioned envelope naming its engine around
// the engine's own states. A state this build cannot resume (written by another hash-wasm build,
// or by the openssl engine in a process without the addon) is refused with HashStateError: that
// upload must be restarted.
import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';

export type DigestAlgorithm = 'sha256' | 'sha512';
/** The algorithms this registry computes and verifies, the canonical one first. */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = Object.freeze(['sha256', 'sha512'] as const);

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const SUPPORTED = /^(sha256|sha512):([0-9a-f]+)$/;
/** The image spec's grammar; the length cap only keeps hostile input from costing anything. */
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MAX_DIGEST_LENGTH = 256;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** The encoded part: lowercase hex, 64 or 128 digits. */
  hex: string;
  /** The whole digest string, as given (it is already canonical when it parses). */
  digest: string;
}

/** `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase only; anything else is undefined. */
export function parseDigest(value: unknown): ParsedDigest | undefined {
  if (typeof value !== 'string' || value.length > 7 + 128) return undefined;
  const m = SUPPORTED.exec(value);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  if (m[2].length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex: m[2], digest: value };
}

/**
 * True for any string of the image spec's digest grammar (up to 256 characters), supported or not:
 * with parseDigest, tells "unsupported algorithm" (`md5:…`, `sha256+b64u:…`) from "not a digest".
 * Note that an uppercase or wrong-length sha256/sha512 digest is well-formed here but never parses.
 */
export function isDigestSyntax(value: unknown): boolean {
  return typeof value === 'string' && value.length <= MAX_DIGEST_LENGTH && GRAMMAR.test(value);
}

/** The `digest-algorithm` query parameter of POST /blobs/uploads/ (spec v1.1), if it names one of ours. */
export function parseDigestAlgorithm(value: unknown): DigestAlgorithm | undefined {
  return value === 'sha256' || value === 'sha512' ? value : undefined;
}

/** `<algorithm>:<lowercase hex>` from the raw hash bytes or from hex. Throws on a wrong length (a bug). */
export function formatDigest(algorithm: DigestAlgorithm, hash: Uint8Array | string): string {
  const hex = typeof hash === 'string' ? hash.toLowerCase() : Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new TypeError(`not a ${algorithm} hash`);
  }
  return `${algorithm}:${hex}`;
}

/** The digest of bytes held in memory (a manifest, a config): Node's hash, native speed. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

// ------------------------------------------------------------------------------------------------
// Hashers

/** What hashStream feeds, and what a request that completes an upload asks for its digest. */
export interface BlobHasher {
  /** Bytes hashed so far, across all the requests of the upload. */
  readonly byteCount: number;
  /** Whether digest(algorithm) can answer. */
  has(algorithm: DigestAlgorithm): boolean;
  /** Hashes the next bytes of the blob, synchronously. */
  update(chunk: Uint8Array): void;
  /** `<algorithm>:<hex>` of everything hashed so far. Does not end the hasher. Throws if !has(). */
  digest(algorithm: DigestAlgorithm): Promise<string>;
  /** Frees what the hasher holds in other threads; it must not be used afterwards. Idempotent. */
  dispose(): void;
}

/** A saved hash state that cannot be resumed: corrupted, or written by another build. */
export class HashStateError extends Error {}

/**
 * Node's native hash of one algorithm, for a request that starts at byte 0 and completes the
 * upload: its state cannot be saved, so if the request fails the upload cannot continue from it
 * (Quay cancels an upload whose final PUT fails; a handler that wants otherwise must not use this).
 */
export class OneShotHasher implements BlobHasher {
  private readonly hash: Hash;
  private count = 0;

  constructor(readonly algorithm: DigestAlgorithm) {
    this.hash = createHash(algorithm);
  }

  get byteCount(): number {
    return this.count;
  }

  has(algorithm: DigestAlgorithm): boolean {
    return algorithm === this.algorithm;
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.byteLength;
  }

  digest(algorithm: DigestAlgorithm): Promise<string> {
    if (algorithm !== this.algorithm) throw new Error(`this hasher computes ${this.algorithm}, not ${algorithm}`);
    return Promise.resolve(`${algorithm}:${this.hash.copy().digest('hex')}`);
  }

  dispose(): void {}
}

// ---- engines ---------------------------------------------------------------------------------------
// An engine keeps the resumable state of one algorithm as bytes. Two exist:
//   - 'openssl' (native/sha_state.c, built by `npm ci` through node-gyp): OpenSSL's SHA256_CTX and
//     SHA512_CTX in a Buffer, hashed by Node's own OpenSSL, so at crypto.createHash speed. Its
//     state is the context struct itself, checked before every use;
//   - 'wasm' (hash-wasm): always available; the fallback when the addon did not build (no C
//     toolchain, `npm ci --ignore-scripts`), and what resumes states saved by such a process.
// New uploads use 'openssl' when it loaded. A state names its engine; a process without the addon
// cannot resume an 'openssl' state (HashStateError: that upload must be restarted).

interface HashState {
  bytes: Uint8Array;
}

interface Engine {
  readonly id: EngineName;
  /** The length of a state of `algorithm`. */
  stateLength(algorithm: DigestAlgorithm): number;
  initial(algorithm: DigestAlgorithm): Uint8Array;
  update(algorithm: DigestAlgorithm, s: HashState, chunk: Uint8Array): void;
  /** A copy of the state's bytes. */
  save(algorithm: DigestAlgorithm, s: HashState): Uint8Array;
  hex(algorithm: DigestAlgorithm, s: HashState): string;
  release(algorithm: DigestAlgorithm, s: HashState): void;
  /** Throws unless `bytes` is a state this engine can resume. */
  check(algorithm: DigestAlgorithm, bytes: Uint8Array): void;
}

export type EngineName = 'openssl' | 'wasm';

// One hash-wasm instance per algorithm, shared by every upload: a hasher's state lives in its own
// bytes and is loaded into the instance when that hasher is next updated (~1 µs, against ~190 µs
// to hash 64 KiB). This keeps start() and resume() synchronous, with a single compile.
class WasmSlot {
  private owner: HashState | undefined;
  readonly initial: Uint8Array;

  constructor(private readonly wasm: IHasher) {
    wasm.init();
    this.initial = wasm.save();
    wasm.load(this.initial);
  }

  /** The instance, holding `s`'s state (the previous holder's state is parked in its bytes). */
  take(s: HashState): IHasher {
    if (this.owner !== s) {
      if (this.owner) this.owner.bytes = this.wasm.save();
      this.wasm.load(s.bytes);
      this.owner = s;
    }
    return this.wasm;
  }

  state(s: HashState): Uint8Array {
    return this.owner === s ? this.wasm.save() : s.bytes.slice();
  }

  hex(s: HashState): string {
    const wasm = this.take(s);
    const saved = wasm.save();
    const hex = wasm.digest('hex');
    wasm.load(saved);
    return hex;
  }

  release(s: HashState): void {
    if (this.owner === s) this.owner = undefined;
  }

  /** Throws (hash-wasm's message) unless `bytes` is a state of this very build. */
  check(bytes: Uint8Array): void {
    if (this.owner) this.owner.bytes = this.wasm.save();
    this.owner = undefined;
    this.wasm.load(bytes);
  }
}

const slots: Record<DigestAlgorithm, WasmSlot> = {
  sha256: new WasmSlot(await createSHA256()),
  sha512: new WasmSlot(await createSHA512()),
};

const wasmEngine: Engine = {
  id: 'wasm',
  stateLength: (a) => slots[a].initial.byteLength,
  initial: (a) => slots[a].initial.slice(),
  update: (a, s, chunk) => void slots[a].take(s).update(chunk),
  save: (a, s) => slots[a].state(s),
  hex: (a, s) => slots[a].hex(s),
  release: (a, s) => slots[a].release(s),
  check: (a, bytes) => slots[a].check(bytes),
};

interface ShaStateAddon {
  ctxSize(alg: 256 | 512): number;
  init(alg: 256 | 512, ctx: Uint8Array): void;
  update(alg: 256 | 512, ctx: Uint8Array, data: Uint8Array): void;
  digest(alg: 256 | 512, ctx: Uint8Array): Buffer;
  check(alg: 256 | 512, ctx: Uint8Array): boolean;
}

const BITS: Record<DigestAlgorithm, 256 | 512> = { sha256: 256, sha512: 512 };

function loadAddon(): { addon?: ShaStateAddon; error?: string } {
  try {
    const addon = createRequire(import.meta.url)('../../native/build/Release/sha_state.node') as ShaStateAddon;
    // A self-test against Node's own hash, so that a broken build is never used.
    const ctx = new Uint8Array(addon.ctxSize(256));
    addon.init(256, ctx);
    addon.update(256, ctx, Buffer.from('abc'));
    if (addon.digest(256, ctx).toString('hex') !== createHash('sha256').update('abc').digest('hex')) return { error: 'the addon failed its self-test' };
    return { addon };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const loaded = loadAddon();

function opensslEngine(addon: ShaStateAddon): Engine {
  const initial = {} as Record<DigestAlgorithm, Uint8Array>;
  for (const a of DIGEST_ALGORITHMS) {
    initial[a] = new Uint8Array(addon.ctxSize(BITS[a]));
    addon.init(BITS[a], initial[a]);
  }
  return {
    id: 'openssl',
    stateLength: (a) => initial[a].byteLength,
    initial: (a) => new Uint8Array(initial[a]),
    update: (a, s, chunk) => addon.update(BITS[a], s.bytes, chunk),
    save: (_a, s) => new Uint8Array(s.bytes),
    hex: (a, s) => addon.digest(BITS[a], s.bytes).toString('hex'),
    release: () => {},
    check: (a, bytes) => {
      if (!addon.check(BITS[a], bytes)) throw new Error('not an OpenSSL context of this build');
    },
  };
}

const engines: Partial<Record<EngineName, Engine>> = { wasm: wasmEngine };
if (loaded.addon) engines.openssl = opensslEngine(loaded.addon);

/** The engine new uploads hash with ('openssl' unless the addon is missing), and why the addon is not used when it is not. */
export const uploadHashEngine: { name: EngineName; unavailable?: string } = engines.openssl ? { name: 'openssl' } : { name: 'wasm', unavailable: loaded.error };

// ---- the saved state ------------------------------------------------------------------------------
// 'U' 'H' version flags(bit 0 sha256, bit 1 sha512) byteCount(uint64 LE), then, in version 2, the
// engine (1 wasm, 2 openssl); then for each flagged algorithm in DIGEST_ALGORITHMS order:
// length(uint16 LE) and the engine's state. Version 1 (no engine byte) is hash-wasm's.
const MAGIC0 = 0x55;
const MAGIC1 = 0x48;
const VERSION = 2;
const ENGINE_CODE: Record<EngineName, number> = { wasm: 1, openssl: 2 };
const FLAG: Record<DigestAlgorithm, number> = { sha256: 1, sha512: 2 };

export interface UploadHasherOptions {
  /** The engine of a new upload (default uploadHashEngine.name); tests and bench/hashing.ts compare them. */
  engine?: EngineName;
}

function engineNamed(name: EngineName): Engine {
  const e = engines[name];
  if (!e) throw new HashStateError(`the ${name} hash engine is not available in this build (${loaded.error ?? 'unknown'})`);
  return e;
}

/**
 * The resumable hasher of an upload session: its state goes to blob_upload.hash_state after every
 * request, and any process resumes it. Every algorithm it tracks is hashed on the calling thread.
 * Use through hasherForRequest().
 */
export class UploadHasher implements BlobHasher {
  private readonly states: { algorithm: DigestAlgorithm; state: HashState }[] = [];
  private count: number;
  private disposed = false;

  private constructor(
    private readonly engine: Engine,
    states: Map<DigestAlgorithm, Uint8Array>,
    byteCount: number,
  ) {
    this.count = byteCount;
    for (const [algorithm, bytes] of states) this.states.push({ algorithm, state: { bytes } });
  }

  /** A new upload hashing `algorithms` (default both; hasherForRequest starts sha256 alone). */
  static start(algorithms: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS, options: UploadHasherOptions = {}): UploadHasher {
    const engine = engineNamed(options.engine ?? uploadHashEngine.name);
    const states = new Map<DigestAlgorithm, Uint8Array>();
    for (const a of DIGEST_ALGORITHMS) if (algorithms.includes(a)) states.set(a, engine.initial(a));
    if (states.size === 0) throw new TypeError('no digest algorithm to hash');
    return new UploadHasher(engine, states, 0);
  }

  /**
   * Continues from save()'s bytes, with the engine that wrote them. `only` keeps just those
   * algorithms (a final PUT knows its digest's); if the state has none of them, has() is false for
   * all. Throws HashStateError for anything that is not a state this build can resume.
   */
  static resume(state: Uint8Array, only?: readonly DigestAlgorithm[]): UploadHasher {
    const { engine, byteCount, states } = decodeState(state);
    if (only) for (const a of [...states.keys()]) if (!only.includes(a)) states.delete(a);
    return new UploadHasher(engine, states, byteCount);
  }

  get byteCount(): number {
    return this.count;
  }

  /** The engine hashing this upload. */
  get engineName(): EngineName {
    return this.engine.id;
  }

  /** The algorithms this hasher tracks. */
  get algorithms(): DigestAlgorithm[] {
    return DIGEST_ALGORITHMS.filter((a) => this.has(a));
  }

  has(algorithm: DigestAlgorithm): boolean {
    return this.states.some((l) => l.algorithm === algorithm);
  }

  update(chunk: Uint8Array): void {
    this.live();
    if (chunk.byteLength === 0) return;
    for (const l of this.states) this.engine.update(l.algorithm, l.state, chunk);
    this.count += chunk.byteLength;
  }

  /** The state to store in blob_upload.hash_state: a few hundred bytes, whatever was hashed. */
  save(): Buffer {
    this.live();
    const states = new Map<DigestAlgorithm, Uint8Array>();
    for (const l of this.states) states.set(l.algorithm, this.engine.save(l.algorithm, l.state));
    return encodeState(this.engine, this.count, states);
  }

  digest(algorithm: DigestAlgorithm): Promise<string> {
    this.live();
    const l = this.states.find((x) => x.algorithm === algorithm);
    if (!l) throw new Error(`this upload was not hashed with ${algorithm}`);
    return Promise.resolve(`${algorithm}:${this.engine.hex(algorithm, l.state)}`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.states) this.engine.release(l.algorithm, l.state);
  }

  private live(): void {
    if (this.disposed) throw new Error('this hasher was disposed');
  }
}

function encodeState(engine: Engine, byteCount: number, states: Map<DigestAlgorithm, Uint8Array>): Buffer {
  let length = 13;
  let flags = 0;
  for (const [a, s] of states) {
    flags |= FLAG[a];
    length += 2 + s.byteLength;
  }
  const out = Buffer.alloc(length);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = VERSION;
  out[3] = flags;
  out.writeBigUInt64LE(BigInt(byteCount), 4);
  out[12] = ENGINE_CODE[engine.id];
  let at = 13;
  for (const a of DIGEST_ALGORITHMS) {
    const s = states.get(a);
    if (!s) continue;
    out.writeUInt16LE(s.byteLength, at);
    out.set(s, at + 2);
    at += 2 + s.byteLength;
  }
  return out;
}

function decodeState(state: Uint8Array): { engine: Engine; byteCount: number; states: Map<DigestAlgorithm, Uint8Array> } {
  if (!(state instanceof Uint8Array)) throw new HashStateError('the hash state is not bytes');
  const buf = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  if (buf.length < 12 || buf[0] !== MAGIC0 || buf[1] !== MAGIC1) throw new HashStateError('not a hash state');
  if (buf[2] !== 1 && buf[2] !== 2) throw new HashStateError(`hash state version ${buf[2]} is not supported`);
  const flags = buf[3];
  if (flags === 0 || flags > 3) throw new HashStateError('the hash state names no known algorithm');
  const big = buf.readBigUInt64LE(4);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new HashStateError('the hash state has an impossible length');
  let at = 12;
  let engine = wasmEngine;
  if (buf[2] === 2) {
    if (buf.length < 13) throw new HashStateError('the hash state is truncated');
    const name = (Object.keys(ENGINE_CODE) as EngineName[]).find((n) => ENGINE_CODE[n] === buf[12]);
    if (!name) throw new HashStateError('the hash state names no known engine');
    engine = engineNamed(name);
    at = 13;
  }
  const states = new Map<DigestAlgorithm, Uint8Array>();
  for (const a of DIGEST_ALGORITHMS) {
    if (!(flags & FLAG[a])) continue;
    if (at + 2 > buf.length) throw new HashStateError('the hash state is truncated');
    const n = buf.readUInt16LE(at);
    if (n !== engine.stateLength(a) || at + 2 + n > buf.length) throw new HashStateError('the hash state is truncated');
    // Copied (a Buffer's slice() would not copy): the caller's buffer (a row from the driver) must
    // not alias the live state, which the openssl engine updates in place.
    const s = new Uint8Array(buf.subarray(at + 2, at + 2 + n));
    try {
      engine.check(a, s);
    } catch (err) {
      throw new HashStateError(`the ${a} state cannot be resumed: ${(err as Error).message}`);
    }
    states.set(a, s);
    at += 2 + n;
  }
  if (at !== buf.length) throw new HashStateError('the hash state has trailing bytes');
  return { engine, byteCount: Number(big), states };
}

// ------------------------------------------------------------------------------------------------
// Choosing a hasher, and hashing a stream

/**
 * blob_upload.hash_state for a session POST just opened: null (both algorithms will be hashed),
 * or, when the POST declared `digest-algorithm`, a state that hashes only that one.
 */
export function initialHashState(declared?: DigestAlgorithm): Buffer | null {
  return declared ? UploadHasher.start([declared]).save() : null;
}

export interface UploadRequest {
  /** blob_upload.hash_state of the session: null (or empty) until a first PATCH saved one. */
  state: Uint8Array | null;
  /** The digest of a request that completes the upload (POST ?digest=, PUT ?digest=); absent for PATCH. */
  finalDigest?: ParsedDigest;
}

/**
 * The hasher for one request of an upload: a OneShotHasher (native) when the request starts at
 * byte 0 and completes the upload; otherwise an UploadHasher, resumed from `state` (only the final
 * digest's algorithm, for a completing request) or started (sha256, the canonical algorithm).
 * For a completing request, has(finalDigest.algorithm) false means the upload was hashed with
 * another algorithm: the caller verifies the digest by reading the upload back (digestOfStream).
 * Throws HashStateError for an unusable state.
 */
export function hasherForRequest(req: UploadRequest): OneShotHasher | UploadHasher {
  const resumed = req.state && req.state.byteLength > 0 ? UploadHasher.resume(req.state, req.finalDigest ? [req.finalDigest.algorithm] : undefined) : undefined;
  if (req.finalDigest && (!resumed || resumed.byteCount === 0)) {
    resumed?.dispose();
    return new OneShotHasher(req.finalDigest.algorithm);
  }
  return resumed ?? UploadHasher.start(['sha256']);
}

/** The digest of everything `source` yields (an upload read back from storage), natively. */
export async function digestOfStream(source: AsyncIterable<Uint8Array>, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of source) hash.update(chunk);
  return `${algorithm}:${hash.digest('hex')}`;
}

/**
 * A pass-through that hashes every chunk on its way (to the storage driver), with backpressure
 * from the consumer. It ends when its input ends; afterwards call hasher.save() or
 * hasher.digest(), which include every byte that passed.
 */
export function hashStream(hasher: BlobHasher): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        hasher.update(chunk);
      } catch (err) {
        cb(err as Error);
        return;
      }
      cb(null, chunk);
    },
  });
}

/**
 * `source` piped through hashStream: the Readable to hand to the driver. An error of `source` (the
 * client went away) errors the result; a failure downstream does not destroy `source` (an HTTP
 * request destroyed that way takes its socket, and the error response, with it).
 */
export function hashBody(source: Readable, hasher: BlobHasher): Transform {
  const t = hashStream(hasher);
  source.on('error', (err) => t.destroy(err));
  source.on('aborted', () => t.destroy(new Error('the request was aborted')));
  t.once('close', () => source.unpipe(t));
  return source.pipe(t);
}
