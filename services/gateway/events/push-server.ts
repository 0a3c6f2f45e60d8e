import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from "@grpc/grpc-js";
import { propagation, ROOT_CONTEXT, SpanStatusCode } from "@opentelemetry/api";
import { HealthImplementation } from "grpc-health-check";
import {
  type PushRequest,
  PushRequestSchema,
  type PushResponse,
  PushResponseSchema,
  type UserEvent,
} from "../../gen/es/parley/internal/v1/delivery_pb.js";
import { registerInProcess } from "../../kit/grpc/in-process.js";
import { GRPC_SHARED_OPTIONS } from "../../kit/grpc/options.js";
import type { Logger } from "../../kit/logger.js";
import { SpanKind, tracer } from "../../kit/tracing.js";

const SERVICE_NAME = "parley.internal.v1.GatewayPushService";
/** The method's path, by which delivery finds a push server of its own process (in-process.ts). */
const PUSH_PATH = `/${SERVICE_NAME}/Push`;

/**
 * GatewayPushService decoded straight into protobuf-es types (what the streams write), not the
 * ts-proto ones: one decode per push, no conversion.
 */
const pushMethod = {
  path: PUSH_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: (value: PushRequest) => Buffer.from(toBinary(PushRequestSchema, value)),
  requestDeserialize: (bytes: Buffer) => fromBinary(PushRequestSchema, bytes),
  responseSerialize: (value: PushResponse) => Buffer.from(toBinary(PushResponseSchema, value)),
  responseDeserialize: (bytes: Buffer) => fromBinary(PushResponseSchema, bytes),
} as const;
const pushService: ServiceDefinition = { push: pushMethod };

/**
 * The request's entries, each with its event: an entry naming a shared event gets that object,
 * the same one for all of its entries (the transports encode it once). An entry naming none that
 * exists stays without event; the hub skips it, and a stream fills the gap from Replay.
 */
function withSharedEvents(request: PushRequest): UserEvent[] {
  if (request.shared.length === 0) return request.events;
  for (const entry of request.events) {
    if (!entry.event && entry.shared > 0) entry.event = request.shared[entry.shared - 1];
  }
  return request.events;
}

export interface PushServer {
  /** host:port actually bound. */
  address: string;
  stop(graceMs: number): Promise<void>;
}

/**
 * The gateway node's internal gRPC server (internal access: no user token; NetworkPolicy admits
 * only delivery). Each Push stream carries batches; each is handed to the streams and acknowledged
 * in order.
 */
export async function startPushServer(options: {
  bind: string;
  deliver: (events: UserEvent[]) => number;
  logger: Logger;
}): Promise<PushServer> {
  const server = new Server({ ...GRPC_SHARED_OPTIONS, "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  const calls = new Set<ServerDuplexStream<PushRequest, PushResponse>>();
  /** One request handed to the streams; the answer acknowledges it. */
  const accept = (request: PushRequest): PushResponse => {
    let accepted = 0;
    // One span per push, continuing delivery's fan-out trace (and through it, the send's).
    const span = tracer.startSpan(
      "gateway push",
      { kind: SpanKind.SERVER, attributes: { "parley.events": request.events.length } },
      propagation.extract(ROOT_CONTEXT, request.events[0]?.traceContext ?? {}),
    );
    try {
      accepted = options.deliver(withSharedEvents(request));
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      options.logger.error({ err }, "handing pushed events to streams failed");
    } finally {
      span.end();
    }
    return create(PushResponseSchema, { accepted, readsShared: true });
  };
  server.addService(pushService, {
    push(call: ServerDuplexStream<PushRequest, PushResponse>) {
      calls.add(call);
      call.on("data", (request: PushRequest) => call.write(accept(request)));
      call.on("end", () => call.end());
      call.on("error", () => {});
      call.on("close", () => calls.delete(call));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.bind, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  const host = options.bind.slice(0, options.bind.lastIndexOf(":"));
  const address = `${host === "0.0.0.0" || host === "[::]" || host === "" ? "127.0.0.1" : host}:${port}`;
  options.logger.info({ address }, "gateway push server listening");
  // Delivery in this same process hands each request over directly, as bytes, without HTTP/2.
  const unregister = registerInProcess(
    address,
    new Map([
      [
        PUSH_PATH,
        {
          requestDeserialize: pushMethod.requestDeserialize,
          responseSerialize: pushMethod.responseSerialize as (response: unknown) => Buffer,
          serve: async (request: unknown) => accept(request as PushRequest),
        },
      ],
    ]),
  );
  return {
    address,
    async stop(graceMs) {
      unregister();
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      for (const call of calls) call.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
