import { join, resolve } from "node:path";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { AuthServiceClient } from "./gen/grpc/parley/v1/auth.js";
import { createAddressBook, DEFAULT_GRPC_PORTS } from "./kit/addresses.js";
import { TokenVerifier } from "./kit/auth-verifier.js";
import { call, createClient } from "./kit/grpc/client.js";
import { EmbeddedLog } from "./kit/log/log.embedded.js";
import type { MessageLog } from "./kit/log/log.js";
import { createLogger } from "./kit/logger.js";
import { startAdminServer } from "./kit/metrics.js";
import type { AddressBook, ModuleContext, RunningModule, ServiceName } from "./kit/module.js";
import { processConfig } from "./kit/process-config.js";
import type { SqlDatabase } from "./kit/sql/database.js";
import { openPglite } from "./kit/sql/database.pglite.js";
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

  const databases = new Map<ServiceName | "log", Promise<SqlDatabase>>();
  const openDatabase = (name: ServiceName | "log") => {
    let db = databases.get(name);
    if (!db) {
      db = openPglite(join(dataDir, name), name, env.PARLEY_PGLITE_TEMPLATE);
      databases.set(name, db);
    }
    return db;
  };
  let log: Promise<MessageLog> | undefined;

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
    sql: (service) => openDatabase(service),
    messageLog: () => {
      log ??= openDatabase("log").then((db) => EmbeddedLog.open(db, logger.child({ component: "log" })));
      return log;
    },
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
    if (log) await (await log).close();
    for (const db of databases.values()) await (await db).close();
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
