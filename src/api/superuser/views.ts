// The superuser panel's views of users and organizations (part2 §10, top), and its schemas. The
// service-key views live with the keys (keys.ts) and reuse the user view for approvers.
import { z } from 'zod';
import { configuredSuperuser } from '../../auth/access.js';
import type { Config } from '../../config.js';
import type { Namespace } from '../../db/schema.js';
import { avatar } from '../../lib/avatar.js';
import { AvatarView } from '../user-view.js';

export const TAGS = ['superuser'];

export const SuperuserUserView = z
  .object({
    kind: z.literal('user'),
    name: z.string(),
    username: z.string(),
    email: z.string().nullable(),
    verified: z.boolean(),
    avatar: AvatarView,
    super_user: z.boolean().describe('Listed in SUPER_USERS'),
    global_readonly_super_user: z.boolean().describe('Listed in GLOBAL_READONLY_SUPER_USERS'),
    enabled: z.boolean(),
    encrypted_password: z.string().optional().describe('After a password change: the new password encrypted, usable as a registry password'),
  })
  .meta({ id: 'SuperuserUserView', description: 'A user as the superuser panel shows it.' });

export function superuserUserView(config: Config, u: Namespace): z.infer<typeof SuperuserUserView> {
  const kind = configuredSuperuser(u.username, config);
  return {
    kind: 'user',
    name: u.username,
    username: u.username,
    email: u.email,
    verified: u.verified,
    avatar: avatar(u.username, u.email, 'user'),
    super_user: kind === 'full',
    global_readonly_super_user: kind === 'readonly',
    enabled: u.enabled,
  };
}

export const SuperuserOrgView = z
  .object({ name: z.string(), email: z.string().nullable(), avatar: AvatarView })
  .meta({ id: 'SuperuserOrgView', description: 'An organization as the superuser panel shows it.' });

export function superuserOrgView(o: Namespace): z.infer<typeof SuperuserOrgView> {
  return { name: o.username, email: o.email, avatar: avatar(o.username, o.email, 'org') };
}
