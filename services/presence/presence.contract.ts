import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import { eventually } from "../kit/testing/eventually.js";
import type { Presence } from "./presence.js";

/** One implementation of presence (online sessions + presence state). */
export interface PresenceUnderTest {
  /** Presence as one node's presence service sees it; two opened by one subject share a backend. */
  open(): Presence;
  /** Whether two opened instances see each other's entries (Redis) or not (in-process). */
  sharedAcrossInstances: boolean;
  cleanup(): Promise<void>;
}

const id = (kind: string) => `${kind}-${randomUUID()}`;

/** The contract of presence. Users and nodes are fresh per test, so a shared Redis needs no cleaning. */
export function presenceContract(name: string, setup: () => Promise<PresenceUnderTest>): void {
  describe(`presence contract: ${name}`, () => {
    let subject: PresenceUnderTest;
    let presence: Presence;
    beforeAll(async () => {
      subject = await setup();
      presence = subject.open();
    });
    afterAll(() => subject?.cleanup());

    it("locates each user's streams on the nodes that hold them, with the nodes' push addresses", async () => {
      const [alice, bob, carol] = [id("alice"), id("bob"), id("carol")];
      const [gw1, gw2] = [id("gw"), id("gw")];
      await presence.registerNode(gw1, "10.0.0.1:7001", 60);
      await presence.registerNode(gw2, "10.0.0.2:7001", 60);
      await presence.heartbeatStreams(gw1, [{ userId: alice, streamId: "phone" }], 60);
      await presence.heartbeatStreams(
        gw2,
        [
          { userId: alice, streamId: "laptop" },
          { userId: bob, streamId: "phone" },
        ],
        60,
      );
      const located = await presence.locate([alice, bob, carol]);
      const byNode = Object.fromEntries(
        located.map((n) => [n.nodeId, { address: n.pushAddress, users: [...n.userIds].sort() }]),
      );
      expect(byNode).toEqual({
        [gw1]: { address: "10.0.0.1:7001", users: [alice] },
        [gw2]: { address: "10.0.0.2:7001", users: [alice, bob].sort() },
      });
      expect(await presence.locate([carol])).toEqual([]);
    });

    it("says a user came online with their first stream only, and went offline with their last", async () => {
      const [alice, bob] = [id("alice"), id("bob")];
      const gw = id("gw");
      await presence.registerNode(gw, "127.0.0.1:7001", 60);
      expect(
        await presence.heartbeatStreams(
          gw,
          [
            { userId: alice, streamId: "phone" },
            { userId: bob, streamId: "phone" },
          ],
          60,
        ),
      ).toEqual([alice, bob]);
      expect(await presence.heartbeatStreams(gw, [{ userId: alice, streamId: "laptop" }], 60)).toEqual([]);
      // A refresh of streams already open announces nobody.
      expect(await presence.heartbeatStreams(gw, [{ userId: alice, streamId: "phone" }], 60)).toEqual([]);
      expect(await presence.closeStreams(gw, [{ userId: alice, streamId: "phone" }])).toEqual([]);
      expect(await presence.closeStreams(gw, [{ userId: alice, streamId: "laptop" }])).toEqual([alice]);
      // Closing again (or a stream never opened) changes nothing.
      expect(await presence.closeStreams(gw, [{ userId: alice, streamId: "laptop" }])).toEqual([]);
      const [seenAlice, seenBob] = await presence.lastSeen([alice, bob]);
      expect(seenAlice).toMatchObject({ userId: alice, online: false });
      expect(seenBob).toMatchObject({ userId: bob, online: true });
      expect(Math.abs((seenAlice?.lastSeen?.getTime() ?? 0) - Date.now())).toBeLessThan(5000);
    });

    it("leaves a stream that moved to another node open when the old node closes it", async () => {
      const alice = id("alice");
      const [gw1, gw2] = [id("gw"), id("gw")];
      await presence.registerNode(gw1, "127.0.0.1:7001", 60);
      await presence.registerNode(gw2, "127.0.0.1:7002", 60);
      await presence.heartbeatStreams(gw1, [{ userId: alice, streamId: "phone" }], 60);
      await presence.heartbeatStreams(gw2, [{ userId: alice, streamId: "phone" }], 60);
      expect(await presence.closeStreams(gw1, [{ userId: alice, streamId: "phone" }])).toEqual([]);
      expect((await presence.locate([alice])).map((n) => n.nodeId)).toEqual([gw2]);
    });

    it("forgets streams that are not heartbeated within their TTL, and a node whose announcement lapsed", async () => {
      const [alice, bob] = [id("alice"), id("bob")];
      const [dying, alive] = [id("gw"), id("gw")];
      await presence.registerNode(dying, "127.0.0.1:7001", 1);
      await presence.registerNode(alive, "127.0.0.1:7002", 60);
      await presence.heartbeatStreams(dying, [{ userId: bob, streamId: "phone" }], 60);
      await presence.heartbeatStreams(alive, [{ userId: alice, streamId: "phone" }], 1);
      expect(await presence.locate([alice, bob])).toHaveLength(2);
      const waited = await eventually(async () => (await presence.locate([alice, bob])).length === 0, 4000);
      expect(waited).toBeGreaterThan(500);
      const [seen] = await presence.lastSeen([alice]);
      expect(seen?.online).toBe(false);
      expect(seen?.lastSeen).toBeInstanceOf(Date);
      // Announced again, the node's still-live stream is found again.
      await presence.registerNode(dying, "127.0.0.1:7001", 60);
      expect((await presence.locate([bob])).map((n) => n.userIds)).toEqual([[bob]]);
    });

    it("knows nothing of a user never seen", async () => {
      expect(await presence.lastSeen([id("ghost")])).toEqual([
        { userId: expect.any(String), online: false, lastSeen: undefined },
      ]);
    });

    it("redeems a ticket exactly once, for the user and session it was issued to", async () => {
      const alice = id("alice");
      const { ticket, expiresAt } = await presence.issueTicket(alice, "sid-1", 0);
      expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(25_000);
      expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(30_000);
      const results = await Promise.all([presence.redeemTicket(ticket), presence.redeemTicket(ticket)]);
      expect(results.filter(Boolean)).toEqual([{ userId: alice, sessionId: "sid-1" }]);
      expect(await presence.redeemTicket(ticket)).toBeUndefined();
    });

    it("refuses an expired ticket, an unknown one and garbage", async () => {
      const { ticket, expiresAt } = await presence.issueTicket(id("alice"), "sid", 1);
      // Redeeming would consume it, so wait for its expiry time to pass, then try it once.
      const waited = await eventually(async () => Date.now() >= expiresAt.getTime() + 100, 3000);
      expect(waited).toBeGreaterThan(500);
      expect(await presence.redeemTicket(ticket)).toBeUndefined();
      expect(await presence.redeemTicket("A".repeat(43))).toBeUndefined();
      expect(await presence.redeemTicket("not a ticket")).toBeUndefined();
      expect(await presence.redeemTicket("")).toBeUndefined();
    });

    it("refuses a node or stream without an id, and a push address that is not host:port", async () => {
      const errors = await Promise.all([
        presence.registerNode("", "127.0.0.1:1", 60).catch((e) => e),
        presence.registerNode(id("gw"), "nowhere", 60).catch((e) => e),
        presence.heartbeatStreams(id("gw"), [{ userId: "", streamId: "s" }], 60).catch((e) => e),
        presence.issueTicket("", "sid", 0).catch((e) => e),
      ]);
      for (const err of errors) {
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).code).toBe("invalid_argument");
      }
    });

    it("shares streams and tickets between instances exactly when the implementation says so", async () => {
      const alice = id("alice");
      const gw = id("gw");
      await presence.registerNode(gw, "127.0.0.1:7001", 60);
      await presence.heartbeatStreams(gw, [{ userId: alice, streamId: "phone" }], 60);
      const other = subject.open();
      expect((await other.locate([alice])).length).toBe(subject.sharedAcrossInstances ? 1 : 0);
      const { ticket } = await presence.issueTicket(alice, "sid", 0);
      expect(await other.redeemTicket(ticket)).toEqual(
        subject.sharedAcrossInstances ? { userId: alice, sessionId: "sid" } : undefined,
      );
    });
  });
}
