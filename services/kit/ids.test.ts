import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { newTimeOrderedId } from "./ids.js";

/** The millisecond a UUIDv7 carries in its first 48 bits. */
const timeOf = (id: string) => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe("time-ordered ids", () => {
  it("are UUIDv7 carrying the time they were made", () => {
    const now = Date.now();
    const id = newTimeOrderedId(now + 1_000);
    expect(validate(id) && version(id)).toBe(7);
    expect(timeOf(id)).toBe(now + 1_000);
  });

  it("sort in the order they were made within one millisecond, each one new", () => {
    const now = Date.now() + 10_000;
    const ids = Array.from({ length: 5_000 }, () => newTimeOrderedId(now));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => timeOf(id) === now)).toBe(true);
  });

  it("keep sorting after the last one when the clock steps back", () => {
    const later = Date.now() + 20_000;
    const first = newTimeOrderedId(later);
    const afterStepBack = newTimeOrderedId(later - 5_000);
    expect(afterStepBack > first).toBe(true);
    expect(timeOf(afterStepBack)).toBe(later);
  });

  it("start each millisecond's counter at a random value, so ids are not guessable from the last", () => {
    const base = Date.now() + 30_000;
    const counters = Array.from({ length: 50 }, (_, i) => newTimeOrderedId(base + i).slice(14, 23));
    expect(new Set(counters).size).toBe(counters.length);
  });
});
