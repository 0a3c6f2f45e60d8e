import type { OnlineSession, OnlineSessions, SessionRef } from "./sessions.js";

/** Online sessions in this process's memory: all-in-one mode, where there is only one node. */
export class MemoryOnlineSessions implements OnlineSessions {
  private readonly users = new Map<string, Map<string, { node: string; expiresAt: number }>>();

  constructor(private readonly now: () => number = Date.now) {}

  async register(sessions: readonly OnlineSession[], ttlSeconds: number): Promise<void> {
    for (const session of sessions) {
      let held = this.users.get(session.userId);
      if (!held) {
        held = new Map();
        this.users.set(session.userId, held);
      }
      held.set(session.sessionId, { node: session.node, expiresAt: this.now() + ttlSeconds * 1000 });
    }
  }

  async unregister(sessions: readonly SessionRef[]): Promise<void> {
    for (const { userId, sessionId } of sessions) {
      const held = this.users.get(userId);
      held?.delete(sessionId);
      if (held?.size === 0) this.users.delete(userId);
    }
  }

  async list(userIds: readonly string[]): Promise<OnlineSession[][]> {
    return userIds.map((userId) =>
      [...this.live(userId)].map(([sessionId, { node }]) => ({ userId, sessionId, node })),
    );
  }

  /** The user's sessions with the expired ones dropped, so memory holds only the online. */
  private live(userId: string) {
    const sessions = this.users.get(userId) ?? new Map<string, { node: string; expiresAt: number }>();
    const now = this.now();
    for (const [id, session] of sessions) if (session.expiresAt <= now) sessions.delete(id);
    if (sessions.size === 0) this.users.delete(userId);
    return sessions;
  }
}
