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

/** One unary method as its server runs it: token check, span, metrics; rejects with a gRPC status. */
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

/**
 * A client interceptor that, when the server a channel dials runs in this very process, hands a
 * unary call to it directly instead of over loopback HTTP/2. The call stays a gRPC call in every
 * way a caller or handler can see: the request and the response are serialized and parsed by the
 * same codecs, size limits and deadlines hold, errors arrive as the same statuses, metadata (token,
 * client address, trace context) reaches the handler. What goes is the transport: the HTTP/2
 * streams, frames and server call objects that made the all-in-one process's garbage collector
 * its main source of latency. A server that is not in this process, or has stopped, is dialled.
 */
export function inProcessInterceptor(address: string): Interceptor {
  return (options, nextCall) => {
    const definition = options.method_definition;
    const method =
      definition.requestStream || definition.responseStream
        ? undefined
        : servers.get(address)?.get(definition.path);
    return new InterceptingCall(
      method ? new InProcessUnaryCall(method, options, address) : nextCall(options),
    );
  };
}

class InProcessUnaryCall implements InterceptingCallInterface {
  private listener: Partial<InterceptingListener> | undefined;
  private metadata = new Metadata();
  private request: Buffer | undefined;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly method: InProcessMethod,
    private readonly options: InterceptorOptions,
    private readonly address: string,
  ) {}

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.listener = listener;
    const deadline = this.options.deadline;
    const due = deadline === undefined ? Infinity : deadline instanceof Date ? deadline.getTime() : deadline;
    if (due !== Infinity) {
      this.timer = setTimeout(
        () => this.finish(status.DEADLINE_EXCEEDED, "Deadline exceeded"),
        due - Date.now(),
      );
    }
  }

  sendMessageWithContext(_context: unknown, message: unknown): void {
    try {
      this.request = this.options.method_definition.requestSerialize(message);
    } catch (err) {
      this.finish(status.INTERNAL, `Request message serialization failure: ${(err as Error).message}`);
    }
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    const bytes = this.request;
    if (this.finished || bytes === undefined) return;
    if (bytes.length > MAX_MESSAGE_BYTES) {
      this.finish(status.RESOURCE_EXHAUSTED, tooLarge(bytes.length));
      return;
    }
    let request: unknown;
    try {
      request = this.method.requestDeserialize(bytes);
    } catch {
      this.finish(status.INTERNAL, "Error deserializing request");
      return;
    }
    this.method.serve(request, this.metadata).then(
      (response) => this.respond(response),
      (failure: GrpcErrorShape) => this.finish(failure.code, failure.details, failure.metadata),
    );
  }

  cancelWithStatus(code: status, details: string): void {
    this.finish(code, details);
  }

  getPeer(): string {
    return this.address;
  }

  startRead(): void {}

  getAuthContext(): null {
    return null;
  }

  private respond(response: unknown): void {
    if (this.finished) return;
    let message: unknown;
    try {
      const bytes = this.method.responseSerialize(response);
      if (bytes.length > MAX_MESSAGE_BYTES) {
        this.finish(status.RESOURCE_EXHAUSTED, tooLarge(bytes.length));
        return;
      }
      message = this.options.method_definition.responseDeserialize(bytes);
    } catch (err) {
      this.finish(status.INTERNAL, `Response message parsing error: ${(err as Error).message}`);
      return;
    }
    this.listener?.onReceiveMetadata?.(new Metadata());
    this.listener?.onReceiveMessage?.(message);
    this.finish(status.OK, "OK");
  }

  private finish(code: status, details: string, metadata = new Metadata()): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.listener?.onReceiveStatus?.({ code, details, metadata });
  }
}

function tooLarge(bytes: number): string {
  return `Received message larger than max (${bytes} vs ${MAX_MESSAGE_BYTES})`;
}
