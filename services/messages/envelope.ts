import { KEY_BYTES, open, seal } from "../kit/aead.js";
import { DomainError } from "../kit/errors.js";

/** What messages needs of the crypto service: data keys, wrapped by a KEK it never sees. */
export interface DataKeys {
  generate(context: string): Promise<{ plaintextKey: Buffer; wrappedKey: Buffer }>;
  unwrap(wrappedKey: Buffer, context: string): Promise<Buffer>;
}

export interface SealedContent {
  ciphertext: Buffer;
  nonce: Buffer;
  wrappedKey: Buffer;
}

/** A stored message's sealed content with what its AAD and key are bound to. */
export type SealedRecord = { messageId: string; conversationId: string } & SealedContent;

export interface EnvelopeOptions {
  /** How long an unwrapped data key may stay in memory. */
  cacheMs: number;
  now?: () => number;
  maxCachedKeys?: number;
}

interface CurrentKey {
  key: Promise<{ plaintextKey: Buffer; wrappedKey: Buffer }>;
  expiresAt: number;
}

/**
 * Encryption at rest of message content: one data key per conversation, wrapped by crypto's
 * KEK and carried (wrapped) in every record so any process can read any record. Unwrapped keys
 * are cached for a while, because a round trip to crypto per message would dominate a send.
 */
export class Envelope {
  /** The key new messages of a conversation are sealed with, by conversation id. */
  private readonly current = new Map<string, CurrentKey>();
  /** Unwrapped keys by (conversation, wrapped key): cacheKey(). */
  private readonly unwrapped = new Map<string, { key: Buffer; expiresAt: number }>();
  /** Unwraps asked of crypto and not answered yet, by the same key as `unwrapped`. */
  private readonly unwrapping = new Map<string, Promise<Buffer>>();
  private readonly now: () => number;
  private readonly maxCachedKeys: number;

  constructor(
    private readonly dataKeys: DataKeys,
    private readonly options: EnvelopeOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxCachedKeys = options.maxCachedKeys ?? 10_000;
  }

  async seal(messageId: string, conversationId: string, content: string): Promise<SealedContent> {
    const { plaintextKey, wrappedKey } = await this.currentKey(conversationId);
    const { nonce, sealed } = seal(
      plaintextKey,
      Buffer.from(content, "utf8"),
      aad(messageId, conversationId),
    );
    return { ciphertext: sealed, nonce, wrappedKey };
  }

  /** The plaintext; throws when the record was tampered with or its key does not unwrap. */
  async open(record: SealedRecord): Promise<string> {
    return decrypt(await this.unwrap(record.wrappedKey, record.conversationId), record);
  }

  /**
   * The plaintexts of a page of records, in order; throws as open() does. A page's records mostly
   * share their conversation's data key, so each run of records under one key looks it up once,
   * then all are opened in one synchronous pass: open() per record cost a cache-key string, a
   * promise and an async frame each.
   */
  async openAll(records: readonly SealedRecord[]): Promise<string[]> {
    const runKeys: Promise<Buffer>[] = [];
    const runOf: number[] = [];
    let previous: SealedRecord | undefined;
    for (const record of records) {
      if (!previous || !sameKey(previous, record)) {
        runKeys.push(this.unwrap(record.wrappedKey, record.conversationId));
        previous = record;
      }
      runOf.push(runKeys.length - 1);
    }
    const keys = await Promise.all(runKeys);
    return records.map((record, i) => decrypt(keys[runOf[i] as number] as Buffer, record));
  }

  private currentKey(conversationId: string) {
    const now = this.now();
    const cached = this.current.get(conversationId);
    if (cached && cached.expiresAt > now) return cached.key;
    const key = this.dataKeys.generate(conversationId).then((generated) => {
      if (generated.plaintextKey.length !== KEY_BYTES) throw new Error("data key has the wrong length");
      this.remember(cacheKey(generated.wrappedKey, conversationId), generated.plaintextKey);
      return generated;
    });
    // Concurrent first sends share one generation; a failed one is not kept.
    this.evictIfFull(this.current);
    this.current.set(conversationId, { key, expiresAt: now + this.options.cacheMs });
    key.catch(() => {
      if (this.current.get(conversationId)?.key === key) this.current.delete(conversationId);
    });
    return key;
  }

  private unwrap(wrappedKey: Buffer, conversationId: string): Promise<Buffer> {
    const id = cacheKey(wrappedKey, conversationId);
    const cached = this.unwrapped.get(id);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.key);
    // Records opened together (a page, a resume's replay) mostly share a key: one request for it.
    let pending = this.unwrapping.get(id);
    if (!pending) {
      pending = this.unwrapFromCrypto(id, wrappedKey, conversationId).finally(() =>
        this.unwrapping.delete(id),
      );
      this.unwrapping.set(id, pending);
    }
    return pending;
  }

  private async unwrapFromCrypto(id: string, wrappedKey: Buffer, conversationId: string): Promise<Buffer> {
    let key: Buffer;
    try {
      key = await this.dataKeys.unwrap(wrappedKey, conversationId);
    } catch (err) {
      if (err instanceof DomainError && err.code === "unavailable") throw err;
      throw new DomainError("internal", "a stored message could not be decrypted", { cause: err });
    }
    this.remember(id, key);
    return key;
  }

  private remember(id: string, key: Buffer): void {
    this.evictIfFull(this.unwrapped);
    this.unwrapped.set(id, { key, expiresAt: this.now() + this.options.cacheMs });
  }

  private evictIfFull(map: Map<string, unknown>): void {
    if (map.size < this.maxCachedKeys) return;
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function decrypt(key: Buffer, record: SealedRecord): string {
  try {
    return open(key, record.nonce, record.ciphertext, aad(record.messageId, record.conversationId)).toString(
      "utf8",
    );
  } catch (err) {
    throw new DomainError("internal", "a stored message could not be decrypted", { cause: err });
  }
}

function sameKey(a: SealedRecord, b: SealedRecord): boolean {
  return a.conversationId === b.conversationId && a.wrappedKey.equals(b.wrappedKey);
}

function aad(messageId: string, conversationId: string): Buffer {
  return Buffer.from(`${messageId}|${conversationId}`);
}

// A key is only ever used for the conversation it was wrapped for. Looked up once per message
// read, so no hash: a SHA-256 here was ~4 % of the messages service's CPU per history page, and
// each hash a native object for the next scavenge to finalise (docs/benchmarks.md, "What a
// scavenge copies"). Wrapped keys are not secret (they are stored beside every message).
function cacheKey(wrappedKey: Buffer, conversationId: string): string {
  return `${conversationId}\0${wrappedKey.toString("base64")}`;
}
