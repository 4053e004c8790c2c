// Choosing the blob storage from the configuration: Quay's DISTRIBUTED_STORAGE_CONFIG (a mapping in
// config.yaml, JSON in the environment) or the simple STORAGE_DRIVER / S3_* keys; every problem
// named by its key before the server listens, and no secret in any message or log line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { describeStorage } from '../../src/storage/settings.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'quay-storage-config-'));
const SECRET = 'sEcReT-0123456789-abcdef';

function problems(env: Record<string, string>): string {
  try {
    loadConfig({ DATA_DIR: tmp(), ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('storage configuration', () => {
  it('defaults to the filesystem under DATA_DIR/storage, or STORAGE_PATH', () => {
    const dir = tmp();
    expect(loadConfig({ DATA_DIR: dir }).STORAGE).toEqual({ driver: 'filesystem', root: path.join(dir, 'storage') });
    expect(loadConfig({ DATA_DIR: dir, STORAGE_DRIVER: 'filesystem', STORAGE_PATH: '/srv/blobs' }).STORAGE).toEqual({ driver: 'filesystem', root: '/srv/blobs' });
  });

  it('reads the simple S3 keys', () => {
    const c = loadConfig({
      DATA_DIR: tmp(),
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'quay',
      S3_ENDPOINT: 'http://ceph.internal:7480/',
      S3_ACCESS_KEY: 'AKIA1',
      S3_SECRET_KEY: SECRET,
      STORAGE_PATH: '/registry/',
      STORAGE_REDIRECT_GETS: 'true',
    });
    expect(c.STORAGE).toMatchObject({
      driver: 's3',
      bucket: 'quay',
      prefix: 'registry/',
      endpoint: 'http://ceph.internal:7480',
      region: 'us-east-1',
      forcePathStyle: true,
      redirectGets: true,
    });
    expect(c.STORAGE.driver === 's3' && c.STORAGE.credentials?.secretAccessKey).toBe(SECRET);
    // AWS itself: virtual-hosted addressing, the SDK's default credentials.
    const aws = loadConfig({ DATA_DIR: tmp(), STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_REGION: 'eu-west-1' }).STORAGE;
    expect(aws).toEqual({ driver: 's3', bucket: 'b', prefix: '', endpoint: undefined, region: 'eu-west-1', forcePathStyle: false, credentials: undefined, redirectGets: false });
    const forced = loadConfig({ DATA_DIR: tmp(), STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'https://minio:9000', S3_PATH_STYLE: 'false' }).STORAGE;
    expect(forced).toMatchObject({ forcePathStyle: false });
  });

  it("reads Quay's DISTRIBUTED_STORAGE_CONFIG from config.yaml as a mapping", () => {
    const dir = tmp();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'DISTRIBUTED_STORAGE_CONFIG:',
        '  default:',
        '    - LocalStorage',
        '    - storage_path: /datastorage/registry',
        '  s3:',
        '    - S3Storage',
        '    - host: s3.us-east-2.amazonaws.com',
        '      s3_region: us-east-2',
        '      s3_access_key: ABCDEFGHIJKLMN',
        `      s3_secret_key: ${SECRET}`,
        '      s3_bucket: quay_bucket',
        '      storage_path: /datastorage/registry',
        'DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []',
        'DISTRIBUTED_STORAGE_PREFERENCE:',
        '  - default',
      ].join('\n'),
    );
    expect(loadConfig({ DATA_DIR: dir, CONFIG_FILE: file }).STORAGE).toEqual({ driver: 'filesystem', root: '/datastorage/registry' });
    const s3 = loadConfig({ DATA_DIR: dir, CONFIG_FILE: file, DISTRIBUTED_STORAGE_PREFERENCE: 's3,default' }).STORAGE;
    expect(s3).toMatchObject({
      driver: 's3',
      bucket: 'quay_bucket',
      prefix: 'datastorage/registry/',
      endpoint: 'https://s3.us-east-2.amazonaws.com',
      region: 'us-east-2',
      forcePathStyle: false,
    });
  });

  it('reads DISTRIBUTED_STORAGE_CONFIG as JSON from the environment (S3Storage and RadosGWStorage)', () => {
    const env = (cfg: unknown) => ({ DATA_DIR: tmp(), DISTRIBUTED_STORAGE_CONFIG: JSON.stringify(cfg) });
    expect(loadConfig(env({ x: ['S3Storage', { s3_bucket: 'b', host: 'ceph', port: 8080, is_secure: false, s3_access_key: 'a', s3_secret_key: SECRET }] })).STORAGE).toMatchObject({
      endpoint: 'http://ceph:8080',
      forcePathStyle: true,
      prefix: '',
    });
    expect(loadConfig(env({ x: ['S3Storage', { s3_bucket: 'b', endpoint_url: 'https://objects.example:443' }] })).STORAGE).toMatchObject({
      endpoint: 'https://objects.example:443',
      credentials: undefined,
    });
    expect(
      loadConfig(env({ rgw: ['RadosGWStorage', { hostname: 'rgw.local', port: '7480', is_secure: 'false', access_key: 'a', secret_key: SECRET, bucket_name: 'quay', storage_path: '/reg' }] })).STORAGE,
    ).toMatchObject({ driver: 's3', endpoint: 'http://rgw.local:7480', bucket: 'quay', prefix: 'reg/', forcePathStyle: true });
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ STORAGE_DRIVER: 'gcs' }, /- STORAGE_DRIVER:/],
    [{ STORAGE_DRIVER: 's3' }, /- S3_BUCKET: required when STORAGE_DRIVER=s3/],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_SECRET_KEY: SECRET }, /- S3_ACCESS_KEY: .*go together/],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'ftp://x' }, /- S3_ENDPOINT: expected an http/],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ENDPOINT: `http://user:${SECRET}@x` }, /- S3_ENDPOINT: must not contain credentials/],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_PATH_STYLE: 'perhaps' }, /- S3_PATH_STYLE:/],
    [{ S3_BUCKET: 'b' }, /- S3_BUCKET: set STORAGE_DRIVER=s3/],
    [{ STORAGE_DRIVER: 'filesystem', S3_BUCKET: 'b' }, /- S3_BUCKET: only used with STORAGE_DRIVER=s3/],
    [{ DISTRIBUTED_STORAGE_CONFIG: `{"default": ["S3Storage", {"s3_secret_key": "${SECRET}"` }, /- DISTRIBUTED_STORAGE_CONFIG: is not valid JSON/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '[1]' }, /- DISTRIBUTED_STORAGE_CONFIG: expected a JSON object/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["SwiftStorage", {}]}' }, /- DISTRIBUTED_STORAGE_CONFIG\.d\.0: unsupported storage driver "SwiftStorage"/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["LocalStorage"]}' }, /- DISTRIBUTED_STORAGE_CONFIG\.d: expected \[driverName, \{parameters\}\]/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["LocalStorage", {}]}' }, /- DISTRIBUTED_STORAGE_CONFIG\.d\.1\.storage_path: required/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["S3Storage", {"s3_bukcet": "b"}]}' }, /DISTRIBUTED_STORAGE_CONFIG\.d\.1: unknown S3Storage parameter\(s\): s3_bukcet/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["S3Storage", {"s3_bucket": "b", "host": "https://s3"}]}' }, /DISTRIBUTED_STORAGE_CONFIG\.d\.1\.host: host name must not start with http/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["S3Storage", {"s3_bucket": "b", "port": "http"}]}' }, /DISTRIBUTED_STORAGE_CONFIG\.d\.1\.port: expected a port number/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"d": ["RadosGWStorage", {"hostname": "h", "is_secure": true, "access_key": "a", "bucket_name": "b"}]}' }, /DISTRIBUTED_STORAGE_CONFIG\.d\.1\.secret_key: required/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"a": ["LocalStorage", {"storage_path": "/a"}], "b": ["LocalStorage", {"storage_path": "/b"}]}' }, /- DISTRIBUTED_STORAGE_PREFERENCE: required to choose among the locations a, b/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"a": ["LocalStorage", {"storage_path": "/a"}]}', DISTRIBUTED_STORAGE_PREFERENCE: 'z' }, /- DISTRIBUTED_STORAGE_PREFERENCE: names locations not in DISTRIBUTED_STORAGE_CONFIG: z/],
    [{ DISTRIBUTED_STORAGE_CONFIG: '{"a": ["LocalStorage", {"storage_path": "/a"}]}', STORAGE_DRIVER: 's3' }, /- STORAGE_DRIVER: cannot be combined with DISTRIBUTED_STORAGE_CONFIG/],
  ])('reports %j naming the key, without the secret', (env, message) => {
    const text = problems(env);
    expect(text).toMatch(message);
    expect(text).not.toContain(SECRET);
  });

  it('reports the problems of every location at once', () => {
    const text = problems({ DISTRIBUTED_STORAGE_CONFIG: '{"a": ["LocalStorage", {}], "b": ["S3Storage", {}], "c": 1}', DISTRIBUTED_STORAGE_PREFERENCE: 'a' });
    expect(text).toMatch(/DISTRIBUTED_STORAGE_CONFIG\.a\.1\.storage_path/);
    expect(text).toMatch(/DISTRIBUTED_STORAGE_CONFIG\.b\.1\.s3_bucket/);
    expect(text).toMatch(/DISTRIBUTED_STORAGE_CONFIG\.c:/);
  });

  it('never prints the secret key: JSON, inspect and the startup line redact it', () => {
    const c = loadConfig({ DATA_DIR: tmp(), STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ACCESS_KEY: 'AKIA1', S3_SECRET_KEY: SECRET, S3_ENDPOINT: 'http://h:1' });
    expect(JSON.stringify(c.STORAGE)).not.toContain(SECRET);
    expect(JSON.stringify(c.STORAGE)).toContain('[redacted]');
    expect(inspect(c.STORAGE, { depth: 10 })).not.toContain(SECRET);
    expect(describeStorage(c.STORAGE)).toBe('S3 bucket b at http://h:1');
    const dir = tmp();
    expect(describeStorage(loadConfig({ DATA_DIR: dir }).STORAGE)).toBe(`filesystem in ${dir}/storage`);
  });
});
