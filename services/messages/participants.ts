import type { UserRef } from "../gen/grpc/parley/internal/v1/directory.js";
import { DomainError, notFound, permissionDenied } from "../kit/errors.js";

/** What messages asks of auth's user directory. */
export interface UserLookup {
  resolveUsernames(usernames: string[]): Promise<UserRef[]>;
  getUsers(userIds: string[]): Promise<UserRef[]>;
}

/** What messages asks of groups. Never cached: a removed member must lose access at once. */
export interface MembershipCheck {
  check(groupId: string, userId: string): Promise<{ groupExists: boolean; isMember: boolean }>;
}

/**
 * Usernames <-> user ids, with positive answers cached for a short time: every direct send
 * resolves its recipient, and a user that exists keeps its id. Unknown names are not cached, so
 * a user who registers a moment later can be written to at once.
 */
export class CachedDirectory {
  private readonly byName = new Map<string, { user: UserRef; expiresAt: number }>();
  private readonly byId = new Map<string, { user: UserRef; expiresAt: number }>();

  constructor(
    private readonly lookup: UserLookup,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  /** The user of a username, or undefined when there is none. */
  async byUsername(username: string): Promise<UserRef | undefined> {
    const name = username.trim().toLowerCase();
    const cached = this.fresh(this.byName, name);
    if (cached) return cached;
    const users = await this.lookup.resolveUsernames([name]);
    const user = users.find((u) => u.username.toLowerCase() === name);
    if (user) this.remember(user);
    return user;
  }

  /** Usernames of the given ids; ids of users that no longer exist are absent. */
  async usernames(userIds: Iterable<string>): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(userIds)) {
      const cached = this.fresh(this.byId, id);
      if (cached) found.set(id, cached.username);
      else missing.push(id);
    }
    if (missing.length > 0) {
      for (const user of await this.lookup.getUsers(missing)) {
        this.remember(user);
        found.set(user.userId, user.username);
      }
    }
    return found;
  }

  private fresh(map: Map<string, { user: UserRef; expiresAt: number }>, key: string): UserRef | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry.user;
    map.delete(key);
    return undefined;
  }

  private remember(user: UserRef): void {
    const expiresAt = this.now() + this.ttlMs;
    for (const [map, key] of [
      [this.byName, user.username.toLowerCase()],
      [this.byId, user.userId],
    ] as const) {
      if (map.size >= this.maxEntries) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      map.set(key, { user, expiresAt });
    }
  }
}

/** Group ids are opaque to messages but never contain the conversation-id separator. */
const GROUP_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws unless `userId` is a current member of the group. */
export async function requireMember(membership: MembershipCheck, groupId: string, userId: string) {
  if (!groupId) throw new DomainError("invalid_argument", "group_id is required");
  if (!GROUP_ID.test(groupId)) throw notFound("unknown group");
  const { groupExists, isMember } = await membership.check(groupId, userId);
  if (!groupExists) throw notFound("unknown group");
  if (!isMember) throw permissionDenied("not a member of this group");
}

/** The recipient of a direct conversation; unknown usernames are not_found. */
export async function requireRecipient(directory: CachedDirectory, username: string): Promise<UserRef> {
  if (!username.trim()) throw new DomainError("invalid_argument", "recipient_username is required");
  if (username.length > 256) throw notFound("unknown recipient");
  const user = await directory.byUsername(username);
  if (!user) throw notFound("unknown recipient");
  return user;
}
