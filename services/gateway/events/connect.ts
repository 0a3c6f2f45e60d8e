import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  EventSettingsSchema,
  EventsService,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../../gen/es/parley/v1/events_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { EventsApi, StreamIdentity } from "./api.js";

/** A DomainError as the ConnectError of the same gRPC code (gRPC and Connect share numbers). */
export function toConnect(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const headers = new Headers();
    if (err.retryAfterSeconds !== undefined) headers.set("retry-after", String(err.retryAfterSeconds));
    const code = err.code === "internal" ? Code.Internal : (err.grpcStatus as number as Code);
    return new ConnectError(err.code === "internal" ? "internal error" : err.message, code, headers);
  }
  return new ConnectError("internal error", Code.Internal);
}

async function connectErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnect(err);
  }
}

/**
 * parley.v1.EventsService, served by the gateway itself (it holds the streams) for Connect,
 * gRPC-Web and gRPC clients alike; the generic proxy never sees it.
 */
export function eventsRoutes(api: EventsApi): (router: ConnectRouter) => void {
  const who = (ctx: HandlerContext): Promise<StreamIdentity> =>
    api.fromHeader(ctx.requestHeader.get("authorization"));
  return (router) => {
    router.service(EventsService, {
      async *subscribe(req, ctx): AsyncGenerator<SubscribeResponse> {
        const stream = await connectErrors(async () => api.openStream(await who(ctx), "connect", req.cursor));
        const abort = () => stream.close();
        ctx.signal.addEventListener("abort", abort, { once: true });
        try {
          for await (const item of stream) {
            yield create(SubscribeResponseSchema, { event: item.event });
          }
        } finally {
          ctx.signal.removeEventListener("abort", abort);
          stream.close();
        }
      },
      createStreamTicket: (_req, ctx) =>
        connectErrors(async () => {
          const { ticket, expiresAt } = await api.createTicket(await who(ctx));
          return { ticket, expiresAt: timestampFromDate(expiresAt) };
        }),
      markDelivered: (req, ctx) =>
        connectErrors(async () => {
          await api.receipt(await who(ctx), "delivered", req.conversationId, req.messageId);
          return {};
        }),
      markRead: (req, ctx) =>
        connectErrors(async () => {
          await api.receipt(await who(ctx), "read", req.conversationId, req.messageId);
          return {};
        }),
      sendTyping: (req, ctx) =>
        connectErrors(async () => {
          await api.typing(await who(ctx), req.conversationId, req.typing);
          return {};
        }),
      getPresence: (req, ctx) =>
        connectErrors(async () => ({ presence: await api.presence(await who(ctx), req.userIds) })),
      getEventSettings: (_req, ctx) =>
        connectErrors(async () => ({
          settings: (await api.settings(await who(ctx))) ?? create(EventSettingsSchema),
        })),
      updateEventSettings: (req, ctx) =>
        connectErrors(async () => ({ settings: await api.updateSettings(await who(ctx), req.settings) })),
    });
  };
}
