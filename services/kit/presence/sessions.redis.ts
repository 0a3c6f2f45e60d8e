import type { Redis } from "ioredis";
import { DEFAULT_REDIS_KEY_PREFIX } from "../redis-keys.js";
import type { OnlineSession, OnlineSessions, SessionRef } from "./sessions.js";

// KEYS: user index, session, user index, session... ARGV: ttl ms, then session id, node per pair.
// Registering again is the heartbeat: it refreshes the TTL and moves a session to its new node.
// The index lives as long as its longest-lived session, so an idle user leaves nothing behind.
const REGISTER = `
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i + 1], ARGV[i + 2], 'PX', ttl)
  redis.call('SADD', KEYS[i], ARGV[i + 1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1`;

// KEYS: user index, session, user index, session... ARGV: the session ids, one per pair. The
// index's TTL shrinks to its longest remaining session's, so an unregistered long session leaves no
// long-lived index.
const UNREGISTER = `
for i = 1, #KEYS, 2 do
  local index = KEYS[i]
  redis.call('DEL', KEYS[i + 1])
  redis.call('SREM', index, ARGV[(i + 1) / 2])
  local longest = 0
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local left = redis.call('PTTL', index .. ':' .. id)
    if left > longest then longest = left end
    if left == -2 then redis.call('SREM', index, id) end
  end
  if longest > 0 then redis.call('PEXPIRE', index, longest) else redis.call('DEL', index) end
end
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
 * Users per LIST call, sessions per REGISTER call: a call holds Redis for its keys (~1 µs each),
 * so a huge group or a node's every stream is split into calls that other commands can run between.
 */
export const KEYS_PER_CALL = 256;

type WithScripts = Redis & {
  parleyPresenceRegister(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number>;
  parleyPresenceUnregister(keyCount: number, ...keysThenIds: string[]): Promise<number>;
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
      // These take the number of keys per call.
      redis.defineCommand("parleyPresenceUnregister", { lua: UNREGISTER });
      redis.defineCommand("parleyPresenceRegister", { lua: REGISTER });
      redis.defineCommand("parleyPresenceList", { lua: LIST });
    }
    this.redis = redis as WithScripts;
  }

  async register(sessions: readonly OnlineSession[], ttlSeconds: number): Promise<void> {
    await inCalls(sessions, (part) => {
      const args = part.flatMap((s) => [s.sessionId, s.node]);
      return this.redis.parleyPresenceRegister(...this.indexAndSessionKeys(part), ttlSeconds * 1000, ...args);
    });
  }

  async unregister(sessions: readonly SessionRef[]): Promise<void> {
    await inCalls(sessions, (part) =>
      this.redis.parleyPresenceUnregister(...this.indexAndSessionKeys(part), ...part.map((s) => s.sessionId)),
    );
  }

  async list(userIds: readonly string[]): Promise<OnlineSession[][]> {
    const found = (
      await inCalls(userIds, (part) =>
        this.redis.parleyPresenceList(part.length, ...part.map((id) => this.userKey(id))),
      )
    ).flat();
    return userIds.map((userId, u) => {
      const flat = found[u] ?? [];
      const sessions: OnlineSession[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        sessions.push({ userId, sessionId: flat[i] as string, node: flat[i + 1] as string });
      }
      return sessions;
    });
  }

  /** The key count, then each session's user index and session key: REGISTER's and UNREGISTER's KEYS. */
  private indexAndSessionKeys(sessions: readonly SessionRef[]): [number, ...string[]] {
    const keys = sessions.flatMap((s) => [
      this.userKey(s.userId),
      `${this.userKey(s.userId)}:${s.sessionId}`,
    ]);
    return [keys.length, ...keys];
  }

  // Each session is its own key with its own TTL, so Redis expires it; a set per user indexes them.
  // Both keys share the {userId} hash tag: one slot, so the per-session scripts would be atomic on
  // a cluster too. LIST reads many users' slots in one call: a cluster client (not used: openRedis
  // connects to one server) would have to group its keys by slot.
  private userKey(userId: string): string {
    return `${this.prefix}presence:{${userId}}`;
  }
}

/** `call` on parts of at most KEYS_PER_CALL items, all at once; the answers in order. */
function inCalls<T, R>(items: readonly T[], call: (part: readonly T[]) => Promise<R>): Promise<R[]> {
  const calls: Promise<R>[] = [];
  for (let start = 0; start < items.length; start += KEYS_PER_CALL) {
    calls.push(call(items.slice(start, start + KEYS_PER_CALL)));
  }
  return Promise.all(calls);
}
