import { fileURLToPath } from "node:url";
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { SpanKind } from "@opentelemetry/api";
import { HealthImplementation } from "grpc-health-check";
import { bearerToken, type Principal, type TokenVerifier } from "../auth-verifier.js";
import { asServiceError } from "../dependencies.js";
import { type GrpcErrorShape, toGrpcError } from "../errors.js";
import type { Logger } from "../logger.js";
import { rpcDuration } from "../metrics.js";
import { extractTraceContext, inSpan } from "../tracing.js";
import { type InProcessMethod, MAX_MESSAGE_BYTES, registerInProcess } from "./in-process.js";
import { GRPC_SHARED_OPTIONS } from "./options.js";

export const PROTO_ROOT = fileURLToPath(new URL("../../../proto", import.meta.url));

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** The verified caller; set on every method of a user-facing service but its public ones. */
  principal: Principal | undefined;
  metadata: Metadata;
  /** The end user's address as the gateway saw it (internal metadata, set only by the gateway). */
  clientAddress: string | undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: handlers are typed by their service definition.
export type UnaryHandler = (request: any, ctx: CallContext) => Promise<any>;

export interface ServiceBinding {
  definition: ServiceDefinition;
  /** Fully-qualified name, e.g. parley.v1.AuthService (for health and reflection). */
  name: string;
  handlers: Record<string, UnaryHandler>;
  /**
   * "user": every call needs a valid access token, except methods in `publicMethods`.
   * "internal": service-to-service only; no user token (NetworkPolicy keeps it in the mesh).
   */
  access: "user" | "internal";
  publicMethods?: string[];
}

export interface GrpcServerOptions {
  /** The target name, used in metrics and logs. */
  target: string;
  bind: string;
  services: ServiceBinding[];
  /** .proto files (relative to proto/) that reflection describes. */
  protoFiles: string[];
  verifier: TokenVerifier;
  logger: Logger;
}

export interface RunningGrpcServer {
  /** host:port actually bound. */
  address: string;
  health: HealthImplementation;
  stop(graceMs: number): Promise<void>;
}

export const CLIENT_ADDRESS_HEADER = "x-parley-client-address";

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({ ...GRPC_SHARED_OPTIONS, "grpc.max_receive_message_length": MAX_MESSAGE_BYTES });
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  health.addToServer(server);
  const reflection = new ReflectionService(
    loadSync(options.protoFiles, { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String }),
  );
  reflection.addToServer(server);

  const served = new Map<string, InProcessMethod>();
  for (const binding of options.services) {
    const methods = serveService(binding, options);
    server.addService(binding.definition, grpcImplementation(binding, methods));
    for (const [path, method] of methods) served.set(path, method);
    health.setStatus(binding.name, "NOT_SERVING");
  }

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.bind, ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    ),
  );
  health.setStatus("", "SERVING");
  for (const binding of options.services) health.setStatus(binding.name, "SERVING");
  const host = options.bind.slice(0, options.bind.lastIndexOf(":"));
  const address = `${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`;
  const unregister = registerInProcess(address, served);
  options.logger.info({ target: options.target, address }, "gRPC server listening");

  return {
    address,
    health,
    async stop(graceMs) {
      unregister();
      health.setStatus("", "NOT_SERVING");
      for (const binding of options.services) health.setStatus(binding.name, "NOT_SERVING");
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

/** Each unary method of a binding as the server runs it, by its path. */
function serveService(binding: ServiceBinding, options: GrpcServerOptions): Map<string, InProcessMethod> {
  const methods = new Map<string, InProcessMethod>();
  const publicMethods = new Set(binding.publicMethods ?? []);
  for (const [method, definition] of Object.entries(binding.definition)) {
    const handler = binding.handlers[method];
    if (!handler) throw new Error(`${binding.name}: no handler for ${method}`);
    const path = definition.path;
    const methodName = path.slice(path.lastIndexOf("/") + 1);
    const needsUser = binding.access === "user" && !publicMethods.has(method);
    const observe = (code: string, started: number) =>
      rpcDuration.observe(
        { service: binding.name, method: methodName, code, side: "server" },
        (performance.now() - started) / 1000,
      );
    const serve = (request: unknown, metadata: Metadata): Promise<unknown> => {
      const started = performance.now();
      const parent = extractTraceContext(metadata);
      return inSpan(
        path.slice(1),
        { kind: SpanKind.SERVER, parent, attributes: { "rpc.system": "grpc" } },
        async () => {
          const principal = needsUser
            ? await options.verifier.verify(bearerToken(String(metadata.get("authorization")[0] ?? "")))
            : undefined;
          const clientAddress = metadata.get(CLIENT_ADDRESS_HEADER)[0];
          return handler(request, {
            principal,
            metadata,
            clientAddress: clientAddress === undefined ? undefined : String(clientAddress),
          });
        },
      ).then(
        (response) => {
          observe("OK", started);
          return response;
        },
        (err: unknown) => {
          const domain = asServiceError(err);
          if (domain.code === "internal")
            options.logger.error({ err, method: path }, "unexpected error in handler");
          observe(domain.code, started);
          throw toGrpcError(domain);
        },
      );
    };
    methods.set(path, {
      requestDeserialize: definition.requestDeserialize,
      responseSerialize: definition.responseSerialize,
      serve,
    });
  }
  return methods;
}

/** The grpc-js implementation object of served methods. */
function grpcImplementation(binding: ServiceBinding, methods: Map<string, InProcessMethod>) {
  const implementation: Record<
    string,
    (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void
  > = {};
  for (const [method, definition] of Object.entries(binding.definition)) {
    const { serve } = methods.get(definition.path) as InProcessMethod;
    implementation[method] = (call, callback) =>
      serve(call.request, call.metadata).then(
        (response) => callback(null, response),
        (failure: GrpcErrorShape) => callback(failure, null),
      );
  }
  return implementation;
}
