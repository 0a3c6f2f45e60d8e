import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import { randomBytesFromPool } from "./random-pool.js";

/** AES-256-GCM: 12-byte random nonce, 16-byte tag. */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * createCipheriv with raw key bytes builds a KeyObject on every call, which costs several times
 * the encryption of a message; the same key Buffers (cached data keys, the KEK) come back for every
 * message, so each gets one. Keys are never changed in place, so the Buffer identifies its key.
 */
const keyObjects = new WeakMap<Buffer, KeyObject>();

function keyObject(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = createSecretKey(key);
    keyObjects.set(key, object);
  }
  return object;
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { nonce: Buffer; sealed: Buffer } {
  // Nonces are not secret (stored beside the ciphertext) and must never repeat: pool bytes are used once.
  const nonce = randomBytesFromPool(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", keyObject(key), nonce);
  cipher.setAAD(aad);
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, sealed };
}

/** Throws when the key, AAD, nonce or sealed bytes do not match: tampering is always detected. */
export function open(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (nonce.length !== NONCE_BYTES || sealed.length < TAG_BYTES) throw new Error("malformed ciphertext");
  const decipher = createDecipheriv("aes-256-gcm", keyObject(key), nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  // GCM's final() returns no bytes; it checks the tag, and throws before the plaintext is returned.
  decipher.final();
  return plaintext;
}
