import { describe, expect, it } from "vitest";
import { DependencyError, dependencyOf } from "./dependencies.js";
import { describeFailure, Readiness } from "./readiness.js";

describe("readiness", () => {
  it("is ready only when every check answers, and names each failing one with its reason", async () => {
    const readiness = new Readiness();
    readiness.register("postgres:auth", async () => {});
    readiness.register("redis", async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:56379");
    });
    readiness.register("kafka", () => new Promise(() => {}));
    const report = await readiness.report(50);
    expect(report).toEqual({
      ready: false,
      checks: {
        "postgres:auth": "ok",
        redis: "connect ECONNREFUSED 127.0.0.1:56379",
        kafka: "no answer within 50 ms",
      },
    });
    expect((await readiness.failures(50)).map(([name]) => name)).toEqual(["redis", "kafka"]);
  });

  it("is ready with no checks, and keeps the first check registered under a name", async () => {
    const readiness = new Readiness();
    expect(await readiness.report(50)).toEqual({ ready: true, checks: {} });
    readiness.register("kafka", async () => {});
    readiness.register("kafka", async () => {
      throw new Error("second");
    });
    expect(await readiness.report(50)).toEqual({ ready: true, checks: { kafka: "ok" } });
  });

  it("describes a failure in one line, without the stacks some drivers put in their messages", () => {
    const err = new Error("All host(s) tried for query failed.\n    at RequestHandler (x.js:1:1)");
    expect(describeFailure(err)).toBe("All host(s) tried for query failed.");
    expect(describeFailure(new Error("outer", { cause: new Error("inner") }))).toBe("outer (inner)");
  });
});

describe("dependency errors", () => {
  it("name the dependency and never the URL's credentials", () => {
    const err = new DependencyError("postgres:auth", "cannot open 127.0.0.1:1/parley_auth: refused");
    expect(err.message).toBe(
      "needs postgres:auth, which failed: cannot open 127.0.0.1:1/parley_auth: refused",
    );
  });

  it("find the server behind a driver's error through its causes", () => {
    class NoHostAvailableError extends Error {}
    class KafkaJSConnectionError extends Error {}
    expect(dependencyOf(new Error("start", { cause: new NoHostAvailableError("down") }))).toBe("cassandra");
    expect(dependencyOf(new KafkaJSConnectionError("refused"))).toBe("kafka");
    expect(dependencyOf(new Error("a bug"))).toBeUndefined();
  });
});
