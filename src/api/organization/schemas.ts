// The ORGANIZATION section's request schemas and the org view's shape. The named schemas are
// declared here, in one module, because discovery lists named schemas in the order they are
// registered: this keeps the organization's ahead of the applications' whatever imports what.
import { z } from 'zod';
import { charField, optionalEmail } from '../../lib/validation.js';
import { AvatarView } from '../user-view.js';

export const TAGS = ['organization'];

export const OrgParams = z.object({ orgname: z.string().describe('The name of the organization') });

export const Deleted = z.null().describe('Deleted');

export const NewOrg = z
  .object({
    name: z.string().describe('Organization username'),
    email: z.string().optional().describe('Organization contact email'),
    recaptcha_response: z.string().optional().describe('The (may be disabled) recaptcha response code for verification'),
  })
  .meta({ id: 'NewOrg', description: 'Description of a new organization.' });

export const UpdateOrg = z
  .object({
    email: z.string().optional().describe('Organization contact email'),
    invoice_email: z.boolean().optional().describe('Whether the organization desires to receive emails for invoices'),
    invoice_email_address: optionalEmail().nullable().optional().describe('The email address at which to receive invoices'),
    tag_expiration_s: z.int().min(0).optional().describe('The number of seconds for tag expiration'),
  })
  .meta({ id: 'UpdateOrg', description: 'Description of updates for an existing organization' });

export const NewApp = z
  .object({
    name: charField().describe('The name of the application'),
    redirect_uri: charField().optional().describe("The URI for the application's OAuth redirect"),
    application_uri: charField().optional().describe("The URI for the application's homepage"),
    description: z.string().optional().describe('The human-readable description for the application'),
    avatar_email: optionalEmail().optional().describe('The e-mail address of the avatar to use for the application'),
  })
  .meta({ id: 'NewApp', description: 'Description of a new organization application.' });

export const UpdateApp = z
  .object({
    name: charField().describe('The name of the application'),
    redirect_uri: charField().describe("The URI for the application's OAuth redirect"),
    application_uri: charField().describe("The URI for the application's homepage"),
    description: z.string().optional().describe('The human-readable description for the application'),
    avatar_email: optionalEmail().optional().describe('The e-mail address of the avatar to use for the application'),
  })
  .meta({ id: 'UpdateApp', description: 'Description of an updated application.' });

const OrgTeamView = z.object({
  name: z.string(),
  description: z.string(),
  role: z.enum(['admin', 'creator', 'member']),
  avatar: AvatarView,
  can_view: z.boolean(),
  repo_count: z.number(),
  member_count: z.number(),
  is_synced: z.boolean(),
});

export const OrgView = z.object({
  name: z.string(),
  email: z.string(),
  avatar: AvatarView,
  is_admin: z.boolean(),
  is_member: z.boolean(),
  teams: z.record(z.string(), OrgTeamView).optional(),
  ordered_teams: z.array(z.string()).optional(),
  invoice_email: z.boolean().optional(),
  invoice_email_address: z.string().nullable().optional(),
  tag_expiration_s: z.number().optional(),
  is_free_account: z.boolean().optional(),
});
