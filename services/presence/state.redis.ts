import type { Redis } from "ioredis";
import { DEFAULT_REDIS_KEY_PREFIX } from "../kit/redis-keys.js";
import type { PresenceState } from "./state.js";

/** How long a user's last-seen time is kept after they were last online. */
const LAST_SEEN_TTL_SECONDS = 90 * 24 * 3600;

/**
 * Presence state in Redis, shared by every node: each entry is its own key with its own TTL, so
 * Redis expires what a dead node left. Tickets are read and deleted in one GETDEL (single use).
 */
export class RedisPresenceState implements PresenceState {
  /** @param prefix keeps a deployment's (or a test's) keys apart; ends with ":". */
  constructor(
    private readonly redis: Redis,
    private readonly prefix = DEFAULT_REDIS_KEY_PREFIX,
  ) {}

  async putNode(nodeId: string, pushAddress: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.nodeKey(nodeId), pushAddress, "PX", ttlSeconds * 1000);
  }

  async nodeAddresses(nodeIds: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (nodeIds.length === 0) return found;
    const values = await this.redis.mget(nodeIds.map((id) => this.nodeKey(id)));
    nodeIds.forEach((id, i) => {
      const value = values[i];
      if (value) found.set(id, value);
    });
    return found;
  }

  async setLastSeen(userIds: string[], at: Date): Promise<void> {
    if (userIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of userIds)
      pipeline.set(this.seenKey(id), String(at.getTime()), "EX", LAST_SEEN_TTL_SECONDS);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async lastSeen(userIds: string[]): Promise<Map<string, Date>> {
    const found = new Map<string, Date>();
    if (userIds.length === 0) return found;
    const values = await this.redis.mget(userIds.map((id) => this.seenKey(id)));
    userIds.forEach((id, i) => {
      const value = values[i];
      if (value) found.set(id, new Date(Number(value)));
    });
    return found;
  }

  async putTicket(id: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.ticketKey(id), value, "PX", ttlSeconds * 1000);
  }

  async takeTicket(id: string): Promise<string | undefined> {
    return (await this.redis.getdel(this.ticketKey(id))) ?? undefined;
  }

  private nodeKey = (id: string) => `${this.prefix}presence-node:${id}`;
  private seenKey = (id: string) => `${this.prefix}last-seen:${id}`;
  private ticketKey = (id: string) => `${this.prefix}stream-ticket:${id}`;
}
