import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { EventsService } from "../../gen/es/parley/v1/events_pb.js";
import type { ModuleContext } from "../../kit/module.js";
import type { RestRoute } from "../rest/route.js";
import { EventsApi } from "./api.js";
import { eventsConfig } from "./config.js";
import { eventsRoutes } from "./connect.js";
import { hubBackendOf, StreamHub } from "./hub.js";
import { connectEventsBackends } from "./internal.js";
import { startPushServer } from "./push-server.js";
import { eventsRestRoutes } from "./rest.js";
import { webSocketUpgrade } from "./ws.js";

export interface EventsNode {
  nodeId: string;
  pushAddress: string;
  hub: StreamHub;
  /** For the Connect adapter: served locally, never proxied. */
  local: { services: DescService[]; routes: (router: ConnectRouter) => void };
  restRoutes: RestRoute[];
  onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
  /** RECONNECT to every stream, wait for them (up to graceMs), then stop the push server. */
  stop(graceMs: number): Promise<void>;
}

/** The gateway's live-delivery node: push server, presence registration, the hub and its transports. */
export async function startEventsNode(ctx: ModuleContext, upstreamTimeoutMs: number): Promise<EventsNode> {
  const config = eventsConfig.load(ctx.env);
  const nodeId =
    config.nodeId ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-${randomBytes(4).toString("hex")}`;
  const backends = connectEventsBackends((service) => ctx.addresses.resolve(service));
  const hub = new StreamHub({
    nodeId,
    backend: hubBackendOf(backends, upstreamTimeoutMs),
    logger: ctx.logger,
    bufferEvents: config.streamBufferEvents,
    maxStreamsPerUser: config.maxStreamsPerUser,
    replayPageSize: config.replayPageSize,
    ttlSeconds: config.nodeTtlSeconds,
    heartbeatMs: config.heartbeatSeconds * 1000,
    offlineGraceMs: config.offlineGraceSeconds * 1000,
  });
  const bindHost = ctx.config.grpcBindHost ?? "127.0.0.1";
  const push = await startPushServer({
    bind: config.pushListen ?? `${bindHost}:0`,
    deliver: (events) => hub.deliver(events),
    logger: ctx.logger,
  });
  const pushAddress = config.pushAddress ?? push.address;
  hub.start(pushAddress);
  const api = new EventsApi({
    verifier: ctx.verifier,
    backends,
    hub,
    ticketTtlSeconds: config.ticketTtlSeconds,
    timeoutMs: upstreamTimeoutMs,
  });
  ctx.logger.info({ nodeId, pushAddress }, "gateway events node started");
  return {
    nodeId,
    pushAddress,
    hub,
    local: { services: [EventsService], routes: eventsRoutes(api) },
    restRoutes: eventsRestRoutes(api),
    onUpgrade: webSocketUpgrade({
      api,
      logger: ctx.logger,
      maxFrameBytes: config.wsMaxFrameBytes,
    }),
    async stop(graceMs) {
      await hub.stop(graceMs);
      await push.stop(Math.min(graceMs, 2_000));
    },
  };
}
