import type { DescService } from "@bufbuild/protobuf";
import { type Client, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { context, propagation } from "@opentelemetry/api";
import { DeliveryService } from "../../gen/es/parley/internal/v1/delivery_pb.js";
import { PresenceService } from "../../gen/es/parley/internal/v1/presence_pb.js";
import { DomainError, fromGrpcError } from "../../kit/errors.js";
import { inProcessConnectTransport } from "../../kit/grpc/in-process.connect.js";
import { rpcDuration } from "../../kit/metrics.js";
import { inSpan, SpanKind } from "../../kit/tracing.js";

/**
 * The gateway's clients of the internal delivery and presence services, on protobuf-es types
 * (the same types the Connect edge, WebSocket and SSE encode), over connect-node's gRPC transport
 * (unary calls to a server of this same process skip it: kit/grpc/in-process.connect.ts).
 * Internal services take no user token: the gateway verified it and passes the user id.
 */
export interface EventsBackends {
  delivery(): Client<typeof DeliveryService>;
  presence(): Client<typeof PresenceService>;
}

/** Spans, the shared RPC latency metric and the trace context in the request headers. */
const observe: Interceptor = (next) => async (req) => {
  const started = performance.now();
  return inSpan(
    `${req.service.typeName}/${req.method.name}`,
    { kind: SpanKind.CLIENT, attributes: { "rpc.system": "grpc" } },
    async () => {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      for (const [key, value] of Object.entries(carrier)) req.header.set(key, value);
      let code = "OK";
      try {
        return await next(req);
      } catch (err) {
        code = String(ConnectError.from(err).code);
        throw err;
      } finally {
        rpcDuration.observe(
          { service: req.service.typeName, method: req.method.name, code, side: "client" },
          (performance.now() - started) / 1000,
        );
      }
    },
  );
};

/** Opens each client on first use, so the gateway can start before delivery and presence. */
export function connectEventsBackends(resolve: (service: "delivery" | "presence") => string): EventsBackends {
  const open = new Map<string, unknown>();
  function client<S extends DescService>(name: "delivery" | "presence", service: S): Client<S> {
    let existing = open.get(name) as Client<S> | undefined;
    if (!existing) {
      let address: string;
      try {
        address = resolve(name);
      } catch (err) {
        throw new DomainError("unavailable", `the ${name} service is not available yet`, { cause: err });
      }
      const network = createGrpcTransport({ baseUrl: `http://${address}`, interceptors: [observe] });
      existing = createClient(service, inProcessConnectTransport(address, network, [observe]));
      open.set(name, existing);
    }
    return existing;
  }
  return {
    delivery: () => client("delivery", DeliveryService),
    presence: () => client("presence", PresenceService),
  };
}

/** A failed internal call as the DomainError the edge maps once (REST JSON, Connect code). */
export function asBackendError(err: unknown): unknown {
  if (err instanceof DomainError || !(err instanceof ConnectError)) return err;
  return fromGrpcError({ code: err.code, details: err.rawMessage });
}

/** Runs an internal call, turning its ConnectError into a DomainError. */
export async function backend<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asBackendError(err);
  }
}
