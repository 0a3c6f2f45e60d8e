import {
  InterceptingCall,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  status,
} from "@grpc/grpc-js";
import type { GrpcErrorShape } from "../errors.js";

type InterceptingCallInterface = ConstructorParameters<typeof InterceptingCall>[0];

/** The largest message either side accepts, as the channels and servers are configured. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** One unary method as its server runs it: token check, span, metrics; rejects with a GrpcErrorShape. */
export interface InProcessMethod {
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(response: unknown): Buffer;
  serve(request: unknown, metadata: Metadata): Promise<unknown>;
}

/** Servers of this process by the address they listen on, then their unary methods by path. */
const servers = new Map<string, Map<string, InProcessMethod>>();

/** Makes a started server's unary methods callable in-process; returns the undo for its stop. */
export function registerInProcess(address: string, methods: Map<string, InProcessMethod>): () => void {
  servers.set(address, methods);
  return () => {
    if (servers.get(address) === methods) servers.delete(address);
  };
}

/** The method of a server in this process that a call of `path` to `address` reaches, if any. */
export function inProcessMethod(address: string, path: string): InProcessMethod | undefined {
  return servers.get(address)?.get(path);
}

/** The client's half of a unary method: how it writes requests and reads responses. */
export interface ClientCodec {
  requestSerialize(request: never): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/**
 * A unary call handed to a server of this process, as a gRPC call in every way a caller or handler
 * can see: the request and the response are written and read by the client's and the server's
 * codecs (bytes in between, so neither side shares the other's objects), the 4 MiB limit and the
 * deadline hold, and failures are the statuses the network would carry (rejects with a GrpcErrorShape).
 * Metadata (token, client address, trace context) reaches the handler as sent.
 */
export function invokeInProcess(
  method: InProcessMethod,
  codec: ClientCodec,
  request: unknown,
  metadata: Metadata,
  deadline: number,
): Promise<unknown> {
  let bytes: Buffer;
  let decoded: unknown;
  try {
    bytes = codec.requestSerialize(request as never);
  } catch (err) {
    return failed(status.INTERNAL, `Request message serialization failure: ${(err as Error).message}`);
  }
  if (bytes.length > MAX_MESSAGE_BYTES) return failed(status.RESOURCE_EXHAUSTED, tooLarge(bytes.length));
  try {
    decoded = method.requestDeserialize(bytes);
  } catch (err) {
    return failed(status.INTERNAL, `Error deserializing request: ${(err as Error).message}`);
  }
  const answer = method.serve(decoded, metadata).then((response) => {
    let out: Buffer;
    try {
      out = method.responseSerialize(response);
    } catch (err) {
      throw callStatus(status.INTERNAL, `Error serializing response: ${(err as Error).message}`);
    }
    if (out.length > MAX_MESSAGE_BYTES) throw callStatus(status.RESOURCE_EXHAUSTED, tooLarge(out.length));
    try {
      return codec.responseDeserialize(out);
    } catch (err) {
      throw callStatus(status.INTERNAL, `Response message parsing error: ${(err as Error).message}`);
    }
  });
  if (deadline === Infinity) return answer;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(callStatus(status.DEADLINE_EXCEEDED, "Deadline exceeded")),
      deadline - Date.now(),
    );
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

/**
 * A client interceptor that hands a unary call to a server of this very process instead of
 * dialling it over loopback HTTP/2 (invokeInProcess). What goes is the transport: the HTTP/2
 * streams, frames and server call objects that made the all-in-one process's garbage collector
 * its main source of latency. A server that is not in this process, or has stopped, is dialled.
 */
export function inProcessInterceptor(address: string): Interceptor {
  return (options, nextCall) => {
    const definition = options.method_definition;
    const method =
      definition.requestStream || definition.responseStream
        ? undefined
        : inProcessMethod(address, definition.path);
    return new InterceptingCall(
      method ? new InProcessUnaryCall(method, options, address) : nextCall(options),
    );
  };
}

/** A grpc-js call object over invokeInProcess, for callers that use grpc-js's client methods. */
class InProcessUnaryCall implements InterceptingCallInterface {
  private listener: Partial<InterceptingListener> | undefined;
  private metadata: Metadata | undefined;
  private request: unknown;
  private finished = false;

  constructor(
    private readonly method: InProcessMethod,
    private readonly options: InterceptorOptions,
    private readonly address: string,
  ) {}

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.listener = listener;
  }

  sendMessageWithContext(_context: unknown, message: unknown): void {
    this.request = message;
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    const deadline = this.options.deadline;
    const due = deadline === undefined ? Infinity : deadline instanceof Date ? deadline.getTime() : deadline;
    invokeInProcess(
      this.method,
      this.options.method_definition,
      this.request,
      this.metadata ?? new Metadata(),
      due,
    ).then(
      (response) => {
        if (this.finished) return;
        this.listener?.onReceiveMetadata?.(new Metadata());
        this.listener?.onReceiveMessage?.(response);
        this.finish(callStatus(status.OK, "OK"));
      },
      (failure: GrpcErrorShape) => this.finish(failure),
    );
  }

  cancelWithStatus(code: status, details: string): void {
    this.finish(callStatus(code, details));
  }

  getPeer(): string {
    return this.address;
  }

  startRead(): void {}

  getAuthContext(): null {
    return null;
  }

  private finish(outcome: GrpcErrorShape): void {
    if (this.finished) return;
    this.finished = true;
    this.listener?.onReceiveStatus?.(outcome);
  }
}

function callStatus(code: status, details: string): GrpcErrorShape {
  return { code, details, metadata: new Metadata() };
}

function failed(code: status, details: string): Promise<never> {
  return Promise.reject(callStatus(code, details));
}

function tooLarge(bytes: number): string {
  return `Received message larger than max (${bytes} vs ${MAX_MESSAGE_BYTES})`;
}
