// The read cache of the embedded database (src/db/read-cache.ts): served from memory until any
// write, never keeping a read that raced a write, bounded, and, through /v2, never serving a tag,
// a repository or its visibility as it was before a change. PGlite only (the cache exists only
// there): vitest.config.ts leaves test/db/ to the PGlite run.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/index.js';
import { ReadCache } from '../../src/db/read-cache.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/database.js';
import { makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { expectError, makeImage, RegistryClient, repoScope } from '../helpers/registry.js';

describe('ReadCache', () => {
  let database: Database;
  let cache: ReadCache;

  beforeAll(async () => {
    database = await freshDatabase();
    cache = database.readCache!;
  });
  afterAll(() => database?.close());

  const db = () => database.db;
  let loads = 0;
  const countNamespaces = () =>
    cache.get('test:count', async () => {
      loads++;
      const r = await db().selectFrom('namespace').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return { value: { n: Number(r.n) } };
    });

  it('exists on PGlite, and serves a read from memory until something is written', async () => {
    expect(cache).toBeInstanceOf(ReadCache);
    loads = 0;
    const first = await countNamespaces();
    expect(await countNamespaces()).toBe(first);
    expect(loads).toBe(1);
    expect(Object.isFrozen(first)).toBe(true);

    await db().insertInto('namespace').values({ username: uniqueName('ns'), email: `${uniqueName('e')}@example.com`, uuid: crypto.randomUUID() } as never).execute();
    const second = await countNamespaces();
    expect(second.n).toBe(first.n + 1);
    expect(loads).toBe(2);
  });

  it('counts raw SQL writes, transactions and DDL as writes, and plain SELECTs (raw too) as reads', async () => {
    const writes: [string, () => Promise<unknown>][] = [
      ['raw update', () => sql`update namespace set email = email where false`.execute(db())],
      ['a CTE', () => sql`with x as (delete from namespace where false returning 1) select * from x`.execute(db())],
      ['an update in a transaction', () => db().transaction().execute((trx) => trx.updateTable('repository').set({ description: 'x' }).where('id', '<', 0).execute())],
      ['a delete', () => db().deleteFrom('tag').where('id', '<', 0).execute()],
      ['DDL', () => sql`create temporary table if not exists scratch_rc (x int)`.execute(db())],
    ];
    for (const [what, write] of writes) {
      await countNamespaces();
      loads = 0;
      await countNamespaces();
      expect(loads, what).toBe(0);
      await write();
      await countNamespaces();
      expect(loads, what).toBe(1);
    }
    const reads: [string, () => Promise<unknown>][] = [
      ['a select', () => db().selectFrom('repository').selectAll().execute()],
      ['a raw select', () => sql`select 1`.execute(db())],
      ['an audit insert', () => db().insertInto('log_entry').values({ kind: 'pull_repo', account_id: null, performer_id: null, repository_id: null, ip: null, metadata: '{}' } as never).execute()],
    ];
    for (const [what, read] of reads) {
      await countNamespaces();
      loads = 0;
      await read();
      await countNamespaces();
      expect(loads, what).toBe(0);
    }
  });

  it('does not keep a read that a write overtook', async () => {
    // The load's query runs after the write (the connection is taken in order), but the load began
    // before it: its answer may predate the write, so it is returned and not kept.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const racing = cache.get('test:race', async () => {
      await gate;
      return { value: { v: 'old' } };
    });
    const write = db().updateTable('namespace').set({ email: sql`email` }).where('id', '<', 0).execute();
    release();
    await write;
    expect(await racing).toEqual({ v: 'old' });
    let loaded = false;
    await cache.get('test:race', async () => {
      loaded = true;
      return { value: { v: 'new' } };
    });
    expect(loaded).toBe(true);
  });

  it('does not keep a read made while a write was running, even one begun after the write was sent', async () => {
    const write = db().updateTable('namespace').set({ email: sql`email` }).where('id', '<', 0).execute();
    // The write is compiled (and counted) when sent; this read starts after that and answers
    // before the write has run.
    await cache.get('test:during', async () => {
      await write;
      return { value: { v: 'before the write ran' } };
    });
    let loaded = false;
    await cache.get('test:during', async () => {
      loaded = true;
      return { value: { v: 'after' } };
    });
    expect(loaded).toBe(true);
  });

  it('drops an answer when its own deadline passes, without any write', async () => {
    const c = new ReadCache();
    let n = 0;
    const load = async () => ({ value: ++n, until: 1_000 });
    expect(await c.get('k', load, 500)).toBe(1);
    expect(await c.get('k', load, 999)).toBe(1);
    expect(await c.get('k', load, 1_000)).toBe(2);
  });

  it('stays within its entry and byte bounds, oldest first', async () => {
    const c = new ReadCache({ maxEntries: 3, maxBytes: 1000 });
    for (const k of ['a', 'b', 'c', 'd']) await c.get(k, async () => ({ value: k, bytes: 10 }));
    expect(c.size).toEqual({ entries: 3, bytes: 30 });
    let reloaded = false;
    await c.get('a', async () => ((reloaded = true), { value: 'a', bytes: 10 }));
    expect(reloaded).toBe(true);
    await c.get('big', async () => ({ value: 'big', bytes: 240 }));
    await c.get('big2', async () => ({ value: 'big2', bytes: 240 }));
    expect(c.size.bytes).toBeLessThanOrEqual(1000);
    // A value above a quarter of the byte bound is served but never kept.
    await c.get('huge', async () => ({ value: 'huge', bytes: 251 }));
    let again = false;
    await c.get('huge', async () => ((again = true), { value: 'huge', bytes: 251 }));
    expect(again).toBe(true);
  });
});

