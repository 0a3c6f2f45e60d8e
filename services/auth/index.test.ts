import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserDirectoryServiceClient } from "../gen/grpc/parley/internal/v1/directory.js";
import { AuthServiceClient } from "../gen/grpc/parley/v1/auth.js";
import { createAddressBook } from "../kit/addresses.js";
import { TokenVerifier } from "../kit/auth-verifier.js";
import { call, createClient } from "../kit/grpc/client.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { createLogger } from "../kit/logger.js";
import type { ModuleContext, RunningModule } from "../kit/module.js";
import { processConfig } from "../kit/process-config.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { authModule } from "./index.js";

describe("auth module over gRPC", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "parley-auth-module-"));
  const env = { PARLEY_DATA_DIR: dataDir, PARLEY_AUTH_LOGIN_LIMIT_PER_USERNAME: "2" };
  const addresses = createAddressBook({});
  let db: SqlDatabase | undefined;
  let running: RunningModule;
  let auth: AuthServiceClient;
  let directory: UserDirectoryServiceClient;
  let verifier: TokenVerifier;

  beforeAll(async () => {
    verifier = new TokenVerifier({
      fetchKeys: async () => (await call(auth, "getJwks", {})).keys,
    });
    const ctx: ModuleContext = {
      config: processConfig.load(env),
      env,
      logger: createLogger({ level: "silent" }),
      addresses,
      verifier,
      sql: async () => {
        db ??= await openPglite(join(dataDir, "auth"), "auth", process.env.PARLEY_PGLITE_TEMPLATE);
        return db;
      },
      messageLog: () => Promise.reject(new Error("auth needs no message log")),
      rateLimiter: (_name, rate) => new MemoryRateLimiter(rate),
      grpcBind: () => "127.0.0.1:0",
    };
    running = await authModule.start(ctx);
    auth = createClient(AuthServiceClient, addresses.resolve("auth"));
    directory = createClient(UserDirectoryServiceClient, addresses.resolve("auth"));
  });

  afterAll(async () => {
    auth?.close();
    directory?.close();
    await running?.stop();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("registers, logs in without a token, and issues an access token other services verify", async () => {
    const { user } = await call(auth, "register", { username: "Grace", password: "hopper1906" });
    expect(user).toMatchObject({ username: "grace", userId: expect.any(String) });
    expect(user?.createdAt).toBeInstanceOf(Date);
    const login = await call(auth, "login", { username: "grace", password: "hopper1906" });
    expect(login.tokens?.tokenType).toBe("Bearer");
    const principal = await verifier.verify(login.tokens?.accessToken);
    expect(principal).toMatchObject({ userId: user?.userId, username: "grace" });

    const refreshed = await call(auth, "refresh", { refreshToken: login.tokens?.refreshToken ?? "" });
    expect(refreshed.user?.userId).toBe(user?.userId);
    await expect(
      call(auth, "logout", { refreshToken: refreshed.tokens?.refreshToken ?? "" }),
    ).resolves.toEqual({});
    await expect(
      call(auth, "refresh", { refreshToken: refreshed.tokens?.refreshToken ?? "" }),
    ).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("maps domain errors to gRPC statuses: duplicate, bad input, bad credentials", async () => {
    await call(auth, "register", { username: "linus", password: "password1" });
    await expect(call(auth, "register", { username: "LINUS", password: "password1" })).rejects.toMatchObject({
      code: "already_exists",
    });
    await expect(call(auth, "register", { username: "x", password: "password1" })).rejects.toMatchObject({
      code: "invalid_argument",
      message: "username must be 3 to 32 characters long",
    });
    await expect(call(auth, "login", { username: "linus", password: "nope-nope" })).rejects.toMatchObject({
      code: "unauthenticated",
      message: "invalid username or password",
    });
  });

  it("rate-limits login per username and carries retry-after to the caller", async () => {
    await call(auth, "register", { username: "ada", password: "lovelace1815" });
    for (let i = 0; i < 2; i++) {
      await call(
        auth,
        "login",
        { username: "ada", password: "wrong-password" },
        { clientAddress: "192.0.2.1" },
      ).catch(() => undefined);
    }
    const refused = call(
      auth,
      "login",
      { username: "ada", password: "lovelace1815" },
      { clientAddress: "192.0.2.1" },
    );
    await expect(refused).rejects.toMatchObject({
      code: "resource_exhausted",
      retryAfterSeconds: expect.any(Number),
    });
    const err: unknown = await refused.catch((e: unknown) => e);
    expect((err as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
  });

  it("publishes the signing keys and serves the internal user directory", async () => {
    const { keys } = await call(auth, "getJwks", {});
    expect(keys.length).toBeGreaterThanOrEqual(1);
    expect(keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    const { users } = await call(directory, "resolveUsernames", { usernames: ["GRACE", "nobody"] });
    expect(users.map((u) => u.username)).toEqual(["grace"]);
    const byId = await call(directory, "getUsers", { userIds: users.map((u) => u.userId) });
    expect(byId.users).toEqual(users);
  });

  it("keeps its generated signing secret readable by its owner only", () => {
    expect(statSync(join(dataDir, "auth-signing-secret")).mode & 0o777).toBe(0o600);
  });
});
