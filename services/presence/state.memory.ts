import type { PresenceState } from "./state.js";

interface Expiring {
  value: string;
  expiresAt: number;
}

/** Presence state in this process's memory: all-in-one mode, where there is only one node. */
export class MemoryPresenceState implements PresenceState {
  private readonly nodes = new Map<string, Expiring>();
  private readonly seen = new Map<string, Date>();
  private readonly tickets = new Map<string, Expiring>();

  constructor(private readonly now: () => number = Date.now) {}

  async putNode(nodeId: string, pushAddress: string, ttlSeconds: number): Promise<void> {
    this.nodes.set(nodeId, { value: pushAddress, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  async nodeAddresses(nodeIds: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const id of nodeIds) {
      const value = this.live(this.nodes, id);
      if (value !== undefined) found.set(id, value);
    }
    return found;
  }

  async setLastSeen(userIds: string[], at: Date): Promise<void> {
    for (const id of userIds) this.seen.set(id, at);
  }

  async lastSeen(userIds: string[]): Promise<Map<string, Date>> {
    const found = new Map<string, Date>();
    for (const id of userIds) {
      const at = this.seen.get(id);
      if (at) found.set(id, at);
    }
    return found;
  }

  async putTicket(id: string, value: string, ttlSeconds: number): Promise<void> {
    this.sweep(this.tickets);
    this.tickets.set(id, { value, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  async takeTicket(id: string): Promise<string | undefined> {
    const value = this.live(this.tickets, id);
    this.tickets.delete(id);
    return value;
  }

  private live(map: Map<string, Expiring>, id: string): string | undefined {
    const entry = map.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry.value;
    map.delete(id);
    return undefined;
  }

  /** Tickets nobody redeems would otherwise stay in memory for ever. */
  private sweep(map: Map<string, Expiring>): void {
    if (map.size < 1024) return;
    const now = this.now();
    for (const [id, entry] of map) if (entry.expiresAt <= now) map.delete(id);
  }
}
