import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. Passkeys (WebAuthn credentials) of accounts, the
// server's WebAuthn challenges (single-use, short-lived, bound to a purpose and, where there is
// one, a user), and how each session was signed in.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('passkeys')
    // The credential id, base64url: at most 1023 bytes (WebAuthn), 1364 characters.
    .addColumn('id', 'varchar(1400)', col => col.primaryKey())
    .addColumn('user_id', 'bigint', col => col.notNull().references('users.id').onDelete('cascade'))
    // The COSE public key, base64url.
    .addColumn('public_key', 'text', col => col.notNull())
    .addColumn('counter', 'bigint', col => col.notNull().defaultTo(0))
    // JSON array of the authenticator's transports (usb, nfc, ble, hybrid, internal).
    .addColumn('transports', 'varchar(200)', col => col.notNull().defaultTo('[]'))
    .addColumn('device_type', 'varchar(20)', col => col.notNull())
    .addColumn('backed_up', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('name', 'varchar(100)', col => col.notNull())
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute()
  await db.schema.createIndex('passkeys_user_id_idx').on('passkeys').column('user_id').execute()
  await db.schema.createTable('webauthn_challenges')
    .addColumn('challenge', 'varchar(100)', col => col.primaryKey())
    // register, authenticate or admin.
    .addColumn('purpose', 'varchar(20)', col => col.notNull())
    .addColumn('user_id', 'bigint', col => col.references('users.id').onDelete('cascade'))
    // A register or admin challenge: the session that asked for it.
    .addColumn('session_id', 'varchar(32)')
    .addColumn('expires_at', 'bigint', col => col.notNull())
    .execute()
  await db.schema.createIndex('webauthn_challenges_expires_at_idx').on('webauthn_challenges').column('expires_at').execute()
  // How the session was signed in: phone (a code) or passkey; and when a passkey last proved it
  // (a passkey sign-in, or an admin's second factor after a code).
  await db.schema.alterTable('sessions').addColumn('method', 'varchar(10)', col => col.notNull().defaultTo('phone')).execute()
  await db.schema.alterTable('sessions').addColumn('passkey_at', 'bigint').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('passkey_at').execute()
  await db.schema.alterTable('sessions').dropColumn('method').execute()
  await db.schema.dropTable('webauthn_challenges').execute()
  await db.schema.dropTable('passkeys').execute()
}
