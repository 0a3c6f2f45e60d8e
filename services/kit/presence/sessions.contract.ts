import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/eventually.js";
import type { OnlineSession, OnlineSessions } from "./sessions.js";

/** One implementation of the presence role. */
export interface SessionsUnderTest {
  /** Sessions as one node sees them; two opened by one subject are two nodes of one cluster. */
  open(): OnlineSessions;
  /** Whether nodes see each other's sessions (Redis) or only their own (in-process). */
  sharedAcrossNodes: boolean;
  cleanup(): Promise<void>;
}

const byId = (sessions: OnlineSession[]) =>
  [...sessions].sort((a, b) => a.sessionId.localeCompare(b.sessionId));

/** The contract of the presence role. Users are fresh per test, so a shared Redis needs no cleaning. */
export function onlineSessionsContract(name: string, setup: () => Promise<SessionsUnderTest>): void {
  describe(`online sessions contract: ${name}`, () => {
    let subject: SessionsUnderTest;
    let sessions: OnlineSessions;
    const user = () => `u-${randomUUID()}`;
    /** One user's sessions. */
    const of = async (userId: string, from: OnlineSessions = sessions) =>
      (await from.list([userId]))[0] ?? [];
    beforeAll(async () => {
      subject = await setup();
      sessions = subject.open();
    });
    afterAll(() => subject?.cleanup());

    it("lists every registered session of a user with its node, and nobody else's", async () => {
      const alice = user();
      const bob = user();
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-1" }], 60);
      await sessions.register([{ userId: alice, sessionId: "laptop", node: "gw-2" }], 60);
      await sessions.register([{ userId: bob, sessionId: "phone", node: "gw-3" }], 60);
      expect(byId(await of(alice))).toEqual([
        { userId: alice, sessionId: "laptop", node: "gw-2" },
        { userId: alice, sessionId: "phone", node: "gw-1" },
      ]);
      expect(await of(user())).toEqual([]);
    });

    it("moves a session registered again to its new node", async () => {
      const alice = user();
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-1" }], 60);
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-2" }], 60);
      expect(await of(alice)).toEqual([{ userId: alice, sessionId: "phone", node: "gw-2" }]);
    });

    it("forgets an unregistered session at once and leaves the others", async () => {
      const alice = user();
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-1" }], 60);
      await sessions.register([{ userId: alice, sessionId: "laptop", node: "gw-1" }], 60);
      await sessions.unregister([{ userId: alice, sessionId: "phone" }]);
      await sessions.unregister([{ userId: alice, sessionId: "never-registered" }]);
      expect(await of(alice)).toEqual([{ userId: alice, sessionId: "laptop", node: "gw-1" }]);
    });

    it("expires a session that is not registered again within its TTL", async () => {
      const alice = user();
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-1" }], 1);
      expect(await of(alice)).toHaveLength(1);
      const waited = await eventually(async () => (await of(alice)).length === 0, 3000);
      expect(waited).toBeGreaterThan(500);
      expect(await of(alice)).toEqual([]);
    });

    it("keeps a session registered again (its heartbeat) online past its first TTL", async () => {
      const alice = user();
      await sessions.register(
        [
          { userId: alice, sessionId: "kept", node: "gw-1" },
          { userId: alice, sessionId: "dropped", node: "gw-1" },
        ],
        1,
      );
      await sessions.register([{ userId: alice, sessionId: "kept", node: "gw-1" }], 60);
      // Once the twin not registered again has expired, the first TTL has passed for both.
      await eventually(async () => (await of(alice)).length === 1, 3000);
      expect(await of(alice)).toEqual([{ userId: alice, sessionId: "kept", node: "gw-1" }]);
    });

    it("registers, lists and unregisters many at once, each user in the order asked, in calls of any size", async () => {
      // More sessions and users than one Redis call takes (KEYS_PER_CALL), some users online,
      // some never, one asked twice; an expired session of a user who keeps another is left out.
      const users = Array.from({ length: 600 }, user);
      const online = users.filter((_, i) => i % 2 === 0);
      await sessions.register(
        online.map((id, i) => ({ userId: id, sessionId: `s-${i}`, node: `gw-${i % 4}` })),
        60,
      );
      const both = users[300] as string;
      await sessions.register([{ userId: both, sessionId: "laptop", node: "gw-9" }], 60);
      await sessions.register([{ userId: both, sessionId: "gone", node: "gw-9" }], 1);
      await eventually(async () => (await of(both)).length === 2, 3000);
      const asked = [...users, users[0] as string];
      const listed = await sessions.list(asked);
      expect(listed).toHaveLength(asked.length);
      asked.forEach((id, i) => {
        const n = online.indexOf(id);
        const expected = n < 0 ? [] : [{ userId: id, sessionId: `s-${n}`, node: `gw-${n % 4}` }];
        if (id === both) expected.push({ userId: id, sessionId: "laptop", node: "gw-9" });
        expect(byId(listed[i] ?? [])).toEqual(byId(expected));
      });
      expect(await sessions.list([])).toEqual([]);

      // Unregistered in one call, more than one Redis call takes: those go, the rest stay.
      const leaving = online.filter((_, n) => n % 10 !== 0);
      await sessions.unregister(leaving.map((id) => ({ userId: id, sessionId: `s-${online.indexOf(id)}` })));
      const after = await sessions.list(online);
      online.forEach((id, n) => {
        const kept = n % 10 === 0 ? [{ userId: id, sessionId: `s-${n}`, node: `gw-${n % 4}` }] : [];
        if (id === both) kept.push({ userId: id, sessionId: "laptop", node: "gw-9" });
        expect(byId(after[n] ?? [])).toEqual(byId(kept));
      });
    });

    it("shows a session registered by one node to another exactly when the implementation says so", async () => {
      const alice = user();
      await sessions.register([{ userId: alice, sessionId: "phone", node: "gw-1" }], 60);
      const seen = await of(alice, subject.open());
      expect(seen).toEqual(
        subject.sharedAcrossNodes ? [{ userId: alice, sessionId: "phone", node: "gw-1" }] : [],
      );
    });
  });
}
