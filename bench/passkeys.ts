import { createHash, generateKeyPairSync, sign, createPrivateKey } from 'node:crypto'
import SqliteDatabase from 'better-sqlite3'
import { encodeCBOR } from '@levischuck/tiny-cbor'

// Passkeys for the passkey sign-in scenario: keys made here, their public halves stored as a
// registration would store them, and assertions signed as a platform authenticator signs them
// (counter 0, as synced passkeys keep it), for the RP ID and origin of the bench's settings.

export const benchRpId = 'bench.example'
export const benchOrigin = 'https://bench.example'

export interface SeededPasskey {
  credentialId: string
  /** PKCS#8 DER, base64. */
  privateKey: string
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest()

export function seedPasskeys (file: string, userIds: number[]): SeededPasskey[] {
  const db = new SqliteDatabase(file)
  const insert = db.prepare('insert into passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, name, created_at) values (?, ?, ?, 0, ?, ?, 1, ?, ?)')
  const seeded: SeededPasskey[] = []
  db.transaction(() => {
    for (const userId of userIds) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      const cose = encodeCBOR(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x ?? '', 'base64url')], [-3, Buffer.from(jwk.y ?? '', 'base64url')]]))
      const credentialId = sha256(`bench-passkey-${userId}`).subarray(0, 16).toString('base64url')
      insert.run(credentialId, userId, Buffer.from(cose).toString('base64url'), '["internal","hybrid"]', 'multiDevice', 'bench', Date.now())
      seeded.push({ credentialId, privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') })
    }
  })()
  db.close()
  return seeded
}

/** AuthenticationResponseJSON for `challenge`, signed with the passkey. */
export function signAssertion (passkey: SeededPasskey, challenge: string): unknown {
  const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: benchOrigin, crossOrigin: false }))
  // UP, UV, BE, BS; counter 0.
  const authData = Buffer.concat([sha256(benchRpId), Buffer.from([0x1d]), Buffer.alloc(4)])
  const key = createPrivateKey({ key: Buffer.from(passkey.privateKey, 'base64'), format: 'der', type: 'pkcs8' })
  const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), key)
  return {
    id: passkey.credentialId,
    rawId: passkey.credentialId,
    type: 'public-key',
    response: { clientDataJSON: clientData.toString('base64url'), authenticatorData: authData.toString('base64url'), signature: signature.toString('base64url') },
    clientExtensionResults: {}
  }
}
