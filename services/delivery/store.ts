/** What kinds of durable event an inbox holds. */
export type EventKind = "message" | "receipt" | "group";

/** A durable event and everyone whose inbox it goes into. */
export interface DurableEvent {
  /** Unique per event, the same on every redelivery: `m:<message id>`, `r:<receipt id>`, `g:<event id>`. */
  eventKey: string;
  kind: EventKind;
  /** The record as the log carried it (message content still sealed). */
  payload: Uint8Array;
  /** When the log made it durable. */
  appendedAt: Date;
  recipients: string[];
}

/** One event in one user's inbox. */
export interface InboxEntry {
  userId: string;
  seq: number;
  eventKey: string;
  kind: EventKind;
  payload: Uint8Array;
  appendedAt: Date;
}

export interface InboxPage {
  /** Oldest first; empty when expired. */
  entries: InboxEntry[];
  headSeq: number;
  oldestSeq: number;
  /** The events right after `afterSeq` are gone (retention), or `afterSeq` is past the head. */
  expired: boolean;
}

export interface EventSettings {
  sendReadReceipts: boolean;
  sharePresence: boolean;
}

export const DEFAULT_SETTINGS: EventSettings = { sendReadReceipts: true, sharePresence: true };

export type MarkerKind = "delivered" | "read";

/** The delivery role: inboxes, markers, settings and contacts (SQL: PGlite or PostgreSQL). */
export interface DeliveryStore {
  /**
   * Appends each event to each recipient's inbox, in order, in one transaction: gapless seqs per
   * user, and an event already in a user's inbox is skipped (redelivery writes nothing twice).
   * Answers the entries written, in the order written.
   */
  append(events: DurableEvent[]): Promise<InboxEntry[]>;
  /** The user's events with seq > afterSeq (0: from the oldest retained), at most `limit`. */
  replay(userId: string, afterSeq: number, limit: number): Promise<InboxPage>;
  /** The stored payloads of these events (those not swept), by event key. */
  payloads(eventKeys: string[]): Promise<Map<string, Uint8Array>>;
  /** Deletes inbox events stored before `before`, raising each user's oldest seq; answers how many. */
  sweep(before: Date): Promise<number>;
  addContacts(pairs: [string, string][]): Promise<void>;
  contactsOf(userId: string): Promise<string[]>;
  /** Every given user's settings, defaults for those who never changed them. */
  settings(userIds: string[]): Promise<Map<string, EventSettings>>;
  updateSettings(userId: string, settings: EventSettings): Promise<EventSettings>;
  /**
   * Moves a marker forward to `messageId`; false (and nothing changed) unless it moved. When it
   * moves, `then` runs before the change commits, and a `then` that throws leaves the marker
   * where it was (so a receipt that could not be published can be sent again).
   */
  advanceMarker(
    userId: string,
    conversationId: string,
    kind: MarkerKind,
    messageId: string,
    then?: () => Promise<void>,
  ): Promise<boolean>;
}
