import { createHash, randomBytes } from "node:crypto";
import { invalidArgument } from "../kit/errors.js";
import type { OnlineSessions } from "../kit/presence/sessions.js";
import type { PresenceState } from "./state.js";

export interface StreamRef {
  userId: string;
  streamId: string;
}

export interface NodeStreams {
  nodeId: string;
  pushAddress: string;
  userIds: string[];
}

export interface UserLastSeen {
  userId: string;
  online: boolean;
  /** Undefined for a user never seen. */
  lastSeen: Date | undefined;
}

export interface PresenceLimits {
  /** The TTL used when a caller asks for 0, and the longest one allowed. */
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  ticketTtlSeconds: number;
  maxTicketTtlSeconds: number;
}

export const DEFAULT_LIMITS: PresenceLimits = {
  defaultTtlSeconds: 60,
  maxTtlSeconds: 600,
  ticketTtlSeconds: 30,
  maxTicketTtlSeconds: 300,
};

/** A ticket is 256 random bits; only its hash is stored, so a copy of the store redeems nothing. */
const TICKET_BYTES = 32;
const TICKET = /^[A-Za-z0-9_-]{43}$/;
const MAX_ID_LENGTH = 200;

/**
 * Which node holds which user's streams, who is online and since when, and stream tickets:
 * what PresenceService answers, over the online-sessions role (one session per stream, its node
 * as the value) and the presence state role. Online means "has at least one live stream".
 */
export class Presence {
  constructor(
    private readonly sessions: OnlineSessions,
    private readonly state: PresenceState,
    private readonly limits: PresenceLimits = DEFAULT_LIMITS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async registerNode(nodeId: string, pushAddress: string, ttlSeconds: number): Promise<void> {
    requireId(nodeId, "node_id");
    if (!/^[^\s]+:\d+$/.test(pushAddress)) throw invalidArgument("push_address must be host:port");
    await this.state.putNode(nodeId, pushAddress, this.ttl(ttlSeconds));
  }

  /** Opens or refreshes streams held by `nodeId`; answers the users that had no stream before. */
  async heartbeatStreams(nodeId: string, streams: StreamRef[], ttlSeconds: number): Promise<string[]> {
    requireId(nodeId, "node_id");
    for (const s of streams) requireStream(s);
    const ttl = this.ttl(ttlSeconds);
    const users = [...new Set(streams.map((s) => s.userId))];
    const before = await this.sessions.list(users);
    const cameOnline = users.filter((_, i) => before[i]?.length === 0);
    // Every stream registered again: new ones appear, held ones live on, moved ones move here.
    await this.sessions.register(
      streams.map((s) => ({ userId: s.userId, sessionId: s.streamId, node: nodeId })),
      ttl,
    );
    await this.state.setLastSeen(users, this.now());
    return cameOnline;
  }

  /** Streams a node closed; answers the users left with none. */
  async closeStreams(nodeId: string, streams: StreamRef[]): Promise<string[]> {
    requireId(nodeId, "node_id");
    for (const s of streams) requireStream(s);
    const users = [...new Set(streams.map((s) => s.userId))];
    const before = await this.sessions.list(users);
    const listed = new Map(users.map((id, i) => [id, before[i]]));
    // Only the node that holds a stream may close it: a stream that moved on stays open.
    await this.sessions.unregister(
      streams
        .filter((s) =>
          listed.get(s.userId)?.some((live) => live.sessionId === s.streamId && live.node === nodeId),
        )
        .map((s) => ({ userId: s.userId, sessionId: s.streamId })),
    );
    const after = await this.sessions.list(users);
    const wentOffline = users.filter((_, i) => (before[i]?.length ?? 0) > 0 && after[i]?.length === 0);
    await this.state.setLastSeen(wentOffline, this.now());
    return wentOffline;
  }

  /** The nodes holding streams of these users; nodes no longer announced are left out. */
  async locate(userIds: string[]): Promise<NodeStreams[]> {
    const users = [...new Set(userIds)];
    const lists = await this.sessions.list(users);
    const byNode = new Map<string, Set<string>>();
    for (const sessions of lists) {
      for (const s of sessions) {
        let set = byNode.get(s.node);
        if (!set) {
          set = new Set();
          byNode.set(s.node, set);
        }
        set.add(s.userId);
      }
    }
    const addresses = await this.state.nodeAddresses([...byNode.keys()]);
    return [...byNode]
      .filter(([node]) => addresses.has(node))
      .map(([nodeId, users]) => ({
        nodeId,
        pushAddress: addresses.get(nodeId) as string,
        userIds: [...users],
      }));
  }

  async lastSeen(userIds: string[]): Promise<UserLastSeen[]> {
    const users = [...new Set(userIds)];
    const [lists, seen] = await Promise.all([this.sessions.list(users), this.state.lastSeen(users)]);
    return users.map((userId, i) => ({
      userId,
      online: (lists[i]?.length ?? 0) > 0,
      lastSeen: seen.get(userId),
    }));
  }

  async issueTicket(
    userId: string,
    sessionId: string,
    ttlSeconds: number,
  ): Promise<{ ticket: string; expiresAt: Date }> {
    requireId(userId, "user_id");
    requireId(sessionId, "session_id");
    const ttl =
      ttlSeconds === 0 ? this.limits.ticketTtlSeconds : Math.min(ttlSeconds, this.limits.maxTicketTtlSeconds);
    const ticket = randomBytes(TICKET_BYTES).toString("base64url");
    await this.state.putTicket(ticketId(ticket), JSON.stringify({ userId, sessionId }), ttl);
    return { ticket, expiresAt: new Date(this.now().getTime() + ttl * 1000) };
  }

  /** The ticket's owner, once; undefined when it is unknown, used or expired. */
  async redeemTicket(ticket: string): Promise<{ userId: string; sessionId: string } | undefined> {
    if (!TICKET.test(ticket)) return undefined;
    const value = await this.state.takeTicket(ticketId(ticket));
    if (!value) return undefined;
    return JSON.parse(value) as { userId: string; sessionId: string };
  }

  private ttl(seconds: number): number {
    return seconds === 0 ? this.limits.defaultTtlSeconds : Math.min(seconds, this.limits.maxTtlSeconds);
  }
}

function ticketId(ticket: string): string {
  return createHash("sha256").update(ticket).digest("base64url");
}

function requireId(value: string, name: string): void {
  if (!value || value.length > MAX_ID_LENGTH)
    throw invalidArgument(`${name} is required (at most ${MAX_ID_LENGTH} characters)`);
}

function requireStream(stream: StreamRef): void {
  requireId(stream.userId, "stream user_id");
  requireId(stream.streamId, "stream_id");
}
