import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/eventually.js";
import type { RateLimit, RateLimiter } from "./limiter.js";

/** One implementation of the rate-limit role. */
export interface LimiterUnderTest {
  /** A limiter; two opened with the same name are what two replicas of one service would hold. */
  open(name: string, rate: RateLimit): RateLimiter;
  /** Whether replicas count together (Redis) or each on its own (in-process). */
  sharedAcrossReplicas: boolean;
  cleanup(): Promise<void>;
}

/**
 * The contract of the rate-limit role. Names and keys are fresh per test, so a shared Redis needs
 * no cleaning between tests.
 */
export function limiterContract(name: string, setup: () => Promise<LimiterUnderTest>): void {
  describe(`rate limiter contract: ${name}`, () => {
    let subject: LimiterUnderTest;
    const fresh = () => `contract-${randomUUID()}`;
    beforeAll(async () => {
      subject = await setup();
    });
    afterAll(() => subject?.cleanup());

    it("allows `limit` hits per window, then refuses with a retry-after within the window", async () => {
      const limiter = subject.open(fresh(), { limit: 3, windowSeconds: 60 });
      for (let i = 0; i < 3; i++)
        expect(await limiter.hit("alice")).toEqual({ allowed: true, retryAfterSeconds: 0 });
      for (let i = 0; i < 2; i++) {
        const refused = await limiter.hit("alice");
        expect(refused.allowed).toBe(false);
        expect(refused.retryAfterSeconds).toBeGreaterThan(0);
        expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
      }
    });

    it("counts each key on its own", async () => {
      const limiter = subject.open(fresh(), { limit: 1, windowSeconds: 60 });
      expect((await limiter.hit("alice")).allowed).toBe(true);
      expect((await limiter.hit("alice")).allowed).toBe(false);
      expect((await limiter.hit("bob")).allowed).toBe(true);
      expect((await limiter.hit("alice:bob")).allowed).toBe(true);
    });

    it("counts limiters of different names apart", async () => {
      const logins = subject.open(fresh(), { limit: 1, windowSeconds: 60 });
      const sends = subject.open(fresh(), { limit: 1, windowSeconds: 60 });
      expect((await logins.hit("alice")).allowed).toBe(true);
      expect((await sends.hit("alice")).allowed).toBe(true);
    });

    it("allows exactly `limit` of many concurrent hits", async () => {
      const limiter = subject.open(fresh(), { limit: 5, windowSeconds: 60 });
      const results = await Promise.all(Array.from({ length: 25 }, () => limiter.hit("burst")));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
    });

    it("shares counts between replicas exactly when the implementation says it does", async () => {
      const limitName = fresh();
      const replicaA = subject.open(limitName, { limit: 2, windowSeconds: 60 });
      const replicaB = subject.open(limitName, { limit: 2, windowSeconds: 60 });
      expect((await replicaA.hit("alice")).allowed).toBe(true);
      expect((await replicaA.hit("alice")).allowed).toBe(true);
      expect((await replicaB.hit("alice")).allowed).toBe(!subject.sharedAcrossReplicas);
    });

    it("starts a new window once the old one has passed", async () => {
      const limiter = subject.open(fresh(), { limit: 2, windowSeconds: 1 });
      await limiter.hit("alice");
      await limiter.hit("alice");
      const refused = await limiter.hit("alice");
      expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
      const waited = await eventually(async () => (await limiter.hit("alice")).allowed, 3000);
      expect(waited).toBeLessThan(1500);
      // A full new window: the hit that got through was its first, one more fits.
      expect((await limiter.hit("alice")).allowed).toBe(true);
      expect((await limiter.hit("alice")).allowed).toBe(false);
    });
  });
}
