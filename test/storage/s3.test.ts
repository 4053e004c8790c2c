// The S3 driver against a real S3 implementation that checks signatures: Ceph's RADOS Gateway,
// started on 127.0.0.1 for this file (test/helpers/ceph-s3.sh) and stopped after it. Without the
// Ceph packages the file skips with a message; with CI=true it fails instead (.ci/run installs them).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createStorage } from '../../src/storage/index.js';
import { blobKey, uploadPrefix } from '../../src/storage/paths.js';
import { S3Driver, MIN_PART_SIZE, type S3DriverOptions } from '../../src/storage/s3.js';
import { S3Credentials } from '../../src/storage/settings.js';
import { testApp } from '../helpers/app.js';
import { missingCephBinaries, startCeph, type CephS3 } from '../helpers/ceph-s3.js';
import { bodyOf, digestOf, driverSuite, failingBody, MiB, readAll, sha256, withRss } from './driver-suite.js';

const missing = missingCephBinaries();
const required = process.env.CI === 'true';
const install = 'apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd';
if (missing.length && !required) {
  console.warn(`[s3.test] skipping the S3 driver tests: ${missing.join(', ')} not found (Debian: ${install})`);
}

describe.skipIf(missing.length > 0 && !required)('S3 driver on Ceph RADOS Gateway', () => {
  if (missing.length > 0) {
    it('needs Ceph RGW installed (CI=true makes it required)', () => {
      throw new Error(`${missing.join(', ')} not found: ${install}`);
    });
    return;
  }

  let ceph: CephS3;
  const bucket = `registry-${Date.now()}`;
  const options = (extra: Partial<S3DriverOptions> = {}): S3DriverOptions => ({
    bucket,
    prefix: 'datastorage/registry/',
    endpoint: ceph.endpoint,
    region: ceph.region,
    forcePathStyle: true,
    credentials: new S3Credentials(ceph.accessKey, ceph.secretKey),
    redirectGets: true,
    ...extra,
  });

  beforeAll(async () => {
    ceph = await startCeph();
    const d = new S3Driver(options());
    await d.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await d.close();
  }, 180_000);
  afterAll(async () => {
    await ceph?.stop();
  }, 60_000);

  driverSuite('s3 (Ceph RGW)', async () => new S3Driver(options()), {
    largeSize: 256 * MiB,
    maxRssGrowth: 96 * MiB,
    presigned: true,
    bigChunk: 6 * MiB,
  });

  /** Counts the S3 commands a client sends (instrumentation on the real client; nothing is faked). */
  function countCommands(client: S3Client): Map<string, number> {
    const seen = new Map<string, number>();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        seen.set(context.commandName!, (seen.get(context.commandName!) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: `count-${randomUUID()}` },
    );
    return seen;
  }

  async function leftovers(d: S3Driver, uploadId: string): Promise<number> {
    const Prefix = `datastorage/registry/${uploadPrefix(uploadId)}/`;
    const objects = await d.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix }));
    const mpus = await d.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix }));
    return (objects.KeyCount ?? 0) + (mpus.Uploads?.length ?? 0);
  }

  describe('S3 specifics', () => {
    let d: S3Driver;
    beforeAll(() => {
      d = new S3Driver(options());
    });
    afterAll(async () => {
      await d?.close();
    });

    it('plans parts: server-side copies for runs of 5 MiB and more, small runs joined to 5 MiB', () => {
      const seg = (key: string, length: number) => ({ key, start: 0, length, objectLength: length });
      const M = MIN_PART_SIZE;
      const shape = (segments: ReturnType<typeof seg>[]) =>
        S3Driver.plan(segments).map((p) => ('copy' in p ? `copy ${p.copy.key}@${p.copy.start}+${p.copy.length}` : `join ${p.join.map((s) => `${s.key}@${s.start}+${s.length}`).join(',')}`));
      expect(shape([seg('a', 10)])).toEqual(['copy a@0+10']);
      expect(shape([seg('a', 2 * M), seg('b', 1)])).toEqual([`copy a@0+${2 * M}`, 'copy b@0+1']);
      expect(shape([seg('a', 3), seg('b', 4), seg('c', 5)])).toEqual(['join a@0+3,b@0+4,c@0+5']);
      expect(shape([seg('a', M - 1), seg('b', 2 * M)])).toEqual([`join a@0+${M - 1},b@0+1`, `copy b@1+${2 * M - 1}`]);
      expect(shape([seg('a', M - 1), seg('b', M)])).toEqual([`join a@0+${M - 1},b@0+1`, `copy b@1+${M - 1}`]);
      // Runs close as soon as they reach 5 MiB; the last part may be as small as one byte.
      expect(shape([seg('a', M - 1), seg('b', M - 1), seg('c', 3)])).toEqual([`join a@0+${M - 1},b@0+1`, `join b@1+${M - 2},c@0+2`, 'copy c@2+1']);
      // Over the 5 GiB part ceiling, a chunk is copied in equal pieces.
      const big = S3Driver.plan([seg('a', 11 * 1024 * MiB)]);
      expect(big).toHaveLength(3);
      expect(big.every((p) => 'copy' in p && p.copy.length <= 5 * 1024 * MiB && p.copy.length >= M)).toBe(true);
    });

    it('assembles chunks of 5 MiB and more inside S3, without reading them back', async () => {
      const seen = countCommands(d.client);
      const chunks = [randomBytes(6 * MiB), randomBytes(7 * MiB + 3), randomBytes(MiB)];
      let s = await d.startUpload(randomUUID());
      for (const c of chunks) s = (await d.appendUpload(s, s.size, bodyOf(c))).state;
      const all = Buffer.concat(chunks);
      seen.clear();
      const { growth } = await withRss(() => d.completeUpload(s, blobKey(digestOf(all))));
      expect(seen.get('UploadPartCopyCommand')).toBe(3);
      expect(seen.get('GetObjectCommand')).toBeUndefined();
      expect(seen.get('UploadPartCommand')).toBeUndefined();
      expect(growth).toBeLessThan(16 * MiB);
      expect(sha256(await readAll(await d.read(blobKey(digestOf(all)))))).toBe(sha256(all));

      // One whole chunk (a client pushing in one PATCH): a single CopyObject.
      const one = randomBytes(9 * MiB);
      const s1 = (await d.appendUpload(await d.startUpload(randomUUID()), 0, bodyOf(one))).state;
      seen.clear();
      await d.completeUpload(s1, blobKey(digestOf(one)));
      expect(seen.get('CopyObjectCommand')).toBe(1);
      expect(seen.get('GetObjectCommand')).toBeUndefined();

      // Small chunks are joined here, 5 MiB at a time.
      const small = Array.from({ length: 6 }, () => randomBytes(MiB + 1));
      let s2 = await d.startUpload(randomUUID());
      for (const c of small) s2 = (await d.appendUpload(s2, s2.size, bodyOf(c))).state;
      seen.clear();
      const joined = Buffer.concat(small);
      await d.completeUpload(s2, blobKey(digestOf(joined)));
      expect(seen.get('UploadPartCommand')).toBe(2);
      expect((await readAll(await d.read(blobKey(digestOf(joined))))).equals(joined)).toBe(true);
    });

    it('removes every chunk object and unfinished multipart upload of an upload on complete and cancel', async () => {
      const id = randomUUID();
      let s = (await d.appendUpload(await d.startUpload(id), 0, bodyOf(randomBytes(2 * MiB)))).state;
      // A multi-part append that fails midway, then a lost append (state never recorded).
      const f = failingBody(randomBytes(20 * MiB));
      await expect(d.appendUpload(s, s.size, f.body)).rejects.toBe(f.err);
      await d.appendUpload(s, s.size, bodyOf(randomBytes(1000)));
      s = (await d.appendUpload(s, s.size, bodyOf(randomBytes(10)))).state;
      expect(await leftovers(d, id)).toBeGreaterThanOrEqual(3);
      await d.completeUpload(s, blobKey(digestOf(randomBytes(8))));
      expect(await leftovers(d, id)).toBe(0);

      const id2 = randomUUID();
      const s2 = (await d.appendUpload(await d.startUpload(id2), 0, bodyOf(randomBytes(100)))).state;
      await d.cancelUpload(s2);
      expect(await leftovers(d, id2)).toBe(0);
    });

    it('aborts the multipart upload of a write whose body fails', async () => {
      const key = blobKey(digestOf(randomBytes(8)));
      const f = failingBody(randomBytes(20 * MiB));
      await expect(d.write(key, f.body)).rejects.toBe(f.err);
      const mpus = await d.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `datastorage/registry/${key}` }));
      expect(mpus.Uploads ?? []).toEqual([]);
      expect(await d.stat(key)).toBeUndefined();
    });

    it("puts keys under Quay's storage_path in the bucket", async () => {
      const b = randomBytes(10);
      const key = blobKey(digestOf(b));
      await d.write(key, bodyOf(b));
      const h = await d.client.send(new HeadObjectCommand({ Bucket: bucket, Key: `datastorage/registry/${key}` }));
      expect(h.ContentLength).toBe(10);
    });

    it('gives no presigned URL with redirects off', async () => {
      const off = new S3Driver(options({ redirectGets: false }));
      expect(await off.presignedGetUrl(blobKey(digestOf(Buffer.from('x'))), 60)).toBeUndefined();
      await off.close();
    });

    it('checks the bucket and the credentials at startup, without printing the secret', async () => {
      const base = { driver: 's3' as const, ...options() };
      await expect(createStorage({ ...base, bucket: 'no-such-bucket-here' })).rejects.toThrow(/S3 bucket no-such-bucket-here does not exist/);
      const wrong = new S3Credentials(ceph.accessKey, 'wrong-secret-0123456789');
      const err = await createStorage({ ...base, credentials: wrong }).catch((e: Error) => e);
      expect(String(err)).toMatch(/refuses these credentials/);
      expect(String(err)).not.toContain('wrong-secret');
      expect(JSON.stringify(base)).not.toContain(ceph.secretKey);
      expect(inspect(base, { depth: 5 })).not.toContain(ceph.secretKey);
    });
  });

  describe('storage plugin with S3', () => {
    it('uses S3 from the simple keys', async () => {
      const t = await testApp({
        STORAGE_DRIVER: 's3',
        S3_BUCKET: bucket,
        S3_ENDPOINT: ceph.endpoint,
        S3_ACCESS_KEY: ceph.accessKey,
        S3_SECRET_KEY: ceph.secretKey,
        STORAGE_REDIRECT_GETS: 'true',
      });
      try {
        expect(t.app.storage.name).toBe('s3');
        const b = randomBytes(100);
        await t.app.storage.write(blobKey(digestOf(b)), bodyOf(b));
        const url = await t.app.storage.presignedGetUrl(blobKey(digestOf(b)), 30);
        expect(Buffer.from(await (await fetch(url!)).arrayBuffer()).equals(b)).toBe(true);
      } finally {
        await t.close();
      }
    });

    it("uses S3 from Quay's DISTRIBUTED_STORAGE_CONFIG (RadosGWStorage), given as JSON in the environment", async () => {
      const port = new URL(ceph.endpoint).port;
      const env = {
        DATA_DIR: await mkdtemp(path.join(tmpdir(), 'quay-s3-config-')),
        DATABASE_SECRET_KEY: 'k'.repeat(32),
        DISTRIBUTED_STORAGE_CONFIG: JSON.stringify({
          local: ['LocalStorage', { storage_path: '/datastorage/registry' }],
          rgw: ['RadosGWStorage', { hostname: '127.0.0.1', port, is_secure: false, storage_path: '/quay', access_key: ceph.accessKey, secret_key: ceph.secretKey, bucket_name: bucket }],
        }),
        DISTRIBUTED_STORAGE_PREFERENCE: 'rgw',
      };
      const config = loadConfig(env);
      const d = await createStorage(config.STORAGE);
      try {
        const b = randomBytes(100);
        await d.write(blobKey(digestOf(b)), bodyOf(b));
        const h = await (d as S3Driver).client.send(new HeadObjectCommand({ Bucket: bucket, Key: `quay/${blobKey(digestOf(b))}` }));
        expect(h.ContentLength).toBe(100);
      } finally {
        await d.close();
      }
    });
  });
});
