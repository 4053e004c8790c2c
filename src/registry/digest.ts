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
// never read back to hash it. Node's hashes (OpenSSL, SHA-NI) cannot export their state; hash-wasm's
// can. Measured here (bench/hashing.ts: 64 KiB chunks, one thread, 2-core shared machine):
//
//     Node sha256 1.2–1.7 GB/s   Node sha512 0.8   hash-wasm sha256 0.37   hash-wasm sha512 0.51
//     plain-JS sha256 0.15       both wasm on one thread 0.22   sha512 in a worker thread 0.34
//
// SHA-256 is sequential and WebAssembly has no SHA instructions, so an exportable SHA-256 runs at
// about a fifth of Node's; each request therefore uses the cheapest hasher that is still correct:
//   - a request that starts at byte 0 and completes the upload (monolithic POST ?digest=, or POST
//     then PUT ?digest= with the whole body) knows its algorithm and never needs a saved state:
//     OneShotHasher, Node's hash of that one algorithm, at native speed (moving it to a worker
//     thread gained nothing: the other core is busy with the storage writes);
//   - a PATCH ends mid-upload, so it needs an exportable state: UploadHasher (hash-wasm). The
//     algorithm is only known at the final PUT (the conformance suite sends sha512 digests there
//     without the spec's optional `digest-algorithm` on POST), so both are hashed unless the POST
//     declared one. sha256 runs on the calling thread and sha512 in one worker thread shared by
//     every upload of the process, which hides most of its cost when a core is free;
//   - the final PUT of a chunked upload resumes only the algorithm of its digest.
// hasherForRequest() applies these rules; the /v2 handlers call it rather than choosing themselves.
// (Node does export OpenSSL's SHA256_Init/Update and SHA256_CTX to native addons: a 40-line N-API
// addon hashed resumably at 1.75 GB/s here. It would need a C toolchain at install; not used.)
//
// The saved state is ~350 bytes, not data: a versioned envelope around hash-wasm's own states,
// which carry a fingerprint of the WebAssembly build. A state written by another hash-wasm build
// is refused (HashStateError): an upload in flight across such an upgrade must be restarted.
import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
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
  /** Hashes the next bytes of the blob. Synchronous; see drain() for the worker's backlog. */
  update(chunk: Uint8Array): void;
  /** Bytes given to update() that another thread has not hashed yet (0 when none is used). */
  readonly pendingBytes: number;
  /** Resolves when at most `maxPendingBytes` bytes are still queued for another thread. */
  drain(maxPendingBytes?: number): Promise<void>;
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

  readonly pendingBytes = 0;

  drain(): Promise<void> {
    return Promise.resolve();
  }

  digest(algorithm: DigestAlgorithm): Promise<string> {
    if (algorithm !== this.algorithm) throw new Error(`this hasher computes ${this.algorithm}, not ${algorithm}`);
    return Promise.resolve(`${algorithm}:${this.hash.copy().digest('hex')}`);
  }

  dispose(): void {}
}

// One hash-wasm instance per algorithm and thread, shared by every upload: a hasher's state lives
// in its own bytes and is loaded into the instance when that hasher is next updated (~1 µs, against
// ~190 µs to hash 64 KiB). This keeps start() and resume() synchronous, with a single compile.
class WasmSlot {
  private owner: WasmState | undefined;
  readonly initial: Uint8Array;

  constructor(private readonly wasm: IHasher) {
    wasm.init();
    this.initial = wasm.save();
    wasm.load(this.initial);
  }

  /** The instance, holding `s`'s state (the previous holder's state is parked in its bytes). */
  take(s: WasmState): IHasher {
    if (this.owner !== s) {
      if (this.owner) this.owner.bytes = this.wasm.save();
      this.wasm.load(s.bytes);
      this.owner = s;
    }
    return this.wasm;
  }

  state(s: WasmState): Uint8Array {
    return this.owner === s ? this.wasm.save() : s.bytes.slice();
  }

  hex(s: WasmState): string {
    const wasm = this.take(s);
    const saved = wasm.save();
    const hex = wasm.digest('hex');
    wasm.load(saved);
    return hex;
  }

