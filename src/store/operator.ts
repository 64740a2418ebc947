import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import type { LoginCodeRow, SessionRow } from './schema.js'

// Queries only the operator CLI needs: reading a user's whole state and clearing it.

export async function listUserSessions (db: DbOrTransaction, userId: number): Promise<SessionRow[]> {
  return await db.selectFrom('sessions').selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .execute()
}

export interface LimitCounterRow {
  key: string
  window_start: number
  count: number
  expires_at: number
}

/**
 * Limit keys are written by the limits service as segments joined by ":" with the phone as
 * one whole segment (e.g. "send:phone:+79123456789"). Matching whole segments keeps
 * "+7912345678" from matching "+79123456789".
 */
function mentionsPhone (phone: string) {
  return sql<boolean>`(key = ${phone} or key like ${phone + ':%'} or key like ${'%:' + phone} or key like ${'%:' + phone + ':%'})`
}

export async function listLimitCounters (db: DbOrTransaction, phone: string): Promise<LimitCounterRow[]> {
  return await db.selectFrom('limit_counters').selectAll()
    .where(mentionsPhone(phone))
    .orderBy('key').orderBy('window_start')
    .execute()
}

export async function deleteLimitCounters (db: DbOrTransaction, phone: string): Promise<number> {
  const result = await db.deleteFrom('limit_counters').where(mentionsPhone(phone)).executeTakeFirst()
  return Number(result.numDeletedRows)
}

export async function findLoginCodeState (db: DbOrTransaction, phone: string): Promise<Omit<LoginCodeRow, 'code_hash'> | undefined> {
  return await db.selectFrom('login_codes')
    .select(['phone', 'attempts', 'created_at', 'expires_at', 'ip', 'spent_at'])
    .where('phone', '=', phone)
    .executeTakeFirst()
}

export interface InviteTreeRow {
  id: number
  phone: string
  invited_by: number | null
  invited_at: number | null
  depth: number
}

/** The user and everyone below them in the referral forest, parents before children. */
export async function listInviteTree (db: DbOrTransaction, rootId: number): Promise<InviteTreeRow[]> {
  const result = await sql<InviteTreeRow>`
    with recursive tree(id, phone, invited_by, invited_at, depth) as (
      select id, phone, invited_by, invited_at, 0 from users where id = ${rootId}
      union all
      select users.id, users.phone, users.invited_by, users.invited_at, tree.depth + 1
      from users join tree on users.invited_by = tree.id
      where tree.depth < 100000
    )
    select id, phone, invited_by, invited_at, depth from tree order by depth, invited_at, id
  `.execute(db)
  return result.rows.map(row => ({ ...row, id: Number(row.id), invited_by: row.invited_by === null ? null : Number(row.invited_by), depth: Number(row.depth) }))
}
