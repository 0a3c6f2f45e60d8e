import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import cassandra from "cassandra-driver";
import { dropDatabases } from "../scripts/mesh/databases.js";
import { freePorts, type MeshNames, type RealServers, realServersFromEnv } from "../scripts/mesh/plan.js";
import type { MeshProcess } from "../scripts/mesh/processes.js";
import { type Mesh, startMesh } from "../scripts/mesh/start.js";
import type { TargetName } from "../services/kit/module.js";
import { testKafka } from "./kafka-client.js";
import { realServerSetting } from "./real-servers.js";

const REPO = join(import.meta.dirname, "..");

export interface TestMesh {
  /** The gateway's public URL. */
  url: string;
  processes: Record<TargetName, MeshProcess>;
  mesh: Mesh;
  names: MeshNames;
  /** Which implementation backs each role, as the processes' own /readyz report their checks. */
  roles(): Promise<Record<string, string[]>>;
  /** Stops every process and drops this mesh's databases, topics and keyspace. */
  stop(): Promise<void>;
}

/**
 * A mesh on the real servers of the test run (test/global-setup.ts), built by the same code as
 * `npm run start:mesh`, on free ports and with names of its own (databases, Kafka topic prefix,
 * CQL keyspace), so meshes of several test files share the servers without meeting.
 * Set MESH_LOG=1 to see every process's output.
 */
export async function startTestMesh(
  options: {
    extraEnv?: Record<string, string>;
    /** Servers of its own for this mesh (e.g. a Redis a fault test stops) instead of the run's. */
    servers?: Partial<RealServers>;
    /** Run a compiled build in this folder (scripts/compiled-build.ts) instead of the source with tsx. */
    compiledBuild?: string;
  } = {},
): Promise<TestMesh> {
  realServerSetting("PARLEY_TEST_PG_URL");
  const servers = { ...realServersFromEnv(process.env), ...options.servers };
  const run = randomBytes(4).toString("hex");
  const names: MeshNames = {
    databasePrefix: `mesh_${run}_`,
    kafkaPrefix: `mesh-${run}.`,
    redisPrefix: `mesh-${run}:`,
    cqlKeyspace: `mesh_${run}`,
    s3Bucket: `parley-mesh-${run}`,
  };
  const dataDir = mkdtempSync(join(tmpdir(), "parley-mesh-"));
  const verbose = process.env.MESH_LOG === "1";
  const mesh = await startMesh({
    repoDir: options.compiledBuild ?? REPO,
    compiled: options.compiledBuild !== undefined,
    servers,
    ports: await freePorts(),
    names,
    stateDir: join(REPO, ".deps", "mesh"),
    dataDir,
    extraEnv: {
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
      PARLEY_SHUTDOWN_GRACE_SECONDS: "2",
      ...options.extraEnv,
    },
    baseEnv: process.env,
    output: verbose ? (name, line) => console.error(`${name} | ${line}`) : undefined,
    readyTimeoutMs: 120_000,
    stopGraceMs: 10_000,
  }).catch(async (err) => {
    await cleanUp(servers, names).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  return {
    url: mesh.url,
    processes: mesh.processes,
    mesh,
    names,
    async roles() {
      const roles: Record<string, string[]> = {};
      for (const [name, process] of Object.entries(mesh.processes)) {
        const res = await fetch(`${process.adminUrl}/readyz`);
        roles[name] = Object.keys(((await res.json()) as { checks: Record<string, string> }).checks).sort();
      }
      return roles;
    },
    async stop() {
      await mesh.stop();
      await cleanUp(servers, names);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Best effort: a leftover database, topic or keyspace costs disk, never a wrong result. */
async function cleanUp(servers: RealServers, names: MeshNames): Promise<void> {
  const jobs: Promise<unknown>[] = [];
  if (servers.postgresUrl) jobs.push(dropDatabases(servers.postgresUrl, names));
  if (servers.kafkaBrokers && names.kafkaPrefix) {
    const prefix = names.kafkaPrefix;
    const admin = testKafka("parley-test-cleanup", servers.kafkaBrokers.split(",")).admin();
    jobs.push(
      (async () => {
        await admin.connect();
        try {
          const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
          if (topics.length) await admin.deleteTopics({ topics });
          const groups = (await admin.listGroups()).groups
            .map((g) => g.groupId)
            .filter((g) => g.startsWith(prefix));
          if (groups.length) await admin.deleteGroups(groups);
        } finally {
          await admin.disconnect();
        }
      })(),
    );
  }
  if (servers.cqlContactPoints) {
    const client = new cassandra.Client({
      contactPoints: servers.cqlContactPoints.split(","),
      localDataCenter: servers.cqlLocalDc ?? "datacenter1",
    });
    jobs.push(
      client.execute(`DROP KEYSPACE IF EXISTS ${names.cqlKeyspace}`).finally(() => client.shutdown()),
    );
  }
  if (servers.s3 && names.s3Bucket) jobs.push(removeBucket(servers.s3, names.s3Bucket));
  const results = await Promise.allSettled(jobs);
  for (const result of results) {
    if (result.status === "rejected") console.error("mesh clean-up:", (result.reason as Error).message);
  }
}

/** Empties and removes a mesh's attachment bucket. */
async function removeBucket(s3: NonNullable<RealServers["s3"]>, bucket: string): Promise<void> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
    const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key ?? "" }));
    if (keys.length > 0)
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    if (listed) await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}
