import { resolve } from "node:path";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { AuthServiceClient } from "./gen/grpc/parley/v1/auth.js";
import { createAddressBook, DEFAULT_GRPC_PORTS } from "./kit/addresses.js";
import { TokenVerifier } from "./kit/auth-verifier.js";
import { DependencyError, dependencyOf, watchDependencies } from "./kit/dependencies.js";
import { call, createClient } from "./kit/grpc/client.js";
import { createInfra } from "./kit/infra.js";
import { createLogger } from "./kit/logger.js";
import { startAdminServer } from "./kit/metrics.js";
import type { AddressBook, ModuleContext, ParleyModule, RunningModule } from "./kit/module.js";
import { processConfig } from "./kit/process-config.js";
import { describeFailure, Readiness } from "./kit/readiness.js";
import { startTracing } from "./kit/tracing.js";
import { resolveTargets, TARGET_NAMES } from "./targets.js";

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
  const modules = await resolveTargets(options.target ?? "all");
  const targets = [...modules.keys()];
  const allInOne = targets.length === TARGET_NAMES.length;
  const stopTracing = await startTracing({
    serviceName: allInOne ? "parley" : `parley-${targets.join("-")}`,
    spanProcessors: options.spanProcessors,
  });
  const dataDir = resolve(config.dataDir);
  const addresses = createAddressBook(env);
  const grpcHost = config.grpcBindHost ?? (allInOne ? "127.0.0.1" : "0.0.0.0");

  const readiness = new Readiness();
  const infra = watchDependencies({ infra: createInfra({ env, dataDir, logger }), env, readiness, targets });

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
    redis: () => infra.redis(),
    redisKeyPrefix: infra.redisKeyPrefix,
    grpcBind: (service) =>
      env[`PARLEY_${service.toUpperCase()}_LISTEN`] ??
      `${grpcHost}:${allInOne ? 0 : DEFAULT_GRPC_PORTS[service]}`,
    allTargetsStarted: () => phase !== "starting",
  };

  const running: { name: string; module: RunningModule }[] = [];
  let phase: "starting" | "started" | "stopping" = "starting";
  const admin = await startAdminServer(config.bindHost, config.adminPort, {
    ready: async () => {
      const report = await readiness.report(READINESS_CHECK_TIMEOUT_MS);
      const ready = phase === "started" && report.ready;
      const status = phase === "started" ? (report.ready ? "ready" : "not ready") : phase;
      return {
        status: ready ? 200 : 503,
        body: {
          status,
          ready,
          targets: Object.fromEntries(targets.map((t) => [t, targetState(t)])),
          checks: report.checks,
        },
      };
    },
  });
  const targetState = (name: string) =>
    running.some((r) => r.name === name) ? (phase === "stopping" ? "stopping" : "started") : "starting";
  let port: number | undefined;
  const stopAll = async () => {
    phase = "stopping";
    // The gateway first (it started first, for /healthz): its streams are told to reconnect and
    // are closed in presence while presence and delivery still run. Then the rest, last started first.
    const reversed = [...running].reverse();
    const stopOrder = [
      ...reversed.filter((r) => r.name === "gateway"),
      ...reversed.filter((r) => r.name !== "gateway"),
    ];
    for (const { name, module } of stopOrder) {
      try {
        await module.stop();
      } catch (err) {
        logger.error({ err, target: name }, "target failed to stop cleanly");
      }
    }
    authClient?.close();
    await infra.close();
    await readiness.close();
    await admin.stop();
    await stopTracing();
  };

  // The gateway listens first, so /healthz answers at once and /readyz says what is still starting.
  const startOrder = [...targets.filter((t) => t === "gateway"), ...targets.filter((t) => t !== "gateway")];
  try {
    for (const name of startOrder) {
      const started = performance.now();
      const module = await (modules.get(name) as ParleyModule).start(ctx);
      running.push({ name, module });
      if (module.port !== undefined) port = module.port;
      logger.info({ target: name, ms: Math.round(performance.now() - started) }, "target started");
    }
  } catch (err) {
    // Name the dependencies behind the failure when some do not answer, whatever the module threw.
    const failing =
      err instanceof DependencyError ? [] : await readiness.failures(READINESS_CHECK_TIMEOUT_MS);
    await stopAll();
    if (failing.length === 0) {
      const dependency = err instanceof DependencyError ? undefined : dependencyOf(err);
      if (dependency) throw new DependencyError(dependency, describeFailure(err), { cause: err });
      throw err;
    }
    throw new DependencyError(
      failing.map(([name]) => name).join(", "),
      failing.map(([name, reason]) => `${name}: ${reason}`).join("; "),
      { cause: err },
    );
  }
  phase = "started";
  return { port, adminPort: admin.port, addresses, stop: stopAll };
}

/** Each dependency check's deadline on /readyz of the admin port. */
const READINESS_CHECK_TIMEOUT_MS = 2_000;
