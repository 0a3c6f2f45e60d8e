import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NODE_RUNTIME_FLAGS } from "./runtime-flags.js";

const REPO = join(import.meta.dirname, "..", "..");

describe("NODE_RUNTIME_FLAGS", () => {
  it("are in the image's NODE_OPTIONS", () => {
    const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");
    const nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1]?.split(/\s+/) ?? [];
    for (const flag of NODE_RUNTIME_FLAGS) expect(nodeOptions).toContain(flag);
  });

  it("are on npm start's command line", () => {
    const { scripts } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const start = scripts.start?.split(/\s+/) ?? [];
    for (const flag of NODE_RUNTIME_FLAGS) expect(start).toContain(flag);
  });
});
