import { describe, expect, it } from "vitest";
import { DomainError } from "../kit/errors.js";
import { type DataKeys, Envelope } from "./envelope.js";
import { testDataKeys } from "./fixtures.js";
import { newMessageId } from "./records.js";

describe("message content sealing", () => {
  const sealFresh = async (envelope: Envelope, content = "hello, Bob") => {
    const messageId = newMessageId();
    const sealed = await envelope.seal(messageId, "d:a:b", content);
    return { messageId, conversationId: "d:a:b", ...sealed };
  };

  it("opens what it sealed, and the sealed bytes do not hold the plaintext", async () => {
    const envelope = new Envelope(testDataKeys(), { cacheMs: 60_000 });
    const record = await sealFresh(envelope, "héllo, Bob 👋");
    expect(record.ciphertext.includes(Buffer.from("Bob"))).toBe(false);
    expect(await envelope.open(record)).toBe("héllo, Bob 👋");
  });

  it("opens a record in another process (another envelope) through the wrapped key", async () => {
    const keys = testDataKeys();
    const record = await sealFresh(new Envelope(keys, { cacheMs: 60_000 }));
    const reader = new Envelope(keys, { cacheMs: 60_000 });
    expect(await reader.open(record)).toBe("hello, Bob");
    await reader.open(record);
    expect(keys.calls.unwrap).toBe(1);
  });

  it("detects tampering with the content, the nonce, the message id or the conversation", async () => {
    const envelope = new Envelope(testDataKeys(), { cacheMs: 60_000 });
    const record = await sealFresh(envelope);
    const flipped = Buffer.from(record.ciphertext);
    flipped[0] = (flipped[0] as number) ^ 1;
    await expect(envelope.open({ ...record, ciphertext: flipped })).rejects.toThrow(/could not be decrypted/);
    await expect(envelope.open({ ...record, nonce: Buffer.alloc(12) })).rejects.toThrow(
      /could not be decrypted/,
    );
    await expect(envelope.open({ ...record, messageId: newMessageId() })).rejects.toThrow(
      /could not be decrypted/,
    );
    // Another conversation's id: its key does not even unwrap for it.
    await expect(envelope.open({ ...record, conversationId: "d:a:c" })).rejects.toThrow(
      /could not be decrypted/,
    );
  });

  it("asks crypto for one data key per conversation while the cache holds it, and again after", async () => {
    let now = 1_000;
    const keys = testDataKeys();
    const envelope = new Envelope(keys, { cacheMs: 5_000, now: () => now });
    await Promise.all([sealFresh(envelope), sealFresh(envelope), sealFresh(envelope)]);
    expect(keys.calls.generate).toBe(1);
    now += 5_001;
    const later = await sealFresh(envelope);
    expect(keys.calls.generate).toBe(2);
    expect(await envelope.open(later)).toBe("hello, Bob");
    expect(keys.calls.unwrap).toBe(0);
  });

  it("does not keep a failed data-key request", async () => {
    const keys = testDataKeys();
    let fail = true;
    const envelope = new Envelope(
      {
        generate: (context) => (fail ? Promise.reject(new Error("crypto down")) : keys.generate(context)),
        unwrap: keys.unwrap,
      },
      { cacheMs: 60_000 },
    );
    await expect(sealFresh(envelope)).rejects.toThrow(/crypto down/);
    fail = false;
    expect(await envelope.open(await sealFresh(envelope))).toBe("hello, Bob");
  });

  it("opens a page of records in order, unwrapping each conversation's key once", async () => {
    const keys = testDataKeys();
    const writer = new Envelope(keys, { cacheMs: 60_000 });
    const seal = async (conversationId: string, content: string) => {
      const messageId = newMessageId();
      return { messageId, conversationId, ...(await writer.seal(messageId, conversationId, content)) };
    };
    // Interleaved, as a list of one's direct messages across conversations comes.
    const page = [
      await seal("d:a:b", "one"),
      await seal("d:a:b", "two"),
      await seal("d:a:c", "three"),
      await seal("d:a:b", "four"),
      await seal("d:a:c", "five"),
    ];
    const reader = new Envelope(keys, { cacheMs: 60_000 });
    expect(await reader.openAll(page)).toEqual(["one", "two", "three", "four", "five"]);
    expect(keys.calls.unwrap).toBe(2);
    expect(await reader.openAll([])).toEqual([]);
    expect(keys.calls.unwrap).toBe(2);
  });

  it("fails a page with a tampered record as open() fails it", async () => {
    const envelope = new Envelope(testDataKeys(), { cacheMs: 60_000 });
    const good = await sealFresh(envelope, "fine");
    const bad = await sealFresh(envelope, "altered");
    const flipped = Buffer.from(bad.ciphertext);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(await envelope.openAll([good])).toEqual(["fine"]);
    await expect(envelope.openAll([good, { ...bad, ciphertext: flipped }])).rejects.toThrow(
      /could not be decrypted/,
    );
  });

  it("asks crypto once for a key that many records want at once, and again after a failure", async () => {
    const keys = testDataKeys();
    const writer = new Envelope(keys, { cacheMs: 60_000 });
    const records = await Promise.all(["a", "b", "c", "d", "e"].map((text) => sealFresh(writer, text)));
    let failNext = true;
    const flaky: DataKeys = {
      generate: (context) => keys.generate(context),
      async unwrap(wrappedKey, context) {
        if (failNext) {
          failNext = false;
          keys.calls.unwrap++;
          throw new DomainError("unavailable", "crypto is down");
        }
        return keys.unwrap(wrappedKey, context);
      },
    };
    const reader = new Envelope(flaky, { cacheMs: 60_000 });
    const failed = await Promise.allSettled(records.map((r) => reader.open(r)));
    expect(failed.map((r) => r.status)).toEqual(Array(5).fill("rejected"));
    expect(keys.calls.unwrap).toBe(1);
    expect(await Promise.all(records.map((r) => reader.open(r)))).toEqual(["a", "b", "c", "d", "e"]);
    expect(keys.calls.unwrap).toBe(2);
  });
});
