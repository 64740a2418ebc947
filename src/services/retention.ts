import { deleteDeliveredEventsBatch, deleteEndedCounters, deleteEndedSessions, deleteExpiredLoginCodes, deleteForgettablePhones, deleteOldMessages } from '../store/retention.js'
import { deleteExpiredChallenges } from '../store/passkeys.js'
import type { ServiceContext } from './context.js'

const day = 86_400_000
const messagesKeptDays = 30

/** How many rows one sweep deleted, by what they were. */
export interface Swept {
  sessions: number
  loginCodes: number
  limitCounters: number
  deletedPhones: number
  deliveredEvents: number
  passkeyChallenges: number
  messages: number
}

/**
 * What is kept how long (docs/OPERATIONS.md, "Retention"), and the sweep that deletes the rest:
 * - sessions (with their refresh tokens, spent or not) until RETENTION_SESSION_DAYS after they
 *   expired or were revoked: the person's export and support see recent ones, a replayed refresh
 *   token of a live session is still recognised as spent;
 * - login codes until RETENTION_LOGIN_CODE_DAYS after they expired (the row spaces the next send
 *   only while it is younger than OTP_RESEND_SECONDS);
 * - limit counters (the fraud guard's too) once their window has ended;
 * - deleted phones' hashes kept for device tokens once those tokens have expired
 *   (DEVICE_TOKEN_TTL_DAYS); those that had activated an invite code are kept for good;
 * - delivered webhook events after WEBHOOK_RETENTION_DAYS;
 * - messages (a code's channel and fate, no phone, no code) after 30 days: the admin's rates look
 *   back a day, the metrics keep the long view;
 * - passkey challenges once expired (a ceremony given up; a spent one is deleted when spent);
 * - the admin audit log is never deleted here.
 * Each table is swept in batches of RETENTION_BATCH_SIZE rows, each its own short statement,
 * until a batch comes back short: any number of instances may sweep at once.
 */
export function createRetention ({ db, config, clock }: Pick<ServiceContext, 'db' | 'config' | 'clock'>) {
  const batch = config.retention.batchSize
  let sweeping: Promise<Swept> | undefined

  async function inBatches (deleteBatch: () => Promise<number>): Promise<number> {
    let total = 0
    for (;;) {
      const deleted = await deleteBatch()
      total += deleted
      if (deleted < batch) return total
    }
  }

  async function sweepOnce (): Promise<Swept> {
    const now = clock.now()
    const webhooks = config.webhooks
    return {
      sessions: await inBatches(async () => await deleteEndedSessions(db, now - config.retention.sessionDays * day, batch)),
      loginCodes: await inBatches(async () => await deleteExpiredLoginCodes(db, now - config.retention.loginCodeDays * day, batch)),
      limitCounters: await inBatches(async () => await deleteEndedCounters(db, now, batch)),
      deletedPhones: await inBatches(async () => await deleteForgettablePhones(db, now - config.deviceTokenTtlDays * day, batch)),
      deliveredEvents: webhooks === undefined
        ? 0
        : await inBatches(async () => await deleteDeliveredEventsBatch(db, now - webhooks.retentionDays * day, batch)),
      passkeyChallenges: await inBatches(async () => await deleteExpiredChallenges(db, now, batch)),
      messages: await inBatches(async () => await deleteOldMessages(db, now - messagesKeptDays * day, batch))
    }
  }

  /** One sweep of every table; a sweep asked for while one runs in this process joins it. */
  async function sweep (): Promise<Swept> {
    sweeping ??= sweepOnce().finally(() => { sweeping = undefined })
    return await sweeping
  }

  return { sweep }
}

export type Retention = ReturnType<typeof createRetention>
