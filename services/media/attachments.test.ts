import { createHash, randomBytes, randomUUID } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jpegWithGps } from "../../test/media.scenarios.js";
import type { BlobStore } from "../kit/blob/blob.js";
import { LocalBlobStore } from "../kit/blob/blob.local.js";
import { openTestS3, type TestS3 } from "../kit/blob/blob.s3.fixture.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import { ConversationAccess } from "./access.js";
import { Attachments, objectKey } from "./attachments.js";
import { mediaConfig } from "./config.js";
import { cleanupRemoved } from "./metrics.js";
import { MIGRATIONS_DIR, SqlAttachmentStore } from "./store.sql.js";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

interface FreshDb {
  db: SqlDatabase;
  close(): Promise<void>;
}

interface Setup extends FreshDb {
  /** The store; its download URLs can be fetched (the local folder's are served here). */
  blobs: BlobStore;
  /** Another empty database of the same kind (for migrating one from an older version). */
  freshDb(): Promise<FreshDb>;
}

/**
 * Fault injection: the real store, except that deletes fail — what completion meets when the
 * store refuses, or what it leaves when the process is killed before it could delete.
 */
function deletesFail(blobs: BlobStore): BlobStore {
  const faulty = Object.create(blobs) as BlobStore;
  faulty.delete = async () => {
    throw new Error("injected: the object store refused the delete");
  };
  return faulty;
}

const removedOriginals = async () =>
  (await cleanupRemoved.get()).values.find((v) => v.labels.object === "image_original")?.value ?? 0;

