import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_CATALOGUE, configTable } from "../services/config-catalogue.js";

describe("the README", () => {
  const readme = readFileSync("README.md", "utf8");

  it("documents every setting exactly as the code defines it (npm run docs:config)", () => {
    expect(readme).toContain(configTable());
  });

  it("catalogues settings with unique variable names", () => {
    const names = CONFIG_CATALOGUE.flatMap(([, spec]) => Object.values(spec.settings).map((s) => s.env));
    expect(new Set(names).size).toBe(names.length);
  });
});
