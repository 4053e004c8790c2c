// The filesystem driver: the contract suite, then what only a filesystem has (modes, staging files,
// folders), then the app's storage plugin on its default root.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { blobKey, uploadDataKey, uploadPrefix } from '../../src/storage/paths.js';
import { testApp } from '../helpers/app.js';
import { bodyOf, digestOf, driverSuite, failingBody, MiB, readAll } from './driver-suite.js';

const roots: string[] = [];
const newRoot = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'quay-fs-storage-'));
  roots.push(dir);
  return path.join(dir, 'storage');
};
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

driverSuite('filesystem', async () => new FilesystemDriver(await newRoot()), {
  largeSize: 512 * MiB,
  maxRssGrowth: 96 * MiB,
  presigned: false,
  bigChunk: MiB,
});

describe('filesystem driver specifics', () => {
  let root: string;
  let d: FilesystemDriver;
  let umask: number;
  beforeEach(async () => {
    root = await newRoot();
    d = new FilesystemDriver(root);
    // The CLI runs with umask 077; the driver must not depend on it.
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
  });

  const mode = async (p: string) => (await stat(p)).mode & 0o777;

  it('creates its root on demand, with directories 0700 and files 0600 whatever the umask', async () => {
    expect(existsSync(root)).toBe(false);
    const b = randomBytes(100);
    const key = blobKey(digestOf(b));
    await d.write(key, bodyOf(b));
    const file = path.join(root, key);
    expect(await mode(file)).toBe(0o600);
    for (let dir = path.dirname(file); dir !== path.dirname(root); dir = path.dirname(dir)) expect(await mode(dir), dir).toBe(0o700);

    const id = randomUUID();
    const s = (await d.appendUpload(await d.startUpload(id), 0, bodyOf(b))).state;
    expect(await mode(path.join(root, uploadDataKey(id)))).toBe(0o600);
    expect(await mode(path.join(root, uploadPrefix(id)))).toBe(0o700);
    await d.completeUpload(s, blobKey(digestOf(Buffer.concat([b]))));
  });

  it('leaves no staging file behind, after a write or a failed one', async () => {
    const b = randomBytes(1000);
    await d.write(blobKey(digestOf(b)), bodyOf(b));
    const f = failingBody(randomBytes(3 * MiB));
    await expect(d.write(blobKey(digestOf(randomBytes(8))), f.body)).rejects.toBe(f.err);
    await expect(d.write(blobKey(digestOf(b)), bodyOf(b), 1)).rejects.toThrow(/expected 1 bytes/);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('keeps an upload in one file under uploads/<uuid>/ and removes the folder on complete and cancel', async () => {
    const id = randomUUID();
    const a = randomBytes(5000);
    let s = await d.startUpload(id);
    expect(existsSync(path.join(root, uploadPrefix(id)))).toBe(false); // a start writes nothing
    s = (await d.appendUpload(s, 0, bodyOf(a))).state;
    expect((await stat(path.join(root, uploadDataKey(id)))).size).toBe(5000);
    // A failed append leaves bytes past the recorded size in the file; the next one truncates them.
    const f = failingBody(randomBytes(MiB));
    await expect(d.appendUpload(s, s.size, f.body)).rejects.toBe(f.err);
    expect((await stat(path.join(root, uploadDataKey(id)))).size).toBeGreaterThan(5000);
    await d.completeUpload(s, blobKey(digestOf(a)));
    expect(existsSync(path.join(root, uploadPrefix(id)))).toBe(false);
    expect((await stat(path.join(root, blobKey(digestOf(a))))).size).toBe(5000);

    const id2 = randomUUID();
    const s2 = (await d.appendUpload(await d.startUpload(id2), 0, bodyOf(a))).state;
    await d.cancelUpload(s2);
    expect(existsSync(path.join(root, uploadPrefix(id2)))).toBe(false);
  });

  it('lets a reader finish a file that is deleted while it reads', async () => {
    const b = randomBytes(4 * MiB);
    const key = blobKey(digestOf(b));
    await d.write(key, bodyOf(b));
    const r = await d.read(key);
    await d.delete(key);
    expect((await readAll(r)).equals(b)).toBe(true);
  });

  it('sweeps staging files older than a day, not younger ones', async () => {
    await mkdir(path.join(root, 'tmp'), { recursive: true });
    const old = path.join(root, 'tmp', 'old1');
    const young = path.join(root, 'tmp', 'young1');
    await writeFile(old, 'x');
    await writeFile(young, 'y');
    const twoDaysAgo = new Date(Date.now() - 2 * 86400_000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    expect(await d.sweepTmp()).toBe(1);
    expect(await readdir(path.join(root, 'tmp'))).toEqual(['young1']);
    expect(await new FilesystemDriver(path.join(root, 'nothing-here')).sweepTmp()).toBe(0);
  });
});

describe('storage plugin', () => {
  it('decorates the app with a filesystem driver under DATA_DIR/storage (a temporary DATA_DIR in tests)', async () => {
    const t = await testApp();
    try {
      const storage = t.app.storage as FilesystemDriver;
      expect(storage.name).toBe('filesystem');
      expect(storage.root).toBe(path.resolve(t.config.DATA_DIR, 'storage'));
      expect(path.resolve(t.config.DATA_DIR)).not.toBe(path.resolve('data'));
      const b = randomBytes(10);
      await storage.write(blobKey(digestOf(b)), bodyOf(b));
      expect(await storage.stat(blobKey(digestOf(b)))).toEqual({ size: 10 });
    } finally {
      await t.close();
    }
    expect(existsSync(t.config.DATA_DIR)).toBe(false);
  });

  it('uses STORAGE_PATH as the root', async () => {
    const dir = await newRoot();
    const t = await testApp({ STORAGE_PATH: dir });
    try {
      expect((t.app.storage as FilesystemDriver).root).toBe(path.resolve(dir));
    } finally {
      await t.close();
    }
  });
});
