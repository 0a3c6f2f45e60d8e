import type { Readable } from "node:stream";

/**
 * The blob role: objects (attachments) in S3-compatible storage, or a local folder on embedded
 * defaults. Clients move the bytes themselves through presigned URLs; Parley only signs them and
 * looks at what arrived.
 */
export interface BlobStore {
  readonly kind: "s3" | "local";
  /** A URL that accepts exactly one PUT of exactly these bytes (length, type and SHA-256). */
  presignPut(key: string, spec: PutSpec, ttlSeconds: number): Promise<PresignedRequest>;
  /** A URL that GETs the object, served with the given type and disposition. */
  presignGet(key: string, spec: GetSpec, ttlSeconds: number): Promise<PresignedRequest>;
  /** Size, type and (when the store verified one) the SHA-256 of a stored object; undefined if absent. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** The object's bytes from `start` (inclusive) to `end` (exclusive), or all of them. */
  read(key: string, range?: { start: number; end: number }): Promise<Buffer>;
  /** The object as a stream (hashing large objects without holding them). */
  stream(key: string): Promise<Readable>;
  /** Writes an object Parley made itself (a thumbnail, a copy without metadata). */
  write(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Removes an object; removing one that is absent is not an error. */
  delete(key: string): Promise<void>;
  /** Throws when the store cannot be reached (readiness). */
  check(): Promise<void>;
  close(): void;
}

export interface PutSpec {
  contentLength: number;
  contentType: string;
  /** Lower-case hex. */
  sha256: string;
}

export interface GetSpec {
  contentType: string;
  /** `attachment` makes browsers save the file instead of rendering it. */
  disposition: "inline" | "attachment";
  fileName: string;
}

export interface PresignedRequest {
  /** Absolute, or relative to the gateway's URL (the local folder without a public URL). */
  url: string;
  method: "PUT" | "GET";
  /** Headers the client must send exactly (they are part of the signature). */
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface BlobInfo {
  size: number;
  contentType: string;
  /** Lower-case hex, when the store checked the bytes against it on upload. */
  sha256: string | undefined;
}

/** The header S3 reads an upload's SHA-256 from (base64); the local folder reads the same one. */
export const CHECKSUM_HEADER = "x-amz-checksum-sha256";

export const hexToBase64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");
export const base64ToHex = (b64: string) => Buffer.from(b64, "base64").toString("hex");

/** A Content-Disposition value with the file name in both the plain and the RFC 5987 form. */
export function contentDisposition(disposition: "inline" | "attachment", fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
