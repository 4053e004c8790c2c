// The scope catalogue, Quay's scope-string parser, scope implication, and the role caps
// (registry-and-auth.md A.3 and A.10).
import { describe, expect, it } from 'vitest';
import {
  allowsSuperuser,
  capOrgRole,
  capRepoRole,
  expandScopes,
  maxOrgRole,
  maxRepoRole,
  maxUserRole,
  orgRoleAtLeast,
  parseScopeString,
  repoRoleAtLeast,
  SCOPE_NAMES,
  SCOPES,
  scopesCover,
  userRoleAtLeast,
  type OrgRole,
  type RepoRole,
  type ScopeName,
  type ScopeSet,
  type UserRole,
} from '../../src/auth/scopes.js';

/** Tables hold arrays (readable in test names); null is a session (every cap at its maximum). */
const set = (...s: ScopeName[]): ScopeName[] => s;
const asSet = (a: ScopeName[] | null): ScopeSet => (a === null ? null : new Set(a));
const sorted = (s: Set<string> | undefined) => (s ? [...s].sort() : s);

describe('the scope catalogue', () => {
  // Titles and dangerous flags as the reference table lists them (A.3).
  it.each([
    ['repo:read', 'View all visible repositories', false],
    ['repo:write', 'Read/Write to any accessible repositories', false],
    ['repo:admin', 'Administer Repositories', false],
    ['repo:create', 'Create Repositories', false],
    ['user:read', 'Read User Information', false],
    ['user:admin', 'Administer User', true],
    ['org:admin', 'Administer Organization', true],
    ['super:user', 'Super User Access', true],
  ] as const)('%s is "%s", dangerous=%s', (scope, title, dangerous) => {
    expect(SCOPES[scope]).toMatchObject({ scope, title, dangerous });
    expect(SCOPES[scope].description.length).toBeGreaterThan(0);
    expect(SCOPES[scope].icon).toMatch(/^fa-/);
  });

  it('has exactly the eight requestable scopes (no direct_user_login)', () => {
    expect([...SCOPE_NAMES].sort()).toEqual(
      ['org:admin', 'repo:admin', 'repo:create', 'repo:read', 'repo:write', 'super:user', 'user:admin', 'user:read'],
    );
    expect(Object.keys(SCOPES).sort()).toEqual([...SCOPE_NAMES].sort());
  });
});

describe('parseScopeString', () => {
  it.each([
    ['space separated', 'repo:read repo:write', ['repo:read', 'repo:write']],
    ['comma separated', 'repo:read,repo:write', ['repo:read', 'repo:write']],
    ['a single scope', 'user:read', ['user:read']],
    ['mixed separators', 'repo:read,user:read org:admin', ['org:admin', 'repo:read', 'user:read']],
    ['duplicates (folded)', 'repo:read repo:read', ['repo:read']],
    ['all eight', 'org:admin repo:admin repo:create repo:read repo:write super:user user:admin user:read', [...SCOPE_NAMES].sort()],
  ])('accepts %s', (_name, input, expected) => {
    expect(sorted(parseScopeString(input))).toEqual(expected);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty string', ''],
    ['a single space', ' '],
    ['a comma then a space', 'repo:read, repo:write'],
    ['a trailing comma', 'repo:read,'],
    ['a trailing space', 'repo:read '],
    ['a leading space', ' repo:read'],
    ['a leading comma', ',repo:read'],
    ['a doubled space', 'repo:read  repo:write'],
    ['a doubled comma', 'repo:read,,repo:write'],
    ['an unknown scope', 'repo:read repo:delete'],
    ['only an unknown scope', 'admin'],
    ['the internal pseudo-scope', 'direct_user_login'],
    ['capital letters', 'REPO:READ'],
    ['a tab separator', 'repo:read\trepo:write'],
    ['a newline separator', 'repo:read\nrepo:write'],
    ['a literal + (decoding is the query parser’s job)', 'repo:read+repo:write'],
    ['a semicolon separator', 'repo:read;repo:write'],
  ])('refuses %s (the whole string is invalid)', (_name, input) => {
    expect(parseScopeString(input as string | undefined | null)).toBeUndefined();
  });
});

describe('expandScopes and scopesCover: only repo:admin ⊃ repo:write ⊃ repo:read', () => {
  it.each([
    [['repo:admin'], ['repo:admin', 'repo:read', 'repo:write']],
    [['repo:write'], ['repo:read', 'repo:write']],
    [['repo:read'], ['repo:read']],
    [['user:admin'], ['user:admin']],
    [['org:admin'], ['org:admin']],
    [['super:user'], ['super:user']],
    [['repo:create'], ['repo:create']],
    [['user:admin', 'repo:write'], ['repo:read', 'repo:write', 'user:admin']],
    [[], []],
  ] as [ScopeName[], string[]][])('expands %j to %j', (held, expected) => {
    expect([...expandScopes(held)].sort()).toEqual(expected);
  });

  it('does not change its input', () => {
    const held = new Set<ScopeName>(['repo:admin']);
    expandScopes(held);
    expect([...held]).toEqual(['repo:admin']);
  });

  it.each([
    [['repo:admin'], ['repo:read', 'repo:write'], true],
    [['repo:write'], ['repo:read'], true],
    [['repo:read'], ['repo:write'], false],
    [['repo:write'], ['repo:admin'], false],
    [['repo:admin'], ['repo:create'], false],
    [['user:admin'], ['user:read'], false],
    [['org:admin'], ['repo:read'], false],
    [['org:admin'], ['repo:create'], false],
    [['super:user'], ['user:read'], false],
    [['repo:read', 'user:read'], ['user:read', 'repo:read'], true],
    [['repo:read'], ['repo:read', 'user:read'], false],
    [['user:read'], [], true],
    [[], ['repo:read'], false],
  ] as [ScopeName[], ScopeName[], boolean][])('held %j covers %j: %s', (held, wanted, expected) => {
    expect(scopesCover(held, wanted)).toBe(expected);
  });
});

