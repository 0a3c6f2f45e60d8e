import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type BlobInfo,
  type BlobStore,
  CHECKSUM_HEADER,
  contentDisposition,
  type GetSpec,
  hexToBase64,
  type PresignedRequest,
  type PutSpec,
} from "./blob.js";

/** The path prefix the gateway serves the local store's URLs under. */
export const LOCAL_BLOB_PATH = "/blobs/";

const KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

/** What a signed URL allows: one operation on one key until a time, with exact properties. */
interface Grant {
  op: "PUT" | "GET";
  key: string;
  /** Expiry, epoch seconds. */
  exp: number;
  type: string;
  len?: number;
  sha?: string;
  disp?: "inline" | "attachment";
  name?: string;
}

interface Meta {
  size: number;
  contentType: string;
  sha256: string;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Attachments in a local folder (embedded defaults). Its URLs carry an HMAC-signed grant that the
 * gateway checks, with the semantics of S3's presigned URLs: they expire, a PUT must send exactly
 * the signed length, type and SHA-256 (else 403, or 400 when the bytes do not match the checksum)
 * and any change to the URL is a 403. Objects are written to a temporary file and renamed into
 * place only once complete and verified, so a refused upload leaves nothing behind.
 */
export class LocalBlobStore implements BlobStore {
  readonly kind = "local";

  constructor(
    private readonly dir: string,
    private readonly secret: Buffer,
    private readonly publicUrl = "",
  ) {}

  async presignPut(key: string, spec: PutSpec, ttlSeconds: number): Promise<PresignedRequest> {
    const exp = expiry(ttlSeconds);
    const url = this.sign({
      op: "PUT",
      key: checkKey(key),
      exp,
      type: spec.contentType,
      len: spec.contentLength,
      sha: spec.sha256,
    });
    return {
      url,
      method: "PUT",
      headers: { "content-type": spec.contentType, [CHECKSUM_HEADER]: hexToBase64(spec.sha256) },
      expiresAt: new Date(exp * 1000),
    };
  }

