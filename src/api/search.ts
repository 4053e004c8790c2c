// SEARCH (part2 §8): repository search, the global search box and entity autocomplete. Anyone may
// call them; what they return depends on who asks. Private repositories appear only to callers who
// can read them, and a token's scopes cap that as they cap every role (a token without repo:*
// scopes sees what an anonymous caller sees; Quay ignores scopes here).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, type AccessRule } from '../auth/access.js';
import type { AuthContext } from '../auth/context.js';
import { effectiveOrgRole } from '../auth/permissions.js';
import { maxOrgRole, maxRepoRole, userRoleAtLeast } from '../auth/scopes.js';
import {
  matchingOrgTeams,
  matchingUsers,
  repositoryUsage,
  searchAdminedTeams,
  searchMemberTeams,
  searchNamespaces,
  searchRepositories,
  searchRobots,
  type EntityRow,
  type RepoSearchRow,
  type TeamSearchRow,
} from '../db/search.js';
import { findNamespaceByName } from '../db/users.js';
import { avatar } from '../lib/avatar.js';
import { firstString, intParam, quayBool } from '../lib/validation.js';
import { AvatarView } from './user-view.js';

export const OPERATIONS = ['conductRepoSearch', 'conductSearch', 'getMatchingEntities'] as const;

const TAGS = ['search'];
// Quay's SEARCH_RESULTS_PER_PAGE and SEARCH_MAX_RESULT_PAGE_COUNT defaults.
const PAGE_SIZE = 10;
const MAX_PAGE = 10;
/** conductSearch takes at most this many results from each source. */
const PER_SOURCE = 5;
/** getMatchingEntities returns at most this many teams and this many users. */
const ENTITY_LIMIT = 10;
// Quay's base scores, multiplied by the name's similarity to the query in conductSearch.
const ENTITY_SCORE = 1;
const TEAM_SCORE = 2;
const REPOSITORY_SCORE = 4;

const EntityResult = z.object({
  title: z.string(),
  kind: z.enum(['user', 'organization', 'robot']),
  avatar: AvatarView.nullable(),
  name: z.string(),
  score: z.number(),
  href: z.string(),
  short_name: z.string().optional(),
});
const RepoResult = z.object({
  kind: z.enum(['repository', 'application']),
  title: z.string(),
  namespace: EntityResult,
  name: z.string(),
  description: z.string().nullable(),
  is_public: z.boolean(),
  score: z.number(),
  href: z.string(),
  last_modified: z.number().int().optional(),
  stars: z.number().int().optional(),
  popularity: z.number().optional(),
});
const TeamResult = z.object({
  kind: z.literal('team'),
  name: z.string(),
  organization: EntityResult,
  avatar: AvatarView,
  score: z.number(),
  href: z.string(),
});
const MatchingEntity = z.object({
  name: z.string(),
  kind: z.enum(['team', 'user', 'org']),
  is_robot: z.boolean().optional(),
  is_org_member: z.boolean().optional(),
  avatar: AvatarView,
});

type EntityResultT = z.infer<typeof EntityResult>;
type RepoResultT = z.infer<typeof RepoResult>;
type TeamResultT = z.infer<typeof TeamResult>;
type MatchingEntityT = z.infer<typeof MatchingEntity>;

// LiquidMetal-style similarity of a name to an abbreviation (range 0–1): each query character is
// found, in order, in the name; matched characters score 1, characters skipped at a word start
// score as a buffer, other skipped characters 0, and the tail scores by whether the match started
// at the first character. Used only to order conductSearch results, as Quay does.
const LM_MATCH = 1;
const LM_NONE = 0;
const LM_BUFFER = 0.85;
const LM_TRAILING = 0.8;
const LM_TRAILING_STARTED = 0.9;
const WORD_SEPARATORS = ' \t_-';

export function similarity(name: string, query: string): number {
  if (query.length === 0) return LM_TRAILING;
  if (query.length > name.length) return LM_NONE;
  const lowerName = name.toLowerCase();
  const lowerQuery = query.toLowerCase();
  const scores: number[] = new Array<number>(name.length).fill(LM_NONE);
  let last = -1;
  let started = false;
  for (const ch of lowerQuery) {
    const at = lowerName.indexOf(ch, last + 1);
    if (at < 0) return LM_NONE;
    if (at === 0) started = true;
    if (at > 0 && WORD_SEPARATORS.includes(name[at - 1])) {
      // A new word: the separator counts as matched and the skipped run as a buffer.
      scores.fill(LM_BUFFER, last + 1, at - 1);
      scores[at - 1] = LM_MATCH;
    } else if (name[at] !== lowerName[at]) {
      // An upper-case letter starts a word too (camelCase).
      scores.fill(LM_BUFFER, last + 1, at);
    } else {
      scores.fill(LM_NONE, last + 1, at);
    }
    scores[at] = LM_MATCH;
    last = at;
  }
  scores.fill(started ? LM_TRAILING_STARTED : LM_TRAILING, last + 1);
  return scores.reduce((a, b) => a + b, 0) / scores.length;
}

