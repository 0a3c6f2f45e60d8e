import { describe, expect, it } from "vitest";
import { Batches } from "./batches.js";

/** A send whose calls the test completes by hand. */
function manualSend() {
  const calls: { batch: number[]; finish: (err?: Error) => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = (batch: number[]) =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      calls.push({
        batch,
        finish: (err) => {
          inFlight--;
          if (err) reject(err);
          else resolve();
        },
      });
    });
  return { calls, send, maxInFlight: () => maxInFlight };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Batches", () => {
  it("sends a lone item at once, and what arrives meanwhile together, at most maxBatch per call", async () => {
    const { calls, send, maxInFlight } = manualSend();
    const batches = new Batches(send, { maxBatch: 500, concurrency: 1 });
    void batches.add(0);
    expect(calls.map((c) => c.batch)).toEqual([[0]]);
    for (let i = 1; i <= 1200; i++) void batches.add(i);
    expect(calls).toHaveLength(1);
    for (let done = 0; done < calls.length; done++) {
      calls[done]?.finish();
      await settle();
    }
    expect(calls.map((c) => c.batch.length)).toEqual([1, 500, 500, 200]);
    expect(calls.flatMap((c) => c.batch)).toEqual(Array.from({ length: 1201 }, (_, i) => i));
    expect(maxInFlight()).toBe(1);
  });

  it("keeps at most `concurrency` sends in flight", async () => {
    const { calls, send, maxInFlight } = manualSend();
    const batches = new Batches(send, { maxBatch: 2, concurrency: 3 });
    for (let i = 0; i < 20; i++) void batches.add(i);
    expect(calls).toHaveLength(3);
    for (let done = 0; done < calls.length; done++) {
      calls[done]?.finish();
      await settle();
    }
    expect(maxInFlight()).toBe(3);
    expect(calls.flatMap((c) => c.batch).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it("rejects the items of a failed send, goes on with the next, and says when all is drained", async () => {
    const { calls, send } = manualSend();
    const batches = new Batches(send, { maxBatch: 10, concurrency: 1 });
    const first = batches.add(1);
    const second = batches.add(2);
    let drained = false;
    void batches.drained().then(() => {
      drained = true;
    });
    calls[0]?.finish(new Error("presence is down"));
    await expect(first).rejects.toThrow("presence is down");
    await settle();
    expect(drained).toBe(false);
    calls[1]?.finish();
    await expect(second).resolves.toBeUndefined();
    await settle();
    expect(drained).toBe(true);
  });
});