const setups: [string, () => Promise<Setup>][] = [
  [
    "PGlite and the local folder",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "parley-media-"));
      const db = await openPglite(join(dir, "db"), "media", process.env.PARLEY_PGLITE_TEMPLATE);
      // The gateway's /blobs/ route, as a plain server, so download URLs can be fetched.
      let blobs: LocalBlobStore | undefined;
      const server = createServer((req, res) => void blobs?.serve(req, res).catch(() => {}));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      blobs = new LocalBlobStore(join(dir, "objects"), randomBytes(32), `http://127.0.0.1:${port}`);
      let fresh = 0;
      return {
        db,
        blobs,
        async freshDb() {
          const db = await openPglite(
            join(dir, `db-${++fresh}`),
            "media",
            process.env.PARLEY_PGLITE_TEMPLATE,
          );
          return { db, close: () => db.close() };
        },
        async close() {
          await new Promise((resolve) => server.close(resolve));
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
        freshDb: () => openFreshPostgres("media"),
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

  let store: SqlAttachmentStore;
  // The services media asks over gRPC, as plain answers: anyone may write to "bob".
  const access = new ConversationAccess({
    userIdOf: async (username) => (username === "bob" ? "user-bob" : undefined),
    membership: { check: async () => ({ groupExists: false, isMember: false, memberIds: [] }) },
  });
  /** A media process (a replica) on this database and these objects. */
  const replica = (blobs = setup.blobs, attachmentStore = store) =>
    new Attachments({
      store: attachmentStore,
      blobs,
      access,
      limiter: new MemoryRateLimiter({ limit: 1000, windowSeconds: 60 }),
      config,
      logger: createLogger({ level: "silent" }),
      now: () => new Date(clock),
    });

  beforeAll(async () => {
    setup = await open();
    store = await SqlAttachmentStore.open(setup.db);
    attachments = replica();
  });
  afterAll(() => setup?.close());

  /** Starts an upload and, when `arrive`, puts its bytes where the presigned PUT would have. */
  const start = async (body: Buffer, arrive: boolean, contentType = "text/plain") => {
    const { attachmentId } = await attachments.createUpload("user-alice", {
      target: { recipientUsername: "bob" },
      fileName: contentType === "image/jpeg" ? "holiday.jpg" : "notes.txt",
      contentType,
      sizeBytes: body.length,
      sha256: sha256(body),
    });
    if (arrive) await setup.blobs.write(objectKey(attachmentId, "original"), body, contentType);
    return attachmentId;
  };

  /** Fetches what a download URL of the attachment returns, as bob. */
  const download = async (attachmentId: string, thumbnail = false) => {
    const { url } = await attachments.downloadUrl("user-bob", attachmentId, thumbnail);
    const res = await fetch(url.url);
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  };

  it("removes pending uploads older than the pending time, and their objects, and nothing else", async () => {
    clock = Date.now();
    const staleWithObject = await start(Buffer.from("uploaded, never completed"), true);
    const staleWithout = await start(Buffer.from("never uploaded"), false);
    const completed = await start(Buffer.from("completed in time"), true);
    await attachments.completeUpload("user-alice", completed);

    clock += 1800_000;
    const fresh = await start(Buffer.from("started later"), true);
    expect(await attachments.cleanup()).toEqual({ staleUploads: 0, originals: 0 });

    clock += 1801_000;
    expect(await attachments.cleanup()).toEqual({ staleUploads: 2, originals: 0 });
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
    expect(await attachments.cleanup()).toEqual({ staleUploads: 0, originals: 0 });
  });

  it("refuses to complete an upload after the pending time, even if its bytes arrived", async () => {
    clock = Date.now();
    const late = await start(Buffer.from("too late"), true);
    clock += 3601_000;
    await expect(attachments.completeUpload("user-alice", late)).rejects.toMatchObject({
      code: "failed_precondition",
    });
    expect(await attachments.cleanup()).toEqual({ staleUploads: 1, originals: 0 });
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

  it("deletes an image's original (GPS and all) that completion could not, on the next clean-up, and keeps what downloads serve", async () => {
    clock = Date.now();
    const jpeg = await jpegWithGps();
    const id = await start(jpeg, true, "image/jpeg");
    const original = objectKey(id, "original");

    // Completion marks the image ready, then its delete of the original fails.
    const ready = await replica(deletesFail(setup.blobs)).completeUpload("user-alice", id);
    expect(ready).toMatchObject({ attachmentId: id, contentType: "image/jpeg", hasThumbnail: true });
    expect((await setup.blobs.read(original)).equals(jpeg)).toBe(true);
    expect((await store.get(id))?.originalToRemove).toBe(true);

    const counted = await removedOriginals();
    expect(await attachments.cleanup()).toEqual({ staleUploads: 0, originals: 1 });
    expect(await removedOriginals()).toBe(counted + 1);
    expect(await setup.blobs.head(original)).toBeUndefined();
    expect((await store.get(id))?.originalToRemove).toBe(false);
    expect(await setup.blobs.head(objectKey(id, "safe"))).toMatchObject({ size: Number(ready.sizeBytes) });
    expect(await setup.blobs.head(objectKey(id, "thumbnail"))).toBeDefined();

    const image = await download(id);
    expect(image.status).toBe(200);
    expect(sha256(image.bytes)).toBe(ready.sha256);
    expect((await sharp(image.bytes).metadata()).exif).toBeUndefined();
    expect(image.bytes.includes(Buffer.from("parley-exif-marker"))).toBe(false);
    const thumbnail = await download(id, true);
    expect(thumbnail.status).toBe(200);
    expect((await sharp(thumbnail.bytes).metadata()).format).toBe("webp");

    expect(await attachments.cleanup()).toEqual({ staleUploads: 0, originals: 0 });
    expect(await removedOriginals()).toBe(counted + 1);
  });

  it("deletes an image's original at completion when the store allows, leaving nothing to clean up", async () => {
    clock = Date.now();
    const id = await start(await jpegWithGps(), true, "image/jpeg");
    await attachments.completeUpload("user-alice", id);
    expect(await setup.blobs.head(objectKey(id, "original"))).toBeUndefined();
    expect((await store.get(id))?.originalToRemove).toBe(false);
    expect(await attachments.cleanup()).toEqual({ staleUploads: 0, originals: 0 });
  });

  it("lets replicas clean up at once, removing and counting each leftover original once", async () => {
    clock = Date.now();
    const jpeg = await jpegWithGps();
    const faulty = replica(deletesFail(setup.blobs));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await start(jpeg, true, "image/jpeg");
      await faulty.completeUpload("user-alice", id);
      ids.push(id);
    }
    const counted = await removedOriginals();
    const passes = await Promise.all([replica().cleanup(), replica().cleanup(), attachments.cleanup()]);
    expect(passes.reduce((sum, pass) => sum + pass.originals, 0)).toBe(ids.length);
    expect(await removedOriginals()).toBe(counted + ids.length);
    for (const id of ids) {
      expect(await setup.blobs.head(objectKey(id, "original"))).toBeUndefined();
      expect(await setup.blobs.head(objectKey(id, "safe"))).toBeDefined();
      expect((await download(id)).status).toBe(200);
    }
  });

  it("on migrating, marks the originals of images completed before, and never a file's only object", async () => {
    const older = mkdtempSync(join(tmpdir(), "parley-media-migrations-"));
    copyFileSync(join(MIGRATIONS_DIR, "001_attachments.sql"), join(older, "001_attachments.sql"));
    const fresh = await setup.freshDb();
    try {
      await migrate(fresh.db, older);
      const [image, file] = [randomUUID(), randomUUID()];
      for (const [id, servedKey] of [
        [image, objectKey(image, "safe")],
        [file, objectKey(file, "original")],
      ] as const) {
        await fresh.db.query(
          `INSERT INTO attachments (attachment_id, owner_id, conversation_id, file_name, content_type,
             declared_size, declared_sha256, state, upload_key, served_key, created_at, completed_at)
           VALUES ($1, 'user-alice', 'd:user-alice:user-bob', 'x', 'image/jpeg', 1, $2, 'ready', $3, $4, now(), now())`,
          [id, "0".repeat(64), objectKey(id, "original"), servedKey],
        );
        await setup.blobs.write(objectKey(id, "original"), Buffer.from("left behind"), "image/jpeg");
      }
      const migrated = await SqlAttachmentStore.open(fresh.db);
      expect((await migrated.get(image))?.originalToRemove).toBe(true);
      expect((await migrated.get(file))?.originalToRemove).toBe(false);
      // The database itself refuses to mark what downloads serve.
      await expect(
        fresh.db.query("UPDATE attachments SET original_to_remove = true WHERE attachment_id = $1", [file]),
      ).rejects.toThrow(/attachments_original_to_remove_not_served/);

      expect(await replica(setup.blobs, migrated).cleanup()).toEqual({ staleUploads: 0, originals: 1 });
      expect(await setup.blobs.head(objectKey(image, "original"))).toBeUndefined();
      expect(await setup.blobs.head(objectKey(file, "original"))).toBeDefined();
    } finally {
      await fresh.close();
      rmSync(older, { recursive: true, force: true });
    }
  });
});
