import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GroupEvent } from "../gen/grpc/parley/internal/v1/records.js";
import type { DomainError } from "../kit/errors.js";
import { EmbeddedLog } from "../kit/log/log.embedded.js";
import { TOPICS } from "../kit/log/log.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import type { UserDirectory } from "./directory.js";
import { createGroups, type Groups } from "./groups.js";
import type { UserRef } from "./membership.js";
import { SqlGroupStore } from "./store.sql.js";

const USERS = ["alice", "bob", "carol", "dave"];
const u = (name: string): UserRef => ({ userId: `id-${name}`, username: name });
const [alice, bob, carol, dave] = USERS.map(u) as [UserRef, UserRef, UserRef, UserRef];

const directory: UserDirectory = {
  async resolveUsernames(usernames) {
    return USERS.filter((name) => usernames.includes(name)).map(u);
  },
  close() {},
};

let dir: string;
let dbs: SqlDatabase[];
let log: EmbeddedLog;
let groups: Groups;
let clock = Date.parse("2026-01-01T00:00:00Z");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "parley-groups-rename-"));
  const template = process.env.PARLEY_PGLITE_TEMPLATE;
  dbs = await Promise.all([
    openPglite(join(dir, "groups"), "groups", template),
    openPglite(join(dir, "log"), "log", template),
  ]);
  const logger = createLogger({ level: "silent" });
  log = await EmbeddedLog.open(dbs[1] as SqlDatabase, logger);
  groups = createGroups({
    store: await SqlGroupStore.open(dbs[0] as SqlDatabase),
    directory,
    log,
    config: { maxMembers: 10, maxNameLength: 20 },
    logger,
    // Each change a second after the last, so joined_at orders are unambiguous.
    now: () => {
      clock += 1000;
      return new Date(clock);
    },
  });
});

afterAll(async () => {
  await log?.close();
  await Promise.all((dbs ?? []).map((db) => db.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function eventsOf(groupId: string): Promise<GroupEvent[]> {
  const records = await log.readUncommitted(TOPICS.groups, "groups-rename-test", groupId);
  return records.map((r) => GroupEvent.decode(r.value));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return (err as DomainError).code ?? String(err);
  }
}

describe("renaming a group", () => {
  it("lets the owner and admins rename, publishing one renamed event per change", async () => {
    const group = await groups.create(alice, "before", ["bob"]);
    await groups.addMember(alice, group.groupId, "carol", "admin");
    expect((await groups.rename(alice, group.groupId, "  after ")).name).toBe("after");
    expect((await groups.rename(carol, group.groupId, "by admin")).name).toBe("by admin");
    // The same name again is accepted and publishes nothing.
    await groups.rename(carol, group.groupId, "by admin");
    const renames = (await eventsOf(group.groupId)).filter((e) => e.renamed);
    expect(renames.map((e) => [e.actorId, e.renamed?.name])).toEqual([
      [alice.userId, "after"],
      [carol.userId, "by admin"],
    ]);
    expect((await groups.get(bob, group.groupId)).name).toBe("by admin");
  });

  it("refuses plain members, non-members, bad names and unknown groups, and changes nothing", async () => {
    const group = await groups.create(alice, "kept", ["bob"]);
    expect(await codeOf(groups.rename(bob, group.groupId, "mine"))).toBe("permission_denied");
    expect(await codeOf(groups.rename(dave, group.groupId, "mine"))).toBe("permission_denied");
    expect(await codeOf(groups.rename(alice, group.groupId, "   "))).toBe("invalid_argument");
    expect(await codeOf(groups.rename(alice, group.groupId, "x".repeat(21)))).toBe("invalid_argument");
    expect(await codeOf(groups.rename(alice, group.groupId, "two\nlines"))).toBe("invalid_argument");
    expect(await codeOf(groups.rename(alice, uuidv7(), "gone"))).toBe("not_found");
    expect(await codeOf(groups.rename(alice, "not-a-group", "gone"))).toBe("not_found");
    expect((await groups.get(alice, group.groupId)).name).toBe("kept");
    expect((await eventsOf(group.groupId)).filter((e) => e.renamed)).toEqual([]);
  });
});

describe("members for delivery", () => {
  it("lists the current members with when each joined; a removed member is gone", async () => {
    const group = await groups.create(alice, "joins", ["bob"]);
    const added = await groups.addMember(alice, group.groupId, "carol", "member");
    await groups.removeMember(alice, group.groupId, "bob");
    const members = await groups.listMembers(group.groupId);
    const carolJoined = added.members.find((m) => m.userId === carol.userId)?.joinedAt;
    expect(members).toEqual([
      { userId: alice.userId, joinedAt: group.createdAt },
      { userId: carol.userId, joinedAt: carolJoined },
    ]);
    expect(carolJoined?.getTime()).toBeGreaterThan(group.createdAt.getTime());
    expect(await groups.listMembers(uuidv7())).toBeUndefined();
    expect(await groups.listMembers("nope")).toBeUndefined();
  });

  it("lists everyone who shares a group with a user, once, without them", async () => {
    const name = (id: string) => id.slice(3);
    await groups.create(u("dave"), "d1", ["alice"]);
    await groups.create(u("dave"), "d2", ["alice", "carol"]);
    const co = await groups.listCoMembers(dave.userId);
    expect(co.map(name).sort()).toEqual(["alice", "carol"]);
    // Through groups of at most 2 members: d1 only (d2 has 3).
    expect((await groups.listCoMembers(dave.userId, 2)).map(name)).toEqual(["alice"]);
    expect((await groups.listCoMembers(dave.userId, 3)).map(name).sort()).toEqual(["alice", "carol"]);
    expect(await groups.listCoMembers("id-nobody")).toEqual([]);
    expect(await codeOf(groups.listCoMembers(""))).toBe("invalid_argument");
  });
});
