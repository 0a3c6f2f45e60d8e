import { randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryStore, DurableEvent } from "./store.js";

export interface StoreUnderTest {
  /** A store whose clock the test sets (`clock.now`). */
  store: DeliveryStore;
  clock: { now: Date };
  /** Whether appends really run at the same time (a PostgreSQL pool) or one after another (PGlite). */
  concurrent: boolean;
  cleanup(): Promise<void>;
}

const user = (name: string) => `${name}-${randomUUID()}`;
let counter = 0;
const event = (recipients: string[], key = `m:${uuidv7()}`): DurableEvent => ({
  eventKey: key,
  kind: "message",
  payload: Buffer.from(`payload ${++counter}`),
  appendedAt: new Date(),
  recipients,
});

/** The contract of delivery's store, run on PGlite and on PostgreSQL. */
export function deliveryStoreContract(name: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`delivery store contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: DeliveryStore;
    beforeAll(async () => {
      subject = await setup();
      store = subject.store;
    });
    afterAll(() => subject?.cleanup());

    it("gives each recipient gapless seqs in append order, and replays them", async () => {
      const [alice, bob] = [user("alice"), user("bob")];
      const events = [event([alice, bob]), event([alice]), event([bob, alice]), event([bob])];
      const written = await store.append(events);
      const seqsOf = (u: string) => written.filter((e) => e.userId === u).map((e) => [e.seq, e.eventKey]);
      expect(seqsOf(alice)).toEqual([
        [1, events[0]?.eventKey],
        [2, events[1]?.eventKey],
        [3, events[2]?.eventKey],
      ]);
      expect(seqsOf(bob)).toEqual([
        [1, events[0]?.eventKey],
        [2, events[2]?.eventKey],
        [3, events[3]?.eventKey],
      ]);
      const page = await store.replay(alice, 0, 100);
      expect(page).toMatchObject({ headSeq: 3, oldestSeq: 1, expired: false });
      expect(page.entries.map((e) => [e.seq, e.eventKey, e.kind])).toEqual([
        [1, events[0]?.eventKey, "message"],
        [2, events[1]?.eventKey, "message"],
        [3, events[2]?.eventKey, "message"],
      ]);
      expect(Buffer.from(page.entries[1]?.payload ?? []).toString()).toBe(
        Buffer.from(events[1]?.payload ?? []).toString(),
      );
    });

    it("writes nothing twice when a batch is delivered again, or an event repeats in a batch", async () => {
      const [alice, bob, carol] = [user("alice"), user("bob"), user("carol")];
      const first = [event([alice, bob]), event([alice])];
      expect(await store.append(first)).toHaveLength(3);
      // Redelivery, with an event repeated, a new one, and a recipient the first delivery lacked.
      const again = [
        first[0] as DurableEvent,
        first[0] as DurableEvent,
        first[1] as DurableEvent,
        event([carol]),
      ];
      const written = await store.append(again);
      expect(written.map((e) => [e.userId, e.seq])).toEqual([[carol, 1]]);
      const widened = { ...(first[1] as DurableEvent), recipients: [alice, bob] };
      expect((await store.append([widened])).map((e) => [e.userId, e.seq])).toEqual([[bob, 2]]);
      expect((await store.replay(alice, 0, 10)).entries.map((e) => e.seq)).toEqual([1, 2]);
      expect((await store.replay(bob, 0, 10)).headSeq).toBe(2);
      expect(await store.append([])).toEqual([]);
      expect(await store.append([event([])])).toEqual([]);
    });

    it("writes a batch appended twice at once one time: the other writes nothing, or fails whole and then writes nothing", async () => {
      const people = Array.from({ length: 50 }, (_, i) => user(`twice${i}`));
      const batch = [event(people), event(people.slice(0, 10))];
      // On PostgreSQL they may overlap: then the second finds no pair written, waits for the
      // first's heads and fails on the inbox's unique index, rolled back whole (store.sql.pg.test.ts
      // makes that happen).
      const outcomes = await Promise.allSettled([store.append(batch), store.append(batch)]);
      const written = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value : []));
      expect(written).toHaveLength(60);
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") expect(await store.append(batch)).toEqual([]);
      }
      for (const [i, person] of people.entries()) {
        const page = await store.replay(person, 0, 10);
        expect(page.entries.map((e) => e.seq)).toEqual(i < 10 ? [1, 2] : [1]);
        expect(page.headSeq).toBe(i < 10 ? 2 : 1);
      }
    });

    it("keeps seqs gapless and each conversation in order under concurrent batches", async () => {
      const people = Array.from({ length: 6 }, (_, i) => user(`p${i}`));
      const conversations = 8;
      const perConversation = 12;
      // Each conversation is appended in order by its own chain (as one log partition would be),
      // the chains run at once and their recipients overlap, in different orders.
      const chains = Array.from({ length: conversations }, async (_, c) => {
        const members = people.filter((_, i) => (i + c) % 3 !== 0).reverse();
        for (let i = 0; i < perConversation; i += 3) {
          const batch = [0, 1, 2].map((j) => event(members, `m:c${c}-${i + j}-${randomUUID()}`));
          await store.append(batch);
        }
      });
      await Promise.all(chains);
      for (const person of people) {
        const page = await store.replay(person, 0, 1000);
        const seqs = page.entries.map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
        expect(page.headSeq).toBe(seqs.length);
        const expected = Array.from({ length: conversations }, (_, c) => c).filter(
          (c) => (people.indexOf(person) + c) % 3 !== 0,
        ).length;
        expect(seqs.length).toBe(expected * perConversation);
        for (let c = 0; c < conversations; c++) {
          const order = page.entries
            .filter((e) => e.eventKey.startsWith(`m:c${c}-`))
            .map((e) => Number(e.eventKey.split("-")[1]));
          expect(order).toEqual([...order].sort((a, b) => a - b));
        }
      }
    });

    it("replays in pages after a seq, and says where the head is", async () => {
      const alice = user("alice");
      await store.append(Array.from({ length: 7 }, () => event([alice])));
      const first = await store.replay(alice, 0, 3);
      expect(first.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
      const second = await store.replay(alice, 3, 3);
      expect(second.entries.map((e) => e.seq)).toEqual([4, 5, 6]);
      const last = await store.replay(alice, 6, 3);
      expect(last.entries.map((e) => e.seq)).toEqual([7]);
      expect(last).toMatchObject({ headSeq: 7, expired: false });
      expect(await store.replay(alice, 7, 3)).toMatchObject({ entries: [], headSeq: 7, expired: false });
      expect(await store.replay(user("nobody"), 0, 3)).toEqual({
        entries: [],
        headSeq: 0,
        oldestSeq: 1,
        expired: false,
      });
    });

    it("sweeps events past retention, raising the oldest seq, and calls older cursors expired", async () => {
      const [alice, bob] = [user("alice"), user("bob")];
      const t0 = new Date("2020-01-01T00:00:00Z");
      subject.clock.now = t0;
      await store.append([event([alice, bob]), event([alice]), event([alice])]);
      subject.clock.now = new Date(t0.getTime() + 3600_000);
      await store.append([event([alice]), event([alice, bob])]);
      subject.clock.now = new Date();
      expect(await store.sweep(new Date(t0.getTime() + 1000))).toBeGreaterThanOrEqual(4);

      const fromStart = await store.replay(alice, 0, 10);
      expect(fromStart).toMatchObject({ headSeq: 5, oldestSeq: 4, expired: false });
      expect(fromStart.entries.map((e) => e.seq)).toEqual([4, 5]);
      expect(await store.replay(alice, 2, 10)).toMatchObject({ entries: [], expired: true, oldestSeq: 4 });
      expect((await store.replay(alice, 3, 10)).entries.map((e) => e.seq)).toEqual([4, 5]);
      // A cursor this inbox never reached (a restored database) cannot be resumed either.
      expect(await store.replay(alice, 9, 10)).toMatchObject({ entries: [], expired: true });
      expect((await store.replay(bob, 1, 10)).entries.map((e) => e.seq)).toEqual([2]);
      // New events continue the sequence.
      const [next] = await store.append([event([alice])]);
      expect(next?.seq).toBe(6);
    });

    it("answers the stored payloads of events, not of swept or unknown ones", async () => {
      const alice = user("alice");
      const t0 = new Date("2019-06-01T00:00:00Z");
      const [old, kept] = [event([alice]), event([alice])];
      subject.clock.now = t0;
      await store.append([old]);
      subject.clock.now = new Date();
      await store.append([kept]);
      await store.sweep(new Date(t0.getTime() + 1000));
      const found = await store.payloads([old.eventKey, kept.eventKey, kept.eventKey, `m:${uuidv7()}`]);
      expect([...found.keys()]).toEqual([kept.eventKey]);
      expect(Buffer.from(found.get(kept.eventKey) ?? []).toString()).toBe(
        Buffer.from(kept.payload).toString(),
      );
      expect(await store.payloads([])).toEqual(new Map());
    });

    it("moves markers only forward", async () => {
      const alice = user("alice");
      const [older, newer] = [uuidv7(), uuidv7()];
      expect(await store.advanceMarker(alice, "d:a:b", "read", older)).toBe(true);
      expect(await store.advanceMarker(alice, "d:a:b", "read", newer)).toBe(true);
      expect(await store.advanceMarker(alice, "d:a:b", "read", older)).toBe(false);
      expect(await store.advanceMarker(alice, "d:a:b", "read", newer)).toBe(false);
      expect(await store.advanceMarker(alice, "d:a:b", "delivered", older)).toBe(true);
    });

    it("leaves a marker where it was when what it guards fails", async () => {
      const alice = user("alice");
      const [first, second] = [uuidv7(), uuidv7()];
      await store.advanceMarker(alice, "d:a:b", "read", first);
      const failing = store.advanceMarker(alice, "d:a:b", "read", second, async () => {
        throw new Error("log down");
      });
      await expect(failing).rejects.toThrow("log down");
      let ran = false;
      expect(
        await store.advanceMarker(alice, "d:a:b", "read", second, async () => {
          ran = true;
        }),
      ).toBe(true);
      expect(ran).toBe(true);
    });

    it("keeps settings (defaults on) and contacts both ways", async () => {
      const [alice, bob, carol] = [user("alice"), user("bob"), user("carol")];
      expect(await store.settings([alice])).toEqual(
        new Map([[alice, { sendReadReceipts: true, sharePresence: true }]]),
      );
      await store.updateSettings(alice, { sendReadReceipts: false, sharePresence: true });
      await store.updateSettings(alice, { sendReadReceipts: false, sharePresence: false });
      const both = await store.settings([alice, bob]);
      expect(both.get(alice)).toEqual({ sendReadReceipts: false, sharePresence: false });
      expect(both.get(bob)).toEqual({ sendReadReceipts: true, sharePresence: true });

      await store.addContacts([
        [alice, bob],
        [bob, alice],
        [carol, carol],
      ]);
      expect(await store.contactsOf(alice)).toEqual([bob]);
      expect(await store.contactsOf(bob)).toEqual([alice]);
      expect(await store.contactsOf(carol)).toEqual([]);
    });
  });
}