  release(s: WasmState): void {
    if (this.owner === s) this.owner = undefined;
  }

  /** Throws (hash-wasm's message) unless `bytes` is a state of this very build. */
  check(bytes: Uint8Array): void {
    if (this.owner) this.owner.bytes = this.wasm.save();
    this.owner = undefined;
    this.wasm.load(bytes);
  }
}

interface WasmState {
  bytes: Uint8Array;
}

const slots: Record<DigestAlgorithm, WasmSlot> = {
  sha256: new WasmSlot(await createSHA256()),
  sha512: new WasmSlot(await createSHA512()),
};

// ---- the sha512 worker ---------------------------------------------------------------------------
// Messages in: ['open', id, state] ['update', id, bytes] ['save', id, seq] ['digest', id, seq]
// ['close', id]. Out: ['ack', id, n] per update, ['ok', seq, value] or ['err', seq|null, message].
// Updates are batched up to BATCH bytes (one copy, which the message then transfers).
const BATCH = 256 * 1024;
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hw = require(${JSON.stringify(createRequire(import.meta.url).resolve('hash-wasm'))});
const states = new Map();
let owner = null;
hw.createSHA512().then((h) => {
  const take = (id) => {
    if (owner !== id) {
      if (owner !== null && states.has(owner)) states.set(owner, h.save());
      const s = states.get(id);
      if (!s) throw new Error('unknown hash session');
      h.load(s);
      owner = id;
    }
    return h;
  };
  const handle = (m) => {
    const [op, id] = m;
    try {
      if (op === 'open') { states.set(id, m[2]); if (owner === id) owner = null; }
      else if (op === 'update') { take(id).update(m[2]); parentPort.postMessage(['ack', id, m[2].byteLength]); }
      else if (op === 'save') { const s = take(id).save(); parentPort.postMessage(['ok', m[2], s], [s.buffer]); }
      else if (op === 'digest') { const w = take(id); const s = w.save(); const hex = w.digest('hex'); w.load(s); parentPort.postMessage(['ok', m[2], hex]); }
      else if (op === 'close') { states.delete(id); if (owner === id) owner = null; }
    } catch (err) {
      if (op === 'update') { states.delete(id); if (owner === id) owner = null; parentPort.postMessage(['ack', id, m[2].byteLength]); }
      parentPort.postMessage(['err', op === 'save' || op === 'digest' ? m[2] : null, String(err && err.message || err)]);
    }
  };
  // Messages sent before this point wait in the port's queue.
  parentPort.on('message', handle);
});
`;

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class Sha512Worker {
  private readonly worker: Worker;
  private readonly replies = new Map<number, Waiter>();
  private readonly sessions = new Map<number, RemoteSession>();
  private seq = 0;
  /** Updates not acknowledged and questions not answered: while any, the worker keeps the process alive. */
  private busy = 0;
  failed: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'sha512-upload-hasher' });
    this.worker.unref();
    this.worker.on('message', (m: unknown[]) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the sha512 hashing thread exited (${code})`)));
  }

  private hold(n: number): void {
    const before = this.busy;
    this.busy += n;
    if (before === 0 && this.busy > 0) this.worker.ref();
    else if (before > 0 && this.busy === 0) this.worker.unref();
  }

  private onMessage(m: unknown[]): void {
    if (m[0] === 'ack' || m[0] === 'ok' || (m[0] === 'err' && m[1] !== null)) this.hold(-1);
    if (m[0] === 'ack') {
      this.sessions.get(m[1] as number)?.acked(m[2] as number);
    } else if (m[0] === 'ok' || m[0] === 'err') {
      const w = m[1] === null ? undefined : this.replies.get(m[1] as number);
      if (!w) return;
      this.replies.delete(m[1] as number);
      if (m[0] === 'ok') w.resolve(m[2]);
      else w.reject(new HashStateError(`sha512 hashing failed: ${m[2] as string}`));
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    if (worker === this) worker = undefined;
    this.worker.unref();
    for (const w of this.replies.values()) w.reject(err);
    this.replies.clear();
    for (const s of this.sessions.values()) s.failed(err);
    this.sessions.clear();
  }

  open(s: RemoteSession, state: Uint8Array): void {
    this.sessions.set(s.id, s);
    this.worker.postMessage(['open', s.id, state]);
  }

  post(id: number, bytes: Uint8Array): void {
    this.hold(1);
    this.worker.postMessage(['update', id, bytes], [bytes.buffer as ArrayBuffer]);
  }

  ask<T>(op: 'save' | 'digest', id: number): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.replies.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.hold(1);
      this.worker.postMessage([op, id, seq]);
    });
  }

  close(id: number): void {
    this.sessions.delete(id);
    if (!this.failed) this.worker.postMessage(['close', id]);
  }
}