describe('role caps (A.10)', () => {
  it.each([
    ['a session (null)', null, 'admin', 'admin', 'admin', true],
    ['no scopes', set(), null, null, null, false],
    ['repo:read', set('repo:read'), 'read', null, null, false],
    ['repo:write', set('repo:write'), 'write', null, null, false],
    ['repo:admin', set('repo:admin'), 'admin', null, null, false],
    ['repo:create', set('repo:create'), null, 'creator', null, false],
    ['org:admin', set('org:admin'), null, 'admin', null, false],
    ['user:read', set('user:read'), null, null, 'read', false],
    ['user:admin', set('user:admin'), null, null, 'admin', false],
    ['super:user', set('super:user'), null, null, null, true],
    ['repo:read + repo:admin (highest wins)', set('repo:read', 'repo:admin'), 'admin', null, null, false],
    ['repo:create + org:admin (highest wins)', set('repo:create', 'org:admin'), null, 'admin', null, false],
    ['user:read + user:admin (highest wins)', set('user:read', 'user:admin'), null, null, 'admin', false],
    ['repo:write + user:read + repo:create', set('repo:write', 'user:read', 'repo:create'), 'write', 'creator', 'read', false],
  ] as [string, ScopeName[] | null, RepoRole | null, OrgRole | null, UserRole | null, boolean][])(
    '%s %j: repo %s, org %s, user %s, superuser %s',
    (_name, scopes, repo, org, user, su) => {
      expect(maxRepoRole(asSet(scopes))).toBe(repo);
      expect(maxOrgRole(asSet(scopes))).toBe(org);
      expect(maxUserRole(asSet(scopes))).toBe(user);
      expect(allowsSuperuser(asSet(scopes))).toBe(su);
    },
  );

  it.each([
    ['admin', set('repo:read'), 'read'],
    ['admin', set('repo:write'), 'write'],
    ['admin', set('repo:admin'), 'admin'],
    ['read', set('repo:admin'), 'read'],
    ['write', set('repo:admin'), 'write'],
    ['write', set('repo:read'), 'read'],
    ['write', null, 'write'],
    ['admin', null, 'admin'],
    [null, null, null],
    [null, set('repo:admin'), null],
    ['admin', set(), null],
    ['admin', set('org:admin'), null], // org:admin alone gives no repo access
    ['admin', set('user:admin', 'super:user'), null],
  ] as [RepoRole | null, ScopeName[] | null, RepoRole | null][])('capRepoRole(%s, %j) = %s', (real, scopes, expected) => {
    expect(capRepoRole(real, asSet(scopes))).toBe(expected);
  });

  it.each([
    ['admin', set('org:admin'), 'admin'],
    ['admin', set('repo:create'), 'creator'],
    ['creator', set('repo:create'), 'creator'],
    ['member', set('repo:create'), 'member'],
    ['member', set('org:admin'), 'member'],
    ['creator', set('org:admin'), 'creator'],
    ['admin', null, 'admin'],
    ['admin', set('repo:admin'), null],
    ['admin', set('user:admin'), null],
    [null, set('org:admin'), null],
    [null, null, null],
  ] as [OrgRole | null, ScopeName[] | null, OrgRole | null][])('capOrgRole(%s, %j) = %s', (real, scopes, expected) => {
    expect(capOrgRole(real, asSet(scopes))).toBe(expected);
  });

  it.each([
    [null, 'read', true],
    [null, 'admin', true],
    [set('user:read'), 'read', true],
    [set('user:read'), 'admin', false],
    [set('user:admin'), 'read', true],
    [set('user:admin'), 'admin', true],
    [set('repo:admin', 'org:admin', 'super:user'), 'read', false],
    [set(), 'read', false],
  ] as [ScopeName[] | null, UserRole, boolean][])('userRoleAtLeast(%j, %s) = %s', (scopes, wanted, expected) => {
    expect(userRoleAtLeast(asSet(scopes), wanted)).toBe(expected);
  });

  it.each([
    ['read', 'read', true],
    ['read', 'write', false],
    ['write', 'read', true],
    ['write', 'admin', false],
    ['admin', 'write', true],
    [null, 'read', false],
  ] as [RepoRole | null, RepoRole, boolean][])('repoRoleAtLeast(%s, %s) = %s', (role, wanted, expected) => {
    expect(repoRoleAtLeast(role, wanted)).toBe(expected);
  });

  it.each([
    ['member', 'member', true],
    ['member', 'creator', false],
    ['creator', 'member', true],
    ['creator', 'admin', false],
    ['admin', 'creator', true],
    [null, 'member', false],
  ] as [OrgRole | null, OrgRole, boolean][])('orgRoleAtLeast(%s, %s) = %s', (role, wanted, expected) => {
    expect(orgRoleAtLeast(role, wanted)).toBe(expected);
  });
});
