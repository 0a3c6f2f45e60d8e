import { invalidArgument, permissionDenied } from "../../kit/errors.js";

/**
 * A stream cursor: opaque to clients, (user id, seq) inside. Not signed: it names a position in
 * the caller's own inbox, so forging one gains nothing, and another user's cursor is refused by
 * comparing the user id with the caller's.
 *
 * Wire form: base64url("1:" + userId + ":" + seq). The version lets the format change later.
 */
const VERSION = "1";
const MAX_CURSOR_LENGTH = 200;
const MAX_SEQ = 2n ** 64n - 1n;
const DECODED = /^1:([A-Za-z0-9_-]{1,64}):(0|[1-9][0-9]{0,19})$/;

export function encodeCursor(userId: string, seq: bigint): string {
  return Buffer.from(`${VERSION}:${userId}:${seq}`, "utf8").toString("base64url");
}

/** The seq after which a stream of `userId` resumes; throws invalid_argument / permission_denied. */
export function parseCursor(cursor: string, userId: string): bigint {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalidArgument("cursor is malformed");
  }
  const match = DECODED.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  const seq = match?.[2] === undefined ? undefined : BigInt(match[2]);
  if (!match || seq === undefined || seq > MAX_SEQ) throw invalidArgument("cursor is malformed");
  if (match[1] !== userId) throw permissionDenied("cursor belongs to another user");
  return seq;
}
