/** A live connection of one user's device, and the node (gateway replica) that holds its stream. */
export interface OnlineSession {
  userId: string;
  sessionId: string;
  node: string;
}

/** Names one session of one user. */
export type SessionRef = Pick<OnlineSession, "userId" | "sessionId">;

/**
 * The presence role: who is online and where. A session lives as long as its node keeps
 * registering it again within the TTL, so a node that dies takes its sessions with it by expiry,
 * without anyone cleaning up. In-process for one process, Redis when nodes must see each other's.
 */
export interface OnlineSessions {
  /**
   * Marks the sessions online at their nodes for `ttlSeconds`: registering a session again is its
   * heartbeat, and moves it to the node given.
   */
  register(sessions: readonly OnlineSession[], ttlSeconds: number): Promise<void>;
  /** Forgets the sessions at once (one never registered, or expired, is no error). */
  unregister(sessions: readonly SessionRef[]): Promise<void>;
  /**
   * Each user's sessions that have not expired (in no particular order), in the order of
   * `userIds`: one lookup for a whole fan-out, not one per recipient.
   */
  list(userIds: readonly string[]): Promise<OnlineSession[][]>;
}
