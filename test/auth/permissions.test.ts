// The effective-permission function as a table: real role from the rows, capped by scopes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectiveOrgRole, effectiveRepoRole, realOrgRole, realRepoRole } from '../../src/auth/permissions.js';
import { parseScopeString, type ScopeSet } from '../../src/auth/scopes.js';
import type { Namespace, Repository } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { grant, makeOrg, makeRepo, makeTeam, makeUser } from '../helpers/factories.js';

let t: TestApp;
const u: Record<string, Namespace> = {};
const r: Record<string, Repository> = {};
let org: Namespace;

beforeAll(async () => {
  t = await testApp();
  for (const name of ['owner', 'orgadmin', 'creator', 'teamwriter', 'direct', 'outsider', 'both']) u[name] = await makeUser(t);
  org = await makeOrg(t, [u.orgadmin]);
  await makeTeam(t, org, 'creator', [u.creator]);
  const writers = await makeTeam(t, org, 'member', [u.teamwriter, u.both]);
  r.orgPrivate = await makeRepo(t, org);
  r.orgPublic = await makeRepo(t, org, { visibility: 'public' });
  r.userPrivate = await makeRepo(t, u.owner);
  await grant(t, r.orgPrivate, { teamId: writers.id }, 'write');
  await grant(t, r.orgPrivate, { userId: u.direct.id }, 'read');
  await grant(t, r.orgPrivate, { userId: u.both.id }, 'admin');
  await grant(t, r.userPrivate, { userId: u.direct.id }, 'write');
});
afterAll(() => t?.close());

describe('realRepoRole', () => {
  it.each([
    ['owner', 'userPrivate', 'admin'],
    ['direct', 'userPrivate', 'write'],
    ['outsider', 'userPrivate', null],
    ['orgadmin', 'orgPrivate', 'admin'],
    ['creator', 'orgPrivate', null], // the creator team role gives no repository access
    ['teamwriter', 'orgPrivate', 'write'],
    ['direct', 'orgPrivate', 'read'],
    ['both', 'orgPrivate', 'admin'], // the highest of the direct and the team grant
    ['outsider', 'orgPrivate', null],
    ['outsider', 'orgPublic', null], // public gives read in effectiveRepoRole, not a real role
    ['orgadmin', 'userPrivate', null],
  ])('%s on %s → %s', async (user, repo, expected) => {
    expect(await realRepoRole(t.app.db, u[user].id, r[repo])).toBe(expected);
  });
});

describe('effectiveRepoRole (capped by the token scopes)', () => {
  const scopes = (s: string | null): ScopeSet => (s === null ? null : (parseScopeString(s) ?? new Set()));
  it.each([
    ['owner', 'userPrivate', null, 'admin'],
    ['owner', 'userPrivate', 'repo:read', 'read'],
    ['owner', 'userPrivate', 'repo:write', 'write'],
    ['owner', 'userPrivate', 'user:admin org:admin', null], // org:admin alone gives no repo access
    ['orgadmin', 'orgPrivate', 'org:admin', null],
    ['orgadmin', 'orgPrivate', 'repo:admin', 'admin'],
    ['teamwriter', 'orgPrivate', 'repo:admin', 'write'],
    ['direct', 'orgPrivate', 'repo:write', 'read'],
    ['outsider', 'orgPublic', 'user:read', 'read'],
    ['outsider', 'orgPrivate', 'repo:admin', null],
    ['anonymous', 'orgPublic', '', 'read'],
    ['anonymous', 'orgPrivate', '', null],
  ])('%s on %s with scopes %j → %s', async (user, repo, scope, expected) => {
    const auth = user === 'anonymous' ? { user: null, scopes: new Set() as ScopeSet } : { user: u[user], scopes: scopes(scope) };
    expect(await effectiveRepoRole(t.app.db, auth, r[repo])).toBe(expected);
  });
});

describe('org roles', () => {
  it.each([
    ['orgadmin', null, 'admin'],
    ['orgadmin', 'repo:create', 'creator'],
    ['orgadmin', 'repo:admin', null],
    ['creator', null, 'creator'],
    ['creator', 'org:admin', 'creator'],
    ['teamwriter', null, 'member'],
    ['outsider', null, null],
  ])('%s in the org with scopes %j → %s', async (user, scope, expected) => {
    const s: ScopeSet = scope === null ? null : (parseScopeString(scope) ?? new Set());
    expect(await effectiveOrgRole(t.app.db, { user: u[user], scopes: s }, org)).toBe(expected);
  });

  it('counts the own namespace as administered', async () => {
    expect(await realOrgRole(t.app.db, u.owner.id, u.owner.id)).toBe('admin');
  });
});