describe('/v2 pulls through the cache never see the past', () => {
  let t: TestApp;
  let alice: TestUser;

  beforeAll(async () => {
    t = await testApp();
    alice = await makeUser(t);
  });
  afterAll(() => t?.close());

  it('a moved tag, a deleted tag, a repository made private, a deleted repository, a tag lifetime ending', async () => {
    const cache = t.app.database.readCache!;
    const name = `${alice.username}/${uniqueName('cached')}`;
    const c = await RegistryClient.login(t, alice, repoScope(name));
    const anon = RegistryClient.inject(t, null);
    const one = makeImage();
    const two = makeImage();
    await c.pushImage(name, one, 'latest');

    const get = (client: RegistryClient) => client.request('GET', `/v2/${name}/manifests/latest`, { headers: { accept: one.manifest.mediaType } });
    expect((await get(c)).header('docker-content-digest')).toBe(one.manifest.digest);
    const hits = cache.stats.hits;
    expect((await get(c)).header('docker-content-digest')).toBe(one.manifest.digest);
    expect(cache.stats.hits).toBeGreaterThan(hits);

    await c.pushImage(name, two, 'latest');
    expect((await get(c)).header('docker-content-digest')).toBe(two.manifest.digest);

    // Public, then pulled anonymously (cached), then private again through the REST API.
    const token = await tokenFor(t, alice, 'repo:admin');
    const api = (method: 'POST' | 'DELETE', url: string, payload?: object) => t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload });
    expect((await api('POST', `/api/v1/repository/${name}/changevisibility`, { visibility: 'public' })).statusCode).toBe(200);
    expect((await get(anon)).statusCode).toBe(200);
    expect((await get(anon)).statusCode).toBe(200);
    expect((await api('POST', `/api/v1/repository/${name}/changevisibility`, { visibility: 'private' })).statusCode).toBe(200);
    expectError(await get(anon), 401, 'UNAUTHORIZED');

    // The tag's lifetime ends in the future; once it has, the cached answer is not served.
    await get(c);
    await t.app.db.updateTable('tag').set({ lifetime_end_ms: Date.now() + 300 }).where('name', '=', 'latest').where('lifetime_end_ms', 'is', null).execute();
    expect((await get(c)).statusCode).toBe(200);
    expect((await get(c)).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 350));
    expectError(await get(c), 404, 'MANIFEST_UNKNOWN');

    await c.pushImage(name, one, 'latest');
    expect((await c.request('DELETE', `/v2/${name}/manifests/latest`)).statusCode).toBe(202);
    expectError(await get(c), 404, 'MANIFEST_UNKNOWN');

    await c.pushImage(name, one, 'latest');
    expect((await get(c)).statusCode).toBe(200);
    expect((await api('DELETE', `/api/v1/repository/${name}`)).statusCode).toBe(204);
    expectError(await get(c), 404, 'NAME_UNKNOWN');
  });

  it('tags/list: a pushed tag, a deleted tag, a lifetime ending, pages after `last`', async () => {
    const cache = t.app.database.readCache!;
    const name = `${alice.username}/${uniqueName('cachedtags')}`;
    const c = await RegistryClient.login(t, alice, repoScope(name));
    const image = makeImage();
    await c.pushImage(name, image, 'a');
    await c.pushImage(name, image, 'b');
    const list = async (query = '') => {
      const res = await c.request('GET', `/v2/${name}/tags/list${query}`);
      expect(res.statusCode, res.text).toBe(200);
      return (res.json() as { tags: string[] }).tags;
    };
    expect(await list()).toEqual(['a', 'b']);
    const hits = cache.stats.hits;
    expect(await list()).toEqual(['a', 'b']);
    expect(await list('?n=1&last=a')).toEqual(['b']);
    expect(await list('?n=1&last=a')).toEqual(['b']);
    expect(cache.stats.hits).toBeGreaterThanOrEqual(hits + 2);

    await c.pushManifest(name, image.manifest, 'c');
    expect(await list()).toEqual(['a', 'b', 'c']);
    expect(await list('?n=1&last=a')).toEqual(['b']);
    expect((await c.request('DELETE', `/v2/${name}/manifests/b`)).statusCode).toBe(202);
    expect(await list()).toEqual(['a', 'c']);
    expect(await list('?n=1&last=a')).toEqual(['c']);

    await t.app.db.updateTable('tag').set({ lifetime_end_ms: Date.now() + 300 }).where('name', '=', 'c').where('lifetime_end_ms', 'is', null).execute();
    expect(await list()).toEqual(['a', 'c']);
    expect(await list()).toEqual(['a', 'c']);
    await new Promise((r) => setTimeout(r, 350));
    expect(await list()).toEqual(['a']);
    expect(await list('?n=1&last=a')).toEqual([]);
  });
});
