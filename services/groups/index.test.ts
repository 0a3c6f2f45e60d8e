import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authModule } from "../auth/index.js";
import { MembershipServiceClient } from "../gen/grpc/parley/internal/v1/membership.js";
import { AuthServiceClient } from "../gen/grpc/parley/v1/auth.js";
import { GroupRole, GroupServiceClient } from "../gen/grpc/parley/v1/groups.js";
import { createAddressBook } from "../kit/addresses.js";
import { TokenVerifier } from "../kit/auth-verifier.js";
import { call, createClient } from "../kit/grpc/client.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { EmbeddedLog } from "../kit/log/log.embedded.js";
import { createLogger } from "../kit/logger.js";
import type { ModuleContext, RunningModule, ServiceName } from "../kit/module.js";
import { processConfig } from "../kit/process-config.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { groupsModule } from "./index.js";

// The groups target over real gRPC, with the real auth target beside it: tokens verified from
// auth's keys, usernames resolved through auth's directory.

let dataDir: string;
let running: RunningModule[] = [];
const databases: SqlDatabase[] = [];
let log: EmbeddedLog | undefined;
let auth: AuthServiceClient | undefined;
let groups: GroupServiceClient;
let membership: MembershipServiceClient;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "parley-groups-module-"));
  const env = { ...process.env, PARLEY_DATA_DIR: dataDir, LOG_LEVEL: "silent" };
  const logger = createLogger({ level: "silent" });
  const addresses = createAddressBook({});
  const open = async (name: string) => {
    const db = await openPglite(join(dataDir, name), name, process.env.PARLEY_PGLITE_TEMPLATE);
    databases.push(db);
    return db;
  };
  const sql = new Map<ServiceName, Promise<SqlDatabase>>();
  const ctx: ModuleContext = {
    config: processConfig.load(env),
    env,
    logger,
    addresses,
    verifier: new TokenVerifier({
      fetchKeys: async () => {
        auth ??= createClient(AuthServiceClient, addresses.resolve("auth"));
        return (await call(auth, "getJwks", {})).keys;
      },
    }),
    sql: (service) => {
      if (!sql.has(service)) sql.set(service, open(service));
      return sql.get(service) as Promise<SqlDatabase>;
    },
    messageLog: async () => {
      log ??= await EmbeddedLog.open(await open("log"), logger);
      return log;
    },
    rateLimiter: (_name, rate) => new MemoryRateLimiter(rate),
    grpcBind: () => "127.0.0.1:0",
  };
  running.push(await authModule.start(ctx));
  running.push(await groupsModule.start(ctx));
  auth ??= createClient(AuthServiceClient, addresses.resolve("auth"));
  groups = createClient(GroupServiceClient, addresses.resolve("groups"));
  membership = createClient(MembershipServiceClient, addresses.resolve("groups"));
  for (const username of ["alice", "bob", "carol"]) {
    const password = `${username}-correct-horse`;
    const { user } = await call(auth, "register", { username, password });
    ids[username] = user?.userId ?? "";
    const { tokens: issued } = await call(auth, "login", { username, password });
    tokens[username] = issued?.accessToken ?? "";
  }
});

afterAll(async () => {
  for (const client of [auth, groups, membership]) client?.close();
  for (const module of running.reverse()) await module.stop();
  running = [];
  await log?.close();
  for (const db of databases) await db.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const as = (username: string) => ({ token: tokens[username] });

describe("the groups target over gRPC", () => {
  it("refuses a call without a valid access token", async () => {
    await expect(call(groups, "listMyGroups", {})).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(call(groups, "listMyGroups", {}, { token: "not.a.token" })).rejects.toMatchObject({
      code: "unauthenticated",
    });
  });

  it("creates, reads, adds, removes — and CheckMembership follows at once", async () => {
    const { group } = await call(
      groups,
      "createGroup",
      { name: "Team", memberUsernames: ["Bob"] },
      as("alice"),
    );
    const groupId = group?.groupId ?? "";
    expect(group?.ownerId).toBe(ids.alice);
    expect(group?.members.map((m) => [m.username, m.role])).toEqual([
      ["alice", GroupRole.GROUP_ROLE_OWNER],
      ["bob", GroupRole.GROUP_ROLE_MEMBER],
    ]);
    expect(group?.members[0]?.joinedAt).toBeInstanceOf(Date);

    await expect(call(groups, "getGroup", { groupId }, as("carol"))).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(
      call(groups, "addMember", { groupId, username: "carol", role: 0 }, as("bob")),
    ).rejects.toMatchObject({ code: "permission_denied" });
    await expect(
      call(groups, "addMember", { groupId, username: "nobody", role: 0 }, as("alice")),
    ).rejects.toMatchObject({ code: "not_found" });

    const added = await call(groups, "addMember", { groupId, username: "carol", role: 0 }, as("alice"));
    expect(added.group?.members.map((m) => m.username)).toEqual(["alice", "bob", "carol"]);
    expect(await call(membership, "checkMembership", { groupId, userId: ids.carol ?? "" })).toEqual({
      groupExists: true,
      isMember: true,
      memberIds: expect.arrayContaining([ids.alice, ids.bob, ids.carol]),
    });
    expect((await call(groups, "listMyGroups", {}, as("carol"))).groups.map((g) => g.groupId)).toEqual([
      groupId,
    ]);

    await call(groups, "removeMember", { groupId, username: "carol" }, as("alice"));
    expect(await call(membership, "checkMembership", { groupId, userId: ids.carol ?? "" })).toEqual({
      groupExists: true,
      isMember: false,
      memberIds: [],
    });
    await expect(
      call(groups, "removeMember", { groupId, username: "alice" }, as("alice")),
    ).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("answers not_found for unknown and malformed group ids", async () => {
    for (const groupId of ["0190f2a8-6c3e-7a4b-9c1d-2e3f4a5b6c7d", "nope"]) {
      await expect(call(groups, "getGroup", { groupId }, as("alice"))).rejects.toMatchObject({
        code: "not_found",
      });
      expect(await call(membership, "checkMembership", { groupId, userId: ids.alice ?? "" })).toMatchObject({
        groupExists: false,
      });
    }
  });
});
