import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "../kit/blob/blob.js";
import { LocalBlobStore } from "../kit/blob/blob.local.js";
import { openTestS3, type TestS3 } from "../kit/blob/blob.s3.fixture.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { ConversationAccess } from "./access.js";
import { Attachments, objectKey } from "./attachments.js";
import { mediaConfig } from "./config.js";
import { SqlAttachmentStore } from "./store.sql.js";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

interface Setup {
  db: SqlDatabase;
  blobs: BlobStore;
  /** Where the store's URLs are resolved (the local store needs no server here: it is written directly). */
  close(): Promise<void>;
}

const setups: [string, () => Promise<Setup>][] = [
  [
    "PGlite and the local folder",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "parley-media-"));
      const db = await openPglite(join(dir, "db"), "media", process.env.PARLEY_PGLITE_TEMPLATE);
      return {
        db,
        blobs: new LocalBlobStore(join(dir, "objects"), randomBytes(32)),
        async close() {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    "PostgreSQL and S3 (versitygw)",
    async () => {
      const pg = await openFreshPostgres("media");
      const s3: TestS3 = await openTestS3();
      return {
        db: pg.db,
        blobs: s3.store,
        async close() {
          await s3.cleanup();
          await pg.close();
        },
      };
    },
  ],
];

describe.each(setups)("attachment clean-up on %s", (_name, open) => {
  let setup: Setup;
  let clock = Date.now();
  let attachments: Attachments;
  const config = mediaConfig.load({ PARLEY_MEDIA_PENDING_SECONDS: "3600" });

  beforeAll(async () => {
    setup = await open();
    // The services media asks over gRPC, as plain answers: anyone may write to "bob".
    const access = new ConversationAccess({
      userIdOf: async (username) => (username === "bob" ? "user-bob" : undefined),
      membership: { check: async () => ({ groupExists: false, isMember: false, memberIds: [] }) },
    });
    attachments = new Attachments({
      store: await SqlAttachmentStore.open(setup.db),
      blobs: setup.blobs,
      access,
      limiter: new MemoryRateLimiter({ limit: 1000, windowSeconds: 60 }),
      config,
      logger: createLogger({ level: "silent" }),
      now: () => new Date(clock),
    });
  });
  afterAll(() => setup?.close());

  /** Starts an upload and, when `arrive`, puts its bytes where the presigned PUT would have. */
  const start = async (body: Buffer, arrive: boolean) => {
    const { attachmentId } = await attachments.createUpload("user-alice", {
      target: { recipientUsername: "bob" },
      fileName: "notes.txt",
      contentType: "text/plain",
      sizeBytes: body.length,
      sha256: sha256(body),
    });
    if (arrive) await setup.blobs.write(objectKey(attachmentId, "original"), body, "text/plain");
    return attachmentId;
  };

  it("removes pending uploads older than the pending time, and their objects, and nothing else", async () => {
    clock = Date.now();
    const staleWithObject = await start(Buffer.from("uploaded, never completed"), true);
    const staleWithout = await start(Buffer.from("never uploaded"), false);
    const completed = await start(Buffer.from("completed in time"), true);
    await attachments.completeUpload("user-alice", completed);

    clock += 1800_000;
    const fresh = await start(Buffer.from("started later"), true);
    expect(await attachments.cleanup()).toBe(0);

    clock += 1801_000;
    expect(await attachments.cleanup()).toBe(2);
    expect(await setup.blobs.head(objectKey(staleWithObject, "original"))).toBeUndefined();
    await expect(attachments.completeUpload("user-alice", staleWithObject)).rejects.toMatchObject({
      code: "not_found",
    });
    await expect(attachments.completeUpload("user-alice", staleWithout)).rejects.toMatchObject({
      code: "not_found",
    });
    // The completed one and the younger pending one are untouched.
    expect(await setup.blobs.head(objectKey(completed, "original"))).toBeDefined();
    expect((await attachments.completeUpload("user-alice", completed)).attachmentId).toBe(completed);
    expect(await setup.blobs.head(objectKey(fresh, "original"))).toBeDefined();
    expect((await attachments.completeUpload("user-alice", fresh)).fileName).toBe("notes.txt");
    expect(await attachments.cleanup()).toBe(0);
  });

  it("refuses to complete an upload after the pending time, even if its bytes arrived", async () => {
    clock = Date.now();
    const late = await start(Buffer.from("too late"), true);
    clock += 3601_000;
    await expect(attachments.completeUpload("user-alice", late)).rejects.toMatchObject({
      code: "failed_precondition",
    });
    expect(await attachments.cleanup()).toBe(1);
    expect(await setup.blobs.head(objectKey(late, "original"))).toBeUndefined();
  });

  it("lets only the uploader complete, and resolves only the sender's ready attachments of this conversation", async () => {
    clock = Date.now();
    const id = await start(Buffer.from("mine"), true);
    await expect(attachments.completeUpload("user-mallory", id)).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(attachments.resolve([id], "user-alice", "d:user-alice:user-bob")).rejects.toMatchObject({
      code: "failed_precondition",
    });
    await attachments.completeUpload("user-alice", id);
    const [ref] = await attachments.resolve([id], "user-alice", "d:user-alice:user-bob");
    expect(ref).toMatchObject({
      attachmentId: id,
      contentType: "text/plain",
      sha256: sha256(Buffer.from("mine")),
    });
    await expect(attachments.resolve([id], "user-bob", "d:user-alice:user-bob")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(attachments.resolve([id], "user-alice", "d:user-alice:user-carol")).rejects.toMatchObject({
      code: "permission_denied",
    });
  });
});
