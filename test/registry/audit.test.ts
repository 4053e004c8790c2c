// Audit rows written by /v2, as Quay's (reference registry-and-auth.md D.3 "Logs and notifications"):
// push_repo on a manifest PUT by tag (none for a PUT by digest), pull_repo on every manifest GET
// and HEAD (Quay's GET view answers HEAD too), delete_tag on deletes; each with the performer's
// metadata (`username`, `is_robot` for robots), the namespace and repository ids, the client address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { grant, makeRobot, makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import { makeImage, OCI_MANIFEST, RegistryClient, registryToken, repoScope, injectSender } from '../helpers/registry.js';

let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
});
afterAll(() => t?.close());

async function entries(repo: string) {
  const rows = await t.app.db
    .selectFrom('log_entry')
    .innerJoin('repository', 'repository.id', 'log_entry.repository_id')
    .leftJoin('namespace as performer', 'performer.id', 'log_entry.performer_id')
    .select(['log_entry.kind', 'log_entry.metadata', 'log_entry.account_id', 'log_entry.ip', 'performer.username as performer', 'repository.namespace_id'])
    .where('repository.name', '=', repo)
    .orderBy('log_entry.id')
    .execute();
  return rows.map((r) => ({ ...r, metadata: (typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata) as Record<string, unknown> }));
}

describe('/v2 audit entries', () => {
  it('push by tag: push_repo with tag and mediaType; by digest: none; pulls (GET and HEAD): pull_repo; deletes: delete_tag', async () => {
    const repo = uniqueName('audited');
    const name = `${alice.username}/${repo}`;
    const c = await RegistryClient.login(t, alice, repoScope(name));
    const image = makeImage();
    await c.pushImage(name, image, 'v1');
    const byDigest = makeImage();
    await c.pushImage(name, byDigest);

    let rows = await entries(repo);
    expect(rows.map((r) => r.kind)).toEqual(['push_repo']);
    expect(rows[0].metadata).toMatchObject({ repo, namespace: alice.username, tag: 'v1', mediaType: OCI_MANIFEST, username: alice.username });
    expect(rows[0].performer).toBe(alice.username);
    expect(rows[0].account_id).toBe(rows[0].namespace_id);
    expect(rows[0].ip).toBeTruthy();

    const accept = { accept: OCI_MANIFEST, 'user-agent': 'audit-test/1.0' };
    expect((await c.request('GET', `/v2/${name}/manifests/v1`, { headers: accept })).statusCode).toBe(200);
    expect((await c.request('HEAD', `/v2/${name}/manifests/${image.manifest.digest}`, { headers: accept })).statusCode).toBe(200);
    // Pulls that fail write nothing.
    expect((await c.request('GET', `/v2/${name}/manifests/nope`, { headers: accept })).statusCode).toBe(404);
    rows = await entries(repo);
    expect(rows.map((r) => r.kind)).toEqual(['push_repo', 'pull_repo', 'pull_repo']);
    expect(rows[1].metadata).toMatchObject({ repo, namespace: alice.username, tag: 'v1', mediaType: OCI_MANIFEST, 'user-agent': 'audit-test/1.0', username: alice.username });
    expect(rows[2].metadata).toMatchObject({ manifest_digest: image.manifest.digest, mediaType: OCI_MANIFEST });
    expect(rows[2].metadata).not.toHaveProperty('tag');

    expect((await c.request('DELETE', `/v2/${name}/manifests/v1`)).statusCode).toBe(202);
    rows = await entries(repo);
    expect(rows.at(-1)).toMatchObject({ kind: 'delete_tag', metadata: expect.objectContaining({ tag: 'v1', manifest_digest: image.manifest.digest }) });
  });

  it('names a robot as the performer with is_robot; an anonymous pull of a public repository has no performer', async () => {
    const repo = uniqueName('robotaudit');
    const name = `${alice.username}/${repo}`;
    const robot = await makeRobot(t, alice);
    const c = await RegistryClient.login(t, alice, repoScope(name));
    await c.pushImage(name, makeImage(), 'latest');
    await t.app.db.updateTable('repository').set({ visibility: 'public' }).where('name', '=', repo).execute();
    const row = await t.app.db.selectFrom('repository').select('id').where('name', '=', repo).executeTakeFirstOrThrow();
    await grant(t, row, { userId: robot.id }, 'read');

    const rc = new RegistryClient(injectSender(t), await registryToken(t, { username: robot.username, password: robot.token }, repoScope(name, 'pull')));
    expect((await rc.request('GET', `/v2/${name}/manifests/latest`, { headers: { accept: OCI_MANIFEST } })).statusCode).toBe(200);
    const anon = new RegistryClient(injectSender(t), await registryToken(t, null, repoScope(name, 'pull')));
    expect((await anon.request('GET', `/v2/${name}/manifests/latest`, { headers: { accept: OCI_MANIFEST } })).statusCode).toBe(200);

    const pulls = (await entries(repo)).filter((r) => r.kind === 'pull_repo');
    expect(pulls).toHaveLength(2);
    expect(pulls[0]).toMatchObject({ performer: robot.username, metadata: expect.objectContaining({ username: robot.username, is_robot: true }) });
    expect(pulls[1].performer).toBeNull();
    expect(pulls[1].metadata).not.toHaveProperty('username');
  });

  it('many pulls at once each get their own entry (written together)', async () => {
    const repo = uniqueName('manypulls');
    const name = `${alice.username}/${repo}`;
    const c = await RegistryClient.login(t, alice, repoScope(name));
    await c.pushImage(name, makeImage(), 'latest');
    const codes = await Promise.all(Array.from({ length: 40 }, () => c.request('GET', `/v2/${name}/manifests/latest`, { headers: { accept: OCI_MANIFEST } }).then((r) => r.statusCode)));
    expect(codes.every((s) => s === 200)).toBe(true);
    expect((await entries(repo)).filter((r) => r.kind === 'pull_repo')).toHaveLength(40);
  });
});
