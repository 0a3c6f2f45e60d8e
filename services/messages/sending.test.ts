import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UserRef } from "../gen/grpc/parley/internal/v1/directory.js";
import type { Attachment } from "../gen/grpc/parley/v1/media.js";
import type { Message } from "../gen/grpc/parley/v1/messages.js";
import { permissionDenied } from "../kit/errors.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { type MessageLog, TOPICS } from "../kit/log/log.js";
import { Envelope } from "./envelope.js";
import { openTestStores, silentLogger, type TestStores, testDataKeys } from "./fixtures.js";
import { SqlHistoryStore } from "./history.sql.js";
import { ClientMessageIds } from "./idempotency.js";
import { CachedDirectory, type MembershipCheck } from "./participants.js";
import { startPersister } from "./persister.js";
import { MessageReader } from "./reading.js";
import { MessageSender } from "./sending.js";

const alice = { userId: "u-alice", username: "alice" };
const bob = { userId: "u-bob", username: "bob" };
const carol = { userId: "u-carol", username: "carol" };
const users: UserRef[] = [alice, bob, carol];

/** Ready attachments as media would resolve them: id -> owner, conversation and reference. */
const ready = new Map<string, { ownerId: string; conversationId: string; attachment: Attachment }>();
const attachmentRef = (attachmentId: string): Attachment => ({
  attachmentId,
  fileName: `${attachmentId}.png`,
  contentType: "image/png",
  sizeBytes: "1234",
  sha256: "cd".repeat(32),
  hasThumbnail: true,
  width: 10,
  height: 20,
});

