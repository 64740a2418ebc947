/** Milliseconds since the epoch. Injected, so a test crosses an expiry without sleeping. */
export interface Clock {
  now: () => number
}

export const systemClock: Clock = { now: () => Date.now() }
