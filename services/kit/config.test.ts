import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, defineConfig, flag, list, port } from "./config.js";
import { processConfig } from "./process-config.js";

describe("defineConfig", () => {
  const spec = defineConfig({
    port: { env: "T_PORT", schema: port().default(8080), help: "" },
    name: { env: "T_NAME", schema: z.string().min(2), help: "" },
    verbose: { env: "T_VERBOSE", schema: flag().default(false), help: "" },
    origins: { env: "T_ORIGINS", schema: list().default([]), help: "" },
  });

  it("applies defaults and coerces types", () => {
    expect(spec.load({ T_NAME: "ok", T_VERBOSE: "true", T_ORIGINS: "a, b,," })).toEqual({
      port: 8080,
      name: "ok",
      verbose: true,
      origins: ["a", "b"],
    });
  });

  it("lists every bad variable at once, by name", () => {
    try {
      spec.load({ T_PORT: "99999", T_VERBOSE: "maybe" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.map((p) => p.split(":")[0]);
      expect(problems).toEqual(["T_PORT", "T_NAME", "T_VERBOSE"]);
    }
  });
});

describe("processConfig", () => {
  it("has the documented defaults", () => {
    const config = processConfig.load({});
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe("./data");
    expect(config.adminPort).toBe(9464);
  });
});
