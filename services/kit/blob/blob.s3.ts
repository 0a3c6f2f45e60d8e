import type { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type ServerSideEncryption,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { storeDuration } from "../metrics.js";
import type { S3Connection } from "./blob.config.js";
import {
  type BlobInfo,
  type BlobStore,
  base64ToHex,
  CHECKSUM_HEADER,
  contentDisposition,
  type GetSpec,
  hexToBase64,
  type PresignedRequest,
  type PutSpec,
} from "./blob.js";

export interface S3BlobOptions {
  connection: S3Connection;
  bucket: string;
  serverSideEncryption: "none" | "AES256" | "aws:kms";
}

const SSE_HEADER = "x-amz-server-side-encryption";

/**
 * Attachments in S3-compatible storage. A presigned PUT signs Content-Length, Content-Type and
 * x-amz-checksum-sha256 as headers (never hoisted into the query), so the store itself refuses
 * another length or type (403) and bytes that do not match the checksum (400 BadDigest).
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  private readonly client: S3Client;
  private readonly sse: ServerSideEncryption | undefined;

  private constructor(private readonly options: S3BlobOptions) {
    this.client = new S3Client({
      ...options.connection,
      // Presigned URLs must not carry a checksum of an empty body the SDK would add by default.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 3,
    });
    this.sse = options.serverSideEncryption === "none" ? undefined : options.serverSideEncryption;
  }

  /** Opens the store; with `createBucket`, makes the bucket when it is missing. */
  static async open(options: S3BlobOptions & { createBucket?: boolean }): Promise<S3BlobStore> {
    const store = new S3BlobStore(options);
    if (options.createBucket) {
      try {
        await store.client.send(new HeadBucketCommand({ Bucket: options.bucket }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await store.client.send(new CreateBucketCommand({ Bucket: options.bucket })).catch((e: unknown) => {
          // Two processes creating it at once: the loser finds it made.
          if (!(e instanceof S3ServiceException && e.name === "BucketAlreadyOwnedByYou")) throw e;
        });
      }
    }
    return store;
  }

  async presignPut(key: string, spec: PutSpec, ttlSeconds: number): Promise<PresignedRequest> {
    const checksum = hexToBase64(spec.sha256);
    const url = await getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        ContentType: spec.contentType,
        ContentLength: spec.contentLength,
        ChecksumSHA256: checksum,
        ServerSideEncryption: this.sse,
      }),
      {
        expiresIn: ttlSeconds,
        signableHeaders: new Set(["content-type", "content-length"]),
        unhoistableHeaders: new Set([CHECKSUM_HEADER, SSE_HEADER]),
      },
    );
    const headers: Record<string, string> = {
      "content-type": spec.contentType,
      [CHECKSUM_HEADER]: checksum,
    };
    if (this.sse) headers[SSE_HEADER] = this.sse;
    return { url, method: "PUT", headers, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
  }

  async presignGet(key: string, spec: GetSpec, ttlSeconds: number): Promise<PresignedRequest> {
    const url = await getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        ResponseContentType: spec.contentType,
        ResponseContentDisposition: contentDisposition(spec.disposition, spec.fileName),
      }),
      { expiresIn: ttlSeconds },
    );
    return { url, method: "GET", headers: {}, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
  }

  head(key: string): Promise<BlobInfo | undefined> {
    return timed("head", async () => {
      try {
        const head = await this.client.send(
          new HeadObjectCommand({ Bucket: this.options.bucket, Key: key, ChecksumMode: "ENABLED" }),
        );
        return {
          size: head.ContentLength ?? 0,
          contentType: head.ContentType ?? "",
          sha256: head.ChecksumSHA256 ? base64ToHex(head.ChecksumSHA256) : undefined,
        };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  read(key: string, range?: { start: number; end: number }): Promise<Buffer> {
    return timed("read", async () => {
      if (range && range.end <= range.start) return Buffer.alloc(0);
      const object = await this.client.send(
        new GetObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
        }),
      );
      return Buffer.from(
        await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    });
  }

  async stream(key: string): Promise<Readable> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    return object.Body as Readable;
  }

  write(key: string, body: Buffer, contentType: string): Promise<void> {
    return timed("write", async () => {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ServerSideEncryption: this.sse,
        }),
      );
    });
  }

  delete(key: string): Promise<void> {
    return timed("delete", async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }));
    });
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
  }

  close(): void {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.name === "NotFound" || err.name === "NoSuchKey" || err.$metadata.httpStatusCode === 404;
}

function timed<T>(operation: string, run: () => Promise<T>): Promise<T> {
  const end = storeDuration.startTimer({ store: "s3", operation });
  return run().finally(() => end());
}
