import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit.js";

/** A commit that records each batch it got and finishes only when the test releases it. */
function gatedCommit() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const commit = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((release) => gates.push(release));
    return items.map((n) => n * 10);
  };
  const releaseAll = () => {
    for (const release of gates.splice(0)) release();
  };
  return { batches, commit, releaseAll };
}

/** Resolves once `n` batches have started (the commit pushes synchronously as it begins). */
async function started(batches: unknown[], n: number): Promise<void> {
  while (batches.length < n) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe("group commit", () => {
  it("hands items added in one turn to one commit and answers each with its own result", async () => {
    const { batches, commit, releaseAll } = gatedCommit();
    const group = new GroupCommit(commit, { maxItems: 100, maxInFlight: 1 });
    const results = [1, 2, 3].map((n) => group.add(n));
    await started(batches, 1);
    releaseAll();
    expect(await Promise.all(results)).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it("gathers what arrives while commits are at their limit into the next one", async () => {
    const { batches, commit, releaseAll } = gatedCommit();
    const group = new GroupCommit(commit, { maxItems: 100, maxInFlight: 1 });
    const first = group.add(1);
    await started(batches, 1);
    const later = [2, 3, 4].map((n) => group.add(n));
    // Turns pass, but nothing else starts while the first commit holds the only slot.
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    releaseAll();
    await started(batches, 2);
    releaseAll();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("runs up to maxInFlight commits at once, each of at most maxItems", async () => {
    const { batches, commit, releaseAll } = gatedCommit();
    const group = new GroupCommit(commit, { maxItems: 2, maxInFlight: 2 });
    const results = [1, 2, 3, 4, 5].map((n) => group.add(n));
    await started(batches, 2);
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    releaseAll();
    await started(batches, 3);
    releaseAll();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
    expect(batches[2]).toEqual([5]);
  });

  it("fails every item of a failed commit, and later items still commit", async () => {
    let fail = true;
    const group = new GroupCommit(
      async (items: string[]) => {
        if (fail) throw new Error("database gone");
        return items.map((s) => s.toUpperCase());
      },
      { maxItems: 10, maxInFlight: 1 },
    );
    const failed = await Promise.allSettled([group.add("a"), group.add("b")]);
    expect(failed.map((r) => r.status === "rejected" && (r.reason as Error).message)).toEqual([
      "database gone",
      "database gone",
    ]);
    fail = false;
    expect(await group.add("c")).toBe("C");
  });

  it("fails a batch whose commit answers the wrong number of results", async () => {
    const group = new GroupCommit(async (items: number[]) => items.slice(1), {
      maxItems: 10,
      maxInFlight: 1,
    });
    await expect(Promise.all([group.add(1), group.add(2)])).rejects.toThrow("1 results for 2 items");
  });
});
