import { ReceiptRecord } from "../gen/grpc/parley/internal/v1/delivery.js";
import { GroupEvent } from "../gen/grpc/parley/internal/v1/records.js";
import { ReceiptKind } from "../gen/grpc/parley/v1/events.js";
import type { LogRecord } from "../kit/log/log.js";
import type { Logger } from "../kit/logger.js";
import { parseConversationId } from "../messages/conversations.js";
import { decodeRecord } from "../messages/records.js";
import { deliveryEvents, fanoutSize } from "./metrics.js";
import type { DeliveryStore, DurableEvent, InboxEntry } from "./store.js";

/** What delivery asks of groups: the current members, with when each joined. */
export interface GroupMembers {
  /** undefined when the group does not exist (any more). */
  members(groupId: string): Promise<{ userId: string; joinedAt: Date }[] | undefined>;
}

export interface FanoutDependencies {
  store: DeliveryStore;
  groups: GroupMembers;
  logger: Logger;
}

/**
 * Members are asked once per group per batch and not cached longer: a cache invalidated by group
 * events would only be invalidated on the replica that consumes that group's partition, and a
 * removed member must stop receiving at once.
 */
class BatchMembers {
  private readonly asked = new Map<string, Promise<{ userId: string; joinedAt: Date }[] | undefined>>();
  constructor(private readonly groups: GroupMembers) {}
  of(groupId: string) {
    let members = this.asked.get(groupId);
    if (!members) {
      members = this.groups.members(groupId);
      this.asked.set(groupId, members);
    }
    return members;
  }
  /** The members who had joined by `at`. */
  async joinedBy(groupId: string, at: Date): Promise<string[]> {
    const members = (await this.of(groupId)) ?? [];
    return members.filter((m) => m.joinedAt.getTime() <= at.getTime()).map((m) => m.userId);
  }
}

/** Messages: 1:1 to both parties (and records them as contacts), group to members at send time. */
export async function messageEvents(records: LogRecord[], deps: FanoutDependencies): Promise<DurableEvent[]> {
  const members = new BatchMembers(deps.groups);
  const contacts: [string, string][] = [];
  const events: DurableEvent[] = [];
  for (const entry of records) {
    const record = decodeRecord(entry.value);
    if (typeof record === "string") {
      deps.logger.error(
        { reason: record, offset: String(entry.offset) },
        "undecodable message record skipped",
      );
      continue;
    }
    let recipients: string[];
    if (record.groupId) {
      recipients = await members.joinedBy(record.groupId, record.sentAt as Date);
    } else {
      recipients = [record.senderId, record.recipientId];
      contacts.push([record.senderId, record.recipientId]);
    }
    events.push(durable(`m:${record.messageId}`, "message", entry, recipients));
  }
  await deps.store.addContacts(contacts);
  return events;
}

/** Group changes: to the members (by the time of the change), and to the member added or removed. */
export async function groupEvents(records: LogRecord[], deps: FanoutDependencies): Promise<DurableEvent[]> {
  const members = new BatchMembers(deps.groups);
  const events: DurableEvent[] = [];
  for (const entry of records) {
    let event: GroupEvent;
    try {
      event = GroupEvent.decode(entry.value);
    } catch (err) {
      deps.logger.error({ err, offset: String(entry.offset) }, "undecodable group event skipped");
      continue;
    }
    const at = event.occurredAt ?? new Date(entry.timestamp);
    let recipients: string[];
    if (event.created) recipients = event.created.memberIds;
    else if (event.memberAdded)
      recipients = [...(await members.joinedBy(event.groupId, at)), event.memberAdded.userId];
    // The removed member gets this event: the last of the group they receive.
    else if (event.memberRemoved)
      recipients = [...(await members.joinedBy(event.groupId, at)), event.memberRemoved.userId];
    else if (event.renamed) recipients = await members.joinedBy(event.groupId, at);
    // Role changes are not client events.
    else continue;
    events.push(durable(`g:${event.eventId}`, "group", entry, recipients));
  }
  return events;
}

/**
 * Receipts. Direct: both participants. Group: the reader's own devices (their markers stay in
 * sync) and the author of the message it names, if still a member — not every member: in a group
 * of n where everyone reads, that would be n × n inbox rows per message. The author is read from
 * the message's stored record (its sender id is not sealed); a message delivery no longer holds
 * (swept by retention) reaches only the reader. A read receipt of a user who does not send read
 * receipts goes only to their own devices.
 */
