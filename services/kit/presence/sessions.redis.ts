import type { Redis } from "ioredis";
import { DEFAULT_REDIS_KEY_PREFIX } from "../redis-keys.js";
import type { OnlineSession, OnlineSessions } from "./sessions.js";

// KEYS: user index, session. ARGV: session id, node, ttl ms. The index lives as long as its
// longest-lived session, so an idle user leaves nothing behind.
const REGISTER = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

// KEYS: user index, session. ARGV: ttl ms. 0 when the session already expired.
const HEARTBEAT = `
if redis.call('PEXPIRE', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1`;

// KEYS: user index, session. ARGV: session id, session key prefix. The index's TTL shrinks to
// its longest remaining session's, so an unregistered long session leaves no long-lived index.
const UNREGISTER = `
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
local longest = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local left = redis.call('PTTL', ARGV[2] .. id)
  if left > longest then longest = left end
  if left == -2 then redis.call('SREM', KEYS[1], id) end
end
if longest > 0 then redis.call('PEXPIRE', KEYS[1], longest) else redis.call('DEL', KEYS[1]) end
return 1`;

// KEYS: user indexes (a session's key is its index, ":" and its id). Returns per index: id, node,
// id, node...; forgets expired ids in the same atomic step, so a session registered again
// meanwhile is never dropped. One call for many users: a 1,000-member fan-out made 1,000 calls,
// whose encoding and parsing on both sides cost more than the lookups.
const LIST = `
local out = {}
for i, index in ipairs(KEYS) do
  local found = {}
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local node = redis.call('GET', index .. ':' .. id)
    if node then
      table.insert(found, id)
      table.insert(found, node)
    else
      redis.call('SREM', index, id)
    end
  end
  out[i] = found
end
return out`;

/**
 * Users per LIST call: a call holds Redis for its users' lookups (~1 µs each), so a huge group
 * is split into calls that other clients' commands can run between.
 */
export const LIST_USERS_PER_CALL = 256;

type WithScripts = Redis & {
  parleyPresenceRegister(
    index: string,
    key: string,
    id: string,
    node: string,
    ttlMs: number,
  ): Promise<number>;
  parleyPresenceHeartbeat(index: string, key: string, ttlMs: number): Promise<number>;
  parleyPresenceUnregister(index: string, key: string, id: string, prefix: string): Promise<number>;
  parleyPresenceList(keyCount: number, ...indexes: string[]): Promise<string[][]>;
};

/** Online sessions in Redis, shared by every node; expiry is Redis's own key expiry. */
export class RedisOnlineSessions implements OnlineSessions {
  private readonly redis: WithScripts;

  /** @param prefix keeps a deployment's (or a test's) keys apart (PARLEY_REDIS_KEY_PREFIX). */
  constructor(
    redis: Redis,
    private readonly prefix = DEFAULT_REDIS_KEY_PREFIX,
  ) {
    if (!("parleyPresenceList" in redis)) {
      redis.defineCommand("parleyPresenceRegister", { numberOfKeys: 2, lua: REGISTER });
      redis.defineCommand("parleyPresenceHeartbeat", { numberOfKeys: 2, lua: HEARTBEAT });
      redis.defineCommand("parleyPresenceUnregister", { numberOfKeys: 2, lua: UNREGISTER });
      // The number of keys is given per call.
      redis.defineCommand("parleyPresenceList", { lua: LIST });
    }
    this.redis = redis as WithScripts;
  }

  async register(session: OnlineSession, ttlSeconds: number): Promise<void> {
    await this.redis.parleyPresenceRegister(
      this.userKey(session.userId),
      this.sessionPrefix(session.userId) + session.sessionId,
      session.sessionId,
      session.node,
      ttlSeconds * 1000,
    );
  }

  async heartbeat(userId: string, sessionId: string, ttlSeconds: number): Promise<boolean> {
    const key = this.sessionPrefix(userId) + sessionId;
    return (await this.redis.parleyPresenceHeartbeat(this.userKey(userId), key, ttlSeconds * 1000)) === 1;
  }

  async unregister(userId: string, sessionId: string): Promise<void> {
    const prefix = this.sessionPrefix(userId);
    await this.redis.parleyPresenceUnregister(this.userKey(userId), prefix + sessionId, sessionId, prefix);
  }

  async list(userIds: readonly string[]): Promise<OnlineSession[][]> {
    const calls: Promise<string[][]>[] = [];
    for (let start = 0; start < userIds.length; start += LIST_USERS_PER_CALL) {
      const indexes = userIds.slice(start, start + LIST_USERS_PER_CALL).map((id) => this.userKey(id));
      calls.push(this.redis.parleyPresenceList(indexes.length, ...indexes));
    }
    const found = (await Promise.all(calls)).flat();
    return userIds.map((userId, u) => {
      const flat = found[u] ?? [];
      const sessions: OnlineSession[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        sessions.push({ userId, sessionId: flat[i] as string, node: flat[i + 1] as string });
      }
      return sessions;
    });
  }

  // Each session is its own key with its own TTL, so Redis expires it; a set per user indexes them.
  // Both keys share the {userId} hash tag: one slot, so the per-session scripts would be atomic on
  // a cluster too. LIST reads many users' slots in one call: a cluster client (not used: openRedis
  // connects to one server) would have to group its keys by slot.
  private userKey(userId: string): string {
    return `${this.prefix}presence:{${userId}}`;
  }

  private sessionPrefix(userId: string): string {
    return `${this.userKey(userId)}:`;
  }
}
