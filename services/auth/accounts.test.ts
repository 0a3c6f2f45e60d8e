import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import { Accounts, checkNewPassword, parseUsername } from "./accounts.js";
import { AUTH_BACKENDS, type TestStore } from "./store.fixture.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : "not a DomainError";
  }
  return undefined;
}

describe("username rules", () => {
  it("case-folds to lower case", () => {
    expect(parseUsername("Alice_01")).toBe("alice_01");
  });

  it("accepts 3 to 32 of [a-z0-9_.-]", () => {
    expect(parseUsername("a.b")).toBe("a.b");
    expect(parseUsername("x".repeat(32))).toBe("x".repeat(32));
    expect(parseUsername("a-b_c.d9")).toBe("a-b_c.d9");
  });

  it.each([
    ["", "username is required"],
    ["ab", "3 to 32"],
    ["x".repeat(33), "3 to 32"],
    ["al ice", "only letters"],
    ["alice!", "only letters"],
    ["élise", "only letters"],
    ["\u212Aate", "only letters"], // KELVIN SIGN lower-cases to "k": no second spelling of "kate"
  ])("rejects %j with a clear invalid_argument", (raw, message) => {
    expect(() => parseUsername(raw)).toThrowError(message);
    expect(codeOf(() => parseUsername(raw))).toBe("invalid_argument");
  });
});

describe("password rules", () => {
  it("accepts 8 to 256 characters, counted as a person counts them", () => {
    expect(codeOf(() => checkNewPassword("12345678"))).toBeUndefined();
    expect(codeOf(() => checkNewPassword("p".repeat(256)))).toBeUndefined();
    // 256 emoji are 512 UTF-16 units but 256 characters.
    expect(codeOf(() => checkNewPassword("🔑".repeat(256)))).toBeUndefined();
  });

  it("rejects too short, too long and empty passwords", () => {
    expect(() => checkNewPassword("1234567")).toThrowError("at least 8");
    expect(() => checkNewPassword("p".repeat(257))).toThrowError("at most 256");
    expect(() => checkNewPassword("")).toThrowError("password is required");
    expect(codeOf(() => checkNewPassword("short"))).toBe("invalid_argument");
  });
});

describe.each(AUTH_BACKENDS)("Accounts on the SQL store ($backend)", ({ openStore }) => {
  let fixture: TestStore;
  let accounts: Accounts;
  beforeAll(async () => {
    fixture = await openStore();
    accounts = new Accounts(fixture.store, () => Date.parse("2030-01-02T03:04:05Z"));
  });
  afterAll(() => fixture?.close());

  it("registers a user with a UUIDv7 id, the folded name and no secret in the result", async () => {
    const user = await accounts.register("Bob.Smith", "correct horse");
    expect(user.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(user).toEqual({
      userId: user.userId,
      username: "bob.smith",
      createdAt: new Date("2030-01-02T03:04:05Z"),
    });
    const stored = await fixture.store.userByUsername("bob.smith");
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(stored?.passwordHash).not.toContain("correct horse");
  });

  it("refuses a taken username in any case with already_exists", async () => {
    await accounts.register("carol", "password1");
    await expect(accounts.register("CAROL", "password2")).rejects.toMatchObject({
      code: "already_exists",
    });
  });

  it("lets exactly one of many concurrent registrations of one name win", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => accounts.register("racer", `password-${i}`)),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
    expect(failures).toHaveLength(9);
    for (const reason of failures) expect(reason).toMatchObject({ code: "already_exists" });
  });

  it("keeps usernames unique when inserts of one name reach the database at the same moment", async () => {
    // Straight to the store, without password hashing spreading the inserts out in time: on
    // PostgreSQL these run on separate pooled connections, so only the constraint can decide.
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        fixture.store.insertUser({
          userId: `0190d9c0-0000-7000-8000-0000000001a${i}`,
          username: "photo-finish",
          passwordHash: `hash-${i}`,
          createdAt: new Date(),
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected")) {
      expect(r.reason).toMatchObject({ code: "already_exists" });
    }
    const winner = results.findIndex((r) => r.status === "fulfilled");
    expect((await fixture.store.userByUsername("photo-finish"))?.passwordHash).toBe(`hash-${winner}`);
  });

  it("validates before it stores anything", async () => {
    await expect(accounts.register("dave", "short")).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await fixture.store.userByUsername("dave")).toBeUndefined();
  });

  it("resolves existing usernames in any case and ids back to names, skipping unknown and malformed ones", async () => {
    const erin = await accounts.register("erin", "password1");
    const resolved = await accounts.resolveUsernames(["ERIN", "nobody", "not valid!", "erin"]);
    expect(resolved).toEqual([{ userId: erin.userId, username: "erin" }]);
    const byId = await accounts.usersByIds([
      erin.userId,
      "not-a-uuid",
      "0190d9c0-0000-7000-8000-000000000000",
    ]);
    expect(byId).toEqual([{ userId: erin.userId, username: "erin" }]);
  });

  it("refuses oversized lookups", async () => {
    await expect(accounts.resolveUsernames(Array(1025).fill("erin"))).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });
});
