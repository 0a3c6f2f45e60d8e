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

const MAX_MEMBERS = 6;
const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "gus", "hana", "ivan", "jo"];
const u = (name: string): UserRef => ({ userId: `id-${name}`, username: name });
const alice = u("alice");
const bob = u("bob");
const carol = u("carol");
const dave = u("dave");
const erin = u("erin");

/** The auth directory, with the users above; counts calls so tests can see what was asked. */
const directory: UserDirectory & { asked: string[][] } = {
  asked: [],
  async resolveUsernames(usernames) {
    this.asked.push(usernames);
    return USERS.filter((name) => usernames.includes(name)).map(u);
  },
  close() {},
};

let dir: string;
let groupsDb: SqlDatabase;
let logDb: SqlDatabase;
let log: EmbeddedLog;
let groups: Groups;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "parley-groups-"));
  const template = process.env.PARLEY_PGLITE_TEMPLATE;
  [groupsDb, logDb] = await Promise.all([
    openPglite(join(dir, "groups"), "groups", template),
    openPglite(join(dir, "log"), "log", template),
  ]);
  const logger = createLogger({ level: "silent" });
  log = await EmbeddedLog.open(logDb, logger);
  groups = createGroups({
    store: await SqlGroupStore.open(groupsDb),
    directory,
    log,
    config: { maxMembers: MAX_MEMBERS, maxNameLength: 100 },
    logger,
  });
});

