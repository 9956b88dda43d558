// AES-256-GCM for cached tokens: the cache identity as associated data, a fresh 96-bit nonce per write.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** Format version, so a later format can tell its values from these. */
const VERSION = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16

/** Encrypts `plaintext` bound to `identity`: base64 of version | nonce | ciphertext | tag. */
export function seal (key: Buffer, identity: string, plaintext: string): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(identity))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([Buffer.from([VERSION]), nonce, body, cipher.getAuthTag()]).toString('base64')
}

/** The plaintext, or undefined when the value was sealed with another key or identity, or was altered. */
export function open (key: Buffer, identity: string, sealed: string): string | undefined {
  const raw = Buffer.from(sealed, 'base64')
  if (raw.length < 1 + NONCE_BYTES + TAG_BYTES || raw[0] !== VERSION) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(1, 1 + NONCE_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(identity))
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(1 + NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
