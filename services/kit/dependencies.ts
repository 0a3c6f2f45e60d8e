import { blobConfig, usesS3 } from "./blob/blob.config.js";
import { s3Probe } from "./blob/blob.probe.js";
import { cqlProbe, endpointOf, kafkaProbe, redisProbe, sqlProbe } from "./dependency-probes.js";
import { asDomainError, DomainError } from "./errors.js";
import { type Infra, infraConfig } from "./infra.js";
import type { MessageLog } from "./log/log.js";
import type { ServiceName, TargetName } from "./module.js";
import { describeFailure, type Readiness } from "./readiness.js";

/** A store or server this process needs and could not use; its message names which one and where. */
export class DependencyError extends Error {
  constructor(
    readonly dependency: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`needs ${dependency}, which failed: ${detail}`, options);
    this.name = "DependencyError";
  }
}

/**
 * Wraps the process's infra so that every role a module opens registers a readiness check named
 * for the server behind it, and a failure to open one names that server. Which implementation
 * backs a role stays infra's decision; this only reads the same settings to name and probe it.
 */
export function watchDependencies(options: {
  infra: Infra;
  env: NodeJS.ProcessEnv;
  readiness: Readiness;
  targets: TargetName[];
}): Infra {
  const { infra, env, readiness } = options;
  const settings = infraConfig.load(env);

  const cqlContactPoints = (env.PARLEY_MESSAGES_CQL_CONTACT_POINTS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (options.targets.includes("messages") && cqlContactPoints.length > 0) {
    const probe = cqlProbe(cqlContactPoints, env.PARLEY_MESSAGES_CQL_LOCAL_DC ?? "datacenter1");
    readiness.register("cassandra", probe.check, probe.close);
  }
  const blobs = blobConfig.load(env);
  if (options.targets.includes("media") && usesS3(blobs)) {
    const probe = s3Probe(blobs);
    readiness.register("s3", probe.check, probe.close);
  }

  const opening = new Map<ServiceName, Promise<Awaited<ReturnType<Infra["sql"]>>>>();
  let openedLog: MessageLog | undefined;
  // Roles this file does not watch pass through as they are.
  return {
    ...infra,
    sql(service) {
      let db = opening.get(service);
      if (!db) {
        const url = env[`PARLEY_${service.toUpperCase()}_DATABASE_URL`];
        const name = `${url ? "postgres" : "pglite"}:${service}`;
        const where = url ? endpointOf(url) : "the data folder";
        db = infra.sql(service).catch((err: unknown) => {
          throw new DependencyError(name, `cannot open ${where}: ${describeFailure(err)}`, { cause: err });
        });
        // The check reports an open that failed, too, not only a database that stopped answering.
        db.catch(() => {});
        opening.set(service, db);
        const probe = sqlProbe(() => db as NonNullable<typeof db>);
        readiness.register(name, probe.check, probe.close);
      }
      return db;
    },
    messageLog() {
      const kafka = settings.kafkaBrokers.length > 0;
      if (kafka) {
        const probe = kafkaProbe(settings.kafkaBrokers);
        // Kafka answering is not enough: a consumer that cannot join its group consumes nothing.
        const check = async () => {
          await probe.check();
          const problems = openedLog?.problems?.() ?? [];
          if (problems.length > 0) throw new Error(problems.join("; "));
        };
        readiness.register("kafka", check, probe.close);
      }
      const opened = infra.messageLog();
      opened.then(
        (log) => {
          openedLog = log;
        },
        () => {},
      );
      return opened.catch((err: unknown) => {
        const name = kafka ? "kafka" : "embedded log";
        const where = kafka ? settings.kafkaBrokers.join(",") : "the data folder";
        throw new DependencyError(name, `cannot open ${where}: ${describeFailure(err)}`, { cause: err });
      });
    },
    rateLimiter(name, rate) {
      if (settings.redisUrl) {
        const probe = redisProbe(settings.redisUrl);
        readiness.register("redis", probe.check, probe.close);
      }
      return infra.rateLimiter(name, rate);
    },
    redis() {
      if (settings.redisUrl) {
        const probe = redisProbe(settings.redisUrl);
        readiness.register("redis", probe.check, probe.close);
      }
      return infra.redis();
    },
    close: () => infra.close(),
  };
}

/**
 * The real server behind an error a driver threw, when the error says so (its class or its shape),
 * looking through causes: for failures outside infra's roles, such as a module opening its own
 * store (messages' history on Cassandra).
 */
export function dependencyOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DependencyError) return e.dependency;
    const name = e.constructor.name;
    if (/^KafkaJS|^KafkaStartError$/.test(name)) return "kafka";
    if (/^(NoHostAvailableError|OperationTimedOutError|ResponseError)$/.test(name)) return "cassandra";
    if (name === "DatabaseError" && "severity" in e) return "postgres";
    if (/^(ReplyError|MaxRetriesPerRequestError)$/.test(name)) return "redis";
  }
  return undefined;
}

/**
 * What a handler's failure means to its caller: a domain error as it is; a real server that failed
 * (Kafka, Redis, …) is `unavailable` — retry later — rather than an internal error of ours.
 */
export function asServiceError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const dependency = dependencyOf(err);
  if (dependency) return new DomainError("unavailable", `${dependency} is unavailable`, { cause: err });
  return asDomainError(err);
}
