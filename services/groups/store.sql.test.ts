import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { decideAdd, decideRemove, type Role } from "./membership.js";
import type { NewGroup } from "./store.js";
import { SqlGroupStore } from "./store.sql.js";

/** A fresh, empty groups database on each backend the store runs on; close() removes it. */
const BACKENDS = [
  {
    backend: "PGlite",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "parley-groups-store-"));
      const db = await openPglite(join(dir, "groups"), "groups", process.env.PARLEY_PGLITE_TEMPLATE);
      return {
        db,
        async close() {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  { backend: "PostgreSQL", open: () => openFreshPostgres("groups") },
];

const user = (n: string) => ({ userId: `u-${n}`, username: n });
const t0 = new Date("2025-01-01T00:00:00Z");

function newGroup(owner: string, members: string[] = [], name = "friends"): NewGroup {
  return {
    groupId: uuidv7(),
    name,
    ownerId: `u-${owner}`,
    createdAt: t0,
    members: [
      { ...user(owner), role: "owner" as Role },
      ...members.map((m) => ({ ...user(m), role: "member" as Role })),
    ],
  };
}

describe.each(BACKENDS)("SqlGroupStore ($backend)", ({ open }) => {
  let database: { db: SqlDatabase; close(): Promise<void> };
  let db: SqlDatabase;
  let store: SqlGroupStore;

  beforeAll(async () => {
    database = await open();
    db = database.db;
    store = await SqlGroupStore.open(db);
  });
  afterAll(() => database?.close());

  it("creates a group with its owner and members and reads it back", async () => {
    const group = await store.create(newGroup("alice", ["bob", "carol"]));
    expect(group).toMatchObject({ name: "friends", ownerId: "u-alice", createdAt: t0 });
    expect(group.members.map((m) => [m.username, m.role])).toEqual(
      expect.arrayContaining([
        ["alice", "owner"],
        ["bob", "member"],
        ["carol", "member"],
      ]),
    );
    expect(group.members).toHaveLength(3);
    expect(group.members[0]?.joinedAt).toEqual(t0);
    expect(await store.get(group.groupId)).toEqual(group);
  });

  it("answers undefined for an unknown or malformed group id", async () => {
    expect(await store.get(uuidv7())).toBeUndefined();
    expect(await store.get("'; DROP TABLE groups; --")).toBeUndefined();
    expect(
      await store.change("nope", { actorId: "u-x", targetId: undefined }, () => ({ kind: "none" }), t0),
    ).toBeUndefined();
  });

  it("lists exactly the groups a user is a member of, oldest first, with all their members", async () => {
    const first = await store.create({
      ...newGroup("dan", ["erin"], "one"),
      createdAt: new Date(t0.getTime() + 1),
    });
    const second = await store.create({
      ...newGroup("erin", ["frank"], "two"),
      createdAt: new Date(t0.getTime() + 2),
    });
    await store.create(newGroup("frank", [], "three"));
    const mine = await store.listForMember("u-erin");
    expect(mine.map((g) => g.name)).toEqual(["one", "two"]);
    expect(mine[0]?.members.map((m) => m.userId).sort()).toEqual(["u-dan", "u-erin"]);
    expect(mine.map((g) => g.groupId)).toEqual([first.groupId, second.groupId]);
    expect(await store.listForMember("u-nobody")).toEqual([]);
  });

  it("checks membership: member ids only for members, existence for everyone", async () => {
    const group = await store.create(newGroup("gina", ["hank"]));
    expect(await store.checkMembership(group.groupId, "u-hank")).toEqual({
      groupExists: true,
      isMember: true,
      memberIds: expect.arrayContaining(["u-gina", "u-hank"]),
    });
    expect(await store.checkMembership(group.groupId, "u-ivan")).toEqual({
      groupExists: true,
      isMember: false,
      memberIds: [],
    });
    expect(await store.checkMembership(uuidv7(), "u-hank")).toEqual({
      groupExists: false,
      isMember: false,
      memberIds: [],
    });
    expect((await store.checkMembership("not-a-uuid", "u-hank")).groupExists).toBe(false);
  });

  it("applies what decide returns and shows the change at once", async () => {
    const group = await store.create(newGroup("jill"));
    const added = await store.change(
      group.groupId,
      { actorId: "u-jill", targetId: "u-kim" },
      (facts) => {
        expect(facts).toEqual({ memberCount: 1, actorRole: "owner", targetRole: undefined });
        return { kind: "add", member: { ...user("kim"), role: "admin" } };
      },
      new Date(t0.getTime() + 5),
    );
    expect(added?.group.members.find((m) => m.userId === "u-kim")).toMatchObject({
      role: "admin",
      joinedAt: new Date(t0.getTime() + 5),
    });
    await store.change(
      group.groupId,
      { actorId: "u-jill", targetId: "u-kim" },
      () => ({
        kind: "set_role",
        userId: "u-kim",
        role: "member",
      }),
      t0,
    );
    expect((await store.get(group.groupId))?.members.find((m) => m.userId === "u-kim")?.role).toBe("member");
    await store.change(
      group.groupId,
      { actorId: "u-jill", targetId: "u-kim" },
      () => ({
        kind: "remove",
        userId: "u-kim",
      }),
      t0,
    );
    expect((await store.checkMembership(group.groupId, "u-kim")).isMember).toBe(false);
  });

  it("changes nothing when decide throws", async () => {
    const group = await store.create(newGroup("lena"));
    await expect(
      store.change(
        group.groupId,
        { actorId: "u-x", targetId: "u-y" },
        () => {
          throw new DomainError("permission_denied", "no");
        },
        t0,
      ),
    ).rejects.toMatchObject({ code: "permission_denied" });
    expect((await store.get(group.groupId))?.members).toHaveLength(1);
  });

  it("refuses a duplicate member even if the rules were bypassed (primary key)", async () => {
    const group = await store.create(newGroup("mia", ["ned"]));
    await expect(
      store.change(
        group.groupId,
        { actorId: "u-mia", targetId: "u-ned" },
        () => ({
          kind: "add",
          member: { ...user("ned"), role: "member" },
        }),
        t0,
      ),
    ).rejects.toThrow();
    expect((await store.get(group.groupId))?.members).toHaveLength(2);
  });

  it("never lets concurrent adds exceed the member limit", async () => {
    const max = 5;
    const group = await store.create(newGroup("owen"));
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        store.change(
          group.groupId,
          { actorId: "u-owen", targetId: `u-racer${i}` },
          (facts) => decideAdd(facts, { username: `racer${i}`, userId: `u-racer${i}` }, "member", max),
          t0,
        ),
      ),
    );
    const added = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter(
      (r) => r.status === "rejected" && (r.reason as DomainError).code === "failed_precondition",
    );
    expect(added).toHaveLength(max - 1);
    expect(refused).toHaveLength(12 - (max - 1));
    expect((await store.get(group.groupId))?.members).toHaveLength(max);
  });

  it("keeps membership consistent when the same user is added and removed concurrently", async () => {
    const group = await store.create(newGroup("pia"));
    const target = { username: "quinn", userId: "u-quinn" };
    // decide runs under the group's lock, so the order of its calls is the order the changes
    // were applied in, whichever connection got the lock first.
    const decided: number[] = [];
    const ops = Array.from({ length: 20 }, (_, i) =>
      store.change(
        group.groupId,
        { actorId: "u-pia", targetId: target.userId },
        (facts) => {
          decided.push(i);
          return i % 2 === 0 ? decideAdd(facts, target, "member", 100) : decideRemove(facts, "u-pia", target);
        },
        t0,
      ),
    );
    const results = await Promise.allSettled(ops);
    // Each operation saw a consistent state: adds succeed (added or already there), removes
    // either removed the member or found them gone.
    for (const r of results) {
      if (r.status === "rejected") expect((r.reason as DomainError).code).toBe("not_found");
    }
    const members = (await store.get(group.groupId))?.members ?? [];
    const ids = members.map((m) => m.userId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id === "u-quinn").length).toBeLessThanOrEqual(1);
    const check = await store.checkMembership(group.groupId, "u-quinn");
    expect(check.isMember).toBe(ids.includes("u-quinn"));
    // Replaying the applied changes in the order they were decided must give the final state.
    expect(decided).toHaveLength(20);
    let member = false;
    for (const i of decided) {
      const r = results[i];
      if (r?.status !== "fulfilled" || !r.value) continue;
      if (r.value.change.kind === "add") member = true;
      if (r.value.change.kind === "remove") member = false;
    }
    expect(check.isMember).toBe(member);
    // A remove succeeded exactly when, at its turn, the member was there.
    let present = false;
    for (const i of decided) {
      const r = results[i];
      if (i % 2 === 0) present = true;
      else {
        expect(r?.status).toBe(present ? "fulfilled" : "rejected");
        present = false;
      }
    }
  });

  it("runs its migrations once (reopening is harmless)", async () => {
    const again = await SqlGroupStore.open(db);
    const migrations = await db.query<{ version: number }>("SELECT version FROM schema_migrations");
    expect(migrations.map((m) => m.version)).toEqual([1]);
    expect(await again.listForMember("u-alice")).toHaveLength(1);
  });
});