afterAll(async () => {
  await log?.close();
  await Promise.all([groupsDb?.close(), logDb?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Every event published for `groupId`, in order. */
async function eventsOf(groupId: string): Promise<(GroupEvent & { headerId: string | undefined })[]> {
  const records = await log.readUncommitted(TOPICS.groups, "groups-test", groupId);
  return records.map((r) => ({ ...GroupEvent.decode(r.value), headerId: r.headers["event-id"] }));
}

const KINDS = ["created", "memberAdded", "memberRemoved", "memberRoleChanged"] as const;
/** Which change of the oneof an event carries. */
const kindOf = (event: GroupEvent) => KINDS.find((kind) => event[kind] !== undefined);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return (err as DomainError).code ?? String(err);
  }
}

describe("groups", () => {
  it("creates a group owned by its creator, publishes GroupCreated", async () => {
    const group = await groups.create(alice, "  Book club ", ["Bob", "carol", "bob", "alice"]);
    expect(group.name).toBe("Book club");
    expect(group.ownerId).toBe(alice.userId);
    expect(group.members.map((m) => [m.username, m.role])).toEqual([
      ["alice", "owner"],
      ["bob", "member"],
      ["carol", "member"],
    ]);
    const events = await eventsOf(group.groupId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      groupId: group.groupId,
      actorId: alice.userId,
      occurredAt: group.createdAt,
      created: { name: "Book club", memberIds: [alice.userId, bob.userId, carol.userId] },
    });
    expect(events[0]?.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[0]?.headerId).toBe(events[0]?.eventId);
  });

  it("refuses unknown initial members by name and creates nothing", async () => {
    const before = await groups.listMine(alice);
    await expect(groups.create(alice, "x", ["bob", "nobody", "nemo"])).rejects.toMatchObject({
      code: "not_found",
      message: 'unknown users: "nobody", "nemo"',
    });
    expect(await groups.listMine(alice)).toEqual(before);
  });

  it("refuses a group over the member limit without asking the directory", async () => {
    directory.asked = [];
    expect(await codeOf(groups.create(alice, "big", USERS))).toBe("failed_precondition");
    expect(directory.asked).toEqual([]);
  });

  it("shows a group to members only", async () => {
    const group = await groups.create(alice, "private", ["bob"]);
    expect((await groups.get(bob, group.groupId)).groupId).toBe(group.groupId);
    expect(await codeOf(groups.get(carol, group.groupId))).toBe("permission_denied");
    expect(await codeOf(groups.get(bob, uuidv7()))).toBe("not_found");
    expect(await codeOf(groups.get(bob, "not-a-group-id"))).toBe("not_found");
  });

  it("adds a member, publishes MemberAdded; adding again changes nothing and publishes nothing", async () => {
    const group = await groups.create(alice, "adds", []);
    const added = await groups.addMember(alice, group.groupId, "Dave", "member");
    expect(added.members.find((m) => m.userId === dave.userId)).toMatchObject({
      username: "dave",
      role: "member",
    });
    const again = await groups.addMember(alice, group.groupId, "dave", "admin");
    expect(again.members.find((m) => m.userId === dave.userId)?.role).toBe("member");
    const events = await eventsOf(group.groupId);
    expect(events.map((e) => e.memberAdded)).toEqual([undefined, { userId: dave.userId }]);
    expect(events[1]).toMatchObject({ actorId: alice.userId, groupId: group.groupId });
  });

  it("lets admins add members but not admins; plain members and outsiders add nobody", async () => {
    const group = await groups.create(alice, "roles", ["bob", "carol"]);
    await groups.setMemberRole(alice, group.groupId, "bob", "admin");
    expect(await codeOf(groups.addMember(bob, group.groupId, "dave", "member"))).toBe("ok");
    expect(await codeOf(groups.addMember(bob, group.groupId, "erin", "admin"))).toBe("permission_denied");
    expect(await codeOf(groups.addMember(carol, group.groupId, "erin", "member"))).toBe("permission_denied");
    expect(await codeOf(groups.addMember(erin, group.groupId, "erin", "member"))).toBe("permission_denied");
    expect(await codeOf(groups.addMember(alice, group.groupId, "nobody", "member"))).toBe("not_found");
    expect(await codeOf(groups.addMember(alice, uuidv7(), "erin", "member"))).toBe("not_found");
    expect(await codeOf(groups.addMember(alice, group.groupId, "erin", "owner"))).toBe("invalid_argument");
    expect(await codeOf(groups.addMember(alice, group.groupId, " ", "member"))).toBe("invalid_argument");
    const events = await eventsOf(group.groupId);
    expect(events.map(kindOf)).toEqual(["created", "memberRoleChanged", "memberAdded"]);
    expect(events[1]?.memberRoleChanged).toEqual({ userId: bob.userId, role: "admin" });
    expect((await groups.get(alice, group.groupId)).members).toHaveLength(4);
  });

  it("removes members by the rules, publishes MemberRemoved, and membership ends at once", async () => {
    const group = await groups.create(alice, "removals", ["bob", "carol", "dave"]);
    await groups.setMemberRole(alice, group.groupId, "bob", "admin");
    expect((await groups.checkMembership(group.groupId, carol.userId)).isMember).toBe(true);

    expect(await codeOf(groups.removeMember(carol, group.groupId, "dave"))).toBe("permission_denied");
    expect(await codeOf(groups.removeMember(bob, group.groupId, "alice"))).toBe("permission_denied");
    expect(await codeOf(groups.removeMember(alice, group.groupId, "alice"))).toBe("failed_precondition");
    expect(await codeOf(groups.removeMember(alice, group.groupId, "erin"))).toBe("not_found");

    const afterRemoval = await groups.removeMember(bob, group.groupId, "carol");
    expect(afterRemoval.members.map((m) => m.username)).toEqual(["alice", "bob", "dave"]);
    expect(await groups.checkMembership(group.groupId, carol.userId)).toEqual({
      groupExists: true,
      isMember: false,
      memberIds: [],
    });
    expect(await codeOf(groups.get(carol, group.groupId))).toBe("permission_denied");

    await groups.removeMember(dave, group.groupId, "dave"); // leave
    expect((await groups.checkMembership(group.groupId, dave.userId)).isMember).toBe(false);

    const removed = (await eventsOf(group.groupId)).filter((e) => e.memberRemoved);
    expect(removed.map((e) => [e.actorId, e.memberRemoved?.userId])).toEqual([
      [bob.userId, carol.userId],
      [dave.userId, dave.userId],
    ]);
  });

  it("lets only the owner change roles", async () => {
    const group = await groups.create(alice, "promotions", ["bob", "carol"]);
    await groups.setMemberRole(alice, group.groupId, "bob", "admin");
    expect(await codeOf(groups.setMemberRole(bob, group.groupId, "carol", "admin"))).toBe(
      "permission_denied",
    );
    expect(await codeOf(groups.setMemberRole(alice, group.groupId, "alice", "member"))).toBe(
      "failed_precondition",
    );
    const demoted = await groups.setMemberRole(alice, group.groupId, "bob", "member");
    expect(demoted.members.find((m) => m.userId === bob.userId)?.role).toBe("member");
  });

  it("lists the caller's groups only", async () => {
    const mine = await groups.create(erin, "erin's", []);
    const theirs = await groups.create(alice, "not erin's", []);
    const ids = (await groups.listMine(erin)).map((g) => g.groupId);
    expect(ids).toContain(mine.groupId);
    expect(ids).not.toContain(theirs.groupId);
  });

  it("answers CheckMembership for unknown and malformed groups", async () => {
    const none = { groupExists: false, isMember: false, memberIds: [] };
    expect(await groups.checkMembership(uuidv7(), alice.userId)).toEqual(none);
    expect(await groups.checkMembership("x", alice.userId)).toEqual(none);
  });

  it("lets concurrent adds fill a group exactly to its limit", async () => {
    const group = await groups.create(alice, "race", []);
    const names = USERS.slice(1);
    const results = await Promise.all(
      names.map((name) => codeOf(groups.addMember(alice, group.groupId, name, "member"))),
    );
    expect(results.filter((r) => r === "ok")).toHaveLength(MAX_MEMBERS - 1);
    expect(results.filter((r) => r === "failed_precondition")).toHaveLength(names.length - (MAX_MEMBERS - 1));
    expect((await groups.get(alice, group.groupId)).members).toHaveLength(MAX_MEMBERS);
    expect((await eventsOf(group.groupId)).filter((e) => e.memberAdded)).toHaveLength(MAX_MEMBERS - 1);
  });
});
