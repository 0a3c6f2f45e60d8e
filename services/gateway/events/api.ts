import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type EventSettings, type PresenceEvent, ReceiptKind } from "../../gen/es/parley/v1/events_pb.js";
import { bearerToken, type TokenVerifier } from "../../kit/auth-verifier.js";
import { invalidArgument, unauthenticated } from "../../kit/errors.js";
import { parseCursor } from "./cursor.js";
import type { DeviceStream, StreamHub } from "./hub.js";
import { backend, type EventsBackends } from "./internal.js";
import type { Transport } from "./metrics.js";

/** Who a stream or signal is for: the token's user and device session (`sid`). */
export interface StreamIdentity {
  userId: string;
  sessionId: string;
}

const MAX_ID = 128;
const MAX_PRESENCE_USERS = 200;

function id(value: string, field: string): string {
  if (value.length === 0) throw invalidArgument(`${field}: is required`);
  if (value.length > MAX_ID) throw invalidArgument(`${field}: is too long`);
  return value;
}

/**
 * What every transport does, in one place: authenticate (token or single-use ticket), open a
 * stream from a cursor, and the client's signals (receipts, typing), presence and settings, each
 * validated here and passed to delivery / presence with the caller's user id.
 */
export class EventsApi {
  constructor(
    private readonly options: {
      verifier: TokenVerifier;
      backends: EventsBackends;
      hub: StreamHub;
      ticketTtlSeconds: number;
      timeoutMs: number;
    },
  ) {}

  private get call() {
    return { timeoutMs: this.options.timeoutMs };
  }

  /** An `Authorization: Bearer` header value. */
  async fromHeader(authorization: string | null | undefined): Promise<StreamIdentity> {
    const token = bearerToken(authorization ?? undefined);
    if (!token) throw unauthenticated();
    const principal = await this.options.verifier.verify(token);
    return { userId: principal.userId, sessionId: principal.sessionId };
  }

  /** The header when present, else a `?ticket=` (consumed: single use). */
  async authenticate(
    authorization: string | null | undefined,
    ticket: string | null,
  ): Promise<StreamIdentity> {
    if (authorization) return this.fromHeader(authorization);
    if (!ticket) throw unauthenticated("an Authorization header or a stream ticket is required");
    if (ticket.length > 256) throw unauthenticated("stream ticket is not valid");
    const redeemed = await backend(() =>
      this.options.backends.presence().redeemTicket({ ticket }, this.call),
    );
    if (!redeemed.valid) throw unauthenticated("stream ticket is not valid (used, expired or unknown)");
    return { userId: redeemed.userId, sessionId: redeemed.sessionId };
  }

  /** Opens a stream; an empty cursor starts from now. Cursor errors come before anything is opened. */
  openStream(
    who: StreamIdentity,
    transport: Transport,
    cursor: string | null | undefined,
  ): Promise<DeviceStream> {
    const afterSeq = cursor ? parseCursor(cursor, who.userId) : undefined;
    return this.options.hub.open({ userId: who.userId, sessionId: who.sessionId, transport, afterSeq });
  }

  async createTicket(who: StreamIdentity): Promise<{ ticket: string; expiresAt: Date }> {
    const res = await backend(() =>
      this.options.backends
        .presence()
        .issueTicket(
          { userId: who.userId, sessionId: who.sessionId, ttlSeconds: this.options.ticketTtlSeconds },
          this.call,
        ),
    );
    return {
      ticket: res.ticket,
      expiresAt: res.expiresAt
        ? timestampDate(res.expiresAt)
        : new Date(Date.now() + this.options.ticketTtlSeconds * 1000),
    };
  }

  async receipt(who: StreamIdentity, kind: "delivered" | "read", conversationId: string, messageId: string) {
    await backend(() =>
      this.options.backends.delivery().recordReceipt(
        {
          userId: who.userId,
          kind: kind === "read" ? ReceiptKind.READ : ReceiptKind.DELIVERED,
          conversationId: id(conversationId, "conversationId"),
          messageId: id(messageId, "messageId"),
        },
        this.call,
      ),
    );
  }

  async typing(who: StreamIdentity, conversationId: string, typing: boolean) {
    await backend(() =>
      this.options.backends
        .delivery()
        .publishTyping(
          { userId: who.userId, conversationId: id(conversationId, "conversationId"), typing },
          this.call,
        ),
    );
  }

  async presence(who: StreamIdentity, userIds: string[]): Promise<PresenceEvent[]> {
    if (userIds.length > MAX_PRESENCE_USERS) {
      throw invalidArgument(`userIds: at most ${MAX_PRESENCE_USERS} users`);
    }
    for (const userId of userIds) id(userId, "userIds");
    const res = await backend(() =>
      this.options.backends.delivery().getPresence({ viewerId: who.userId, userIds }, this.call),
    );
    return res.presence;
  }

  async settings(who: StreamIdentity): Promise<EventSettings | undefined> {
    const res = await backend(() =>
      this.options.backends.delivery().getSettings({ userId: who.userId }, this.call),
    );
    return res.settings;
  }

  async updateSettings(who: StreamIdentity, settings: EventSettings | undefined) {
    if (!settings) throw invalidArgument("settings: is required");
    const res = await backend(() =>
      this.options.backends.delivery().updateSettings({ userId: who.userId, settings }, this.call),
    );
    return res.settings;
  }
}
