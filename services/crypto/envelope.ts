import { createHash, randomBytes } from "node:crypto";
import { KEY_BYTES as KEY, NONCE_BYTES as NONCE, open, seal, TAG_BYTES as TAG } from "../kit/aead.js";
import { DomainError } from "../kit/errors.js";

/** A wrapped data key: nonce || AES-GCM(kek, dek) with the context as AAD. */
export function wrapKey(kek: Buffer, dataKey: Buffer, context: string): Buffer {
  const { nonce, sealed } = seal(kek, dataKey, Buffer.from(`parley.datakey:${context}`));
  return Buffer.concat([nonce, sealed]);
}

export function unwrapKey(kek: Buffer, wrapped: Buffer, context: string): Buffer {
  const key = open(
    kek,
    wrapped.subarray(0, NONCE),
    wrapped.subarray(NONCE),
    Buffer.from(`parley.datakey:${context}`),
  );
  if (key.length !== KEY) throw new Error("wrapped key has the wrong length");
  return key;
}

export function newDataKey(): Buffer {
  return randomBytes(KEY);
}

const VERSION = "v1";
const OWNER_HINT = 8;
const WRAPPED = NONCE + KEY + TAG;

function ownerHint(userId: string): Buffer {
  return createHash("sha256").update(`parley.owner:${userId}`).digest().subarray(0, OWNER_HINT);
}

/**
 * The seed's /encrypt: "v1." + base64url(owner hint || wrapped data key || nonce || sealed text).
 * A fresh data key per call, wrapped by the KEK; the user id is AAD of both layers, so only the
 * user who encrypted can decrypt. The owner hint (a truncated hash) lets a foreign caller get a
 * clear "not yours" rather than "tampered".
 */
export function encryptForUser(kek: Buffer, userId: string, plaintext: string): string {
  const aad = Buffer.from(`parley.encrypt.v1:${userId}`);
  const dataKey = newDataKey();
  const wrapped = wrapKey(kek, dataKey, `encrypt:${userId}`);
  const { nonce, sealed } = seal(dataKey, Buffer.from(plaintext, "utf8"), aad);
  return `${VERSION}.${Buffer.concat([ownerHint(userId), wrapped, nonce, sealed]).toString("base64url")}`;
}

export function decryptForUser(kek: Buffer, userId: string, encrypted: string): string {
  const dot = encrypted.indexOf(".");
  if (dot < 0 || encrypted.slice(0, dot) !== VERSION) {
    throw new DomainError("invalid_argument", "encryptedMessage is not in a known format");
  }
  const body = encrypted.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]+$/.test(body))
    throw new DomainError("invalid_argument", "encryptedMessage is not base64url");
  const bytes = Buffer.from(body, "base64url");
  if (bytes.length < OWNER_HINT + WRAPPED + NONCE + TAG) {
    throw new DomainError("invalid_argument", "encryptedMessage is truncated");
  }
  if (!bytes.subarray(0, OWNER_HINT).equals(ownerHint(userId))) {
    throw new DomainError("permission_denied", "this message was encrypted by another user");
  }
  try {
    const dataKey = unwrapKey(kek, bytes.subarray(OWNER_HINT, OWNER_HINT + WRAPPED), `encrypt:${userId}`);
    const rest = bytes.subarray(OWNER_HINT + WRAPPED);
    const aad = Buffer.from(`parley.encrypt.v1:${userId}`);
    return open(dataKey, rest.subarray(0, NONCE), rest.subarray(NONCE), aad).toString("utf8");
  } catch (err) {
    throw new DomainError("invalid_argument", "encryptedMessage was tampered with or is corrupt", {
      cause: err,
    });
  }
}
