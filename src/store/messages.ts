import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import type { MessagesTable } from './schema.js'

export type MessageStatus = 'sent' | 'failed' | 'delivered' | 'undelivered'

export type NewMessage = Omit<MessagesTable, 'delivered_at' | 'updated_at'>

export async function insertMessage (db: DbOrTransaction, message: NewMessage): Promise<void> {
  await db.insertInto('messages').values({ ...message, updated_at: message.created_at, delivered_at: null }).execute()
}

/** What a receipt changed: the message's send and channel, for the undelivered rule. */
export interface ReceiptApplied {
  sendId: string
  channel: string
  country: string
}

/**
 * Records a receipt's final word on a message still `sent`: delivered or undelivered. A message
 * moves once, so a receipt repeated, replayed or out of order changes nothing (undefined).
 */
export async function applyReceipt (db: DbOrTransaction, provider: string, providerId: string, status: 'delivered' | 'undelivered', at: number): Promise<ReceiptApplied | undefined> {
  const [row] = await db.updateTable('messages')
    .set({ status, updated_at: at, delivered_at: status === 'delivered' ? at : null })
    .where('provider', '=', provider)
    .where('provider_id', '=', providerId)
    .where('status', '=', 'sent')
    .returning(['send_id', 'channel', 'country'])
    .execute()
  return row === undefined ? undefined : { sendId: row.send_id, channel: row.channel, country: row.country }
}

/**
 * Marks the phone's code of this send as not brought by `channel`, while it is still the live,
 * unspent code: the next code may then go at once by another channel (replaceLoginCode).
 */
export async function markCodeUndelivered (db: DbOrTransaction, sendId: string, channel: string): Promise<boolean> {
  const rows = await db.updateTable('login_codes')
    .set({ undelivered_by: channel })
    .where('send_id', '=', sendId)
    .where('spent_at', 'is', null)
    .returning('send_id')
    .execute()
  return rows.length > 0
}

export interface DeliveryCount {
  channel: string
  country: string
  status: string
  count: number
}

/** Messages since `since`, counted by channel, country and status (the admin's delivery rates). */
export async function countMessagesSince (db: DbOrTransaction, since: number): Promise<DeliveryCount[]> {
  const rows = await db.selectFrom('messages')
    .select(['channel', 'country', 'status', sql<number | string>`count(*)`.as('count')])
    .where('created_at', '>=', since)
    .groupBy(['channel', 'country', 'status'])
    .orderBy('channel').orderBy('country').orderBy('status')
    .execute()
  return rows.map(row => ({ channel: row.channel, country: row.country, status: row.status, count: Number(row.count) }))
}
