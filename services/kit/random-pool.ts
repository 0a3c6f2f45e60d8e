import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let used = POOL_BYTES;

/**
 * `n` fresh CSPRNG bytes, cut from a pool refilled 4 KiB at a time; each byte is handed out once.
 * For the small random parts of every message (AES-GCM nonces, message ids): asking the CSPRNG
 * for 12 or 16 bytes per call costs a call into OpenSSL each (~1 µs alone, up to ~25 µs per call
 * in profiles of a busy process), the pool one per ~300 messages. Not for keys: those come from
 * randomBytes directly, so no key material ever sits in a shared buffer.
 */
export function randomBytesFromPool(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > POOL_BYTES) {
    throw new RangeError(`randomBytesFromPool takes 0-${POOL_BYTES} bytes, not ${n}`);
  }
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = Buffer.allocUnsafe(n);
  pool.copy(bytes, 0, used, used + n);
  used += n;
  return bytes;
}
