import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { messageIdAt, sealedRecord } from "./fixtures.js";
import type { HistoryStore, PageQuery } from "./history.js";

/** One implementation of the history role, on storage of its own. */
export interface HistoryUnderTest {
  history: HistoryStore;
  /** Closes the store and removes its storage. */
  cleanup(): Promise<void>;
}

const DAY = 86_400_000;
/** A moment on a 30-day (and so also a 1-day) boundary counted from the epoch, as buckets are. */
const BOUNDARY = Math.ceil(Date.UTC(2025, 0, 1) / (30 * DAY)) * 30 * DAY;

const ids = (records: MessageRecord[]) => records.map((r) => r.messageId);
const newestFirst = (records: MessageRecord[]) =>
  [...records].sort((a, b) => (a.messageId < b.messageId ? 1 : a.messageId > b.messageId ? -1 : 0));

/** Pages back with before cursors until an empty page; every page's ids, in order. */
async function walkBack(read: (query: PageQuery) => Promise<MessageRecord[]>, limit: number) {
  const pages: string[][] = [];
  let before: string | undefined;
  for (;;) {
    const page = await read(before === undefined ? { limit } : { limit, before });
    if (page.length === 0) return pages;
    expect(pages.length).toBeLessThan(1000);
    pages.push(ids(page));
    before = page.at(-1)?.messageId;
  }
}

/**
 * The contract of the history role. Every implementation (SQL, CQL) runs it; each test uses
 * people and conversations of its own, so one store serves the whole file.
 */