export async function receiptEvents(records: LogRecord[], deps: FanoutDependencies): Promise<DurableEvent[]> {
  const members = new BatchMembers(deps.groups);
  const decoded: { entry: LogRecord; receipt: ReceiptRecord }[] = [];
  for (const entry of records) {
    try {
      decoded.push({ entry, receipt: ReceiptRecord.decode(entry.value) });
    } catch (err) {
      deps.logger.error({ err, offset: String(entry.offset) }, "undecodable receipt skipped");
    }
  }
  const [settings, authors] = await Promise.all([
    deps.store.settings([...new Set(decoded.map((d) => d.receipt.userId))]),
    authorsOf(
      decoded.filter((d) => d.receipt.conversationId.startsWith("g:")).map((d) => d.receipt.messageId),
      deps.store,
    ),
  ]);
  const events: DurableEvent[] = [];
  for (const { entry, receipt } of decoded) {
    const conversation = parseConversationId(receipt.conversationId);
    if (!conversation || !receipt.receiptId) {
      deps.logger.error({ offset: String(entry.offset) }, "malformed receipt skipped");
      continue;
    }
    const hidden =
      receipt.kind === ReceiptKind.RECEIPT_KIND_READ &&
      settings.get(receipt.userId)?.sendReadReceipts === false;
    let recipients: string[];
    if (hidden) recipients = [receipt.userId];
    else if (conversation.kind === "direct") recipients = conversation.userIds;
    else {
      const author = authors.get(receipt.messageId);
      const concerned = [receipt.userId];
      if (author?.conversationId === receipt.conversationId) concerned.push(author.senderId);
      const current = new Set(((await members.of(conversation.groupId)) ?? []).map((m) => m.userId));
      recipients = concerned.filter((id) => current.has(id));
    }
    events.push(durable(`r:${receipt.receiptId}`, "receipt", entry, recipients));
  }
  return events;
}

/** Who sent each of these messages, and where, from the records delivery still holds. */
async function authorsOf(
  messageIds: string[],
  store: DeliveryStore,
): Promise<Map<string, { senderId: string; conversationId: string }>> {
  const payloads = await store.payloads(messageIds.map((id) => `m:${id}`));
  const authors = new Map<string, { senderId: string; conversationId: string }>();
  for (const [key, payload] of payloads) {
    const record = decodeRecord(payload);
    if (typeof record !== "string") {
      authors.set(key.slice(2), { senderId: record.senderId, conversationId: record.conversationId });
    }
  }
  return authors;
}

function durable(
  eventKey: string,
  kind: DurableEvent["kind"],
  entry: LogRecord,
  recipients: string[],
): DurableEvent {
  return {
    eventKey,
    kind,
    payload: entry.value,
    appendedAt: new Date(entry.timestamp),
    recipients: [...new Set(recipients)],
  };
}

/**
 * Inbox entries one append writes at most when a batch is larger: a 1,000-member group message is
 * appended in two parts. A batch of 1:1 messages (two or three entries each) stays one part up to
 * ~170 messages. Parts of 256 were no better all-in-one and worse in a mesh on 2 cores, where each
 * part's round trips and commit compete for the same CPU as the pushes (docs/benchmarks.md).
 */
export const FAN_OUT_PART_ENTRIES = 512;

/**
 * Writes a batch's events to the inboxes and counts them; answers what was written. A batch of
 * more than `partEntries` entries is appended in parts by recipient (one transaction each, each
 * user's entries in one part, in order), and each part is handed to `written` as soon as it is
 * committed: its push then runs while the database (another thread or process) writes the next
 * part, so a large group's last member no longer waits for the whole append and then the whole
 * push. Resolves when every part is written and every `written` has settled. A part that fails
 * fails the batch; on its redelivery the parts already written are skipped (inbox_append).
 */
export async function fanOut(
  events: DurableEvent[],
  store: DeliveryStore,
  options: { written?: (entries: InboxEntry[]) => Promise<void>; partEntries?: number } = {},
): Promise<InboxEntry[]> {
  const all: InboxEntry[] = [];
  const handed: Promise<void>[] = [];
  try {
    for (const part of partsByRecipient(events, options.partEntries ?? FAN_OUT_PART_ENTRIES)) {
      const entries = await store.append(part);
      for (const entry of entries) all.push(entry);
      if (entries.length > 0 && options.written) handed.push(options.written(entries));
    }
  } finally {
    await Promise.all(handed);
  }
  for (const event of events) {
    fanoutSize.observe(event.recipients.length);
    deliveryEvents.inc({ kind: event.kind });
  }
  return all;
}

/**
 * The events split into parts of whole users, each part's users holding about `maxEntries`
 * entries in all (one user with more is a part alone), in the order users first appear. Each
 * part keeps the events in batch order with only its users as recipients, so every user's
 * entries keep their order; an event with none of a part's users is left out of it.
 */
export function partsByRecipient(events: DurableEvent[], maxEntries: number): DurableEvent[][] {
  const entriesOf = new Map<string, number>();
  let total = 0;
  for (const event of events) {
    total += event.recipients.length;
    for (const userId of event.recipients) entriesOf.set(userId, (entriesOf.get(userId) ?? 0) + 1);
  }
  if (total <= maxEntries) return [events];
  const partOf = new Map<string, number>();
  let parts = 0;
  let filled = maxEntries; // full, so that the first user opens the first part
  for (const [userId, count] of entriesOf) {
    if (filled + count > maxEntries && filled > 0) {
      parts++;
      filled = 0;
    }
    partOf.set(userId, parts - 1);
    filled += count;
  }
  return Array.from({ length: parts }, (_, part) =>
    events
      .map((event) => ({ ...event, recipients: event.recipients.filter((u) => partOf.get(u) === part) }))
      .filter((event) => event.recipients.length > 0),
  );
}