let worker: Sha512Worker | undefined;
let nextSessionId = 1;
// A hasher dropped without dispose() (a request that threw) still frees its state in the worker.
const closeRemote = new FinalizationRegistry<{ w: Sha512Worker; id: number }>(({ w, id }) => w.close(id));

/** The sha512 half of a resumable hasher, hashed by the shared worker. */
class RemoteSession {
  readonly id = nextSessionId++;
  private readonly w: Sha512Worker;
  private batch: Uint8Array | undefined;
  private batchLength = 0;
  private pending = 0;
  private waiters: { max: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private error: Error | undefined;

  constructor(state: Uint8Array, owner: object) {
    worker ??= new Sha512Worker();
    this.w = worker;
    this.w.open(this, state);
    closeRemote.register(owner, { w: this.w, id: this.id }, this);
  }

  update(chunk: Uint8Array): void {
    if (this.error) return; // reported by drain/save/digest
    let offset = 0;
    while (offset < chunk.byteLength) {
      this.batch ??= new Uint8Array(BATCH);
      const n = Math.min(BATCH - this.batchLength, chunk.byteLength - offset);
      this.batch.set(chunk.subarray(offset, offset + n), this.batchLength);
      this.batchLength += n;
      offset += n;
      if (this.batchLength === BATCH) this.flush();
    }
  }

  private flush(): void {
    if (!this.batch || this.batchLength === 0) return;
    const bytes = this.batchLength === BATCH ? this.batch : this.batch.slice(0, this.batchLength);
    this.batch = undefined;
    this.batchLength = 0;
    this.pending += bytes.byteLength;
    this.w.post(this.id, bytes);
  }

  /** Bytes handed over (or still batched here) that the worker has not hashed yet. */
  get pendingBytes(): number {
    return this.pending + this.batchLength;
  }

  acked(n: number): void {
    this.pending -= n;
    this.waiters = this.waiters.filter((w) => {
      if (this.pending > w.max) return true;
      w.resolve();
      return false;
    });
  }

  failed(err: Error): void {
    this.error = err;
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }

  drain(max: number): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.pendingBytes > max) this.flush();
    if (this.pending <= max) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ max, resolve, reject }));
  }

  save(): Promise<Uint8Array> {
    if (this.error) return Promise.reject(this.error);
    this.flush();
    return this.w.ask<Uint8Array>('save', this.id);
  }

  digest(): Promise<string> {
    if (this.error) return Promise.reject(this.error);
    this.flush();
    return this.w.ask<string>('digest', this.id);
  }

  close(): void {
    closeRemote.unregister(this);
    this.w.close(this.id);
  }
}

/** A session in the worker, or undefined (hash on this thread) when no worker can be started. */
function remoteSession(state: Uint8Array, owner: object): RemoteSession | undefined {
  try {
    return new RemoteSession(state, owner);
  } catch {
    return undefined;
  }
}

// ---- the saved state ------------------------------------------------------------------------------
// 'U' 'H' version(1) flags(bit 0 sha256, bit 1 sha512) byteCount(uint64 LE), then for each flagged
// algorithm in DIGEST_ALGORITHMS order: length(uint16 LE) and hash-wasm's state.
const MAGIC0 = 0x55;
const MAGIC1 = 0x48;
const VERSION = 1;
const HEADER = 12;
const FLAG: Record<DigestAlgorithm, number> = { sha256: 1, sha512: 2 };

