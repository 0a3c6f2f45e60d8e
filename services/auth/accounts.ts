import { invalidArgument } from "../kit/errors.js";
import { newTimeOrderedId } from "../kit/ids.js";
import { hashPassword } from "./passwords.js";
import type { AuthStore, UserRef } from "./store.js";

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

// Checked before folding: some non-ASCII letters lower-case to ASCII (U+212A KELVIN SIGN → "k"),
// and a username must not have two spellings.
const USERNAME = /^[A-Za-z0-9_.-]+$/;

/** Case-folds a username without judging it; lookups of malformed names simply find nobody. */
export function foldUsername(raw: string): string {
  return raw.toLowerCase();
}

export function isValidUsername(raw: string): boolean {
  return raw.length >= USERNAME_MIN && raw.length <= USERNAME_MAX && USERNAME.test(raw);
}

/** The canonical (lower-case) username, or invalid_argument saying what is wrong. */
export function parseUsername(raw: string): string {
  if (raw.length === 0) throw invalidArgument("username is required");
  if (raw.length < USERNAME_MIN || raw.length > USERNAME_MAX) {
    throw invalidArgument(`username must be ${USERNAME_MIN} to ${USERNAME_MAX} characters long`);
  }
  if (!USERNAME.test(raw)) {
    throw invalidArgument("username may contain only letters a-z, digits, '_', '.' and '-'");
  }
  return foldUsername(raw);
}

/** Counted in Unicode code points, so an emoji is one character as a person would count it. */
export function passwordLength(password: string): number {
  let n = 0;
  for (const _ of password) n++;
  return n;
}

export function checkNewPassword(password: string): void {
  if (password.length === 0) throw invalidArgument("password is required");
  const length = passwordLength(password);
  if (length < PASSWORD_MIN) throw invalidArgument(`password must be at least ${PASSWORD_MIN} characters`);
  if (length > PASSWORD_MAX) throw invalidArgument(`password must be at most ${PASSWORD_MAX} characters`);
}

/** Most names one directory lookup may ask for (a whole group's worth). */
export const LOOKUP_MAX = 1_024;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Registration and the directory other services look users up in. */
export class Accounts {
  constructor(
    private readonly store: AuthStore,
    private readonly now: () => number = Date.now,
  ) {}

  async register(rawUsername: string, password: string): Promise<UserRef & { createdAt: Date }> {
    const username = parseUsername(rawUsername);
    checkNewPassword(password);
    const user = {
      userId: newTimeOrderedId(),
      username,
      passwordHash: await hashPassword(password),
      createdAt: new Date(this.now()),
    };
    await this.store.insertUser(user);
    return { userId: user.userId, username: user.username, createdAt: user.createdAt };
  }

  /** The users that exist among `usernames` (any case); malformed names match nobody. */
  async resolveUsernames(usernames: string[]): Promise<UserRef[]> {
    checkLookupSize(usernames.length);
    const names = [...new Set(usernames.map(foldUsername))].filter(isValidUsername);
    return this.store.usersByUsernames(names);
  }

  /** The users that exist among `userIds`; malformed ids match nobody. */
  async usersByIds(userIds: string[]): Promise<UserRef[]> {
    checkLookupSize(userIds.length);
    const ids = [...new Set(userIds.map((id) => id.toLowerCase()))].filter((id) => UUID.test(id));
    return this.store.usersByIds(ids);
  }
}

function checkLookupSize(count: number): void {
  if (count > LOOKUP_MAX) throw invalidArgument(`at most ${LOOKUP_MAX} users can be looked up at once`);
}