/** Quay's search_entity_view: users, organizations and robots. */
function toEntityResult(viewer: string | null, e: Pick<EntityRow, 'username' | 'email' | 'organization' | 'robot'>, withShortName = false): EntityResultT {
  if (e.organization) {
    return { title: 'org', kind: 'organization', avatar: avatar(e.username, e.email, 'org'), name: e.username, score: ENTITY_SCORE, href: `/organization/${e.username}` };
  }
  if (e.robot) {
    const plus = e.username.indexOf('+');
    const owner = e.username.slice(0, plus);
    const href = owner === viewer ? `/user/${viewer}?tab=robots&showRobot=${e.username}` : `/organization/${owner}?tab=robots&showRobot=${e.username}`;
    const view: EntityResultT = { title: 'robot', kind: 'robot', avatar: null, name: e.username, score: ENTITY_SCORE, href };
    if (withShortName) view.short_name = e.username.slice(plus + 1);
    return view;
  }
  return { title: 'user', kind: 'user', avatar: avatar(e.username, e.email, 'user'), name: e.username, score: ENTITY_SCORE, href: `/user/${e.username}` };
}

function toRepoResult(viewer: string | null, r: RepoSearchRow): RepoResultT {
  const kind = r.kind === 'application' ? 'application' : 'repository';
  return {
    kind,
    title: kind === 'application' ? 'app' : 'repo',
    namespace: toEntityResult(viewer, { username: r.ns_username, email: r.ns_email, organization: r.ns_organization, robot: r.ns_robot }),
    name: r.name,
    description: r.description,
    is_public: r.visibility === 'public',
    score: REPOSITORY_SCORE,
    href: `/${kind}/${r.ns_username}/${r.name}`,
  };
}

function toTeamResult(viewer: string | null, t: TeamSearchRow): TeamResultT {
  return {
    kind: 'team',
    name: t.name,
    organization: toEntityResult(viewer, { username: t.org_username, email: t.org_email, organization: true, robot: false }),
    avatar: avatar(t.name, null, 'team'),
    score: TEAM_SCORE,
    href: `/organization/${t.org_username}/teams/${t.name}`,
  };
}

/** Whose private repositories the caller may see: nobody's when the credential cannot read repositories. */
function repoViewerId(auth: AuthContext): number | null {
  return auth.user && maxRepoRole(auth.scopes) ? auth.user.id : null;
}

/** `ns/text` searches `text` inside namespace `ns`; anything else searches everywhere. */
function splitQuery(query: string): { text: string; namespace?: string } {
  const slash = query.indexOf('/');
  return slash < 0 ? { text: query } : { namespace: query.slice(0, slash), text: query.slice(slash + 1) };
}

/** Quay lower-cases the prefix, drops spaces and transliterates it to ASCII (unidecode). */
function normalizePrefix(prefix: string): string {
  return prefix
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/ /g, '')
    .toLowerCase();
}

