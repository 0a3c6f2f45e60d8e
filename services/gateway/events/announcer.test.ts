import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { PresenceAnnouncer } from "./announcer.js";

/** A delivery whose PublishPresence calls the test completes by hand, and a logger that keeps lines. */
function setup(concurrency: number, offlineGraceMs = 0, online = new Set<string>()) {
  const calls: { user: string; online: boolean; finish: (err?: Error) => void }[] = [];
  const sending = new Set<string>();
  let overlap = false;
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const announcer = new PresenceAnnouncer({
    logger,
    concurrency,
    offlineGraceMs,
    stillOffline: async (userIds) => userIds.filter((u) => !online.has(u)),
    publish: (user, online) =>
      new Promise<void>((resolve, reject) => {
        if (sending.has(user)) overlap = true;
        sending.add(user);
        calls.push({
          user,
          online,
          finish: (err) => {
            sending.delete(user);
            if (err) reject(err);
            else resolve();
          },
        });
      }),
  });
  const finishAll = async (err?: Error) => {
    for (let i = 0; i < calls.length; i++) {
      calls[i]?.finish(err);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { announcer, calls, lines, finishAll, overlap: () => overlap };
}

const users = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
const described = (calls: { user: string; online: boolean }[]) =>
  calls.map((c) => `${c.user}:${c.online ? "online" : "offline"}`);

describe("PresenceAnnouncer", () => {
  it("announces every user once, with at most `concurrency` calls in flight", async () => {
    const { announcer, calls, finishAll } = setup(4);
    announcer.announce(users(100), false);
    expect(calls).toHaveLength(4);
    await finishAll();
    expect(described(calls)).toEqual(users(100).map((u) => `${u}:offline`));
  });

  it("drops a change undone before it was sent, and never has two calls in flight for one user", async () => {
    const { announcer, calls, finishAll, overlap } = setup(1);
    announcer.announce(["busy"], false); // in flight at once
    announcer.announce(["a", "b"], false); // waiting
    announcer.announce(["a"], true); // a came back before its offline was sent: nothing to tell
    announcer.announce(["busy"], true); // a real change after the one in flight: waits for it
    await finishAll();
    expect(described(calls)).toEqual(["busy:offline", "b:offline", "busy:online"]);
    expect(overlap()).toBe(false);
  });

  it("logs the failures of 10 s as one line with the count", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const { announcer, lines, finishAll } = setup(4);
      announcer.announce(users(50), false);
      await finishAll(new Error("delivery is gone"));
      expect(lines).toHaveLength(0);
      vi.advanceTimersByTime(10_000);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ msg: "publishing presence failed", users: 50, failedCalls: 50 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("on stop, gives what it took a grace to go out and reports what was not as one line", async () => {
    const { announcer, calls, lines } = setup(2);
    announcer.announce(users(30), false);
    calls[0]?.finish(new Error("delivery is gone"));
    await announcer.stop(50);
    announcer.announce(["late"], true);
    expect(calls.map((c) => c.user)).not.toContain("late");
    expect(lines).toHaveLength(1);
    // One failed; the other in flight and the 28 waiting were dropped at the end of the grace.
    expect(lines[0]).toMatchObject({ msg: "publishing presence failed", users: 1, dropped: 29 });
  });

  it("announces a user offline only once the grace has passed without them coming back anywhere", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      // "moved" went offline here but presence has a stream of theirs on another gateway.
      const { announcer, calls, finishAll } = setup(4, 5_000, new Set(["moved"]));
      announcer.announce(["left", "flapped", "moved", "later"], false);
      vi.advanceTimersByTime(2_000);
      announcer.announce(["flapped"], true); // back within the grace: nobody hears of it
      announcer.announce(["newcomer"], true); // coming online is told at once
      expect(described(calls)).toEqual(["newcomer:online"]);
      vi.advanceTimersByTime(2_999);
      expect(described(calls)).toEqual(["newcomer:online"]);
      vi.advanceTimersByTime(1);
      await new Promise((resolve) => setImmediate(resolve)); // presence answers
      await finishAll();
      expect(described(calls)).toEqual(["newcomer:online", "left:offline", "later:offline"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("on stop, sends the offline changes still in their grace at once", async () => {
    const { announcer, calls } = setup(4, 60_000);
    announcer.announce(["a", "b"], false);
    expect(calls).toHaveLength(0);
    const stopped = announcer.stop(1_000);
    expect(described(calls)).toEqual(["a:offline", "b:offline"]);
    for (const call of calls) call.finish();
    await stopped;
  });
});
