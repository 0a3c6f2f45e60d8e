import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { ServiceName, TargetName } from "../../services/kit/module.js";

/**
 * What a mesh is made of: one process per target, the ports each listens on, and the environment
 * each is started with. Pure data; processes.ts starts what this describes.
 */

/** Start order: callees first (every process starts at once; the order only matters for logs). */
export const MESH_TARGETS = [
  "auth",
  "crypto",
  "groups",
  "messages",
  "presence",
  "delivery",
  "media",
  "gateway",
] as const satisfies TargetName[];
export const MESH_SERVICES = [
  "auth",
  "crypto",
  "groups",
  "messages",
  "presence",
  "delivery",
  "media",
] as const satisfies ServiceName[];

/** The real servers a mesh runs on, as deps/up.sh writes them to .deps/env (PARLEY_TEST_*). */
export interface RealServers {
  /** A PostgreSQL superuser URL: the mesh creates each service's role and database with it. */
  postgresUrl?: string;
  kafkaBrokers?: string;
  redisUrl?: string;
  cqlContactPoints?: string;
  cqlLocalDc?: string;
  s3?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
}

export type RealServer = "postgres" | "kafka" | "redis" | "cassandra" | "s3";

/** Which servers each process is given: only what its own modules use (DESIGN.md §4). */
export const NEEDS: Record<TargetName, RealServer[]> = {
  auth: ["postgres", "redis"],
  crypto: [],
  groups: ["postgres", "kafka"],
  messages: ["postgres", "kafka", "redis", "cassandra"],
  presence: ["redis"],
  delivery: ["postgres", "kafka", "redis"],
  media: ["postgres", "s3"],
  gateway: [],
};

/** The services that own a PostgreSQL database. */
export const SQL_SERVICES = [
  "auth",
  "groups",
  "messages",
  "delivery",
  "media",
] as const satisfies ServiceName[];
export type SqlService = (typeof SQL_SERVICES)[number];

export function realServersFromEnv(env: Record<string, string | undefined>): RealServers {
  return {
    postgresUrl: env.PARLEY_TEST_PG_URL || undefined,
    kafkaBrokers: env.PARLEY_TEST_KAFKA_BROKERS || undefined,
    redisUrl: env.PARLEY_TEST_REDIS_URL || undefined,
    cqlContactPoints: env.PARLEY_TEST_CQL_CONTACT_POINTS || undefined,
    cqlLocalDc: env.PARLEY_TEST_CQL_LOCAL_DC || undefined,
    s3: env.PARLEY_TEST_S3_ENDPOINT
      ? {
          endpoint: env.PARLEY_TEST_S3_ENDPOINT,
          region: env.PARLEY_TEST_S3_REGION || "us-east-1",
          accessKeyId: env.PARLEY_TEST_S3_ACCESS_KEY ?? "",
          secretAccessKey: env.PARLEY_TEST_S3_SECRET_KEY ?? "",
        }
      : undefined,
  };
}

export interface MeshPorts {
  /** The gateway's public port. */
  public: number;
  grpc: Record<ServiceName, number>;
  admin: Record<TargetName, number>;
}

/** The fixed ports of `npm run start:mesh`: gRPC as in kit/addresses.ts, admin from 9464 up. */
export function fixedPorts(publicPort: number, grpc: Record<ServiceName, number>): MeshPorts {
  return {
    public: publicPort,
    grpc,
    admin: {
      gateway: 9464,
      auth: 9465,
      groups: 9466,
      crypto: 9467,
      messages: 9468,
      presence: 9469,
      delivery: 9470,
      media: 9471,
    },
  };
}

