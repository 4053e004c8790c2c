// A throwaway Ceph RADOS Gateway on 127.0.0.1 for tests and benchmarks (test/helpers/ceph-s3.sh
// starts and stops it; its header lists the pitfalls). Each call gets its own directory and ports,
// so two runs can overlap.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ceph-s3.sh');
const BINARIES = ['radosgw', 'radosgw-admin', 'ceph-mon', 'ceph-osd', 'ceph', 'monmaptool'];

export const CEPH_ACCESS_KEY = 'AKIAREGISTRYTEST';
export const CEPH_SECRET_KEY = 'registrysecretkey0123456789';

export interface CephS3 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  dir: string;
  stop(): Promise<void>;
}

/** The Ceph binaries this needs that are not on PATH (empty: it can run). */
export function missingCephBinaries(): string[] {
  return BINARIES.filter((b) => {
    try {
      execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const pidsToKill = new Set<string>();
process.once('exit', () => {
  // A test runner that exits without afterAll (a crash) must not leave daemons behind.
  for (const dir of pidsToKill) {
    for (const p of ['rgw', 'osd', 'mon']) {
      try {
        process.kill(Number(readFileSync(path.join(dir, `${p}.pid`), 'utf8')), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

/** Starts a cluster; `memstoreBytes` is the RAM the OSD may fill (default 4 GiB). */
export async function startCeph(opts: { memstoreBytes?: number } = {}): Promise<CephS3> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ceph-s3-'));
  const [rgwPort, monPort] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    CEPH_DIR: dir,
    RGW_PORT: String(rgwPort),
    MON_PORT: String(monPort),
    S3_ACCESS_KEY: CEPH_ACCESS_KEY,
    S3_SECRET_KEY: CEPH_SECRET_KEY,
    MEMSTORE_BYTES: String(opts.memstoreBytes ?? 4 * 1024 ** 3),
  };
  const run = promisify(execFile);
  const stop = async () => {
    await run('bash', [SCRIPT, 'stop'], { env }).catch(() => undefined);
    pidsToKill.delete(dir);
    await rm(dir, { recursive: true, force: true });
  };
  pidsToKill.add(dir);
  try {
    await run('bash', [SCRIPT, 'start'], { env, timeout: 120_000 });
  } catch (err) {
    let logs = '';
    try {
      logs = execFileSync('sh', ['-c', `tail -n 20 ${dir}/log/*.out ${dir}/log/*.log 2>/dev/null`], { encoding: 'utf8' });
    } catch {
      /* no logs */
    }
    await stop();
    throw new Error(`Ceph RGW did not start: ${(err as Error).message}\n${logs}`);
  }
  return { endpoint: `http://127.0.0.1:${rgwPort}`, accessKey: CEPH_ACCESS_KEY, secretKey: CEPH_SECRET_KEY, region: 'us-east-1', dir, stop };
}
