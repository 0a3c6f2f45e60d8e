import { z } from "zod";
import { defineConfig, seconds } from "../../kit/config.js";

/** Live delivery at the gateway: the internal push server, node registration and the streams. */
export const eventsConfig = defineConfig({
  nodeId: {
    env: "PARLEY_GATEWAY_NODE_ID",
    schema: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/, "letters, digits, '.', '_' or '-' (at most 128)")
      .optional(),
    help: "This gateway node's id in the presence registry (e.g. the pod name). Default: random per start.",
  },
  pushListen: {
    env: "PARLEY_GATEWAY_PUSH_LISTEN",
    schema: z.string().optional(),
    help: "host:port of the internal GatewayPushService. Default: the gRPC bind host, ephemeral port.",
  },
  pushAddress: {
    env: "PARLEY_GATEWAY_PUSH_ADDRESS",
    schema: z.string().optional(),
    help: "host:port delivery dials to push to this node (e.g. $(POD_IP):50060). Default: the bound address.",
  },
  nodeTtlSeconds: {
    env: "PARLEY_GATEWAY_NODE_TTL_SECONDS",
    schema: seconds().default(30),
    help: "TTL of this node's and its streams' presence entries; refreshed every third of it.",
  },
  streamBufferEvents: {
    env: "PARLEY_EVENTS_STREAM_BUFFER",
    schema: z.coerce.number().int().min(8).default(1024),
    help: "Events a stream may hold for a slow client; past it the stream gets RECONNECT and closes.",
  },
  maxStreamsPerUser: {
    env: "PARLEY_EVENTS_MAX_STREAMS_PER_USER",
    schema: z.coerce.number().int().min(1).default(32),
    help: "Open streams one user may hold on one gateway node; one more is refused (resource_exhausted).",
  },
  replayPageSize: {
    env: "PARLEY_EVENTS_REPLAY_PAGE",
    schema: z.coerce.number().int().min(1).max(5000).default(500),
    help: "Events asked of delivery per Replay call when a stream resumes or fills a gap.",
  },
  heartbeatSeconds: {
    env: "PARLEY_EVENTS_HEARTBEAT_SECONDS",
    schema: seconds().default(15),
    help: "Heartbeat on idle streams (Connect HEARTBEAT event, SSE comment, WebSocket ping).",
  },
  offlineGraceSeconds: {
    env: "PARLEY_EVENTS_OFFLINE_GRACE_SECONDS",
    schema: z.coerce.number().int().min(0).max(300).default(5),
    help: "A user whose last stream closed is announced offline only if not back within this time (0: at once).",
  },
  ticketTtlSeconds: {
    env: "PARLEY_EVENTS_TICKET_TTL_SECONDS",
    schema: z.coerce.number().int().min(1).max(300).default(30),
    help: "Lifetime of a single-use stream ticket (POST /v1/events/ticket).",
  },
  wsMaxFrameBytes: {
    env: "PARLEY_EVENTS_WS_MAX_FRAME_BYTES",
    schema: z.coerce
      .number()
      .int()
      .min(256)
      .default(16 * 1024),
    help: "Largest WebSocket frame a client may send; a larger one closes the socket (1009).",
  },
});

export type EventsConfig = ReturnType<typeof eventsConfig.load>;
