// Every migration, in order. Listed explicitly so that a bundle can never drop one; never edit a
// migration once it has landed, add a new one.
import type { Migration } from 'kysely/migration';
import * as m20261125T000000 from './20261125T000000_foundation.js';
import * as m20261125T010000 from './20261125T010000_namespaces_and_repositories.js';
import * as m20261125T020000 from './20261125T020000_repository_namespace_id_index.js';
import * as m20261125T030000 from './20261125T030000_mail_and_invoicing.js';
import * as m20261125T040000 from './20261125T040000_repository_namespace_visibility.js';
import * as m20261205T000000 from './20261205T000000_auth_failures.js';
import * as m20261206T000000 from './20261206T000000_registry.js';
import * as m20261207T000000 from './20261207T000000_tag_names_covering.js';
import * as m20261208T000000 from './20261208T000000_tag_history_indexes.js';
import * as m20261209T000000 from './20261209T000000_manifest_layers_size.js';
import * as m20261210T000000 from './20261210T000000_notifications.js';
import * as m20261211T000000 from './20261211T000000_log_partitions.js';
import * as m20261212T000000 from './20261212T000000_log_counts.js';

export const migrations: Record<string, Migration> = {
  '20261125T000000_foundation': m20261125T000000,
  '20261125T010000_namespaces_and_repositories': m20261125T010000,
  '20261125T020000_repository_namespace_id_index': m20261125T020000,
  '20261125T030000_mail_and_invoicing': m20261125T030000,
  '20261125T040000_repository_namespace_visibility': m20261125T040000,
  '20261205T000000_auth_failures': m20261205T000000,
  '20261206T000000_registry': m20261206T000000,
  '20261207T000000_tag_names_covering': m20261207T000000,
  '20261208T000000_tag_history_indexes': m20261208T000000,
  '20261209T000000_manifest_layers_size': m20261209T000000,
  '20261210T000000_notifications': m20261210T000000,
  '20261211T000000_log_partitions': m20261211T000000,
  '20261212T000000_log_counts': m20261212T000000,
};
