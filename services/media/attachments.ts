import { createHash } from "node:crypto";
import { validate as isUuid, v7 as uuidv7 } from "uuid";
import type { Attachment } from "../gen/grpc/parley/v1/media.js";
import type { BlobStore, PresignedRequest } from "../kit/blob/blob.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../kit/errors.js";
import type { RateLimiter } from "../kit/limiter/limiter.js";
import type { Logger } from "../kit/logger.js";
import type { ConversationAccess, ConversationTarget } from "./access.js";
import type { MediaConfig } from "./config.js";
import { makeSafeImage, THUMBNAIL_TYPE } from "./images.js";
import {
  type CleanupObject,
  cleanupFailures,
  cleanupRemoved,
  completionDuration,
  uploadedBytes,
  uploadsCompleted,
  uploadsFailed,
  uploadsStarted,
} from "./metrics.js";
import type { AttachmentRow, AttachmentStore } from "./store.js";
import { canonicalType, IMAGE_TYPES, SNIFF_BYTES, sniffMismatch, typeAllowed } from "./types.js";

export interface UploadRequest {
  target: ConversationTarget;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
}

/** What one clean-up pass removed. */
export interface CleanupResult {
  staleUploads: number;
  originals: number;
}

export interface Upload {
  attachmentId: string;
  upload: PresignedRequest;
}

export interface AttachmentsDeps {
  store: AttachmentStore;
  blobs: BlobStore;
  access: ConversationAccess;
  limiter: RateLimiter;
  config: MediaConfig;
  logger: Logger;
  now?: () => Date;
}

const SHA256 = /^[0-9a-f]{64}$/;
const MAX_FILE_NAME = 255;
const CLEANUP_BATCH = 100;

/**
 * Attachments from asking to upload to downloading: pending until completion has checked the
 * stored object (size, SHA-256, type sniffed from its bytes), then ready. Images are replaced by
 * a copy without metadata, and get a thumbnail.
 */
export class Attachments {
  private readonly now: () => Date;

