// One process per embedded database (src/db/lock.ts): a second server or a CLI command on the same
// DATA_DIR refuses to start and names the process holding it; a holder killed with -9 leaves no lock.
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseInUseError, lockDirectory } from '../../src/db/lock.js';
import { cleanUp, runCli, startServer, stop, tempDataDir } from './server-process.js';

afterAll(cleanUp);

describe('the data-directory lock', () => {
  it('refuses a second server and the CLI while a server runs, and a kill -9 leaves no stale lock', async () => {
    const dataDir = tempDataDir('lock');
    const first = await startServer(dataDir);

    const second = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0' });
    expect(second.code, second.output).toBe(2);
    expect(second.output).toContain(`${dataDir}/db is in use by another quay-compat process (pid ${first.pid}: `);
    expect(second.output).toContain('quay-compat.js serve');
    expect(second.output).toContain('set DATA_DIR to another directory');

    const cli = await runCli(['create-user', 'late', '--password', 'password123'], { DATA_DIR: dataDir });
    expect(cli.code, cli.output).toBe(2);
    expect(cli.output).toContain(`pid ${first.pid}`);

    // The first server is still fine.
    expect((await fetch(`${first.url}/health/instance`)).status).toBe(200);

    expect(await stop(first, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const t0 = Date.now();
    const third = await startServer(dataDir);
    const startedIn = Date.now() - t0;
    expect(startedIn).toBeLessThan(20_000); // no staleness timeout: as fast as any start
    expect(await stop(third)).toEqual({ code: 0, signal: null });

    // A clean stop releases it as well.
    const after = await runCli(['create-user', 'late', '--password', 'password123'], { DATA_DIR: dataDir });
    expect(after.code, after.output).toBe(0);
    // Five process starts (two servers, three CLI runs): 30 s is too little on a busy machine.
  }, 90_000);

  it('is exclusive within one process too, and free again once released', () => {
    const dir = tempDataDir('lock-unit'); // its parent exists, as DATA_DIR does for DATA_DIR/db
    const a = lockDirectory(dir);
    expect(() => lockDirectory(dir)).toThrowError(DatabaseInUseError);
    expect(() => lockDirectory(dir)).toThrowError(`pid ${process.pid}`);
    a.release();
    a.release();
    lockDirectory(dir).release();
  });
});
