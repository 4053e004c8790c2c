import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepoPathRouter, repoDocPath } from '../../src/api/repo-path.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeRepo, makeUser, tokenFor } from '../helpers/factories.js';

describe('RepoPathRouter', () => {
  const r = new RepoPathRouter();
  for (const url of [
    '/api/v1/repository/:namespace/:repository',
    '/api/v1/repository/:namespace/:repository/tag/',
    '/api/v1/repository/:namespace/:repository/tag/:tag',
    '/api/v1/repository/:namespace/:repository/permissions/user/:username',
    '/api/v1/user/starred/:namespace/:repository',
    '/api/v1/user/starred',
  ]) r.addRoute(url);

  it.each([
    ['/api/v1/repository/ns/app', '/api/v1/repository/ns/app'],
    ['/api/v1/repository/ns/team/app', '/api/v1/repository/ns/team%2Fapp'],
    ['/api/v1/repository/ns/a/b/c?includeTags=false', '/api/v1/repository/ns/a%2Fb%2Fc?includeTags=false'],
    ['/api/v1/repository/ns/app/tag/', '/api/v1/repository/ns/app/tag/'],
    ['/api/v1/repository/ns/team/app/tag/', '/api/v1/repository/ns/team%2Fapp/tag/'],
    ['/api/v1/repository/ns/team/app/tag/latest', '/api/v1/repository/ns/team%2Fapp/tag/latest'],
    ['/api/v1/repository/ns/x/permissions/user/bob', '/api/v1/repository/ns/x/permissions/user/bob'],
    ['/api/v1/user/starred/ns/a/b', '/api/v1/user/starred/ns/a%2Fb'],
    ['/api/v1/user/starred', '/api/v1/user/starred'],
    ['/api/v1/users/bob', '/api/v1/users/bob'],
  ])('%s → %s', (input, output) => {
    expect(r.rewrite(input)).toBe(output);
  });

  it('documents the pair as Quay’s single {repository}', () => {
    expect(repoDocPath('/api/v1/repository/:namespace/:repository/tag/')).toBe('/api/v1/repository/{repository}/tag/');
  });
});

describe('extended repository names through the router', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t?.close());

  it('routes a multi-segment name to the route of its suffix', async () => {
    const res = await t.inject('/api/v1/repository/ns/team/app/build/');
    expect(res.statusCode).toBe(501);
    expect(res.json().detail).toContain('getRepoBuilds');
    // A served suffix route: its access check runs for the name `team/app` (anonymous: 401).
    const tags = await t.inject('/api/v1/repository/ns/team/app/tag/');
    expect(tags.statusCode).toBe(401);
    const mirror = await t.inject({ method: 'PUT', url: '/api/v1/repository/ns/team/app/mirror' });
    expect(mirror.json().detail).toContain('changeRepoMirrorConfig');
    // The bare repository route gets the whole rest as the name: unknown namespace → 403/401.
    const bare = await t.inject({ method: 'GET', url: '/api/v1/repository/ns/team/app' });
    expect(bare.statusCode).toBe(401);
  });

  it('serves a repository whose name has slashes, with its suffix routes', async () => {
    const u = await makeUser(t);
    await makeRepo(t, u, { name: 'team/app', visibility: 'public' });
    const h = bearer(await tokenFor(t, u, 'repo:admin'));
    const repo = await t.inject({ url: `/api/v1/repository/${u.username}/team/app`, headers: h });
    expect(repo.statusCode).toBe(200);
    expect(repo.json()).toMatchObject({ namespace: u.username, name: 'team/app' });
    const perms = await t.inject({ url: `/api/v1/repository/${u.username}/team/app/permissions/user/`, headers: h });
    expect(perms.statusCode).toBe(200);
  });
});
