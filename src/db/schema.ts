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

/** Counts of log_entry by period (migration 20261212T000000, src/db/log-counts.ts). */
export interface LogCountTable {
  /** 1 a namespace, 2 a repository, 3 the whole instance. */
  scope: number;
  target_id: number;
  /** 0: every entry; otherwise that performer's. */
  performer_id: number;
  /** 24: a UTC day; 1: an hour. */
  hours: number;
  period: Timestamp;
  kind: string;
  count: number;
}

export interface LogCountedTable {
  hours: number;
  period: Timestamp;
  counted: Generated<Timestamp>;
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

// ---- Registry (migrations/20261206T000000_registry.ts) ----

/** bigint columns: both drivers give numbers (src/db/index.ts sets pg's int8 parser as PGlite's). */
type BigId = number;

export interface ServiceKeyTable {
  id: Generated<number>;
  kid: string;
  service: string;
  name: string | null;
  jwk: Json;
  /** The private half, encrypted under DATABASE_SECRET_KEY; only for keys this server signs with. */
  private_key_enc: string | null;
  metadata: Json;
  created_date: Timestamp;
  expiration_date: NullableTimestamp;
  rotation_duration: number | null;
  approval_type: string | null;
  approver_id: number | null;
  approved_date: NullableTimestamp;
  approval_notes: string | null;
}

export interface BlobTable {
  id: Generated<BigId>;
  digest: string;
  size: BigId;
  created: Timestamp;
  /** The last push, mount or manifest that used it (the garbage collector's grace counts from here). */
  last_used: Timestamp;
  /** Set while the garbage collector removes it. */
  deleting: Generated<boolean>;
}

export interface RepositoryBlobTable {
  repository_id: number;
  blob_id: BigId;
  created: Timestamp;
}

export interface BlobUploadTable {
  id: Generated<BigId>;
  uuid: string;
  repository_id: number;
  byte_count: Generated<BigId>;
  chunk_count: Generated<number>;
  hash_state: Buffer | null;
  storage_state: Json;
  lease_token: string | null;
  lease_expires: NullableTimestamp;
  created: Timestamp;
  updated: Timestamp;
}

export interface ManifestTable {
  id: Generated<BigId>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_media_type: string | null;
  size: number;
  content: Buffer;
  /** The layers' compressed size (config excluded); null for indexes and lists. */
  layers_size: number | null;
  created: Timestamp;
}

export interface ManifestBlobTable {
  manifest_id: BigId;
  blob_id: BigId;
}

export interface ManifestChildTable {
  manifest_id: BigId;
  child_manifest_id: BigId;
}

export interface TagTable {
  id: Generated<BigId>;
  repository_id: number;
  name: string;
  manifest_id: BigId;
  lifetime_start_ms: BigId;
  /** null: no end; a tag is live while this is null or in the future. */
  lifetime_end_ms: BigId | null;
  hidden: Generated<boolean>;
  reversion: Generated<boolean>;
}

export type LabelSource = 'manifest' | 'api' | 'internal';
export interface ManifestLabelTable {
  id: Generated<BigId>;
  uuid: string;
  manifest_id: BigId;
  key: string;
  value: string;
  media_type: string;
  source_type: LabelSource;
}

export interface JobTable {
  id: Generated<BigId>;
  queue: string;
  body: Json<unknown>;
  available_after: Timestamp;
  /** The lease: while in the future, the job is being processed by someone. */
  processing_expires: NullableTimestamp;
  retries_remaining: Generated<number>;
  state_id: string;
  last_error: string | null;
  /** At most one pending job per key. */
  dedupe_key: string | null;
  created: Timestamp;
}

// ---- Notifications (migrations/20261210T000000_notifications.ts) ----

/** A repository notification: when `event` happens, deliver by `method` (Quay's RepositoryNotification). */
export interface RepositoryNotificationTable {
  id: Generated<number>;
  uuid: string;
  repository_id: number;
  event: string;
  method: string;
  title: string | null;
  config: Json;
  event_config: Json;
  /** Failed deliveries in a row; at 3 the notification is skipped until reset. */
  number_of_failures: Generated<number>;
  created: Generated<Date>;
}

/** An in-app notification for a user or an organization (Quay's `notification` table). */
export interface NotificationTable {
  id: Generated<number>;
  uuid: string;
  kind: string;
  target_id: number;
  metadata: Json;
  dismissed: Generated<boolean>;
  lookup_path: string | null;
  /** The delivery (job) that created it, so that a delivery run twice creates it once. */
  dedupe_key: string | null;
  created: Generated<Date>;
}

/** An address a repository's e-mail notifications may go to, once confirmed (Quay's RepositoryAuthorizedEmail). */
export interface RepositoryAuthorizedEmailTable {
  id: Generated<number>;
  repository_id: number;
  email: string;
  code_hash: string;
  confirmed: Generated<boolean>;
  created: Generated<Date>;
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
  service_key: ServiceKeyTable;
  blob: BlobTable;
  repository_blob: RepositoryBlobTable;
  blob_upload: BlobUploadTable;
  manifest: ManifestTable;
  manifest_blob: ManifestBlobTable;
  manifest_child: ManifestChildTable;
  tag: TagTable;
  manifest_label: ManifestLabelTable;
  job: JobTable;
  message: MessageTable;
  log_entry: LogEntryTable;
  log_count: LogCountTable;
  log_counted: LogCountedTable;
  robot_account: RobotAccountTable;
  repository: RepositoryTable;
  repository_permission: RepositoryPermissionTable;
  permission_prototype: PermissionPrototypeTable;
  star: StarTable;
  team_member_invite: TeamMemberInviteTable;
  email_confirmation: EmailConfirmationTable;
  repository_notification: RepositoryNotificationTable;
  notification: NotificationTable;
  repository_authorized_email: RepositoryAuthorizedEmailTable;
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
