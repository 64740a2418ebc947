import type { Migration } from 'kysely'
import * as initial from './0001_initial.js'
import * as invitedOrder from './0002_invited_order.js'
import * as loginCodeSpent from './0003_login_code_spent.js'
import * as signingKeys from './0004_signing_keys.js'
import * as webhookEvents from './0005_webhook_events.js'
import * as userBlocks from './0006_user_blocks.js'
import * as accountDeletion from './0007_account_deletion.js'
import * as adminAudit from './0008_admin_audit.js'
import * as phoneChanges from './0009_phone_changes.js'
import * as adminAuditReads from './0010_admin_audit_reads.js'
import * as fraudRules from './0012_fraud_rules.js'
import * as passkeys from './0013_passkeys.js'
import * as messages from './0014_messages.js'
import * as retentionIndexes from './0015_retention_indexes.js'
import * as passkeySessions from './0016_passkey_sessions.js'

/** Every migration, in order. Listed statically so the built and the test runs find the same set. */
export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_invited_order': invitedOrder,
  '0003_login_code_spent': loginCodeSpent,
  '0004_signing_keys': signingKeys,
  '0005_webhook_events': webhookEvents,
  '0006_user_blocks': userBlocks,
  '0007_account_deletion': accountDeletion,
  '0008_admin_audit': adminAudit,
  '0009_phone_changes': phoneChanges,
  '0010_admin_audit_reads': adminAuditReads,
  '0012_fraud_rules': fraudRules,
  '0013_passkeys': passkeys,
  '0014_messages': messages,
  '0015_retention_indexes': retentionIndexes,
  '0016_passkey_sessions': passkeySessions
}
