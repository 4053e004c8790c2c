// The OAuth scope catalogue and Quay's scope-string parser (registry-and-auth.md A.3), and the table
// that caps a user's real roles by the scopes of the token in use (A.10).

export const SCOPE_NAMES = [
  'repo:read', 'repo:write', 'repo:admin', 'repo:create', 'user:read', 'user:admin', 'org:admin', 'super:user',
] as const;
export type ScopeName = (typeof SCOPE_NAMES)[number];

export interface ScopeInfo {
  scope: ScopeName;
  title: string;
  description: string;
  icon: string;
  dangerous: boolean;
}

export const SCOPES: Record<ScopeName, ScopeInfo> = {
  'repo:read': {
    scope: 'repo:read', title: 'View all visible repositories', icon: 'fa-hdd-o', dangerous: false,
    description: 'Read and pull every repository that you can see, public or private.',
  },
  'repo:write': {
    scope: 'repo:write', title: 'Read/Write to any accessible repositories', icon: 'fa-hdd-o', dangerous: false,
    description: 'Also push to and change the repositories where you have write access.',
  },
  'repo:admin': {
    scope: 'repo:admin', title: 'Administer Repositories', icon: 'fa-hdd-o', dangerous: false,
    description: 'Also administer the repositories you administer: permissions, visibility, deletion.',
  },
  'repo:create': {
    scope: 'repo:create', title: 'Create Repositories', icon: 'fa-plus', dangerous: false,
    description: 'Create repositories in any namespace where you are allowed to create them.',
  },
  'user:read': {
    scope: 'user:read', title: 'Read User Information', icon: 'fa-user', dangerous: false,
    description: 'Read your account information: username, e-mail address and organizations.',
  },
  'user:admin': {
    scope: 'user:admin', title: 'Administer User', icon: 'fa-gear', dangerous: true,
    description: 'Manage your account: robot accounts, permissions, application tokens and settings.',
  },
  'org:admin': {
    scope: 'org:admin', title: 'Administer Organization', icon: 'fa-gear', dangerous: true,
    description: 'Administer the organizations you administer: teams, members, robots and applications.',
  },
  'super:user': {
    scope: 'super:user', title: 'Super User Access', icon: 'fa-street-view', dangerous: true,
    description: 'Use the superuser powers of this registry, if your account is a superuser.',
  },
};

const KNOWN = new Set<string>(SCOPE_NAMES);

/**
 * Quay's parser: split on every single space or comma; an empty element or an unknown name makes
 * the whole string invalid. Returns undefined for an invalid string.
 */
export function parseScopeString(scope: string | undefined | null): Set<ScopeName> | undefined {
  if (scope === undefined || scope === null || scope === '') return undefined;
  const out = new Set<ScopeName>();
  for (const part of scope.split(/[ ,]/)) {
    if (!KNOWN.has(part)) return undefined;
    out.add(part as ScopeName);
  }
  return out;
}

/** Scopes implied by the held ones: only repo:admin ⊃ repo:write ⊃ repo:read. */
export function expandScopes(scopes: Iterable<ScopeName>): Set<ScopeName> {
  const out = new Set<ScopeName>(scopes);
  if (out.has('repo:admin')) out.add('repo:write');
  if (out.has('repo:write')) out.add('repo:read');
  return out;
}

export function scopesCover(held: Iterable<ScopeName>, wanted: Iterable<ScopeName>): boolean {
  const h = expandScopes(held);
  for (const w of wanted) if (!h.has(w)) return false;
  return true;
}

export type RepoRole = 'read' | 'write' | 'admin';
export type OrgRole = 'member' | 'creator' | 'admin';
export type UserRole = 'read' | 'admin';

const REPO_RANK: Record<RepoRole, number> = { read: 1, write: 2, admin: 3 };
const ORG_RANK: Record<OrgRole, number> = { member: 1, creator: 2, admin: 3 };
const USER_RANK: Record<UserRole, number> = { read: 1, admin: 2 };

/** `null` scopes means a direct login (session): every cap at its maximum. */
export type ScopeSet = ReadonlySet<ScopeName> | null;

export function maxRepoRole(scopes: ScopeSet): RepoRole | null {
  if (scopes === null || scopes.has('repo:admin')) return 'admin';
  if (scopes.has('repo:write')) return 'write';
  if (scopes.has('repo:read')) return 'read';
  return null;
}
export function maxOrgRole(scopes: ScopeSet): OrgRole | null {
  if (scopes === null || scopes.has('org:admin')) return 'admin';
  if (scopes.has('repo:create')) return 'creator';
  return null;
}
export function maxUserRole(scopes: ScopeSet): UserRole | null {
  if (scopes === null || scopes.has('user:admin')) return 'admin';
  if (scopes.has('user:read')) return 'read';
  return null;
}
export function allowsSuperuser(scopes: ScopeSet): boolean {
  return scopes === null || scopes.has('super:user');
}

/** The role actually usable: the real role capped by the scope's maximum. */
export function capRepoRole(real: RepoRole | null, scopes: ScopeSet): RepoRole | null {
  const cap = maxRepoRole(scopes);
  if (!real || !cap) return null;
  return REPO_RANK[real] <= REPO_RANK[cap] ? real : cap;
}
export function capOrgRole(real: OrgRole | null, scopes: ScopeSet): OrgRole | null {
  const cap = maxOrgRole(scopes);
  if (!real || !cap) return null;
  return ORG_RANK[real] <= ORG_RANK[cap] ? real : cap;
}
export function userRoleAtLeast(scopes: ScopeSet, wanted: UserRole): boolean {
  const cap = maxUserRole(scopes);
  return cap !== null && USER_RANK[cap] >= USER_RANK[wanted];
}
export function repoRoleAtLeast(role: RepoRole | null, wanted: RepoRole): boolean {
  return role !== null && REPO_RANK[role] >= REPO_RANK[wanted];
}
export function orgRoleAtLeast(role: OrgRole | null, wanted: OrgRole): boolean {
  return role !== null && ORG_RANK[role] >= ORG_RANK[wanted];
}
