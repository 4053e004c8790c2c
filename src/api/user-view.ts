// The user view (part2 §14.3): which fields appear depends on the caller's role over the account.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuthContext } from '../auth/context.js';
import { isConfiguredSuperuser, superuserPowers } from '../auth/access.js';
import { allowsSuperuser, maxUserRole, type UserRole } from '../auth/scopes.js';
import type { Namespace } from '../db/schema.js';
import { listUserOrganizations, type UserOrganization } from '../db/users.js';
import { avatar } from '../lib/avatar.js';

export const AvatarView = z
  .object({ name: z.string(), hash: z.string(), color: z.string(), kind: z.string() })
  .meta({ id: 'Avatar', description: 'Avatar data of a user, organization, team, robot or application.' });

export const UserView = z
  .looseObject({
    anonymous: z.boolean(),
    username: z.string(),
    avatar: AvatarView,
    can_create_repo: z.boolean().optional(),
    is_me: z.boolean().optional(),
    verified: z.boolean().optional(),
    email: z.string().nullable().optional(),
    logins: z.array(z.looseObject({})).optional(),
    invoice_email: z.boolean().optional(),
    invoice_email_address: z.string().nullable().optional(),
    preferred_namespace: z.boolean().optional(),
    tag_expiration_s: z.number().optional(),
    prompts: z.array(z.string()).optional(),
    company: z.string().nullable().optional(),
    family_name: z.string().nullable().optional(),
    given_name: z.string().nullable().optional(),
    location: z.string().nullable().optional(),
    is_free_account: z.boolean().optional(),
    has_password_set: z.boolean().optional(),
    organizations: z
      .array(
        z.looseObject({
          name: z.string(),
          avatar: AvatarView,
          can_create_repo: z.boolean(),
          public: z.boolean(),
          is_org_admin: z.boolean().optional(),
          preferred_namespace: z.boolean().optional(),
        }),
      )
      .optional(),
    super_user: z.boolean().optional(),
    global_readonly_super_user: z.boolean().optional().describe('Present while the caller holds global read-only superuser powers'),
  })
  .meta({ id: 'UserView', description: 'Describes a user' });
export type UserViewT = z.infer<typeof UserView>;

/**
 * `target` seen by `auth`. On the caller's own account the fields follow the caller's user role
 * (user:read → organizations; user:admin or a session → everything); anyone else sees the public part.
 *
 * Synchronous unless the organization list has to be read (it is cached in app.authCache), so the
 * common GET /api/v1/user/ awaits no extra promise. The view is built as one literal per shape:
 * an object grown key by key past a dozen keys turns into a slow dictionary object, which every
 * later reader (the response serializer) pays for.
 */
export function buildUserView(app: FastifyInstance, auth: AuthContext, target: Namespace): UserViewT | Promise<UserViewT> {
  const self = auth.user?.id === target.id;
  const role = self ? maxUserRole(auth.scopes) : null;
  const view: UserViewT =
    role === 'admin'
      ? {
          anonymous: false,
          username: target.username,
          avatar: avatar(target.username, target.email, 'user'),
          can_create_repo: true,
          is_me: true,
          verified: target.verified,
          email: target.email,
          logins: [],
          invoice_email: target.invoice_email,
          invoice_email_address: target.invoice_email_address,
          preferred_namespace: false,
          tag_expiration_s: target.tag_expiration_s,
          prompts: [],
          company: target.company,
          family_name: target.family_name,
          given_name: target.given_name,
          location: target.location,
          is_free_account: true,
          has_password_set: target.password_hash !== null,
        }
      : { anonymous: false, username: target.username, avatar: avatar(target.username, target.email, 'user') };
  if (!role) return finishUserView(app, auth, target, self, view);
  const orgs = app.authCache.getOrgs(target.id);
  if (orgs) return withOrganizations(app, auth, target, self, view, role, orgs);
  return listUserOrganizations(app.db, target.id).then((listed) => {
    app.authCache.setOrgs(target.id, listed);
    return withOrganizations(app, auth, target, self, view, role, listed);
  });
}

function withOrganizations(
  app: FastifyInstance,
  auth: AuthContext,
  target: Namespace,
  self: boolean,
  view: UserViewT,
  role: UserRole,
  orgs: UserOrganization[],
): UserViewT {
  view.organizations = orgs.map((o) => {
    const name = o.name;
    const orgAvatar = avatar(name, o.email, 'org');
    const canCreate = o.role === 'admin' || o.role === 'creator';
    return role === 'admin'
      ? { name, avatar: orgAvatar, can_create_repo: canCreate, public: false, is_org_admin: o.role === 'admin', preferred_namespace: false }
      : { name, avatar: orgAvatar, can_create_repo: canCreate, public: false };
  });
  return finishUserView(app, auth, target, self, view);
}

function finishUserView(app: FastifyInstance, auth: AuthContext, target: Namespace, self: boolean, view: UserViewT): UserViewT {
  const callerIsSuper =
    !!auth.user && isConfiguredSuperuser(auth.user.username, app.config) && allowsSuperuser(auth.scopes);
  if (app.config.FEATURE_SUPER_USERS && callerIsSuper) {
    // Quay's key is present only while the caller holds superuser powers; on one's own account it
    // is then true, on another's it says whether that user is a superuser.
    view.super_user = self ? true : isConfiguredSuperuser(target.username, app.config);
  }
  // Current Quay's separate key for global read-only superusers: true on their own account.
  if (superuserPowers(auth, app.config) === 'readonly') view.global_readonly_super_user = self;
  return view;
}
