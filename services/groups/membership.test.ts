import { describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import {
  assertCanRead,
  decideAdd,
  decideRemove,
  decideSetRole,
  type GroupView,
  initialMembers,
  initialUsernames,
  isGroupId,
  type MemberChange,
  type MembershipFacts,
  type Role,
  validateGroupName,
} from "./membership.js";

const MAX = 10;
const ACTOR = "u-actor";
const TARGET = { username: "tara", userId: "u-tara" };
const UNKNOWN = { username: "ghost", userId: undefined };
const SELF = { username: "actor", userId: ACTOR };

type Actor = Role | "outsider";
const facts = (actor: Actor, target: Role | undefined, memberCount = 3): MembershipFacts => ({
  memberCount,
  actorRole: actor === "outsider" ? undefined : actor,
  targetRole: target,
});

/** The change's kind, or the error code it failed with. */
function outcome(decide: () => MemberChange): string {
  try {
    return decide().kind;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
}

/** The error code `run` failed with, or "ok". */
function failure(run: () => unknown): string {
  try {
    run();
    return "ok";
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
}

const ACTORS: Actor[] = ["owner", "admin", "member", "outsider"];

describe("adding a member", () => {
  // [case, decide, expected outcome for owner, admin, member, outsider]
  const cases: [string, (actor: Actor) => MemberChange, string[]][] = [
    [
      "a user who is not a member, as member",
      (a) => decideAdd(facts(a, undefined), TARGET, "member", MAX),
      ["add", "add", "permission_denied", "permission_denied"],
    ],
    [
      "a user who is not a member, as admin",
      (a) => decideAdd(facts(a, undefined), TARGET, "admin", MAX),
      ["add", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "anyone as owner",
      (a) => decideAdd(facts(a, undefined), TARGET, "owner", MAX),
      ["invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"],
    ],
    [
      "a username nobody has",
      (a) => decideAdd(facts(a, undefined), UNKNOWN, "member", MAX),
      ["not_found", "not_found", "permission_denied", "permission_denied"],
    ],
    [
      "someone already a member (idempotent)",
      (a) => decideAdd(facts(a, "member"), TARGET, "member", MAX),
      ["none", "none", "permission_denied", "permission_denied"],
    ],
    [
      "someone already an admin, asking for member (no role change)",
      (a) => decideAdd(facts(a, "admin"), TARGET, "member", MAX),
      ["none", "none", "permission_denied", "permission_denied"],
    ],
    [
      "anyone to a full group",
      (a) => decideAdd(facts(a, undefined, MAX), TARGET, "member", MAX),
      ["failed_precondition", "failed_precondition", "permission_denied", "permission_denied"],
    ],
  ];
  for (const [name, decide, expected] of cases) {
    it.each(ACTORS.map((actor, i) => [actor, expected[i]]))(`${name}: %s → %s`, (actor, want) => {
      expect(outcome(() => decide(actor as Actor))).toBe(want);
    });
  }

  it("adds the resolved user with the requested role", () => {
    expect(decideAdd(facts("owner", undefined), TARGET, "admin", MAX)).toEqual({
      kind: "add",
      member: { userId: "u-tara", username: "tara", role: "admin" },
    });
  });

  it("fills a group up to exactly its limit", () => {
    expect(decideAdd(facts("owner", undefined, MAX - 1), TARGET, "member", MAX).kind).toBe("add");
  });
});

describe("removing a member", () => {
  const cases: [string, (actor: Actor) => MemberChange, string[]][] = [
    [
      "themself (leave)",
      (a) => decideRemove(facts(a, a === "outsider" ? undefined : a), ACTOR, SELF),
      ["failed_precondition", "remove", "remove", "permission_denied"],
    ],
    [
      "the owner",
      (a) => decideRemove(facts(a, "owner"), ACTOR, TARGET),
      ["n/a", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "an admin",
      (a) => decideRemove(facts(a, "admin"), ACTOR, TARGET),
      ["remove", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "a plain member",
      (a) => decideRemove(facts(a, "member"), ACTOR, TARGET),
      ["remove", "remove", "permission_denied", "permission_denied"],
    ],
    [
      "a user who is not a member",
      (a) => decideRemove(facts(a, undefined), ACTOR, TARGET),
      ["not_found", "not_found", "permission_denied", "permission_denied"],
    ],
    [
      "a username nobody has",
      (a) => decideRemove(facts(a, undefined), ACTOR, UNKNOWN),
      ["not_found", "not_found", "permission_denied", "permission_denied"],
    ],
  ];
  for (const [name, decide, expected] of cases) {
    it.each(ACTORS.map((actor, i) => [actor, expected[i]]).filter(([, want]) => want !== "n/a"))(
      `${name}: %s → %s`,
      (actor, want) => {
        expect(outcome(() => decide(actor as Actor))).toBe(want);
      },
    );
  }

  it("removes the target, or the caller when they leave", () => {
    expect(decideRemove(facts("admin", "member"), ACTOR, TARGET)).toEqual({
      kind: "remove",
      userId: "u-tara",
    });
    expect(decideRemove(facts("member", "member"), ACTOR, SELF)).toEqual({ kind: "remove", userId: ACTOR });
  });

  it("tells the owner they cannot leave", () => {
    expect(() => decideRemove(facts("owner", "owner"), ACTOR, SELF)).toThrow(
      "the owner cannot leave the group",
    );
  });
});

describe("changing a member's role", () => {
  const cases: [string, (actor: Actor) => MemberChange, string[]][] = [
    [
      "member to admin",
      (a) => decideSetRole(facts(a, "member"), TARGET, "admin"),
      ["set_role", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "admin to member",
      (a) => decideSetRole(facts(a, "admin"), TARGET, "member"),
      ["set_role", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "to the role they already have",
      (a) => decideSetRole(facts(a, "admin"), TARGET, "admin"),
      ["none", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "anyone to owner",
      (a) => decideSetRole(facts(a, "member"), TARGET, "owner"),
      ["invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"],
    ],
    [
      "the owner's own role",
      (a) => decideSetRole(facts(a, "owner"), SELF, "admin"),
      ["failed_precondition", "permission_denied", "permission_denied", "permission_denied"],
    ],
    [
      "a user who is not a member",
      (a) => decideSetRole(facts(a, undefined), TARGET, "admin"),
      ["not_found", "permission_denied", "permission_denied", "permission_denied"],
    ],
  ];
  for (const [name, decide, expected] of cases) {
    it.each(ACTORS.map((actor, i) => [actor, expected[i]]))(`${name}: %s → %s`, (actor, want) => {
      expect(outcome(() => decide(actor as Actor))).toBe(want);
    });
  }

  it("sets the requested role", () => {
    expect(decideSetRole(facts("owner", "member"), TARGET, "admin")).toEqual({
      kind: "set_role",
      userId: "u-tara",
      role: "admin",
    });
  });
});

describe("reading a group", () => {
  const group: GroupView = {
    groupId: "g",
    name: "g",
    ownerId: "u-owner",
    createdAt: new Date(0),
    members: [{ userId: "u-owner", username: "owner", role: "owner", joinedAt: new Date(0) }],
  };
  it("is allowed to members", () => {
    expect(() => assertCanRead(group, "u-owner")).not.toThrow();
  });
  it("is denied to everyone else", () => {
    expect(failure(() => assertCanRead(group, "u-other"))).toBe("permission_denied");
  });
});

describe("group names", () => {
  it("are trimmed", () => {
    expect(validateGroupName("  Friends  ", 100)).toBe("Friends");
  });
  it.each([
    ["empty", ""],
    ["only spaces", "   "],
    ["too long", "x".repeat(101)],
    ["a newline inside", "a\nb"],
  ])("are rejected when %s", (_, name) => {
    expect(failure(() => validateGroupName(name, 100))).toBe("invalid_argument");
  });
  it("are measured in characters, not UTF-16 units", () => {
    expect(validateGroupName("😀".repeat(100), 100)).toHaveLength(200);
  });
  it("may be exactly the maximum length", () => {
    expect(validateGroupName("x".repeat(100), 100)).toHaveLength(100);
  });
});

describe("creating a group", () => {
  const creator = { userId: "u-1", username: "alice" };
  const bob = { userId: "u-2", username: "bob" };
  const carol = { userId: "u-3", username: "carol" };

  it("normalises usernames, ignores duplicates and the creator", () => {
    expect(initialUsernames(creator, [" Bob", "bob", "ALICE", "carol"], MAX)).toEqual(["bob", "carol"]);
  });

  it("makes the creator the owner and everyone else a member", () => {
    expect(initialMembers(creator, ["bob", "carol"], [carol, bob], MAX)).toEqual([
      { ...creator, role: "owner" },
      { ...bob, role: "member" },
      { ...carol, role: "member" },
    ]);
  });

  it("names every username that does not exist", () => {
    expect(() => initialMembers(creator, ["bob", "zed", "yan"], [bob], MAX)).toThrow(
      'unknown users: "zed", "yan"',
    );
    expect(failure(() => initialMembers(creator, ["zed"], [], MAX))).toBe("not_found");
  });

  it("refuses more members than the limit, the creator included", () => {
    const names = Array.from({ length: MAX }, (_, i) => `user${i}`);
    expect(failure(() => initialUsernames(creator, names, MAX))).toBe("failed_precondition");
    expect(initialUsernames(creator, names.slice(1), MAX)).toHaveLength(MAX - 1);
  });

  it("rejects an empty username", () => {
    expect(failure(() => initialUsernames(creator, ["  "], MAX))).toBe("invalid_argument");
  });
});

describe("group ids", () => {
  it("accept uuids and nothing else", () => {
    expect(isGroupId("0190f2a8-6c3e-7a4b-9c1d-2e3f4a5b6c7d")).toBe(true);
    expect(isGroupId("not-a-uuid")).toBe(false);
    expect(isGroupId("")).toBe(false);
    expect(isGroupId("0190f2a8-6c3e-7a4b-9c1d-2e3f4a5b6c7d' OR 1=1")).toBe(false);
  });
});
