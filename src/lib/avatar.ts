// Avatar blocks attached to users, orgs, teams and apps (part1 §0.10): SHA-256 of the trimmed,
// lower-cased e-mail (or the name when there is none), and a colour picked from the hash.
import { createHash } from 'node:crypto';

// Quay's default local-avatar palette (config.py AVATAR_COLORS), 32 colours.
const AVATAR_COLORS = [
  '#969696', '#aec7e8', '#ff7f0e', '#ffbb78', '#2ca02c', '#98df8a', '#d62728', '#ff9896',
  '#9467bd', '#c5b0d5', '#8c564b', '#c49c94', '#e377c2', '#f7b6d2', '#7f7f7f', '#c7c7c7',
  '#bcbd22', '#1f77b4', '#17becf', '#9edae5', '#393b79', '#5254a3', '#6b6ecf', '#9c9ede',
  '#9ecae1', '#31a354', '#b5cf6b', '#a1d99b', '#8c6d31', '#ad494a', '#e7ba52', '#a55194',
];

export type AvatarKind = 'user' | 'robot' | 'org' | 'team' | 'app';
export interface Avatar {
  name: string;
  hash: string;
  color: string;
  kind: AvatarKind;
}

// Hashes are memoized: views on hot paths (the user view on every authenticated GET) repeat them.
const memo = new Map<string, string>();
function hashOf(source: string): string {
  let h = memo.get(source);
  if (!h) {
    h = createHash('sha256').update(source).digest('hex');
    if (memo.size >= 10_000) memo.delete(memo.keys().next().value as string);
    memo.set(source, h);
  }
  return h;
}

export function avatar(name: string, email: string | null | undefined, kind: AvatarKind): Avatar {
  const source = (email && email.trim() ? email : name).trim().toLowerCase();
  const hash = hashOf(source);
  const color = AVATAR_COLORS[parseInt(hash.slice(0, 2), 16) % AVATAR_COLORS.length];
  return { name, hash, color, kind };
}