  constructor(private readonly deps: AttachmentsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async createUpload(callerId: string, request: UploadRequest): Promise<Upload> {
    const { config } = this.deps;
    const fileName = checkFileName(request.fileName);
    const contentType = canonicalType(request.contentType);
    if (!contentType) throw invalidArgument("content_type must be a media type such as image/png");
    if (!typeAllowed(contentType, config.allowedTypes)) {
      throw new DomainError("unsupported_media_type", `attachments of type ${contentType} are not allowed`);
    }
    if (!Number.isSafeInteger(request.sizeBytes) || request.sizeBytes <= 0) {
      throw invalidArgument("size_bytes must be a positive number");
    }
    if (request.sizeBytes > config.maxBytes) {
      throw new DomainError("payload_too_large", `attachments must be at most ${config.maxBytes} bytes`);
    }
    const sha256 = request.sha256.trim().toLowerCase();
    if (!SHA256.test(sha256)) throw invalidArgument("sha256 must be 64 hexadecimal characters");

    const { allowed, retryAfterSeconds } = await this.deps.limiter.hit(callerId);
    if (!allowed)
      throw new DomainError("resource_exhausted", "too many uploads; slow down", { retryAfterSeconds });
    const conversationId = await this.deps.access.writable(callerId, request.target);

    const attachmentId = uuidv7();
    const uploadKey = objectKey(attachmentId, "original");
    // The row first: an object is only ever uploaded for a row the clean-up can find.
    await this.deps.store.insert({
      attachmentId,
      ownerId: callerId,
      conversationId,
      fileName,
      contentType,
      declaredSize: request.sizeBytes,
      declaredSha256: sha256,
      uploadKey,
      createdAt: this.now(),
    });
    const upload = await this.deps.blobs.presignPut(
      uploadKey,
      { contentLength: request.sizeBytes, contentType, sha256 },
      config.uploadUrlSeconds,
    );
    uploadsStarted.inc();
    return { attachmentId, upload };
  }

  async completeUpload(callerId: string, attachmentId: string): Promise<Attachment> {
    const row = await this.find(attachmentId);
    if (row.ownerId !== callerId) throw permissionDenied("only the uploader may complete an upload");
    if (row.state === "ready") return toAttachment(row);
    if (row.state === "rejected") throw failed("this upload was refused; start a new one");
    const kind = IMAGE_TYPES.has(row.contentType) ? "image" : "file";
    const end = completionDuration.startTimer({ kind });
    const ready = await this.inspect(row);
    if (!(await this.deps.store.markReady(row.attachmentId, ready))) {
      // Another completion (or the clean-up) got there first: answer with what it left.
      const now = await this.find(attachmentId);
      if (now.state !== "ready") throw failed("this upload is no longer pending");
      return toAttachment(now);
    }
    if (ready.originalToRemove) {
      // The row says the original is still to go, so a failure here (or a crash before it) is
      // finished by the clean-up; the upload itself is complete.
      await this.removeOriginal(row).catch((err: unknown) => {
        cleanupFailures.inc({ object: "image_original" });
        this.deps.logger.warn(
          { err, attachmentId: row.attachmentId },
          "could not delete an image's original; the clean-up will",
        );
      });
    }
    end();
    uploadsCompleted.inc({ kind });
    uploadedBytes.inc(row.declaredSize);
    return toAttachment({ ...row, ...ready, state: "ready" });
  }

  /** A short-lived download URL for a participant of the attachment's conversation. */
  async downloadUrl(
    callerId: string,
    attachmentId: string,
    thumbnail: boolean,
  ): Promise<{ url: PresignedRequest; attachment: Attachment }> {
    const row = await this.find(attachmentId);
    await this.deps.access.requireParticipant(callerId, row.conversationId);
    if (row.state !== "ready" || !row.servedKey) throw failed("this attachment is not ready");
    const attachment = toAttachment(row);
    if (thumbnail) {
      if (!row.thumbnailKey) throw notFound("this attachment has no thumbnail");
      const url = await this.deps.blobs.presignGet(
        row.thumbnailKey,
        { contentType: THUMBNAIL_TYPE, disposition: "inline", fileName: `${row.fileName}.webp` },
        this.deps.config.downloadUrlSeconds,
      );
      return { url, attachment };
    }
    const image = IMAGE_TYPES.has(row.contentType);
    const url = await this.deps.blobs.presignGet(
      row.servedKey,
      // Anything but a raster image is a download: nothing uploaded can run as a page.
      { contentType: row.contentType, disposition: image ? "inline" : "attachment", fileName: row.fileName },
      this.deps.config.downloadUrlSeconds,
    );
    return { url, attachment };
  }

  /** For messages: the references of ready attachments `senderId` uploaded for this conversation. */
  async resolve(attachmentIds: string[], senderId: string, conversationId: string): Promise<Attachment[]> {
    for (const id of attachmentIds) if (!isUuid(id)) throw notFound(`unknown attachment ${id}`);
    const rows = new Map((await this.deps.store.getMany(attachmentIds)).map((r) => [r.attachmentId, r]));
    return attachmentIds.map((id) => {
      const row = rows.get(id.toLowerCase());
      if (!row) throw notFound(`unknown attachment ${id}`);
      if (row.ownerId !== senderId) throw permissionDenied(`attachment ${id} was uploaded by someone else`);
      if (row.conversationId !== conversationId) {
        throw permissionDenied(`attachment ${id} was uploaded for another conversation`);
      }
      if (row.state !== "ready") throw failed(`attachment ${id} is not ready; complete its upload first`);
      return toAttachment(row);
    });
  }

  /**
   * Removes pending uploads older than the pending time, object first, then the row (only if
   * still pending), and deletes the originals of ready images that completion left behind (a
   * crash or a failed delete between marking the image ready and deleting them). Safe to run in
   * every replica at once: each removal is counted by the replica whose row update took effect.
   */
  async cleanup(): Promise<CleanupResult> {
    return { staleUploads: await this.removeStaleUploads(), originals: await this.removeLeftoverOriginals() };
  }

  private async removeStaleUploads(): Promise<number> {
    const before = new Date(this.now().getTime() - this.deps.config.pendingSeconds * 1000);
    return this.sweep(
      "stale_upload",
      () => this.deps.store.stalePending(before, CLEANUP_BATCH),
      async (row) => {
        await this.deps.blobs.delete(row.uploadKey);
        return this.deps.store.deletePending(row.attachmentId);
      },
    );
  }

  private removeLeftoverOriginals(): Promise<number> {
    return this.sweep(
      "image_original",
      () => this.deps.store.originalsToRemove(CLEANUP_BATCH),
      (row) => this.removeOriginal(row),
    );
  }

  /** The object first, then the flag: the flag is only cleared once the original is gone. */
  private async removeOriginal(row: AttachmentRow): Promise<boolean> {
    await this.deps.blobs.delete(row.uploadKey);
    return this.deps.store.originalRemoved(row.attachmentId);
  }

  /**
   * Removes batches until one comes back short. Each `remove` takes its row out of the next batch
   * (or another replica's did), so this ends; the first failure ends the pass, to be retried.
   */
  private async sweep(
    object: CleanupObject,
    batch: () => Promise<AttachmentRow[]>,
    remove: (row: AttachmentRow) => Promise<boolean>,
  ): Promise<number> {
    let removed = 0;
    for (;;) {
      const rows = await batch();
      for (const row of rows) {
        try {
          if (await remove(row)) {
            removed++;
            cleanupRemoved.inc({ object });
          }
        } catch (err) {
          cleanupFailures.inc({ object });
          this.deps.logger.warn({ err, attachmentId: row.attachmentId, object }, "clean-up could not remove");
          return removed;
        }
      }
      if (rows.length < CLEANUP_BATCH) return removed;
    }
  }

  private async find(attachmentId: string): Promise<AttachmentRow> {
    if (!isUuid(attachmentId)) throw notFound("unknown attachment");
    const row = await this.deps.store.get(attachmentId.toLowerCase());
    if (!row) throw notFound("unknown attachment");
    return row;
  }

  /** Checks what arrived; refuses (and removes) an object that is not what was declared. */
  private async inspect(row: AttachmentRow) {
    const { blobs } = this.deps;
    if (this.now().getTime() - row.createdAt.getTime() > this.deps.config.pendingSeconds * 1000) {
      throw failed("this upload has expired; start a new one");
    }
    // The size and checksum (HEAD) and the first bytes for sniffing, asked for at once.
    const [info, head] = await Promise.all([
      blobs.head(row.uploadKey),
      blobs.read(row.uploadKey, { start: 0, end: SNIFF_BYTES }).catch(() => undefined),
    ]);
    if (!info || !head) {
      uploadsFailed.inc({ reason: "missing" });
      throw failed("the file has not been uploaded yet (PUT it to the upload URL first)");
    }
    if (info.size !== row.declaredSize)
      return this.reject(row, "size", "the uploaded file does not have the declared size");
    // S3 (and the local store) verified the signed checksum on upload; a store that did not say is read.
    const sha256 = info.sha256 ?? (await hashObject(blobs, row.uploadKey));
    if (sha256 !== row.declaredSha256) {
      return this.reject(row, "checksum", "the uploaded file does not match the declared SHA-256");
    }
    const mismatch = await sniffMismatch(row.contentType, head);
    if (mismatch) return this.reject(row, "type", `the declared type does not match the file: ${mismatch}`);

    const completedAt = this.now();
    if (!IMAGE_TYPES.has(row.contentType)) {
      return {
        servedKey: row.uploadKey,
        thumbnailKey: null,
        sizeBytes: info.size,
        sha256,
        width: null,
        height: null,
        completedAt,
        originalToRemove: false,
      };
    }
    let safe: Awaited<ReturnType<typeof makeSafeImage>>;
    try {
      safe = await makeSafeImage(
        await blobs.read(row.uploadKey),
        row.contentType,
        this.deps.config.thumbnailPixels,
      );
    } catch (err) {
      this.deps.logger.info(
        { err, attachmentId: row.attachmentId },
        "an uploaded image could not be decoded",
      );
      return this.reject(row, "image", "the image could not be decoded");
    }
    const servedKey = objectKey(row.attachmentId, "safe");
    const thumbnailKey = objectKey(row.attachmentId, "thumbnail");
    await blobs.write(servedKey, safe.image, row.contentType);
    await blobs.write(thumbnailKey, safe.thumbnail, THUMBNAIL_TYPE);
    return {
      servedKey,
      thumbnailKey,
      sizeBytes: safe.image.length,
      sha256: createHash("sha256").update(safe.image).digest("hex"),
      width: safe.width,
      height: safe.height,
      completedAt,
      originalToRemove: true,
    };
  }

  private async reject(row: AttachmentRow, reason: string, message: string): Promise<never> {
    uploadsFailed.inc({ reason });
    await this.deps.blobs.delete(row.uploadKey);
    await this.deps.store.markRejected(row.attachmentId);
    throw invalidArgument(message);
  }
}

export function objectKey(attachmentId: string, part: "original" | "safe" | "thumbnail"): string {
  return `attachments/${attachmentId}/${part}`;
}

function failed(message: string): DomainError {
  return new DomainError("failed_precondition", message);
}

function checkFileName(raw: string): string {
  const name = raw.trim();
  if (!name) throw invalidArgument("file_name is required");
  if (name.length > MAX_FILE_NAME)
    throw invalidArgument(`file_name must be at most ${MAX_FILE_NAME} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  if (/[\u0000-\u001f\u007f/\\]/.test(name) || !name.isWellFormed() || name === "." || name === "..") {
    throw invalidArgument("file_name must be a plain file name (no paths or control characters)");
  }
  return name;
}

async function hashObject(blobs: BlobStore, key: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of await blobs.stream(key)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export function toAttachment(row: AttachmentRow): Attachment {
  return {
    attachmentId: row.attachmentId,
    fileName: row.fileName,
    contentType: row.contentType,
    sizeBytes: String(row.sizeBytes ?? row.declaredSize),
    sha256: row.sha256 ?? row.declaredSha256,
    hasThumbnail: Boolean(row.thumbnailKey),
    width: row.width ?? 0,
    height: row.height ?? 0,
  };
}
