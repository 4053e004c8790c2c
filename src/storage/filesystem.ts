// The filesystem driver: a key is a file under the root (DATA_DIR/storage by default).
//
// Durability: write() streams into tmp/<nonce>, fsyncs the file, renames it over the key and
// fsyncs the key's directory (and every directory it had to create), so after it resolves the
// object survives a crash, and before that readers see the old file whole (rename(2) is atomic;
// an open reader keeps the old inode). An upload is one file, uploads/<uuid>/data, written in
// place at the offset the caller gives (truncating whatever a failed attempt left beyond it) and
// fsynced before appendUpload resolves; completeUpload renames it onto the blob key.
//
// Modes: directories 0700 and files 0600 (the process umask, 077 under the CLI, only narrows them).
// The root must be on one filesystem: tmp/, uploads/ and blobs/ are renamed across.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  assertKey,
  assertOffset,
  assertRange,
  StorageInvalidState,
  StorageNotFound,
  StorageSizeMismatch,
  type BlobDriver,
  type ByteRange,
  type UploadState,
} from './driver.js';
import { TMP_PREFIX, isUploadId, tmpKey, uploadDataKey, uploadPrefix } from './paths.js';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
// Fewer syscalls and thread-pool hops per GiB than Node's 64 KiB defaults: writes go out in
// batches of 1 MiB, reads in 256 KiB pieces (the memory each stream in flight holds).
const WRITE_BATCH = 1024 * 1024;
const READ_HWM = 256 * 1024;