describe("sending and reading messages", () => {
  let stores: TestStores;
  let history: SqlHistoryStore;
  let members: Map<string, Set<string>>;
  let failNextAppend: boolean;
  /** While set, the appended marks' UPDATEs wait for it (a slow database after the append). */
  let marksHeld: Promise<void> | undefined;
  let sender: MessageSender;
  let reader: MessageReader;

  beforeEach(async () => {
    stores = await openTestStores();
    history = new SqlHistoryStore(stores.db);
    members = new Map([["team", new Set([alice.userId, bob.userId])]]);
    failNextAppend = false;
    marksHeld = undefined;
    // The real log, failing one append when a test asks (a broker that is down).
    const log: MessageLog = {
      append: (topic, records) => {
        if (failNextAppend) {
          failNextAppend = false;
          return Promise.reject(new Error("log unavailable"));
        }
        return stores.log.append(topic, records);
      },
      subscribe: (options) => stores.log.subscribe(options),
      readUncommitted: (...args) => stores.log.readUncommitted(...args),
      readUncommittedAlongside: (...args) => stores.log.readUncommittedAlongside(...args),
      close: () => stores.log.close(),
    };
    const directory = new CachedDirectory(
      {
        resolveUsernames: async (names) => users.filter((u) => names.includes(u.username)),
        getUsers: async (ids) => users.filter((u) => ids.includes(u.userId)),
      },
      60_000,
    );
    const membership: MembershipCheck = {
      check: async (groupId, userId) => ({
        groupExists: members.has(groupId),
        isMember: members.get(groupId)?.has(userId) ?? false,
      }),
    };
    const envelope = new Envelope(testDataKeys(), { cacheMs: 60_000 });
    sender = new MessageSender({
      attachments: {
        resolve: async (ids, senderId, conversationId) =>
          ids.map((id) => {
            const entry = ready.get(id);
            if (!entry || entry.ownerId !== senderId || entry.conversationId !== conversationId) {
              throw permissionDenied(`attachment ${id} cannot be attached here`);
            }
            return entry.attachment;
          }),
      },
      directory,
      membership,
      envelope,
      messageLog: async () => log,
      clientMessageIds: new ClientMessageIds({
        ...stores.db,
        query: async (sql, params) => {
          if (sql.includes("UPDATE client_messages")) await marksHeld;
          return stores.db.query(sql, params);
        },
      }),
      limiter: new MemoryRateLimiter({ limit: 20, windowSeconds: 60 }),
      maxContentBytes: 64,
      logger: silentLogger,
    });
    reader = new MessageReader({ history, messageLog: async () => log, envelope, directory, membership });
  });
  afterEach(() => stores.close());

  const direct = (content: string, clientMessageId = "", to = "bob") =>
    sender.sendDirect(alice, { recipientUsername: to, content, clientMessageId });
  const logged = () => stores.log.readUncommitted(TOPICS.messages, "nobody");

  /** Runs the persister until it has written `count` messages, then stops it. */
  async function persist(count: number) {
    let written = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const persister = await startPersister({
      log: stores.log,
      history: {
        conversationPage: (id, q) => history.conversationPage(id, q),
        directPage: (id, q) => history.directPage(id, q),
        write: async (records) => {
          await history.write(records);
          written += records.length;
          if (written >= count) done();
        },
      },
      logger: silentLogger,
    });
    await finished;
    await persister.stop();
  }

  it("returns the stored message once the log has it, and a read right after has it", async () => {
    const sent = await direct("hello bob");
    expect(sent).toMatchObject({
      conversationId: "d:u-alice:u-bob",
      senderId: alice.userId,
      senderUsername: "alice",
      recipientId: bob.userId,
      recipientUsername: "bob",
      groupId: "",
      content: "hello bob",
    });
    expect(sent.sentAt?.getTime()).toBeLessThanOrEqual(Date.now());
    const [entry] = await logged();
    expect(entry?.key).toBe("d:u-alice:u-bob");
    expect(entry?.headers["message-id"]).toBe(sent.messageId);
    expect(Buffer.from(entry?.value as Uint8Array).includes(Buffer.from("hello bob"))).toBe(false);

    const asBob = await reader.listDirect(bob, { recipientUsername: "alice", limit: 0, before: "" });
    expect(asBob.messages).toEqual([sent]);
    const mine = await reader.listDirect(alice, { recipientUsername: "", limit: 0, before: "" });
    expect(mine.messages).toEqual([sent]);
    const carols = await reader.listDirect(carol, { recipientUsername: "", limit: 0, before: "" });
    expect(carols.messages).toEqual([]);
  });

  it("lets a user write to themself", async () => {
    const sent = await direct("note to self", "", "alice");
    expect(sent.conversationId).toBe("d:u-alice:u-alice");
    const page = await reader.listDirect(alice, { recipientUsername: "alice", limit: 0, before: "" });
    expect(page.messages.map((m) => m.content)).toEqual(["note to self"]);
  });

  it("answers a retried send with the first message and stores one", async () => {
    const first = await direct("once", "c-1");
    const again = await direct("once", "c-1");
    expect(again).toEqual(first);
    expect(await logged()).toHaveLength(1);
  });

  it("answers before the appended mark is written, and a retry meanwhile gets the first message", async () => {
    let release = () => {};
    marksHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Resolves only because the answer does not wait for the held mark.
    const first = await direct("quick", "c-quick");
    expect(await direct("quick", "c-quick")).toEqual(first);
    expect(await logged()).toHaveLength(1);
    release();
    // The mark is then written: a retry from anywhere finds the message appended.
    const appended = async () =>
      (
        await stores.db.query<{ appended: boolean }>(
          "SELECT appended FROM client_messages WHERE client_message_id = $1",
          ["c-quick"],
        )
      )[0]?.appended;
    while (!(await appended())) await new Promise((resolve) => setImmediate(resolve));
    expect(await direct("quick", "c-quick")).toEqual(first);
    expect(await logged()).toHaveLength(1);
  });

  it("makes one message of concurrent sends with the same client message id", async () => {
    const all = await Promise.all(Array.from({ length: 5 }, () => direct("racing", "c-race")));
    expect(new Set(all.map((m) => m.messageId)).size).toBe(1);
    expect(await logged()).toHaveLength(1);
  });

  it("refuses a client message id reused for a different message", async () => {
    await direct("first", "c-2");
    await expect(direct("second", "c-2")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("first", "c-2", "carol")).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await logged()).toHaveLength(1);
  });

  it("is unavailable when the log is, and a retry then succeeds with the same message", async () => {
    failNextAppend = true;
    await expect(direct("try me", "c-3")).rejects.toMatchObject({ code: "unavailable" });
    expect(await logged()).toHaveLength(0);
    const retried = await direct("try me", "c-3");
    const again = await direct("try me", "c-3");
    expect(again).toEqual(retried);
    expect(await logged()).toHaveLength(1);
  });

  it("refuses empty, oversized and unaddressable sends and changes nothing", async () => {
    await expect(direct("")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("   ")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("x".repeat(65))).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("é".repeat(33))).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("hi", "x".repeat(129))).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(direct("hi", "", "nobody")).rejects.toMatchObject({
      code: "not_found",
      message: "unknown recipient",
    });
    await expect(direct("hi", "", "")).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await logged()).toHaveLength(0);
    expect((await direct("x".repeat(64))).content).toHaveLength(64);
  });

  it("limits how fast one user sends", async () => {
    for (let i = 0; i < 20; i++) await direct(`m${i}`);
    const refused = await direct("one too many").catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: "resource_exhausted" });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    await expect(
      sender.sendDirect(bob, { recipientUsername: "alice", content: "hi", clientMessageId: "" }),
    ).resolves.toBeTruthy();
  });

  it("lets only current members of an existing group send and read", async () => {
    const sent = await sender.sendGroup(alice, { groupId: "team", content: "hi team", clientMessageId: "" });
    expect(sent).toMatchObject({
      conversationId: "g:team",
      groupId: "team",
      recipientId: "",
      senderUsername: "alice",
    });
    const page = await reader.listGroup(bob, { groupId: "team", limit: 0, before: "" });
    expect(page.messages).toEqual([sent]);

    const asCarol = { groupId: "team", content: "let me in", clientMessageId: "" };
    await expect(sender.sendGroup(carol, asCarol)).rejects.toMatchObject({ code: "permission_denied" });
    await expect(reader.listGroup(carol, { groupId: "team", limit: 0, before: "" })).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(reader.listGroup(alice, { groupId: "nope", limit: 0, before: "" })).rejects.toMatchObject({
      code: "not_found",
    });
    await expect(
      sender.sendGroup(alice, { groupId: "nope", content: "hi", clientMessageId: "" }),
    ).rejects.toMatchObject({ code: "not_found" });

    members.get("team")?.delete(bob.userId);
    await expect(reader.listGroup(bob, { groupId: "team", limit: 0, before: "" })).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(
      sender.sendGroup(bob, { groupId: "team", content: "still here?", clientMessageId: "" }),
    ).rejects.toMatchObject({ code: "permission_denied" });
  });

  it("pages through history and the unpersisted tail with no gap and no repeat", async () => {
    const sent: Message[] = [];
    for (let i = 0; i < 5; i++) sent.push(await direct(`early ${i}`));
    await persist(5);
    for (let i = 0; i < 3; i++)
      sent.push(
        await sender.sendDirect(bob, {
          recipientUsername: "alice",
          content: `late ${i}`,
          clientMessageId: "",
        }),
      );

    const seen: Message[] = [];
    let before = "";
    for (let pages = 0; pages < 10; pages++) {
      const page = await reader.listDirect(alice, { recipientUsername: "bob", limit: 3, before });
      seen.unshift(...page.messages);
      before = page.nextCursor;
      if (!before) break;
    }
    expect(seen).toEqual(sent);

    // The caller's recent direct messages across conversations, including usernames from the directory.
    await direct("to carol", "", "carol");
    const recent = await reader.listDirect(bob, { recipientUsername: "", limit: 2, before: "" });
    expect(recent.messages).toEqual(sent.slice(-2));
    expect(recent.nextCursor).toBe(sent[6]?.messageId);
    const carols = await reader.listDirect(carol, { recipientUsername: "", limit: 0, before: "" });
    expect(carols.messages.map((m) => [m.senderUsername, m.recipientUsername, m.content])).toEqual([
      ["alice", "carol", "to carol"],
    ]);
  });

  it("carries attachment references on the log and in history, and refuses ones media does not vouch for", async () => {
    ready.set("att-1", {
      ownerId: alice.userId,
      conversationId: "d:u-alice:u-bob",
      attachment: attachmentRef("att-1"),
    });
    ready.set("att-2", {
      ownerId: alice.userId,
      conversationId: "d:u-alice:u-bob",
      attachment: attachmentRef("att-2"),
    });
    ready.set("att-carol", {
      ownerId: alice.userId,
      conversationId: "d:u-alice:u-carol",
      attachment: attachmentRef("att-carol"),
    });
    const send = (attachmentIds: string[], content = "") =>
      sender.sendDirect(alice, { recipientUsername: "bob", content, clientMessageId: "", attachmentIds });

    // A photo without a caption is a message.
    const sent = await send(["att-1", "att-2"]);
    expect(sent.attachments).toEqual([attachmentRef("att-1"), attachmentRef("att-2")]);
    await expect(send(["att-carol"], "wrong conversation")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(send(["att-1", "att-1"], "twice")).rejects.toMatchObject({ code: "invalid_argument" });
    const eleven = Array.from({ length: 11 }, (_, i) => `att-${i}`);
    await expect(send(eleven, "too many")).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await logged()).toHaveLength(1);

    await persist(1);
    const page = await reader.listDirect(bob, { recipientUsername: "alice", limit: 10, before: "" });
    expect(page.messages.map((m) => m.attachments)).toEqual([
      [attachmentRef("att-1"), attachmentRef("att-2")],
    ]);
  });
});
