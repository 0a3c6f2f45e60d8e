import { describe, expect, it } from "vitest";
import { fixedPorts, isMeshVariable, MESH_TARGETS, type MeshPlan, processEnv } from "../scripts/mesh/plan.js";
import { DEFAULT_GRPC_PORTS } from "../services/kit/addresses.js";

const plan: MeshPlan = {
  ports: fixedPorts(8080, DEFAULT_GRPC_PORTS),
  servers: {
    postgresUrl: "postgres://parley:super@127.0.0.1:55432/parley",
    kafkaBrokers: "127.0.0.1:9092",
    redisUrl: "redis://127.0.0.1:56379",
    cqlContactPoints: "127.0.0.1:9042",
    cqlLocalDc: "datacenter1",
  },
  names: {
    databasePrefix: "parley_",
    kafkaPrefix: "run1.",
    redisPrefix: "run1:",
    cqlKeyspace: "parley_messages",
  },
  secrets: {
    kek: "k".repeat(44),
    signingKeySecret: "s".repeat(44),
    databasePasswords: { auth: "pa", groups: "pg", messages: "pm", media: "pd", delivery: "pl" },
  },
  dataDir: "/data",
};

const configured = (target: (typeof MESH_TARGETS)[number]) =>
  Object.keys(processEnv(plan, target)).filter((key) => /DATABASE_URL|KAFKA|REDIS|CQL|KEK|SECRET/.test(key));

describe("the mesh plan", () => {
  it("gives each process only the servers and secrets its own modules use", () => {
    expect(configured("auth").sort()).toEqual([
      "PARLEY_AUTH_DATABASE_URL",
      "PARLEY_AUTH_SIGNING_KEY_SECRET",
      "PARLEY_REDIS_KEY_PREFIX",
      "PARLEY_REDIS_URL",
    ]);
    expect(configured("crypto")).toEqual(["PARLEY_CRYPTO_KEK"]);
    expect(configured("groups").sort()).toEqual([
      "PARLEY_GROUPS_DATABASE_URL",
      "PARLEY_KAFKA_BROKERS",
      "PARLEY_KAFKA_TOPIC_PREFIX",
    ]);
    expect(configured("messages").sort()).toEqual([
      "PARLEY_KAFKA_BROKERS",
      "PARLEY_KAFKA_TOPIC_PREFIX",
      "PARLEY_MESSAGES_CQL_CONTACT_POINTS",
      "PARLEY_MESSAGES_CQL_KEYSPACE",
      "PARLEY_MESSAGES_CQL_LOCAL_DC",
      "PARLEY_MESSAGES_DATABASE_URL",
      "PARLEY_REDIS_KEY_PREFIX",
      "PARLEY_REDIS_URL",
    ]);
    expect(configured("media")).toEqual(["PARLEY_MEDIA_DATABASE_URL", "PARLEY_MEDIA_URL_SECRET"]);
    // Without S3, media and the gateway share a local attachment folder and its URL signing key.
    expect(configured("gateway")).toEqual(["PARLEY_MEDIA_URL_SECRET"]);
    expect(processEnv(plan, "gateway").PARLEY_MEDIA_LOCAL_DIR).toBe(
      processEnv(plan, "media").PARLEY_MEDIA_LOCAL_DIR,
    );
  });

  it("gives media, and only media, the S3 server and a bucket of the mesh's own", () => {
    const s3 = {
      endpoint: "http://127.0.0.1:57000",
      region: "us-east-1",
      accessKeyId: "a",
      secretAccessKey: "s",
    };
    const withS3: MeshPlan = {
      ...plan,
      servers: { ...plan.servers, s3 },
      names: { ...plan.names, s3Bucket: "b1" },
    };
    const media = processEnv(withS3, "media");
    expect(media.PARLEY_MEDIA_S3_ENDPOINT).toBe(s3.endpoint);
    expect(media.PARLEY_MEDIA_S3_BUCKET).toBe("b1");
    expect(media.PARLEY_MEDIA_LOCAL_DIR).toBeUndefined();
    for (const target of MESH_TARGETS.filter((t) => t !== "media")) {
      expect(
        Object.keys(processEnv(withS3, target)).filter((k) => k.startsWith("PARLEY_MEDIA_S3")),
        target,
      ).toEqual([]);
    }
  });

  it("connects each service to its own database as its own role, never as the superuser", () => {
    const url = new URL(processEnv(plan, "groups").PARLEY_GROUPS_DATABASE_URL as string);
    expect([url.username, url.password, url.pathname]).toEqual(["parley_groups", "pg", "/parley_groups"]);
  });

  it("gives every process every service's address, its own listen port, admin port and data folder", () => {
    const ports = new Set<string>();
    for (const target of MESH_TARGETS) {
      const env = processEnv(plan, target);
      expect(env.PARLEY_AUTH_ADDR).toBe("127.0.0.1:50051");
      expect(env.PARLEY_MESSAGES_ADDR).toBe("127.0.0.1:50054");
      expect(env.PARLEY_DATA_DIR).toBe(`/data/${target}`);
      const listen = target === "gateway" ? env.PORT : env[`PARLEY_${target.toUpperCase()}_LISTEN`];
      expect(listen, target).toBeDefined();
      ports.add(String(listen));
      ports.add(String(env.PARLEY_ADMIN_PORT));
    }
    expect(ports.size).toBe(2 * MESH_TARGETS.length);
  });

  it("keeps the launcher's own settings from leaking into its children", () => {
    for (const key of ["PARLEY_KAFKA_BROKERS", "PARLEY_AUTH_DATABASE_URL", "PARLEY_MESSAGES_ADDR", "PORT"]) {
      expect(isMeshVariable(key), key).toBe(true);
    }
    for (const key of ["LOG_LEVEL", "PARLEY_MESSAGES_SEND_LIMIT", "PATH"])
      expect(isMeshVariable(key), key).toBe(false);
  });
});