interface FsUploadState extends UploadState {
  driver: 'filesystem';
  v: 1;
  id: string;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

const nonce = () => randomBytes(12).toString('hex');

export class FilesystemDriver implements BlobDriver {
  readonly name = 'filesystem';
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private file(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.file(key));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.file(key);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if (isMissing(err)) throw new StorageNotFound(key);
      throw err;
    }
    try {
      const s = await fh.stat();
      if (!s.isFile()) throw new StorageNotFound(key);
      if (range) assertRange(key, range, s.size);
      // The handle is the snapshot: a rename over the key or an unlink no longer affects it.
      return fh.createReadStream({ start: range?.start ?? 0, end: range?.end, highWaterMark: READ_HWM, autoClose: true });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async write(key: string, body: Readable, size?: number): Promise<{ size: number }> {
    const dest = this.file(key);
    const tmp = this.file(tmpKey(nonce()));
    await this.mkdirs(path.dirname(tmp));
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
    let closed = false;
    try {
      const n = await this.pump(body, fh, 0);
      if (size !== undefined && n !== size) throw new StorageSizeMismatch(size, n);
      await fh.datasync();
      await fh.close();
      closed = true;
      await this.mkdirs(path.dirname(dest));
      await rename(tmp, dest);
      await fsyncDir(path.dirname(dest));
      return { size: n };
    } catch (err) {
      if (!closed) await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.file(key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  async presignedGetUrl(key: string): Promise<string | undefined> {
    assertKey(key);
    return undefined;
  }

  async startUpload(uploadId: string): Promise<UploadState> {
    uploadPrefix(uploadId); // validates the id
    const state: FsUploadState = { driver: 'filesystem', v: 1, size: 0, id: uploadId };
    return state;
  }

  async appendUpload(state: UploadState, offset: number, body: Readable): Promise<{ state: UploadState; size: number }> {
    const s = this.uploadState(state);
    assertOffset(s, offset);
    const file = this.file(uploadDataKey(s.id));
    await this.mkdirs(path.dirname(file));
    const fh = await open(file, constants.O_RDWR | constants.O_CREAT, FILE_MODE);
    try {
      const have = (await fh.stat()).size;
      if (have < offset) throw new StorageInvalidState(`upload ${s.id} holds ${have} bytes, fewer than the ${s.size} recorded`);
      // Whatever lies beyond `offset` came from an attempt the caller never recorded: drop it.
      if (have > offset) await fh.truncate(offset);
      const n = await this.pump(body, fh, offset);
      await fh.datasync();
      const next: FsUploadState = { ...s, size: offset + n };
      return { state: next, size: next.size };
    } finally {
      await fh.close();
    }
  }

  async completeUpload(state: UploadState, key: string): Promise<void> {
    const s = this.uploadState(state);
    const dest = this.file(key);
    if (await this.stat(key)) {
      await this.cancelUpload(s);
      return;
    }
    const file = this.file(uploadDataKey(s.id));
    let fh: FileHandle;
    try {
      fh = await open(file, 'r+');
    } catch (err) {
      if (!isMissing(err)) throw err;
      // Nothing was ever appended: the empty blob.
      if (s.size !== 0) throw new StorageNotFound(uploadDataKey(s.id));
      fh = await this.createUploadFile(file);
    }
    try {
      const have = (await fh.stat()).size;
      if (have < s.size) throw new StorageInvalidState(`upload ${s.id} holds ${have} bytes, fewer than the ${s.size} recorded`);
      if (have > s.size) {
        await fh.truncate(s.size);
        await fh.datasync();
      }
    } finally {
      await fh.close();
    }
    await this.mkdirs(path.dirname(dest));
    await rename(file, dest);
    await fsyncDir(path.dirname(dest));
    await rm(this.file(uploadPrefix(s.id)), { recursive: true, force: true });
  }

  async *readUpload(state: UploadState): AsyncIterable<Uint8Array> {
    const s = this.uploadState(state);
    if (s.size === 0) return;
    let fh: FileHandle;
    try {
      fh = await open(this.file(uploadDataKey(s.id)), 'r');
    } catch (err) {
      if (isMissing(err)) throw new StorageNotFound(uploadDataKey(s.id));
      throw err;
    }
    try {
      if ((await fh.stat()).size < s.size) throw new StorageInvalidState(`upload ${s.id} holds fewer bytes than the ${s.size} recorded`);
      yield* fh.createReadStream({ start: 0, end: s.size - 1, highWaterMark: READ_HWM, autoClose: false });
    } finally {
      await fh.close();
    }
  }

  async cancelUpload(state: UploadState): Promise<void> {
    const s = this.uploadState(state);
    await rm(this.file(uploadPrefix(s.id)), { recursive: true, force: true });
  }

  async close(): Promise<void> {}

  /**
   * Removes staging files older than `maxAgeMs` from tmp/ (left by a process killed mid-write).
   * Younger ones may belong to a write in progress, in this process or another sharing the root.
   */
  async sweepTmp(maxAgeMs = 24 * 3600 * 1000): Promise<number> {
    const dir = this.file(TMP_PREFIX);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      const p = path.join(dir, name);
      try {
        if (Date.now() - (await stat(p)).mtimeMs > maxAgeMs) {
          await rm(p, { force: true });
          removed++;
        }
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    return removed;
  }

  private uploadState(state: UploadState): FsUploadState {
    const s = state as FsUploadState;
    if (s?.driver !== 'filesystem' || s.v !== 1 || !isUploadId(s.id) || !Number.isSafeInteger(s.size) || s.size < 0) {
      throw new StorageInvalidState(`not a filesystem upload state (driver ${JSON.stringify(s?.driver)})`);
    }
    return s;
  }

  private async createUploadFile(file: string): Promise<FileHandle> {
    await this.mkdirs(path.dirname(file));
    return open(file, constants.O_RDWR | constants.O_CREAT, FILE_MODE);
  }

  /**
   * Streams `body` into the open file from `position`; resolves to the number of bytes written.
   * Pieces are gathered into batches of about 1 MiB written with one positional writev each, and
   * the next batch is gathered while the previous one is written. (Not fs.WriteStream: on an error
   * it closes the descriptor it was given, even with autoClose off, under our FileHandle.)
   */
  private async pump(body: Readable, fh: FileHandle, position: number): Promise<number> {
    let pos = position;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let writing: Promise<void> | undefined;
    let failed: { err: unknown } | undefined;
    const flush = async () => {
      if (writing) await writing;
      if (failed) throw failed.err;
      const bufs = batch;
      const at = pos;
      pos += batchBytes;
      batch = [];
      batchBytes = 0;
      writing = writeFully(fh, bufs, at).catch((err: unknown) => {
        failed = { err };
      });
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (chunk.length === 0) continue;
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH || batch.length >= 512) await flush();
      }
      if (batchBytes > 0) await flush();
    } finally {
      // Never leave a write running on the handle the caller is about to close or truncate.
      if (writing) await writing;
    }
    if (failed) throw failed.err;
    return pos - position;
  }

  /** mkdir -p with 0700, then fsync each directory that gained an entry, so the new path is durable. */
  private async mkdirs(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    if (first === undefined) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await fsyncDir(path.dirname(d));
      if (d === first || path.dirname(d) === d) break;
    }
  }
}

/** writev that retries the remainder of a partial write. */
async function writeFully(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let at = position;
  let rest = bufs;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, at);
    at += bytesWritten;
    let n = bytesWritten;
    while (rest.length > 0 && n >= rest[0].length) {
      n -= rest[0].length;
      rest = rest.slice(1);
    }
    if (n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