/** Ports the kernel says are free now (tests: several meshes side by side). */
export async function freePorts(): Promise<MeshPorts> {
  const take = async () => {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    // Held until every port is picked, so no two are the same.
    return { port, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  };
  const taken = await Promise.all(
    Array.from({ length: 1 + MESH_SERVICES.length + MESH_TARGETS.length }, take),
  );
  await Promise.all(taken.map((t) => t.release()));
  const ports = taken.map((t) => t.port);
  const next = () => ports.shift() as number;
  return {
    public: next(),
    grpc: {
      auth: next(),
      crypto: next(),
      groups: next(),
      messages: next(),
      presence: next(),
      delivery: next(),
      media: next(),
    },
    admin: {
      auth: next(),
      crypto: next(),
      groups: next(),
      messages: next(),
      presence: next(),
      delivery: next(),
      media: next(),
      gateway: next(),
    },
  };
}

/** Secrets every process of one mesh must agree on, generated once into the state folder. */
export interface MeshSecrets {
  /** PARLEY_CRYPTO_KEK: base64 of 32 bytes. */
  kek: string;
  /** PARLEY_AUTH_SIGNING_KEY_SECRET: base64 of 32 bytes. */
  signingKeySecret: string;
  /** The password of each service's PostgreSQL role. */
  databasePasswords: Record<SqlService, string>;
}

/** Reads `<stateDir>/secrets.json`, creating it (mode 0600) on first use; concurrent callers agree. */
export function loadSecrets(stateDir: string): MeshSecrets {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, "secrets.json");
  const fresh: MeshSecrets = {
    kek: randomBytes(32).toString("base64"),
    signingKeySecret: randomBytes(32).toString("base64"),
    databasePasswords: {
      auth: randomBytes(18).toString("base64url"),
      groups: randomBytes(18).toString("base64url"),
      messages: randomBytes(18).toString("base64url"),
      delivery: randomBytes(18).toString("base64url"),
      media: randomBytes(18).toString("base64url"),
    },
  };
  try {
    writeFileSync(file, `${JSON.stringify(fresh, null, 2)}\n`, { flag: "wx", mode: 0o600 });
    return fresh;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  // Another mesh may be writing it this instant: an empty or partial file is read again.
  for (let attempt = 0; ; attempt++) {
    try {
      return withEveryPassword(JSON.parse(readFileSync(file, "utf8")) as MeshSecrets);
    } catch (err) {
      if (attempt >= 50)
        throw new Error(`${file} is not valid JSON; delete it to generate new secrets`, { cause: err });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/**
 * A state folder made before a service had a database lacks its password: derive one from the
 * folder's own key, so every process (and every later mesh) agrees without rewriting the file.
 */
function withEveryPassword(secrets: MeshSecrets): MeshSecrets {
  const passwords = { ...secrets.databasePasswords };
  for (const service of SQL_SERVICES) {
    passwords[service] ??= createHmac("sha256", Buffer.from(secrets.kek, "base64"))
      .update(`database password: ${service}`)
      .digest("base64url")
      .slice(0, 24);
  }
  return { ...secrets, databasePasswords: passwords };
}

/** Names that keep one mesh's data apart from another's on the same servers. */
export interface MeshNames {
  /** PostgreSQL databases are `<prefix>auth`, `<prefix>groups`, `<prefix>messages`. */
  databasePrefix: string;
  /** Kafka topics and consumer groups (when the log adapter supports a prefix). */
  kafkaPrefix?: string;
  /** Redis keys (PARLEY_REDIS_KEY_PREFIX; Parley's default `parley:` when unset). */
  redisPrefix?: string;
  cqlKeyspace: string;
  /** The bucket attachments go to when an S3 server is given (default `parley`). */
  s3Bucket?: string;
}

export function databaseName(names: MeshNames, service: SqlService): string {
  return `${names.databasePrefix}${service}`;
}

/** Each service's own role: it can use its database and no other's. */
export function roleName(service: SqlService): string {
  return `parley_${service}`;
}

export function databaseUrl(
  superuserUrl: string,
  names: MeshNames,
  secrets: MeshSecrets,
  service: SqlService,
): string {
  const url = new URL(superuserUrl);
  url.username = roleName(service);
  url.password = secrets.databasePasswords[service];
  url.pathname = `/${databaseName(names, service)}`;
  return url.toString();
}

export interface MeshPlan {
  ports: MeshPorts;
  servers: RealServers;
  names: MeshNames;
  secrets: MeshSecrets;
  /** Each process gets `<dataDir>/<target>` (only embedded roles write there). */
  dataDir: string;
  /** Added to every process's environment last (log level, limits, …). */
  extraEnv?: Record<string, string>;
}

/** The environment of one process: the DESIGN.md variables, nothing a process does not need. */
export function processEnv(plan: MeshPlan, target: TargetName): Record<string, string> {
  const { ports, servers, names, secrets } = plan;
  const env: Record<string, string> = {
    PARLEY_TARGET: target,
    PARLEY_BIND_HOST: "127.0.0.1",
    PARLEY_ADMIN_PORT: String(ports.admin[target]),
    PARLEY_DATA_DIR: join(plan.dataDir, target),
  };
  // Every process may call every service (token verification asks auth for its keys).
  for (const service of MESH_SERVICES) {
    env[`PARLEY_${service.toUpperCase()}_ADDR`] = `127.0.0.1:${ports.grpc[service]}`;
  }
  if (target === "gateway") env.PORT = String(ports.public);
  else env[`PARLEY_${target.toUpperCase()}_LISTEN`] = `127.0.0.1:${ports.grpc[target]}`;
  if (target === "crypto") env.PARLEY_CRYPTO_KEK = secrets.kek;
  if (target === "auth") env.PARLEY_AUTH_SIGNING_KEY_SECRET = secrets.signingKeySecret;

  const needs = NEEDS[target];
  if (needs.includes("postgres") && servers.postgresUrl && isSqlService(target)) {
    env[`PARLEY_${target.toUpperCase()}_DATABASE_URL`] = databaseUrl(
      servers.postgresUrl,
      names,
      secrets,
      target,
    );
  }
  if (needs.includes("kafka") && servers.kafkaBrokers) {
    env.PARLEY_KAFKA_BROKERS = servers.kafkaBrokers;
    if (names.kafkaPrefix) env.PARLEY_KAFKA_TOPIC_PREFIX = names.kafkaPrefix;
  }
  if (needs.includes("redis") && servers.redisUrl) {
    env.PARLEY_REDIS_URL = servers.redisUrl;
    if (names.redisPrefix) env.PARLEY_REDIS_KEY_PREFIX = names.redisPrefix;
  }
  if (needs.includes("s3") && servers.s3) {
    env.PARLEY_MEDIA_S3_ENDPOINT = servers.s3.endpoint;
    env.PARLEY_MEDIA_S3_REGION = servers.s3.region;
    env.PARLEY_MEDIA_S3_ACCESS_KEY_ID = servers.s3.accessKeyId;
    env.PARLEY_MEDIA_S3_SECRET_ACCESS_KEY = servers.s3.secretAccessKey;
    env.PARLEY_MEDIA_S3_BUCKET = names.s3Bucket ?? "parley";
    env.PARLEY_MEDIA_S3_FORCE_PATH_STYLE = "true";
    env.PARLEY_MEDIA_S3_CREATE_BUCKET = "true";
  }
  if (!servers.s3 && (target === "media" || target === "gateway")) {
    // No S3: media and the gateway share one local attachment folder and URL signing key.
    env.PARLEY_MEDIA_LOCAL_DIR = join(plan.dataDir, "media-objects");
    env.PARLEY_MEDIA_URL_SECRET = createHmac("sha256", Buffer.from(secrets.kek, "base64"))
      .update("media url signing")
      .digest("base64");
  }
  if (needs.includes("cassandra") && servers.cqlContactPoints) {
    env.PARLEY_MESSAGES_CQL_CONTACT_POINTS = servers.cqlContactPoints;
    env.PARLEY_MESSAGES_CQL_LOCAL_DC = servers.cqlLocalDc ?? "datacenter1";
    env.PARLEY_MESSAGES_CQL_KEYSPACE = names.cqlKeyspace;
  }
  return { ...env, ...plan.extraEnv };
}

function isSqlService(target: TargetName): target is SqlService {
  return (SQL_SERVICES as readonly string[]).includes(target);
}

/** The variables a mesh sets, removed from the environment children inherit so none leaks in. */
export function isMeshVariable(key: string): boolean {
  return (
    /^PARLEY_(AUTH|CRYPTO|GROUPS|MESSAGES|MEDIA|DELIVERY|PRESENCE|GATEWAY)_(ADDR|LISTEN|DATABASE_URL)$/.test(
      key,
    ) ||
    /^PARLEY_(KAFKA_|REDIS_URL|MESSAGES_CQL_|MEDIA_S3_|MEDIA_LOCAL_DIR$|MEDIA_URL_SECRET$|CRYPTO_KEK|AUTH_SIGNING_KEY_SECRET|TARGET$|DATA_DIR$|ADMIN_PORT$)/.test(
      key,
    ) ||
    key === "PORT"
  );
}
