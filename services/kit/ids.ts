import { v7 } from "uuid";
import { randomBytesFromPool } from "./random-pool.js";

/** The last id's time and counter: ids made in the same millisecond count up from a random start. */
const last = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

/**
 * A new UUIDv7 that sorts after every id this process made before (RFC 9562 §6.2, method 1: a
 * 32-bit counter after the millisecond, restarted at a random value each new millisecond and
 * carried into the next millisecond when it wraps or the clock steps back). This is what uuid's
 * own `v7()` does; it is done here only so the random bytes come from the pool, because `v7()`
 * draws 16 bytes from the CSPRNG per id (3.5 % of a busy all-in-one main thread) and uuid keeps
 * its counter only when it draws them itself.
 */
export function newTimeOrderedId(now: number = Date.now()): string {
  const random = randomBytesFromPool(16);
  if (now > last.msecs) {
    last.msecs = now;
    last.seq = random.readUInt32BE(6) & 0x7fffffff;
  } else {
    last.seq = (last.seq + 1) | 0;
    if (last.seq === 0) last.msecs++;
  }
  return v7({ random, msecs: last.msecs, seq: last.seq });
}