export const searchRoutes: FastifyPluginAsyncZod = async (app) => {
  // FEATURE_PARTIAL_USER_AUTOCOMPLETE (default on): users match by prefix, else only exactly.
  const partialAutocomplete = app.config.FEATURE_PARTIAL_USER_AUTOCOMPLETE;

  app.get(
    '/find/repositories',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'conductRepoSearch',
        tags: TAGS,
        description: 'Get a list of apps and repositories that match the specified query.',
        querystring: z.object({
          query: firstString.describe('The search query.'),
          page: intParam('The page.').describe('The page.'),
          includeUsage: quayBool.describe('Whether to include usage metadata'),
        }),
        response: {
          200: z.object({
            results: z.array(RepoResult),
            has_additional: z.boolean(),
            page: z.number().int(),
            page_size: z.number().int(),
            start_index: z.number().int(),
          }),
        },
      },
    },
    async (req) => {
      const page = Math.min(Math.max(1, req.query.page ?? 1), MAX_PAGE);
      const offset = (page - 1) * PAGE_SIZE;
      const viewer = req.auth.user?.username ?? null;
      const rows = await searchRepositories(app.db, { viewerId: repoViewerId(req.auth), ...splitQuery(req.query.query ?? ''), limit: PAGE_SIZE + 1, offset });
      const pageRows = rows.slice(0, PAGE_SIZE);
      const results = pageRows.map((r) => toRepoResult(viewer, r));
      if (req.query.includeUsage) {
        // One grouped query for the whole page. There are no tags yet, so no last_modified (Quay
        // omits it for a repository without tags).
        const usage = await repositoryUsage(app.db, pageRows.map((r) => r.id));
        for (const [i, r] of pageRows.entries()) {
          const u = usage.get(r.id)!;
          results[i].stars = u.stars;
          results[i].popularity = u.actions;
        }
      }
      return { results, has_additional: rows.length > PAGE_SIZE, page, page_size: PAGE_SIZE, start_index: offset };
    },
  );

  // Quay documents repo:read here but never checks it; anonymous callers are served too.
  const conductSearchAccess: AccessRule = { ...anonymousAccess(), scope: 'repo:read' };
  app.get(
    '/find/all',
    {
      config: { access: conductSearchAccess },
      schema: {
        operationId: 'conductSearch',
        tags: TAGS,
        description: 'Get a list of entities and resources that match the specified query.',
        querystring: z.object({ query: firstString.describe('The search query.') }),
        response: { 200: z.object({ results: z.array(z.union([RepoResult, TeamResult, EntityResult])) }) },
      },
    },
    async (req) => {
      const query = req.query.query ?? '';
      if (!query) return { results: [] };
      const user = req.auth.user;
      const viewer = user?.username ?? null;
      const viewerId = repoViewerId(req.auth);
      const scopes = req.auth.scopes;
      // Teams and robots follow the org role the credential may use (member → own teams, admin →
      // every team and robot of the org) and, for the caller's own robots, the user:admin role.
      const orgCap = maxOrgRole(scopes);
      const [memberTeams, adminedTeams, robots, repos, namespaces] = await Promise.all([
        user && orgCap ? searchMemberTeams(app.db, user.id, query, PER_SOURCE) : [],
        user && orgCap === 'admin' ? searchAdminedTeams(app.db, user.id, query, PER_SOURCE) : [],
        user ? searchRobots(app.db, user.id, query, { own: userRoleAtLeast(scopes, 'admin'), admined: orgCap === 'admin', limit: PER_SOURCE }) : [],
        searchRepositories(app.db, { viewerId, ...splitQuery(query), limit: PER_SOURCE, offset: 0 }),
        searchNamespaces(app.db, viewerId, query, PER_SOURCE),
      ]);
      const seenTeams = new Set<number>();
      const results: (RepoResultT | TeamResultT | EntityResultT)[] = [];
      for (const t of [...memberTeams, ...adminedTeams]) {
        if (seenTeams.has(t.id)) continue;
        seenTeams.add(t.id);
        results.push(toTeamResult(viewer, t));
      }
      for (const r of robots) results.push(toEntityResult(viewer, r, true));
      for (const r of repos) results.push(toRepoResult(viewer, r));
      for (const n of namespaces) results.push(toEntityResult(viewer, n));
      for (const r of results) {
        const name = 'short_name' in r && r.short_name ? r.short_name : r.name;
        r.score = r.score * (similarity(name, query) || 0.5);
      }
      // Array.prototype.sort is stable: equal scores keep the order above.
      return { results: results.sort((a, b) => b.score - a.score) };
    },
  );

  app.get(
    '/entities/:prefix',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getMatchingEntities',
        tags: TAGS,
        description: 'Get a list of entities that match the specified prefix.',
        params: z.object({ prefix: z.string().describe('The prefix of the entities being looked up') }),
        querystring: z.object({
          namespace: firstString.describe('Namespace to use when querying for org entities.'),
          includeTeams: quayBool.describe('Whether to include team names.'),
          includeOrgs: quayBool.describe('Whether to include orgs names.'),
        }),
        response: { 200: z.object({ results: z.array(MatchingEntity) }) },
      },
    },
    async (req) => {
      const prefix = normalizePrefix(req.params.prefix);
      const namespaceName = req.query.namespace ?? '';
      const user = req.auth.user;
      const ns = namespaceName ? await findNamespaceByName(app.db, namespaceName) : undefined;
      const org = ns?.organization ? ns : undefined;
      let robotOwner: { id: number; username: string } | null = null;
      const teams: MatchingEntityT[] = [];
      const orgs: MatchingEntityT[] = [];
      if (org) {
        // Members of the org see its robots, and on request its teams and the org itself.
        if (await effectiveOrgRole(app.db, req.auth, org)) {
          robotOwner = org;
          if (req.query.includeTeams) {
            for (const t of await matchingOrgTeams(app.db, org.id, prefix, ENTITY_LIMIT)) {
              teams.push({ name: t.name, kind: 'team', is_org_member: true, avatar: avatar(t.name, null, 'team') });
            }
          }
          if (req.query.includeOrgs && org.username.startsWith(prefix)) {
            orgs.push({ name: org.username, kind: 'org', is_org_member: true, avatar: avatar(org.username, org.email, 'org') });
          }
        }
      } else if (user && ns && ns.id === user.id && userRoleAtLeast(req.auth.scopes, 'admin')) {
        // The caller's own namespace: their robots, with user:admin (as getUserRobots).
        robotOwner = user;
      }
      const users = await matchingUsers(app.db, { prefix, exactOnly: !partialAutocomplete, robotOwner, orgId: org?.id ?? null, limit: ENTITY_LIMIT });
      const userResults = users.map((u): MatchingEntityT => {
        const view: MatchingEntityT = { name: u.username, kind: 'user', is_robot: u.robot, avatar: avatar(u.username, u.email, u.robot ? 'robot' : 'user') };
        // Quay reports true for everyone; here it says whether the user is in a team of the org.
        if (org) view.is_org_member = u.robot || u.in_org;
        return view;
      });
      return { results: [...teams, ...userResults, ...orgs] };
    },
  );
};
