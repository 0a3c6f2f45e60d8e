import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = join(import.meta.dirname, "..");

/** The run's Cassandra, as deps/cassandra.sh started it (test/global-setup.ts brings it up). */
describe("the Cassandra that deps/cassandra.sh starts", () => {
  it("runs every thread with the script's timer slack (its request workers' waits are coarse)", () => {
    const pid = readFileSync(join(REPO, ".deps", "cassandra", "pid"), "utf8").trim();
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain("CassandraDaemon");
    const slacks = new Set(
      readdirSync(`/proc/${pid}/task`).map((tid) =>
        readFileSync(`/proc/${tid}/timerslack_ns`, "utf8").trim(),
      ),
    );
    expect([...slacks]).toEqual([process.env.PARLEY_DEPS_CASSANDRA_TIMER_SLACK_NS ?? "500000"]);
  });
});
