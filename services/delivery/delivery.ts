import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { ReceiptRecord, type UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import { type Event, type PresenceEvent, ReceiptKind } from "../gen/grpc/parley/v1/events.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../kit/errors.js";
import { newTimeOrderedId } from "../kit/ids.js";
import type { RateLimiter } from "../kit/limiter/limiter.js";
import { joinedBatches } from "../kit/log/joined-batches.js";
import { type LogRecord, type MessageLog, type Subscription, TOPICS } from "../kit/log/log.js";
import type { Logger } from "../kit/logger.js";
import { inSpan, SpanKind } from "../kit/tracing.js";
import { parseConversationId } from "../messages/conversations.js";
import { isMessageId, timeOfMessageId } from "../messages/records.js";
import { type EventSources, toUserEvents } from "./events.js";
import { fanOut, type GroupMembers, groupEvents, messageEvents, receiptEvents } from "./fanout.js";
import { deliveryEvents, pushFailures } from "./metrics.js";
import type { DeliveryStore, DurableEvent, EventSettings, InboxEntry } from "./store.js";

/** What delivery asks of groups besides members: everyone a user shares a group with. */
export interface Groups extends GroupMembers {
  /** Co-members through groups of at most `maxGroupMembers` members (0: every group). */
  coMembers(userId: string, maxGroupMembers: number): Promise<string[]>;
}

/** What delivery asks of presence: where streams are is the pusher's business; this is online state. */
export interface OnlineState {
  lastSeen(userIds: string[]): Promise<{ userId: string; online: boolean; lastSeen: Date | undefined }[]>;
}

export interface Pusher {
  push(events: UserEvent[]): Promise<void>;
}

export interface DeliveryDependencies {
  store: DeliveryStore;
  groups: Groups;
  sources: EventSources;
  online: OnlineState;
  pusher: Pusher;
  log: MessageLog;
  typingLimiter: RateLimiter;
  logger: Logger;
  /**
   * Presence changes are pushed to co-members of groups up to this size only (0: every group): a
   * large group's members coming online would otherwise push members² events. Asking (GetPresence)
   * still answers any co-member.
   */
  presenceGroupMaxMembers?: number;
  now?: () => Date;
}

export const CONSUMER_GROUPS = {
  messages: "parley.delivery.messages",
  groups: "parley.delivery.groups",
  receipts: "parley.delivery.receipts",
} as const;

/** How long a typing indicator shows without a new signal. */
export const TYPING_EXPIRES_MS = 6000;
const MAX_REPLAY_LIMIT = 1000;
const DEFAULT_REPLAY_LIMIT = 100;
const MAX_PRESENCE_USERS = 200;
/**
 * Partition batches fanned out in one call at most: Kafka hands over up to
 * PARLEY_KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY (3 by default) at once, and a call stays within
 * what three side by side took before (a call longer than the session gets the member evicted).
 */
const JOINED_BATCHES_MAX = 3;
/** A receipt may name a message sent at most this far in the (receiving process's) future. */
const CLOCK_SKEW_MS = 60_000;

const MARKER_KINDS = new Map<ReceiptKind, "delivered" | "read">([
  [ReceiptKind.RECEIPT_KIND_DELIVERED, "delivered"],
  [ReceiptKind.RECEIPT_KIND_READ, "read"],
]);

/**
 * Delivery: fans the log out into per-user inboxes and pushes what it wrote to the gateways;
 * answers replays; validates and fans out receipts, typing and presence. See docs/delivery.md.
 */
export class Delivery {
  private readonly now: () => Date;

  constructor(private readonly deps: DeliveryDependencies) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * The consumer of one topic: a batch fanned out in one transaction, then pushed. The span
   * continues the trace of the batch's first record (the send's trace, from the Kafka headers).
   */
  consume(topic: keyof typeof CONSUMER_GROUPS, records: LogRecord[]): Promise<void> {
    const first = records[0];
    const parent = first ? propagation.extract(ROOT_CONTEXT, first.headers) : undefined;
    return inSpan(
      `delivery fan-out ${TOPICS[topic]}`,
      { kind: SpanKind.CONSUMER, parent, attributes: { "messaging.batch.message_count": records.length } },
      () => this.fanOutAndPush(topic, records),
    );
  }

  private async fanOutAndPush(topic: keyof typeof CONSUMER_GROUPS, records: LogRecord[]): Promise<void> {
    const expand = { messages: messageEvents, groups: groupEvents, receipts: receiptEvents }[topic];
    const events: DurableEvent[] = await expand(records, {
      store: this.deps.store,
      groups: this.deps.groups,
      logger: this.deps.logger,
    });
    await fanOut(events, this.deps.store, { written: (entries) => this.pushWritten(entries) });
  }

  /** Pushes entries just written; never throws (what is not pushed, streams get from Replay). */
  private async pushWritten(written: InboxEntry[]): Promise<void> {
    let pushed: UserEvent[];
    try {
      pushed = await toUserEvents(written, this.deps.sources);
    } catch (err) {
      // The events are committed; streams will fetch them with Replay. Failing the batch would
      // only stall every other user's delivery behind this one.
      pushFailures.inc();
      this.deps.logger.warn({ err, events: written.length }, "could not build pushed events; left to replay");
      return;
    }
    await inSpan("delivery push", { attributes: { "parley.events": pushed.length } }, () => {
      // The gateway continues this trace when it hands the events to streams.
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      for (const event of pushed) event.traceContext = carrier;
      return this.deps.pusher.push(pushed);
    });
  }

  async replay(
    userId: string,
    afterSeq: string,
    limit: number,
  ): Promise<{ events: UserEvent[]; headSeq: string; expired: boolean; oldestSeq: string }> {
    requireUser(userId);
    if (!/^\d{1,15}$/.test(afterSeq || "0")) throw invalidArgument("after_seq must be a sequence number");
    if (limit < 0) throw invalidArgument("limit must not be negative");
    const page = await this.deps.store.replay(
      userId,
      Number(afterSeq || "0"),
      limit === 0 ? DEFAULT_REPLAY_LIMIT : Math.min(limit, MAX_REPLAY_LIMIT),
    );
    return {
      events: await toUserEvents(page.entries, this.deps.sources),
      headSeq: String(page.headSeq),
      expired: page.expired,
      oldestSeq: String(page.oldestSeq),
    };
  }

  /** A delivered/read receipt: validated, the marker moved forward, then appended to parley.receipts. */
  async recordReceipt(
    userId: string,
    kind: ReceiptKind,
    conversationId: string,
    messageId: string,
  ): Promise<void> {
    requireUser(userId);
    const marker = MARKER_KINDS.get(kind);
    if (!marker) throw invalidArgument("kind must be delivered or read");
    if (!isMessageId(messageId)) throw invalidArgument("message_id is not a message id");
    if (timeOfMessageId(messageId).getTime() > this.now().getTime() + CLOCK_SKEW_MS) {
      throw invalidArgument("message_id names a message not sent yet");
    }
    await this.participants(userId, conversationId);
    const id = messageId.toLowerCase();
    const receipt: ReceiptRecord = {
      receiptId: newTimeOrderedId(),
      userId,
      kind,
      conversationId,
      messageId: id,
      recordedAt: this.now(),
    };
    // Published inside the marker's transaction: a failed append leaves the marker behind, so
    // the client's retry publishes it; a receipt that does not move the marker publishes nothing.
    await this.deps.store.advanceMarker(userId, conversationId, marker, id, async () => {
      await this.deps.log.append(TOPICS.receipts, [
        {
          key: conversationId,
          value: ReceiptRecord.encode(receipt).finish(),
          headers: { "receipt-id": receipt.receiptId },
        },
      ]);
    });
  }

  /** Typing: to every participant's online streams (the sender's other devices too); never stored. */
  async publishTyping(userId: string, conversationId: string, typing: boolean): Promise<void> {
    requireUser(userId);
    const participants = await this.participants(userId, conversationId);
    const { allowed, retryAfterSeconds } = await this.deps.typingLimiter.hit(userId);
    if (!allowed) {
      throw new DomainError("resource_exhausted", "too many typing signals; slow down", {
        retryAfterSeconds,
      });
    }
    const now = this.now();
    const usernames = await this.deps.sources.usernames([userId]);
    const event: Event = {
      cursor: "",
      eventId: "",
      occurredAt: now,
      typing: {
        conversationId,
        userId,
        username: usernames.get(userId) ?? "",
        typing,
        expiresAt: new Date(now.getTime() + TYPING_EXPIRES_MS),
      },
    };
    deliveryEvents.inc({ kind: "typing" });
    await this.deps.pusher.push(participants.map((id) => ephemeral(id, event)));
  }

  /** A user came online or went offline: told to their audience, unless they hide presence. */
  async publishPresence(userId: string, online: boolean, lastSeen: Date | undefined): Promise<void> {
    requireUser(userId);
    const settings = await this.settingsOf(userId);
    if (!settings.sharePresence) return;
    const audience = [...(await this.audience(userId, this.deps.presenceGroupMaxMembers ?? 0))];
    if (audience.length === 0) return;
    const usernames = await this.deps.sources.usernames([userId]);
    const presence: PresenceEvent = {
      userId,
      username: usernames.get(userId) ?? "",
      online,
      lastSeen: lastSeen ?? this.now(),
    };
    const event: Event = { cursor: "", eventId: "", occurredAt: this.now(), presence };
    deliveryEvents.inc({ kind: "presence" });
    await this.deps.pusher.push(audience.map((id) => ephemeral(id, event)));
  }

  /** Presence of the asked users who share a conversation with the viewer and show presence. */
  async getPresence(viewerId: string, userIds: string[]): Promise<PresenceEvent[]> {
    requireUser(viewerId);
    if (userIds.length > MAX_PRESENCE_USERS) {
      throw invalidArgument(`ask for at most ${MAX_PRESENCE_USERS} users at once`);
    }
    const audience = await this.audience(viewerId, 0);
    audience.add(viewerId);
    const asked = [...new Set(userIds)].filter((id) => audience.has(id));
    const settings = await this.deps.store.settings(asked);
    const visible = asked.filter((id) => id === viewerId || settings.get(id)?.sharePresence !== false);
    if (visible.length === 0) return [];
    const [states, usernames] = await Promise.all([
      this.deps.online.lastSeen(visible),
      this.deps.sources.usernames(visible),
    ]);
    return states.map((state) => ({
      userId: state.userId,
      username: usernames.get(state.userId) ?? "",
      online: state.online,
      lastSeen: state.lastSeen,
    }));
  }

  async settingsOf(userId: string): Promise<EventSettings> {
    requireUser(userId);
    return (await this.deps.store.settings([userId])).get(userId) as EventSettings;
  }

  async updateSettings(userId: string, settings: EventSettings | undefined): Promise<EventSettings> {
    requireUser(userId);
    if (!settings) throw invalidArgument("settings are required");
    return this.deps.store.updateSettings(userId, {
      sendReadReceipts: settings.sendReadReceipts,
      sharePresence: settings.sharePresence,
    });
  }

  /**
   * The participants of a conversation the user is in (them included), or the reason they may not
   * act in it. A direct conversation exists once a message was sent in it (the pair are contacts);
   * a note to self always does.
   */
  async participants(userId: string, conversationId: string): Promise<string[]> {
    const conversation = parseConversationId(conversationId);
    if (!conversation) throw invalidArgument("conversation_id is not a conversation id");
    if (conversation.kind === "direct") {
      const [a, b] = conversation.userIds;
      if (userId !== a && userId !== b) throw permissionDenied("you are not in this conversation");
      const other = userId === a ? b : a;
      if (other !== userId && !(await this.deps.store.contactsOf(userId)).includes(other)) {
        throw permissionDenied("you are not in this conversation");
      }
      return [...new Set([a, b])];
    }
    const members = await this.deps.groups.members(conversation.groupId);
    if (!members) throw notFound("unknown group");
    if (!members.some((m) => m.userId === userId))
      throw permissionDenied("you are not a member of this group");
    return members.map((m) => m.userId);
  }

  /**
   * Everyone who shares a conversation with the user: 1:1 contacts and group co-members (through
   * groups of at most `maxGroupMembers` members; 0: every group).
   */
  private async audience(userId: string, maxGroupMembers: number): Promise<Set<string>> {
    const [contacts, coMembers] = await Promise.all([
      this.deps.store.contactsOf(userId),
      this.deps.groups.coMembers(userId, maxGroupMembers),
    ]);
    const audience = new Set([...contacts, ...coMembers]);
    audience.delete(userId);
    return audience;
  }
}

/**
 * The three consumer groups of delivery, one per topic; stop() stops them all. Batches of several
 * partitions handed over at once are fanned out together (`joinedBatches`): one inbox transaction,
 * one presence lookup and one push for all of them.
 */
export async function startConsumers(
  log: MessageLog,
  delivery: Delivery,
  maxBatch: number,
): Promise<Subscription> {
  // All three join at once: each join may wait (a new broker's coordinator, a dead member's
  // session), and those waits need not add up.
  const started = await Promise.allSettled(
    (["messages", "groups", "receipts"] as const).map((topic) =>
      log.subscribe({
        group: CONSUMER_GROUPS[topic],
        topic: TOPICS[topic],
        maxBatch,
        handler: joinedBatches((records) => delivery.consume(topic, records), JOINED_BATCHES_MAX),
      }),
    ),
  );
  const subscriptions = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const stop = async () => {
    await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { stop };
}

function ephemeral(userId: string, event: Event): UserEvent {
  return { userId, seq: "0", event, appendedAt: undefined, traceContext: {}, shared: 0 };
}

function requireUser(userId: string): void {
  if (!userId) throw invalidArgument("user_id is required");
}