  async presignGet(key: string, spec: GetSpec, ttlSeconds: number): Promise<PresignedRequest> {
    const exp = expiry(ttlSeconds);
    const url = this.sign({
      op: "GET",
      key: checkKey(key),
      exp,
      type: spec.contentType,
      disp: spec.disposition,
      name: spec.fileName,
    });
    return { url, method: "GET", headers: {}, expiresAt: new Date(exp * 1000) };
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const meta = await this.meta(key);
    return meta && { size: meta.size, contentType: meta.contentType, sha256: meta.sha256 };
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Buffer> {
    if (!range) return readFile(this.objectPath(key));
    const file = await open(this.objectPath(key), "r");
    try {
      const buffer = Buffer.alloc(Math.max(0, range.end - range.start));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, range.start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async stream(key: string): Promise<Readable> {
    await stat(this.objectPath(key));
    return createReadStream(this.objectPath(key));
  }

  async write(key: string, body: Buffer, contentType: string): Promise<void> {
    const temp = await this.tempPath();
    await writeFile(temp, body);
    const sha256 = createHash("sha256").update(body).digest("hex");
    await this.commit(key, temp, { size: body.length, contentType, sha256 });
  }

  async delete(key: string): Promise<void> {
    await rm(this.metaPath(key), { force: true });
    await rm(this.objectPath(key), { force: true });
  }

  async check(): Promise<void> {
    await mkdir(join(this.dir, "objects"), { recursive: true });
  }

  close(): void {}

  /** Serves a signed URL (the gateway's /blobs/ route). */
  async serve(req: Request, res: Response): Promise<void> {
    try {
      const token = (req.url ?? "").split("?")[0]?.slice(LOCAL_BLOB_PATH.length) ?? "";
      const grant = this.verify(token);
      if (!grant || grant.op !== req.method || grant.exp < Date.now() / 1000) {
        return refuse(req, res, 403, "access_denied", "the URL is not valid or has expired");
      }
      if (grant.op === "PUT") await this.receive(req, res, grant);
      else await this.send(res, grant);
    } catch (err) {
      if (!res.headersSent) refuse(req, res, 500, "internal", "internal error");
      else res.end();
      throw err;
    }
  }

  private async receive(req: Request, res: Response, grant: Grant): Promise<void> {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (
      header("content-type") !== grant.type ||
      header("content-length") !== String(grant.len) ||
      header(CHECKSUM_HEADER) !== hexToBase64(grant.sha ?? "")
    ) {
      return refuse(req, res, 403, "signature_mismatch", "the request does not match the signed URL");
    }
    const temp = await this.tempPath();
    const hash = createHash("sha256");
    let size = 0;
    const limit = grant.len ?? 0;
    try {
      await pipeline(
        req,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > limit) throw new Error("body longer than signed");
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(temp),
      );
    } catch {
      await rm(temp, { force: true });
      return refuse(req, res, 400, "incomplete_body", "the body does not have the signed length");
    }
    const sha256 = hash.digest("hex");
    if (size !== limit || sha256 !== grant.sha) {
      await rm(temp, { force: true });
      return refuse(req, res, 400, "bad_digest", "the body does not match the signed length and SHA-256");
    }
    await this.commit(grant.key, temp, { size, contentType: grant.type, sha256 });
    res.statusCode = 200;
    res.end();
  }

  private async send(res: Response, grant: Grant): Promise<void> {
    const meta = await this.meta(grant.key);
    if (!meta) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader("content-type", grant.type);
    res.setHeader("content-length", meta.size);
    res.setHeader(
      "content-disposition",
      contentDisposition(grant.disp ?? "attachment", grant.name ?? "file"),
    );
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("cache-control", "private, max-age=60");
    await pipeline(createReadStream(this.objectPath(grant.key)), res as NodeJS.WritableStream);
  }

  private sign(grant: Grant): string {
    const payload = Buffer.from(JSON.stringify(grant)).toString("base64url");
    return `${this.publicUrl}${LOCAL_BLOB_PATH}${payload}.${this.mac(payload)}`;
  }

  private verify(token: string): Grant | undefined {
    const [payload, mac, extra] = token.split(".");
    if (!payload || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const grant = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Grant;
      return KEY.test(grant.key) ? grant : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(payload: string): string {
    return createHmac("sha256", this.secret).update(`parley-blob-v1.${payload}`).digest("base64url");
  }

  private async meta(key: string): Promise<Meta | undefined> {
    try {
      return JSON.parse(await readFile(this.metaPath(key), "utf8")) as Meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** The object first, its metadata last: an object without metadata does not exist yet. */
  private async commit(key: string, temp: string, meta: Meta): Promise<void> {
    await mkdir(dirname(this.objectPath(key)), { recursive: true });
    await mkdir(dirname(this.metaPath(key)), { recursive: true });
    await rename(temp, this.objectPath(key));
    const metaTemp = await this.tempPath();
    await writeFile(metaTemp, JSON.stringify(meta));
    await rename(metaTemp, this.metaPath(key));
  }

  private async tempPath(): Promise<string> {
    const dir = join(this.dir, "tmp");
    await mkdir(dir, { recursive: true });
    return join(dir, randomBytes(12).toString("hex"));
  }

  private objectPath(key: string): string {
    return join(this.dir, "objects", checkKey(key));
  }

  private metaPath(key: string): string {
    return join(this.dir, "meta", `${checkKey(key)}.json`);
  }
}

function checkKey(key: string): string {
  if (!KEY.test(key) || key.split("/").some((part) => part === "." || part === "..")) {
    throw new Error(`not a valid object key: ${key}`);
  }
  return key;
}

function expiry(ttlSeconds: number): number {
  return Math.floor(Date.now() / 1000) + ttlSeconds;
}

function refuse(req: Request, res: Response, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(body));
  // A refused upload may still be sending its body: close an HTTP/1.1 connection, do not drain it.
  if (req.method === "PUT" && req.httpVersionMajor === 1) res.setHeader("connection", "close");
  res.end(body);
}