export function historyContract(name: string, open: () => Promise<HistoryUnderTest>): void {
  describe(`history contract: ${name}`, () => {
    let subject: HistoryUnderTest;
    let history: HistoryStore;
    beforeAll(async () => {
      subject = await open();
      history = subject.history;
    });
    afterAll(() => subject?.cleanup());

    /** Fresh names for one test: two people, their direct conversation and a group. */
    const cast = () => {
      const tag = randomUUID().slice(0, 8);
      const [alice, bob, carol] = [`alice-${tag}`, `bob-${tag}`, `carol-${tag}`];
      return {
        alice,
        bob,
        carol,
        aliceBob: { conversationId: `d:${alice}:${bob}`, senderId: alice, recipientId: bob },
        bobAlice: { conversationId: `d:${alice}:${bob}`, senderId: bob, recipientId: alice },
        carolAlice: { conversationId: `d:${alice}:${carol}`, senderId: carol, recipientId: alice },
        group: { conversationId: `g:g-${tag}`, senderId: bob, groupId: `g-${tag}` },
      };
    };
    /** Records at increasing times from `from`, `step` ms apart. */
    const timeline = (
      count: number,
      from: number,
      step: number,
      people: Parameters<typeof sealedRecord>[1],
    ) => Array.from({ length: count }, (_, i) => sealedRecord(messageIdAt(from + i * step), people));

    it("gives back every field exactly as written", async () => {
      const c = cast();
      const direct = sealedRecord(messageIdAt(Date.now()), c.aliceBob);
      const group = {
        ...sealedRecord(messageIdAt(Date.now()), c.group),
        // References to attachments, as media resolves them for a send.
        attachments: [
          {
            attachmentId: "0193a0a0-0000-7000-8000-000000000001",
            fileName: "photo.jpg",
            contentType: "image/jpeg",
            sizeBytes: "12345",
            sha256: "ab".repeat(32),
            hasThumbnail: true,
            width: 640,
            height: 480,
          },
        ],
      };
      await history.write([direct, group]);
      expect(await history.conversationPage(c.aliceBob.conversationId, { limit: 5 })).toEqual([direct]);
      expect(await history.conversationPage(c.group.conversationId, { limit: 5 })).toEqual([group]);
      expect(await history.directPage(c.bob, { limit: 5 })).toEqual([direct]);
    });

    it("keeps messages of the largest content beside small ones written in the same call", async () => {
      const c = cast();
      const [small, large, toSelf, largeToSelf] = [c.aliceBob, c.bobAlice, c.aliceBob, c.aliceBob].map(
        (people, i) => sealedRecord(messageIdAt(Date.now() - 10_000 + i), people),
      ) as [MessageRecord, MessageRecord, MessageRecord, MessageRecord];
      // The largest content a send accepts (64 KiB) sealed, and a note to self of it and of little.
      const self = { conversationId: `d:${c.alice}:${c.alice}`, senderId: c.alice, recipientId: c.alice };
      Object.assign(large, { ciphertext: randomBytes(64 * 1024 + 16) });
      Object.assign(toSelf, { ...self });
      Object.assign(largeToSelf, { ...self, ciphertext: randomBytes(64 * 1024 + 16) });
      await history.write([small, large, toSelf, largeToSelf]);
      expect(await history.conversationPage(c.aliceBob.conversationId, { limit: 5 })).toEqual([large, small]);
      expect(await history.conversationPage(self.conversationId, { limit: 5 })).toEqual([
        largeToSelf,
        toSelf,
      ]);
      expect(await history.directPage(c.bob, { limit: 5 })).toEqual([large, small]);
      expect(ids(await history.directPage(c.alice, { limit: 5 }))).toEqual(
        ids([largeToSelf, toSelf, large, small]),
      );
    });

    it("walks a conversation back with before cursors to its first message, no gaps, no repeats", async () => {
      const c = cast();
      const written = timeline(23, Date.now() - 60_000, 7, c.aliceBob);
      await history.write(written.slice(0, 11));
      await history.write(written.slice(11));
      const pages = await walkBack((q) => history.conversationPage(c.aliceBob.conversationId, q), 5);
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
      expect(pages.flat()).toEqual(ids(newestFirst(written)));
    });

    it("pages seamlessly across time buckets, over empty ones, to the first bucket", async () => {
      const c = cast();
      // Either side of day and 30-day boundaries, with months of silence between some of them.
      const times = [
        BOUNDARY - 1,
        BOUNDARY,
        BOUNDARY,
        BOUNDARY + 1,
        BOUNDARY + DAY - 1,
        BOUNDARY + DAY,
        BOUNDARY + 30 * DAY - 1,
        BOUNDARY + 30 * DAY,
        BOUNDARY + 95 * DAY,
        BOUNDARY + 95 * DAY + 5,
        BOUNDARY + 400 * DAY,
        BOUNDARY + 400 * DAY + 2 * DAY,
      ];
      const written = times.map((t, i) => sealedRecord(messageIdAt(t), i % 3 ? c.aliceBob : c.bobAlice));
      await history.write(written);
      const expected = ids(newestFirst(written));
      for (const limit of [1, 2, 3, 5, 12, 50]) {
        const pages = await walkBack((q) => history.conversationPage(c.aliceBob.conversationId, q), limit);
        expect(pages.flat(), `limit ${limit}`).toEqual(expected);
        const direct = await walkBack((q) => history.directPage(c.alice, q), limit);
        expect(direct.flat(), `direct, limit ${limit}`).toEqual(expected);
      }
      // A cursor inside a silent stretch (no message has it) continues with what is older.
      const quiet = messageIdAt(BOUNDARY + 200 * DAY);
      const older = await history.conversationPage(c.aliceBob.conversationId, { limit: 3, before: quiet });
      expect(ids(older)).toEqual(expected.slice(2, 5));
    });

    it("opens a conversation again with what arrived since in newer buckets, newest first", async () => {
      const c = cast();
      const page = (limit: number) => history.conversationPage(c.aliceBob.conversationId, { limit });
      const mine = (limit: number) => history.directPage(c.bob, { limit });
      const first = timeline(3, BOUNDARY + 10 * DAY, 5, c.aliceBob);
      await history.write(first);
      // Read once, and again, as an app opening the conversation twice.
      for (let i = 0; i < 2; i++) {
        expect(await page(2)).toEqual(newestFirst(first).slice(0, 2));
        expect(await mine(2)).toEqual(newestFirst(first).slice(0, 2));
      }
      // Then messages in a bucket a day later and one forty days later.
      const later = [
        ...timeline(2, BOUNDARY + 11 * DAY, 5, c.bobAlice),
        ...timeline(1, BOUNDARY + 50 * DAY, 5, c.aliceBob),
      ];
      await history.write(later);
      const all = newestFirst([...first, ...later]);
      for (const limit of [1, 2, 4, 50]) {
        expect(ids(await page(limit)), `limit ${limit}`).toEqual(ids(all.slice(0, limit)));
        expect(ids(await mine(limit)), `direct, limit ${limit}`).toEqual(ids(all.slice(0, limit)));
      }
    });

    it("keeps one unchanged row per message when records are written again", async () => {
      const c = cast();
      const written = timeline(6, Date.now() - 1000, 3, c.aliceBob);
      await history.write(written);
      await history.write([...written.slice(2), ...written]);
      await history.write([written[0] as MessageRecord, written[0] as MessageRecord]);
      expect(await history.conversationPage(c.aliceBob.conversationId, { limit: 50 })).toEqual(
        newestFirst(written),
      );
      expect(await history.directPage(c.bob, { limit: 50 })).toEqual(newestFirst(written));
    });

    it("pages a user's direct messages across conversations, sent and received, never group ones", async () => {
      const c = cast();
      const start = Date.now() - 10_000;
      const written: MessageRecord[] = [];
      for (let i = 0; i < 6; i++) {
        written.push(sealedRecord(messageIdAt(start + i * 30), i % 2 ? c.bobAlice : c.aliceBob));
        written.push(sealedRecord(messageIdAt(start + i * 30 + 10), c.carolAlice));
        written.push(sealedRecord(messageIdAt(start + i * 30 + 20), c.group));
      }
      await history.write(written);
      const direct = newestFirst(written.filter((r) => !r.groupId));
      expect(await history.directPage(c.alice, { limit: 100 })).toEqual(direct);
      expect((await walkBack((q) => history.directPage(c.alice, q), 4)).flat()).toEqual(ids(direct));
      const ofBob = newestFirst(written.filter((r) => r.conversationId === c.aliceBob.conversationId));
      expect(await history.directPage(c.bob, { limit: 100 })).toEqual(ofBob);
      const ofCarol = newestFirst(written.filter((r) => r.conversationId === c.carolAlice.conversationId));
      expect(await history.directPage(c.carol, { limit: 100 })).toEqual(ofCarol);
    });

    it("returns at most limit messages, the newest ones, and nothing older than the first", async () => {
      const c = cast();
      const written = newestFirst(timeline(4, Date.now() - 500, 11, c.group));
      await history.write(written);
      const page = (query: PageQuery) => history.conversationPage(c.group.conversationId, query);
      expect(ids(await page({ limit: 1 }))).toEqual(ids(written.slice(0, 1)));
      expect(ids(await page({ limit: 4 }))).toEqual(ids(written));
      expect(ids(await page({ limit: 200 }))).toEqual(ids(written));
      const before = written[1]?.messageId as string;
      expect(ids(await page({ limit: 1, before }))).toEqual(ids(written.slice(2, 3)));
      expect(await page({ limit: 10, before: written[3]?.messageId as string })).toEqual([]);
    });

    it("has empty pages for a conversation or a user with no messages", async () => {
      const c = cast();
      expect(await history.conversationPage(c.aliceBob.conversationId, { limit: 10 })).toEqual([]);
      expect(await history.directPage(c.carol, { limit: 10, before: messageIdAt(Date.now()) })).toEqual([]);
    });
  });
}