export interface UploadHasherOptions {
  /**
   * Hash sha512 in the shared worker thread when both algorithms are tracked (default true). False
   * hashes both on the calling thread; bench/hashing.ts compares the two.
   */
  offload?: boolean;
}

/**
 * The resumable hasher of an upload session (hash-wasm): its state goes to blob_upload.hash_state
 * after every request, and any process resumes it. Use through hasherForRequest().
 */
export class UploadHasher implements BlobHasher {
  private local: { algorithm: DigestAlgorithm; state: WasmState }[] = [];
  private remote: RemoteSession | undefined;
  private count: number;
  private disposed = false;

  private constructor(states: Map<DigestAlgorithm, Uint8Array>, byteCount: number, offload: boolean) {
    this.count = byteCount;
    for (const [algorithm, bytes] of states) {
      const remote = algorithm === 'sha512' && offload && states.size > 1 ? remoteSession(bytes, this) : undefined;
      if (remote) this.remote = remote;
      else this.local.push({ algorithm, state: { bytes } });
    }
  }

  /** A new upload hashing `algorithms` (both unless the POST declared `digest-algorithm`). */
  static start(algorithms: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS, options: UploadHasherOptions = {}): UploadHasher {
    const states = new Map<DigestAlgorithm, Uint8Array>();
    for (const a of DIGEST_ALGORITHMS) if (algorithms.includes(a)) states.set(a, slots[a].initial.slice());
    if (states.size === 0) throw new TypeError('no digest algorithm to hash');
    return new UploadHasher(states, 0, options.offload ?? true);
  }

  /**
   * Continues from save()'s bytes. `only` keeps just those algorithms (a final PUT knows its
   * digest's); if the state has none of them, has() is false for all. Throws HashStateError for
   * anything that is not a state this build wrote.
   */
  static resume(state: Uint8Array, only?: readonly DigestAlgorithm[], options: UploadHasherOptions = {}): UploadHasher {
    const { byteCount, states } = decodeState(state);
    if (only) for (const a of [...states.keys()]) if (!only.includes(a)) states.delete(a);
    return new UploadHasher(states, byteCount, options.offload ?? true);
  }

  get byteCount(): number {
    return this.count;
  }

  /** The algorithms this hasher tracks. */
  get algorithms(): DigestAlgorithm[] {
    return DIGEST_ALGORITHMS.filter((a) => this.has(a));
  }

  has(algorithm: DigestAlgorithm): boolean {
    return algorithm === 'sha512' && this.remote !== undefined ? true : this.local.some((l) => l.algorithm === algorithm);
  }

  update(chunk: Uint8Array): void {
    this.live();
    if (chunk.byteLength === 0) return;
    this.remote?.update(chunk);
    for (const l of this.local) slots[l.algorithm].take(l.state).update(chunk);
    this.count += chunk.byteLength;
  }

  get pendingBytes(): number {
    return this.remote?.pendingBytes ?? 0;
  }

  drain(maxPendingBytes = 0): Promise<void> {
    return this.remote ? this.remote.drain(maxPendingBytes) : Promise.resolve();
  }

  /** The state to store in blob_upload.hash_state: a few hundred bytes, whatever was hashed. */
  async save(): Promise<Buffer> {
    this.live();
    const states = new Map<DigestAlgorithm, Uint8Array>();
    const remote = this.remote?.save();
    for (const l of this.local) states.set(l.algorithm, slots[l.algorithm].state(l.state));
    if (remote) states.set('sha512', await remote);
    return encodeState(this.count, states);
  }

  async digest(algorithm: DigestAlgorithm): Promise<string> {
    this.live();
    if (algorithm === 'sha512' && this.remote) return `sha512:${await this.remote.digest()}`;
    const l = this.local.find((x) => x.algorithm === algorithm);
    if (!l) throw new Error(`this upload was not hashed with ${algorithm}`);
    return `${algorithm}:${slots[algorithm].hex(l.state)}`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.local) slots[l.algorithm].release(l.state);
    this.remote?.close();
  }

  private live(): void {
    if (this.disposed) throw new Error('this hasher was disposed');
  }
}

