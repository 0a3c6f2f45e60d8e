import { resolve } from "node:path";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { AuthServiceClient } from "./gen/grpc/parley/v1/auth.js";
import { createAddressBook, DEFAULT_GRPC_PORTS } from "./kit/addresses.js";
import { TokenVerifier } from "./kit/auth-verifier.js";
import { call, createClient } from "./kit/grpc/client.js";
import { createInfra } from "./kit/infra.js";
import { createLogger } from "./kit/logger.js";
import { startAdminServer } from "./kit/metrics.js";
import type { AddressBook, ModuleContext, RunningModule } from "./kit/module.js";
import { processConfig } from "./kit/process-config.js";
import { startTracing } from "./kit/tracing.js";
import { resolveTargets, TARGETS } from "./targets.js";

export interface StartOptions {
  /** "all" or a comma list of targets. */
  target?: string;
  env?: NodeJS.ProcessEnv;
  /** Tests pass an in-memory exporter here. */
  spanProcessors?: SpanProcessor[];
}

export interface RunningParley {
  /** The gateway's public port, when the gateway runs here. */
  port: number | undefined;
  adminPort: number;
  /** Where each service's gRPC server listens (tests call services directly). */
  addresses: AddressBook;
  stop(): Promise<void>;
}

/** Starts the requested targets in one process; stop() shuts them down in reverse order. */
export async function startParley(options: StartOptions = {}): Promise<RunningParley> {
  const env = options.env ?? process.env;
  const config = processConfig.load(env);
  const logger = createLogger({ level: config.logLevel });
  const targets = resolveTargets(options.target ?? "all");
  const allInOne = targets.length === Object.keys(TARGETS).length;
  const stopTracing = await startTracing({
    serviceName: allInOne ? "parley" : `parley-${targets.join("-")}`,
    spanProcessors: options.spanProcessors,
  });
  const dataDir = resolve(config.dataDir);
  const addresses = createAddressBook(env);
  const grpcHost = config.grpcBindHost ?? (allInOne ? "127.0.0.1" : "0.0.0.0");

  const infra = createInfra({ env, dataDir, logger });

  let authClient: AuthServiceClient | undefined;
  const verifier = new TokenVerifier({
    fetchKeys: async () => {
      authClient ??= createClient(AuthServiceClient, addresses.resolve("auth"));
      const { keys } = await call(authClient, "getJwks", {});
      return keys;
    },
  });

  const ctx: ModuleContext = {
    config,
    env,
    logger,
    addresses,
    verifier,
    sql: (service) => infra.sql(service),
    messageLog: () => infra.messageLog(),
    rateLimiter: (name, rate) => infra.rateLimiter(name, rate),
    grpcBind: (service) =>
      env[`PARLEY_${service.toUpperCase()}_LISTEN`] ??
      `${grpcHost}:${allInOne ? 0 : DEFAULT_GRPC_PORTS[service]}`,
  };

  const admin = await startAdminServer(config.bindHost, config.adminPort);
  const running: { name: string; module: RunningModule }[] = [];
  let port: number | undefined;
  const stopAll = async () => {
    for (const { name, module } of running.reverse()) {
      try {
        await module.stop();
      } catch (err) {
        logger.error({ err, target: name }, "target failed to stop cleanly");
      }
    }
    authClient?.close();
    await infra.close();
    await admin.stop();
    await stopTracing();
  };

  try {
    for (const name of targets) {
      const started = performance.now();
      const module = await TARGETS[name].start(ctx);
      running.push({ name, module });
      if (module.port !== undefined) port = module.port;
      logger.info({ target: name, ms: Math.round(performance.now() - started) }, "target started");
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { port, adminPort: admin.port, addresses, stop: stopAll };
}
