import { describe, expect, it } from "vitest";
import { runModuleScript } from "./kit/testing/module-script.js";
import { resolveTargets, TARGET_NAMES } from "./targets.js";

/**
 * Loads the launcher's app and `resolveTargets(value)` in a fresh process, as services/main.ts
 * does; answers the order and every module URL it loaded.
 */
async function loadedBy(value: string): Promise<{ order: string[]; urls: string[] }> {
  const script = `
    import { registerHooks } from "node:module";
    const urls = new Set();
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r; } });
    await import("./services/app.ts");
    const { resolveTargets } = await import("./services/targets.ts");
    const modules = await resolveTargets(${JSON.stringify(value)});
    console.log(JSON.stringify({ order: [...modules.keys()], urls: [...urls] }));
  `;
  const { code, stdout } = await runModuleScript(script);
  expect(code).toBe(0);
  return JSON.parse(stdout);
}

describe("targets", () => {
  it("loads only the modules of the targets a process runs, callees first", async () => {
    const { order, urls } = await loadedBy("delivery,presence");
    expect(order).toEqual(["presence", "delivery"]);
    const loaded = (path: string) => urls.some((url) => url.includes(path));
    expect(loaded("/services/presence/index.")).toBe(true);
    expect(loaded("/services/delivery/index.")).toBe(true);
    for (const other of ["media", "messages", "auth", "gateway"]) {
      expect(loaded(`/services/${other}/index.`), other).toBe(false);
    }
    expect(loaded("@aws-sdk/client-s3"), "S3 SDK").toBe(false);
    expect(loaded("cassandra-driver"), "CQL driver").toBe(false);
  });

  it("gives a gateway none of the drivers and SDKs it does not use", async () => {
    const { urls } = await loadedBy("gateway");
    const loaded = (pkg: string) => urls.some((url) => url.includes(`/node_modules/${pkg}/`));
    expect(loaded("@connectrpc/connect-node"), "its own server").toBe(true);
    // Each of these is 7-40 MiB of RSS, in every gateway pod holding streams.
    for (const pkg of ["kafkajs", "pg", "@electric-sql/pglite", "@aws-sdk/client-s3", "cassandra-driver"]) {
      expect(loaded(pkg), pkg).toBe(false);
    }
    // With no OTLP endpoint configured, tracing starts nothing; the SDK loads only to export.
    expect(loaded("@opentelemetry/sdk-node"), "OpenTelemetry SDK").toBe(false);
  });

  it("runs every target for all, and refuses an empty or unknown one", async () => {
    expect([...(await resolveTargets("all")).keys()].sort()).toEqual([...TARGET_NAMES].sort());
    await expect(resolveTargets(" , ")).rejects.toThrow("--target is empty");
    await expect(resolveTargets("gateway,chat")).rejects.toThrow('unknown target "chat"');
  });
});
