/**
 * The presence state role, besides the online sessions of kit/presence: where each gateway node
 * can be pushed to, when each user was last seen, and stream tickets. Every entry has a TTL, so
 * what a dead node announced vanishes by itself. In-process all-in-one, Redis in a mesh.
 */
export interface PresenceState {
  /** Announces (again) that `nodeId` takes pushes at `pushAddress`, for `ttlSeconds`. */
  putNode(nodeId: string, pushAddress: string, ttlSeconds: number): Promise<void>;
  /** The push addresses of the nodes that are still announced, by node id. */
  nodeAddresses(nodeIds: string[]): Promise<Map<string, string>>;
  setLastSeen(userIds: string[], at: Date): Promise<void>;
  /** When each user was last seen (users never seen are absent). */
  lastSeen(userIds: string[]): Promise<Map<string, Date>>;
  /** Keeps `value` under `id` for `ttlSeconds`, readable once. */
  putTicket(id: string, value: string, ttlSeconds: number): Promise<void>;
  /** The value of a ticket that has not expired, removed in the same step (single use). */
  takeTicket(id: string): Promise<string | undefined>;
}
