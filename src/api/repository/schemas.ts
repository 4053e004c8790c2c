// REPOSITORY schemas, views and limits shared by the section's routes (and by starred.ts and
// repotoken.ts, which take the same {repository} parameter).
import { z } from 'zod';
import type { RepoListRow } from '../../db/repositories.js';
export const REPOS_PER_PAGE = 100;
export const PAGE_KIND = 'repository';
/** getRepo's `stats` cover the days before today, as Quay's 92-day window (1…91 days ago). */
const STATS_DAYS = 92;
/** Flask's text for a bare abort(400). */
export const BAD_REQUEST = 'The browser (or proxy) sent a request that this server could not understand.';

/** Quay's REPOSITORY_NAME_EXTENDED_REGEX: `/`-separated components, 255 characters at most. */
const REPO_NAME = /^(?=.{1,255}$)[a-z0-9][.a-z0-9_-]*(?:\/[a-z0-9][.a-z0-9_-]*)*$/;

export function isValidRepositoryName(name: string): boolean {
  return REPO_NAME.test(name);
}

const Visibility = z.enum(['public', 'private']);

export const NewRepo = z
  .object({
    repository: z.string().describe('Repository name'),
    visibility: Visibility.describe('Visibility which the repository will start with'),
    namespace: z.string().optional().describe('Namespace in which the repository should be created. If omitted, the username of the caller is used'),
    description: z.string().describe('Markdown encoded description for the repository'),
    repo_kind: z.enum(['image', 'application']).nullable().optional().describe('The kind of repository'),
  })
  .meta({ id: 'NewRepo', description: 'Description of a new repository' });

export const RepoUpdate = z
  .object({ description: z.string().describe('Markdown encoded description for the repository') })
  .meta({ id: 'RepoUpdate', description: 'Fields which can be updated in a repository.' });

export const ChangeVisibility = z
  .object({ visibility: Visibility.describe('Visibility which the repository will start with') })
  .meta({ id: 'ChangeVisibility', description: 'Change the visibility for the repository.' });

export const ChangeRepoState = z
  .object({ state: z.enum(['NORMAL', 'READ_ONLY', 'MIRROR']).describe('Determines whether pushes are allowed.') })
  .meta({ id: 'ChangeRepoState', description: 'Change the state of the repository.' });

export const RepoParams = z.object({ namespace: z.string(), repository: z.string() });

export const RepoListItem = z.object({
  namespace: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  is_public: z.boolean(),
  kind: z.string(),
  state: z.string().nullable(),
  is_starred: z.boolean().optional(),
  last_modified: z.number().int().nullable().optional(),
  popularity: z.number().optional(),
});

export const TagView = z.looseObject({
  name: z.string(),
  size: z.number().nullable(),
  last_modified: z.string().optional(),
  expiration: z.string().optional(),
  manifest_digest: z.string().optional(),
});

export const RepoView = z
  .object({
    namespace: z.string(),
    name: z.string(),
    kind: z.string(),
    description: z.string().nullable(),
    is_public: z.boolean(),
    is_organization: z.boolean(),
    is_starred: z.boolean(),
    status_token: z.string().optional(),
    trust_enabled: z.boolean().optional(),
    tag_expiration_s: z.number().optional(),
    is_free_account: z.boolean(),
    state: z.string().nullable(),
    can_write: z.boolean(),
    can_admin: z.boolean(),
    tags: z.record(z.string(), TagView).optional(),
    stats: z.array(z.object({ date: z.string(), count: z.number() })).optional(),
    channels: z.array(z.looseObject({ name: z.string() })).optional(),
    releases: z.array(z.looseObject({ name: z.string() })).optional(),
  })
  .meta({ id: 'RepositoryView', description: 'A repository, as seen by the caller.' });

export const Success = z.object({ success: z.boolean() });

/**
 * One listRepos entry. `lastModifiedMs`: the start of the newest live tag (absent: none, null);
 * `actions`: the repository's audit entries of the last 7 days (popularity, a float in Quay).
 */
export function listItem(
  r: RepoListRow,
  kind: string,
  o: { starred: boolean; lastModified: boolean; popularity: boolean },
  usage: { lastModifiedMs?: number; actions?: number } = {},
) {
  return {
    namespace: r.namespace,
    name: r.name,
    description: r.description,
    is_public: r.visibility === 'public',
    kind,
    state: r.state,
    // Seconds, not RFC 2822 (part2 §4.1; unlike getRepo's per-tag last_modified).
    ...(o.lastModified ? { last_modified: usage.lastModifiedMs === undefined ? null : Math.floor(usage.lastModifiedMs / 1000) } : {}),
    ...(o.popularity ? { popularity: usage.actions ?? 0 } : {}),
    ...(o.starred ? { is_starred: r.is_starred } : {}),
  };
}

/** Zero counts for each of the last 91 days (no actions are counted yet), newest first. */
export function emptyStats(now = new Date()) {
  const out: { date: string; count: number }[] = [];
  for (let day = 1; day < STATS_DAYS; day++) {
    out.push({ date: new Date(now.getTime() - day * 86400_000).toISOString().slice(0, 10), count: 0 });
  }
  return out;
}
