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
import { toGrpcError } from "../errors.js";
import type { Logger } from "../logger.js";
import { rpcDuration } from "../metrics.js";
import { extractTraceContext, inSpan } from "../tracing.js";
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
  const server = new Server({ ...GRPC_SHARED_OPTIONS, "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  health.addToServer(server);
  const reflection = new ReflectionService(
    loadSync(options.protoFiles, { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String }),
  );
  reflection.addToServer(server);

  for (const binding of options.services) {
    server.addService(binding.definition, wrapService(binding, options));
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
  options.logger.info({ target: options.target, address }, "gRPC server listening");

  return {
    address,
    health,
    async stop(graceMs) {
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

function wrapService(binding: ServiceBinding, options: GrpcServerOptions) {
  const implementation: Record<
    string,
    (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void
  > = {};
  const publicMethods = new Set(binding.publicMethods ?? []);
  for (const [method, definition] of Object.entries(binding.definition)) {
    const handler = binding.handlers[method];
    if (!handler) throw new Error(`${binding.name}: no handler for ${method}`);
    const path = definition.path;
    const methodName = path.slice(path.lastIndexOf("/") + 1);
    const needsUser = binding.access === "user" && !publicMethods.has(method);
    implementation[method] = (call, callback) => {
      const started = performance.now();
      const parent = extractTraceContext(call.metadata);
      inSpan(
        path.slice(1),
        { kind: SpanKind.SERVER, parent, attributes: { "rpc.system": "grpc" } },
        async () => {
          const principal = needsUser
            ? await options.verifier.verify(bearerToken(String(call.metadata.get("authorization")[0] ?? "")))
            : undefined;
          const clientAddress = call.metadata.get(CLIENT_ADDRESS_HEADER)[0];
          return handler(call.request, {
            principal,
            metadata: call.metadata,
            clientAddress: clientAddress === undefined ? undefined : String(clientAddress),
          });
        },
      ).then(
        (response) => {
          rpcDuration.observe(
            { service: binding.name, method: methodName, code: "OK", side: "server" },
            (performance.now() - started) / 1000,
          );
          callback(null, response);
        },
        (err: unknown) => {
          const domain = asServiceError(err);
          if (domain.code === "internal")
            options.logger.error({ err, method: path }, "unexpected error in handler");
          rpcDuration.observe(
            { service: binding.name, method: methodName, code: domain.code, side: "server" },
            (performance.now() - started) / 1000,
          );
          callback(toGrpcError(domain), null);
        },
      );
    };
  }
  return implementation;
}
