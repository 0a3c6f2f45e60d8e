/** A live connection of one user's device, and the node (gateway replica) that holds its stream. */
export interface OnlineSession {
  userId: string;
  sessionId: string;
  node: string;
}

/**
 * The presence role: who is online and where. A session lives as long as its node keeps
 * heartbeating it within the TTL, so a node that dies takes its sessions with it by expiry,
 * without anyone cleaning up. In-process for one process, Redis when nodes must see each other's.
 */
export interface OnlineSessions {
  /** Marks the session online at `node` for `ttlSeconds` (again, if it was already). */
  register(session: OnlineSession, ttlSeconds: number): Promise<void>;
  /**
   * Keeps a session online for another `ttlSeconds`. false when it had already expired (or was
   * never registered): the node should register it again.
   */
  heartbeat(userId: string, sessionId: string, ttlSeconds: number): Promise<boolean>;
  unregister(userId: string, sessionId: string): Promise<void>;
  /**
   * Each user's sessions that have not expired (in no particular order), in the order of
   * `userIds`: one lookup for a whole fan-out, not one per recipient.
   */
  list(userIds: readonly string[]): Promise<OnlineSession[][]>;
}
