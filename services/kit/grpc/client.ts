import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type MethodDefinition,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { fromGrpcError, type GrpcErrorShape } from "../errors.js";
import { rpcDuration } from "../metrics.js";
import { injectTraceContext, inSpan } from "../tracing.js";
import {
  type InProcessMethod,
  inProcessInterceptor,
  inProcessMethod,
  invokeInProcess,
  MAX_MESSAGE_BYTES,
} from "./in-process.js";
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
  const client = new Ctor(address, credentials.createInsecure(), {
    ...GRPC_SHARED_OPTIONS,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    interceptors: [inProcessInterceptor(address)],
  });
  addresses.set(client, address);
  return client;
}

/** The address each client of createClient() dials, for call()'s in-process path. */
const addresses = new WeakMap<Client, string>();

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

/** The method's path and codecs, from the service definition its generated client was made of. */
function methodDefinition(client: Client, method: string): MethodDefinition<unknown, unknown> {
  const definition = (client.constructor as { service?: ServiceDefinition }).service?.[method];
  if (!definition) throw new Error(`${method} is not a method of this gRPC client`);
  return definition;
}

/*
 * grpc-js keeps a finished call's objects reachable from its HTTP/2 stream, and such a stream
 * outlives the scavenges after it until a full collection (measured; our reading: V8 cannot drop
 * a native handle's wrapper that Node has written to): whatever the call's objects reach is
 * copied, then promoted. They reach the decoded
 * response (grpc-js holds it for the callback) and the callback; the callback reaches the
 * caller's promise, which holds the response too. Held and Outcome cut both paths once the call
 * has ended, so only two empty objects are left behind (docs/benchmarks.md, "What a scavenge copies").
 */

/** A decoded response as grpc-js holds it: emptied once taken. */
class Held {
  constructor(private value: unknown) {}

  take(): unknown {
    const value = this.value;
    this.value = undefined;
    return value;
  }
}

const holdingDeserializers = new WeakMap<MethodDefinition<unknown, unknown>, (bytes: Buffer) => Held>();

/** The method's response deserializer, answering in a Held; made here so it closes over nothing else. */
function holding(definition: MethodDefinition<unknown, unknown>): (bytes: Buffer) => Held {
  let deserialize = holdingDeserializers.get(definition);
  if (!deserialize) {
    const decode = definition.responseDeserialize;
    deserialize = (bytes) => new Held(decode(bytes));
    holdingDeserializers.set(definition, deserialize);
  }
  return deserialize;
}

/** A call's settlement, forgotten once used, so the callback grpc-js keeps reaches nothing. */
class Outcome {
  constructor(
    private onResponse: ((response: unknown) => void) | undefined,
    private onError: ((error: ServiceError) => void) | undefined,
  ) {}

  callback(): (error: ServiceError | null, held?: Held) => void {
    return (error, held) => this.settle(error, held);
  }

  private settle(error: ServiceError | null, held: Held | undefined): void {
    const { onResponse, onError } = this;
    this.onResponse = undefined;
    this.onError = undefined;
    if (error) onError?.(error);
    else onResponse?.(held?.take());
  }
}

/**
 * The server method of this process that a unary call of `client` reaches, if any: call() hands
 * the call to it itself, skipping grpc-js's call objects (and the stack it captures per call) as
 * well as the network. grpc-js's own client methods get there through the interceptor.
 */
function localMethod(
  client: Client,
  definition: MethodDefinition<unknown, unknown>,
): InProcessMethod | undefined {
  const address = addresses.get(client);
  if (address === undefined || definition.requestStream || definition.responseStream) return undefined;
  return inProcessMethod(address, definition.path);
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
  const observe = (code: string) =>
    rpcDuration.observe({ service, method, code, side: "client" }, (performance.now() - started) / 1000);
  return inSpan(
    `${service}/${method}`,
    { kind: SpanKind.CLIENT, attributes: { "rpc.system": "grpc" } },
    () => {
      const metadata = new Metadata();
      if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
      if (options.clientAddress) metadata.set(CLIENT_ADDRESS_HEADER, options.clientAddress);
      injectTraceContext(metadata);
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      const definition = methodDefinition(client, method);
      const local = localMethod(client, definition);
      if (local) {
        return invokeInProcess(local, definition, request, metadata, deadline).then(
          (response) => {
            observe("OK");
            return response as ResponseOf<C[K]>;
          },
          (failure: GrpcErrorShape) => {
            observe(String(failure.code));
            throw fromGrpcError(failure);
          },
        );
      }
      return new Promise<ResponseOf<C[K]>>((resolve, reject) => {
        const outcome = new Outcome(
          (response) => {
            observe("OK");
            resolve(response as ResponseOf<C[K]>);
          },
          (error) => {
            observe(String(error.code));
            reject(fromGrpcError(error));
          },
        );
        withoutStackTraces(() =>
          client.makeUnaryRequest(
            definition.path,
            definition.requestSerialize,
            holding(definition),
            request,
            metadata,
            { deadline },
            outcome.callback(),
          ),
        );
      });
    },
  );
}

/**
 * Runs `start` with V8 capturing no stack frames. grpc-js's makeUnaryRequest captures its caller's
 * stack (`new Error()`) in every call, only to append it to a failed call's stack: 14–18 µs of CPU
 * per call on these machines (bench/grpc-call-start.ts). A failure (the DomainError's cause) then
 * lacks the caller's frames, which the logs make up for: they name the request or method.
 */
function withoutStackTraces(start: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    start();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
