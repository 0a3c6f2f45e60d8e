import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { fromGrpcError } from "../errors.js";
import { rpcDuration } from "../metrics.js";
import { injectTraceContext, inSpan } from "../tracing.js";
import { inProcessInterceptor, MAX_MESSAGE_BYTES } from "./in-process.js";
import { GRPC_SHARED_OPTIONS } from "./options.js";
import { CLIENT_ADDRESS_HEADER } from "./server.js";

type ClientConstructor<C> = new (
  address: string,
  creds: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => C;

/**
 * A client for `address`; channels are cheap to keep and reconnect by themselves. Unary calls to a
 * server of this same process skip the network (in-process.ts).
 */
export function createClient<C extends Client>(Ctor: ClientConstructor<C>, address: string): C {
  return new Ctor(address, credentials.createInsecure(), {
    ...GRPC_SHARED_OPTIONS,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    interceptors: [inProcessInterceptor(address)],
  });
}

// The ts-proto client's full overload: (request, metadata, options, callback).
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

type RequestOf<M> = M extends UnaryMethod<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends UnaryMethod<never, infer Res> ? Res : never;

export interface CallOptionsLite {
  /** The end user's access token, forwarded so the callee verifies it itself. */
  token?: string;
  clientAddress?: string;
  timeoutMs?: number;
}

/** Calls a unary method; failures come back as DomainErrors. Trace context travels in metadata. */
export function call<C extends Client, K extends keyof C & string>(
  client: C,
  method: K,
  request: RequestOf<C[K]>,
  options: CallOptionsLite = {},
): Promise<ResponseOf<C[K]>> {
  const started = performance.now();
  const service = (client.constructor as { serviceName?: string }).serviceName ?? "unknown";
  return inSpan(
    `${service}/${method}`,
    { kind: SpanKind.CLIENT, attributes: { "rpc.system": "grpc" } },
    () => {
      const metadata = new Metadata();
      if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
      if (options.clientAddress) metadata.set(CLIENT_ADDRESS_HEADER, options.clientAddress);
      injectTraceContext(metadata);
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      return new Promise<ResponseOf<C[K]>>((resolve, reject) => {
        (client[method] as unknown as UnaryMethod<unknown, ResponseOf<C[K]>>).call(
          client,
          request,
          metadata,
          { deadline },
          (error, response) => {
            const code = error ? String(error.code) : "OK";
            rpcDuration.observe(
              { service, method, code, side: "client" },
              (performance.now() - started) / 1000,
            );
            if (error) reject(fromGrpcError(error));
            else resolve(response);
          },
        );
      });
    },
  );
}
