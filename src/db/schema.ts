// One interface per table, as the migrations in migrations/ create them. Plain Kysely types: no ORM.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | T, string | T>;

/** Users, organizations and robots share one table, as in Quay (robots are named `ns+short`). */
export interface NamespaceTable {
  id: Generated<number>;
  uuid: string;
  username: string;
  email: string | null;
  verified: Generated<boolean>;
  password_hash: string | null;
  organization: Generated<boolean>;
  robot: Generated<boolean>;
  enabled: Generated<boolean>;
  invalid_login_attempts: Generated<number>;
  last_invalid_login: NullableTimestamp;
  given_name: string | null;
  family_name: string | null;
  company: string | null;
  location: string | null;
  tag_expiration_s: Generated<number>;
  creation_date: Timestamp;
  /** For robots: the user or organization that owns it. */
  robot_owner_id: number | null;
  invoice_email: Generated<boolean>;
  invoice_email_address: string | null;
}

export type TeamRole = 'admin' | 'creator' | 'member';
export interface TeamTable {
  id: Generated<number>;
  organization_id: number;
  name: string;
  role: TeamRole;
  description: Generated<string>;
  created: Timestamp;
}

export interface TeamMemberTable {
  id: Generated<number>;
  team_id: number;
  user_id: number;
}

export interface OAuthApplicationTable {
  id: Generated<number>;
  client_id: string;
  /** AES-256-GCM under DATABASE_SECRET_KEY: org admins read it back, so it is not hashed (as Quay). */
  client_secret_enc: string;
  redirect_uri: string;
  application_uri: string;
  /** The owning namespace; null for the server's own built-in applications. */
  organization_id: number | null;
  name: string;
  description: Generated<string>;
  avatar_email: string | null;
  /** Built-in first-party apps (the API docs' swagger-ui) that any signed-in user may authorize. */
  builtin: Generated<boolean>;
}

export interface OAuthAccessTokenTable {
  id: Generated<number>;
  uuid: string;
  application_id: number;
  authorized_user_id: number;
  scope: string;
  /** First 20 characters of the token, in clear, for lookup. */
  token_name: string;
  /** SHA-256 of the remaining characters. */
  token_hash: string;
  token_type: string;
  expires_at: Timestamp;
  data: Json;
  last_accessed: NullableTimestamp;
  created: Timestamp;
}

export interface OAuthAuthorizationCodeTable {
  id: Generated<number>;
  application_id: number;
  code_name: string;
  code_hash: string;
  scope: string;
  redirect_uri: string;
  data: Json;
  created: Timestamp;
}

export interface AppSpecificTokenTable {
  id: Generated<number>;
  uuid: string;
  user_id: number;
  title: string;
  /** First 60 characters of the token code, in clear, for lookup. */
  token_name: string;
  /** The other 60 characters, encrypted: the API returns the full code again. */
  token_secret_enc: string;
  created: Timestamp;
  expiration: NullableTimestamp;
  last_accessed: NullableTimestamp;
}

export interface SessionTable {
  /** SHA-256 of the cookie value; the cookie itself is never stored. */
  id: string;
  user_id: number | null;
  csrf_token: string;
  login_time: NullableTimestamp;
  created: Timestamp;
  expires_at: Timestamp;
}

/** Failed credential checks per subject and client IP (src/services/throttle.ts). */
export interface AuthFailureTable {
  subject: string;
  ip: string;
  failures: number;
  last_failure: Timestamp;
}

export interface MessageTable {
  id: Generated<number>;
  uuid: string;
  content: string;
  severity: string;
  media_type: string;
}

export interface LogEntryTable {
  id: Generated<string>;
  kind: string;
  account_id: number | null;
  performer_id: number | null;
  repository_id: number | null;
  ip: string | null;
  datetime: Timestamp;
  metadata: Json;
}

export interface RobotAccountTable {
  robot_id: number;
  description: Generated<string>;
  unstructured_metadata: Json;
  /** AES-256-GCM under DATABASE_SECRET_KEY: the API returns the token again. */
  token_enc: string;
  last_accessed: NullableTimestamp;
}

export type RepoVisibility = 'public' | 'private';
export type RepoState = 'NORMAL' | 'READ_ONLY' | 'MIRROR';
export interface RepositoryTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  visibility: RepoVisibility;
  description: Generated<string>;
  kind: Generated<'image' | 'application'>;
  state: Generated<RepoState>;
  badge_token: string;
  created: Timestamp;
}

export type RepoRoleName = 'read' | 'write' | 'admin';
export interface RepositoryPermissionTable {
  id: Generated<number>;
  repository_id: number;
  user_id: number | null;
  team_id: number | null;
  role: RepoRoleName;
}

export interface PermissionPrototypeTable {
  id: Generated<number>;
  uuid: string;
  org_id: number;
  activating_user_id: number | null;
  delegate_user_id: number | null;
  delegate_team_id: number | null;
  role: RepoRoleName;
}

export interface StarTable {
  id: Generated<number>;
  user_id: number;
  repository_id: number;
  created: Timestamp;
}

export interface TeamMemberInviteTable {
  id: Generated<number>;
  team_id: number;
  user_id: number | null;
  email: string | null;
  inviter_id: number | null;
  /** SHA-256 (hex) of the invite code; the code itself travels only in the invitation. */
  invite_token: string;
  created: Timestamp;
}

/** A one-time code sent by e-mail: sign-up confirmation or password recovery. */
export interface EmailConfirmationTable {
  id: Generated<number>;
  /** SHA-256 (hex) of the code. */
  code_hash: string;
  user_id: number;
  kind: 'confirm' | 'recovery';
  new_email: string | null;
  created: Timestamp;
}

export interface DB {
  namespace: NamespaceTable;
  team: TeamTable;
  team_member: TeamMemberTable;
  oauth_application: OAuthApplicationTable;
  oauth_access_token: OAuthAccessTokenTable;
  oauth_authorization_code: OAuthAuthorizationCodeTable;
  app_specific_token: AppSpecificTokenTable;
  session: SessionTable;
  auth_failure: AuthFailureTable;
  message: MessageTable;
  log_entry: LogEntryTable;
  robot_account: RobotAccountTable;
  repository: RepositoryTable;
  repository_permission: RepositoryPermissionTable;
  permission_prototype: PermissionPrototypeTable;
  star: StarTable;
  team_member_invite: TeamMemberInviteTable;
  email_confirmation: EmailConfirmationTable;
}

export type Repository = Selectable<RepositoryTable>;

export type Namespace = Selectable<NamespaceTable>;
export type NewNamespace = Insertable<NamespaceTable>;
export type NamespaceUpdate = Updateable<NamespaceTable>;
export type OAuthApplication = Selectable<OAuthApplicationTable>;
export type OAuthAccessToken = Selectable<OAuthAccessTokenTable>;
export type AppSpecificToken = Selectable<AppSpecificTokenTable>;
export type Session = Selectable<SessionTable>;
export type Message = Selectable<MessageTable>;
