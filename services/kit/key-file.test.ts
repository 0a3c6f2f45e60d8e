import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOrCreateKey } from "./key-file.js";

describe("loadOrCreateKey", () => {
  it("uses the configured key when there is one", () => {
    const key = randomBytes(32);
    expect(loadOrCreateKey(key.toString("base64"), "/nonexistent/kek").equals(key)).toBe(true);
  });

  it("generates a key once into an owner-only file and reads the same key back", () => {
    const file = join(mkdtempSync(join(tmpdir(), "key-file-")), "crypto", "kek");
    const first = loadOrCreateKey(undefined, file);
    expect(first.length).toBe(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKey(undefined, file).equals(first)).toBe(true);
  });
});
