// The team views shared by the team routes and the invite routes (part2 §12 "Views").
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Namespace } from '../db/schema.js';
import type { TeamInvite } from '../db/teams.js';
import { notFound } from '../lib/api-error.js';
import { avatar } from '../lib/avatar.js';
import { AvatarView } from './user-view.js';

export const MemberView = z.object({
  name: z.string(),
  kind: z.literal('user'),
  is_robot: z.boolean(),
  avatar: AvatarView,
  invited: z.boolean(),
});
export const EmailInviteView = z.object({ email: z.string(), kind: z.literal('invite'), avatar: AvatarView, invited: z.literal(true) });

export const memberView = (m: Namespace, invited = false): z.infer<typeof MemberView> => ({
  name: m.username,
  kind: 'user',
  is_robot: m.robot,
  avatar: avatar(m.username, m.email, m.robot ? 'robot' : 'user'),
  invited,
});

export function inviteView(i: TeamInvite): z.infer<typeof MemberView> | z.infer<typeof EmailInviteView> {
  return i.user ? memberView(i.user, true) : emailInviteView(i.email ?? '');
}

export const emailInviteView = (email: string): z.infer<typeof EmailInviteView> => ({
  email,
  kind: 'invite',
  avatar: avatar(email, email, 'user'),
  invited: true,
});

/** The organization named in the path. The access check passed, so a missing one is the caller's own user namespace. */
export function orgOf(req: FastifyRequest): Namespace {
  const ns = req.target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}