function encodeState(byteCount: number, states: Map<DigestAlgorithm, Uint8Array>): Buffer {
  let length = HEADER;
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
  let at = HEADER;
  for (const a of DIGEST_ALGORITHMS) {
    const s = states.get(a);
    if (!s) continue;
    out.writeUInt16LE(s.byteLength, at);
    out.set(s, at + 2);
    at += 2 + s.byteLength;
  }
  return out;
}

function decodeState(state: Uint8Array): { byteCount: number; states: Map<DigestAlgorithm, Uint8Array> } {
  if (!(state instanceof Uint8Array)) throw new HashStateError('the hash state is not bytes');
  const buf = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  if (buf.length < HEADER || buf[0] !== MAGIC0 || buf[1] !== MAGIC1) throw new HashStateError('not a hash state');
  if (buf[2] !== VERSION) throw new HashStateError(`hash state version ${buf[2]} is not supported`);
  const flags = buf[3];
  if (flags === 0 || flags > 3) throw new HashStateError('the hash state names no known algorithm');
  const big = buf.readBigUInt64LE(4);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new HashStateError('the hash state has an impossible length');
  const states = new Map<DigestAlgorithm, Uint8Array>();
  let at = HEADER;
  for (const a of DIGEST_ALGORITHMS) {
    if (!(flags & FLAG[a])) continue;
    if (at + 2 > buf.length) throw new HashStateError('the hash state is truncated');
    const n = buf.readUInt16LE(at);
    if (n !== slots[a].initial.byteLength || at + 2 + n > buf.length) throw new HashStateError('the hash state is truncated');
    // Copied: the caller's buffer (a row from the driver) must not alias the live state.
    const s = buf.subarray(at + 2, at + 2 + n).slice();
    try {
      slots[a].check(s);
    } catch (err) {
      throw new HashStateError(`the ${a} state cannot be resumed: ${(err as Error).message}`);
    }
    states.set(a, s);
    at += 2 + n;
  }
  if (at !== buf.length) throw new HashStateError('the hash state has trailing bytes');
  return { byteCount: Number(big), states };
}

// ------------------------------------------------------------------------------------------------
// Choosing a hasher, and hashing a stream

/**
 * blob_upload.hash_state for a session POST just opened: null (both algorithms will be hashed),
 * or, when the POST declared `digest-algorithm`, a state that hashes only that one.
 */
export function initialHashState(declared?: DigestAlgorithm): Buffer | null {
  return declared ? encodeState(0, new Map([[declared, slots[declared].initial]])) : null;
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
 * digest's algorithm, for a completing request) or started (both algorithms).
 * Check has(finalDigest.algorithm) before hashing a completing request: false means the session
 * was declared for the other algorithm. Throws HashStateError for an unusable state.
 */
export function hasherForRequest(req: UploadRequest): OneShotHasher | UploadHasher {
  const resumed = req.state && req.state.byteLength > 0 ? UploadHasher.resume(req.state, req.finalDigest ? [req.finalDigest.algorithm] : undefined) : undefined;
  if (req.finalDigest && (!resumed || resumed.byteCount === 0)) {
    resumed?.dispose();
    return new OneShotHasher(req.finalDigest.algorithm);
  }
  return resumed ?? UploadHasher.start();
}

/**
 * How far the sha512 worker may lag behind the stream before the stream waits for it: enough to
 * keep both threads busy (the worker hashes faster than this thread), and a bound on the memory
 * an upload holds in flight (this plus one batch).
 */
const MAX_LAG = 1024 * 1024;

/**
 * A pass-through that hashes every chunk on its way (to the storage driver), with backpressure
 * from the consumer and from the sha512 worker. It ends when its input ends; afterwards call
 * hasher.save() or hasher.digest(), which include every byte that passed.
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
      if (hasher.pendingBytes <= MAX_LAG) cb(null, chunk);
      else hasher.drain(MAX_LAG).then(() => cb(null, chunk), cb);
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
