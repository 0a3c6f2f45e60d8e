import { timestampDate } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import type { PresenceEvent } from "../../gen/es/parley/v1/events_pb.js";
import { invalidArgument } from "../../kit/errors.js";
import type { GatewayRequest } from "../request-context.js";
import type { GatewayResponse } from "../rest/respond.js";
import { ok, type RestRequest, type RestRoute } from "../rest/route.js";
import { parse, queryObject, text } from "../rest/validate.js";
import type { EventsApi } from "./api.js";
import { eventJsonText } from "./event-json.js";
import type { StreamItem } from "./hub.js";
import { WS_PATH } from "./ws.js";

const id = () => text().min(1, "must not be empty").max(128, "is too long");
const receiptBody = z.strictObject({ conversationId: id(), messageId: id() });
const typingBody = z.strictObject({ conversationId: id(), typing: z.boolean() });
const settingsBody = z
  .strictObject({ sendReadReceipts: z.boolean().optional(), sharePresence: z.boolean().optional() })
  .refine((v) => v.sendReadReceipts !== undefined || v.sharePresence !== undefined, {
    message: "give sendReadReceipts and/or sharePresence",
  });

const header = (req: GatewayRequest, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const presenceJson = (p: PresenceEvent) => ({
  userId: p.userId,
  username: p.username,
  online: p.online,
  lastSeen: p.lastSeen ? timestampDate(p.lastSeen).toISOString() : null,
});

/**
 * The REST side of live delivery: the SSE stream, stream tickets, and the signals a browser
 * sends (receipts, typing), presence and settings, for clients without Connect.
 */
export function eventsRestRoutes(api: EventsApi): RestRoute[] {
  const who = (req: RestRequest) => api.fromHeader(`Bearer ${req.call.token}`);
  return [
    {
      method: "GET",
      path: "/v1/events",
      // Bearer header or ?ticket= (EventSource cannot send headers): checked by the handler.
      auth: false,
      async handle(req) {
        const query = queryObject(req.query, ["ticket", "cursor"]);
        const identity = await api.authenticate(header(req.http.req, "authorization"), query.ticket ?? null);
        const cursor = header(req.http.req, "last-event-id") || query.cursor;
        const stream = await api.openStream(identity, "sse", cursor);
        await serveSse(req.http.res, stream);
        return undefined;
      },
    },
    {
      method: "GET",
      path: WS_PATH,
      auth: false,
      async handle() {
        return {
          status: 426,
          body: { error: { code: "upgrade_required", message: "this endpoint is a WebSocket" } },
          headers: { upgrade: "websocket", connection: "Upgrade" },
        };
      },
    },
    {
      method: "POST",
      path: "/v1/events/ticket",
      auth: true,
      async handle(req) {
        const { ticket, expiresAt } = await api.createTicket(await who(req));
        return ok({ ticket, expiresAt: expiresAt.toISOString() });
      },
    },
    ...(["delivered", "read"] as const).map(
      (kind): RestRoute => ({
        method: "POST",
        path: `/v1/events/${kind}`,
        auth: true,
        async handle(req) {
          const body = await req.body(receiptBody);
          await api.receipt(await who(req), kind, body.conversationId, body.messageId);
          return ok({});
        },
      }),
    ),
    {
      method: "POST",
      path: "/v1/events/typing",
      auth: true,
      async handle(req) {
        const body = await req.body(typingBody);
        await api.typing(await who(req), body.conversationId, body.typing);
        return ok({});
      },
    },
    {
      method: "GET",
      path: "/v1/events/settings",
      auth: true,
      async handle(req) {
        const settings = await api.settings(await who(req));
        return ok({
          sendReadReceipts: settings?.sendReadReceipts ?? true,
          sharePresence: settings?.sharePresence ?? true,
        });
      },
    },
    {
      method: "PUT",
      path: "/v1/events/settings",
      auth: true,
      async handle(req) {
        const body = await req.body(settingsBody);
        const identity = await who(req);
        const current = await api.settings(identity);
        const next = {
          sendReadReceipts: body.sendReadReceipts ?? current?.sendReadReceipts ?? true,
          sharePresence: body.sharePresence ?? current?.sharePresence ?? true,
        };
        const settings = await api.updateSettings(identity, {
          $typeName: "parley.v1.EventSettings",
          ...next,
        });
        return ok({
          sendReadReceipts: settings?.sendReadReceipts ?? next.sendReadReceipts,
          sharePresence: settings?.sharePresence ?? next.sharePresence,
        });
      },
    },
    {
      method: "GET",
      path: "/v1/presence",
      auth: true,
      async handle(req) {
        const query = parse(
          z.object({ userIds: z.string().min(1, "must not be empty") }),
          queryObject(req.query, ["userIds"]),
          "query",
        );
        const userIds = query.userIds.split(",").map((s) => s.trim());
        if (userIds.some((u) => u === "")) throw invalidArgument("userIds: must not contain empty ids");
        const presence = await api.presence(await who(req), userIds);
        return ok({ presence: presence.map(presenceJson) });
      },
    },
  ];
}

/** Server-Sent Events: `id:` = cursor, `event:` = kind, `data:` = Event JSON, heartbeat comments. */
async function serveSse(res: GatewayResponse, stream: AsyncIterable<StreamItem> & { close(): void }) {
  res.statusCode = 200;
  res.setHeader("content-type", "text/event-stream; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-accel-buffering", "no");
  const closed = () => stream.close();
  res.once("close", closed);
  // Reconnect after 1 s (EventSource's default is ~3 s); flushes the headers at once.
  write(res, "retry: 1000\n\n");
  for await (const item of stream) {
    let chunk: string;
    if (item.heartbeat) chunk = ": heartbeat\n\n";
    else {
      const kind = item.event.kind.case ?? "unknown";
      // Durable and control events carry a cursor worth resuming from (ephemeral ones repeat it).
      const withId = item.seq > 0n || kind === "control";
      chunk = `${withId ? `id: ${item.event.cursor}\n` : ""}event: ${kind}\ndata: ${eventJsonText(item)}\n\n`;
    }
    if (!write(res, chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.once("drain", done);
        res.once("close", done);
      });
    }
  }
  res.end();
}

function write(res: GatewayResponse, chunk: string): boolean {
  if (res.writableEnded || res.destroyed) return true;
  return (res as { write(chunk: string): boolean }).write(chunk);
}
