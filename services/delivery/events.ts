import { ReceiptRecord, type UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import { GroupEvent, MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Event } from "../gen/grpc/parley/v1/events.js";
import { toMessage } from "../messages/records.js";
import type { InboxEntry } from "./store.js";

/** What turning stored events into client events needs: plaintext and usernames. */
export interface EventSources {
  /** The plaintext of a sealed message record (never stored by delivery). */
  open(record: MessageRecord): Promise<string>;
  /** Usernames of these user ids (unknown ids absent). */
  usernames(userIds: Iterable<string>): Promise<Map<string, string>>;
}

/**
 * Inbox entries as the UserEvents gateways push and replay. Each distinct event is decoded (and
 * decrypted) once, however many of the entries share it: a group message to 1,000 members is
 * opened once.
 */
export async function toUserEvents(entries: InboxEntry[], sources: EventSources): Promise<UserEvent[]> {
  const decoded = new Map<string, Decoded>();
  for (const entry of entries) if (!decoded.has(entry.eventKey)) decoded.set(entry.eventKey, decode(entry));
  const people = new Set<string>();
  for (const d of decoded.values()) for (const id of d.people) people.add(id);
  const usernames = await sources.usernames(people);
  const events = new Map<string, Promise<Event>>();
  for (const [key, d] of decoded) events.set(key, d.build(usernames, sources));
  return Promise.all(
    entries.map(async (entry) => ({
      userId: entry.userId,
      seq: String(entry.seq),
      event: await (events.get(entry.eventKey) as Promise<Event>),
      appendedAt: entry.appendedAt,
      traceContext: {},
      shared: 0,
    })),
  );
}

interface Decoded {
  people: string[];
  build(usernames: Map<string, string>, sources: EventSources): Promise<Event>;
}

const base = (eventId: string, occurredAt: Date | undefined): Event => ({ cursor: "", eventId, occurredAt });

function decode(entry: InboxEntry): Decoded {
  switch (entry.kind) {
    case "message": {
      const record = MessageRecord.decode(entry.payload);
      return {
        people: [record.senderId, record.recipientId].filter(Boolean),
        async build(usernames, sources) {
          const content = await sources.open(record);
          return {
            ...base(record.messageId, record.sentAt),
            message: { message: toMessage(record, content, usernames) },
          };
        },
      };
    }
    case "receipt": {
      const receipt = ReceiptRecord.decode(entry.payload);
      return {
        people: [receipt.userId],
        async build(usernames) {
          return {
            ...base(receipt.receiptId, receipt.recordedAt),
            receipt: {
              kind: receipt.kind,
              conversationId: receipt.conversationId,
              messageId: receipt.messageId,
              userId: receipt.userId,
              username: usernames.get(receipt.userId) ?? "",
            },
          };
        },
      };
    }
    case "group": {
      const event = GroupEvent.decode(entry.payload);
      return {
        people: [],
        async build() {
          return {
            ...base(event.eventId, event.occurredAt),
            group: {
              groupId: event.groupId,
              conversationId: `g:${event.groupId}`,
              actorId: event.actorId,
              created: event.created && { name: event.created.name, memberIds: event.created.memberIds },
              memberAdded: event.memberAdded && { userId: event.memberAdded.userId },
              memberRemoved: event.memberRemoved && { userId: event.memberRemoved.userId },
              renamed: event.renamed && { name: event.renamed.name },
            },
          };
        },
      };
    }
  }
}
