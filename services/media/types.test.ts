import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { canonicalType, sniffMismatch, typeAllowed } from "./types.js";

describe("attachment types", () => {
  it("canonicalises declared types and refuses ones that are not type/subtype", () => {
    expect(canonicalType(" Image/JPG ")).toBe("image/jpeg");
    expect(canonicalType("text/plain")).toBe("text/plain");
    expect(canonicalType("text/plain; charset=utf-8")).toBeUndefined();
    expect(canonicalType("html")).toBeUndefined();
  });

  it("matches exact types and type/* families", () => {
    const allowed = ["image/*", "application/pdf"];
    expect(typeAllowed("image/png", allowed)).toBe(true);
    expect(typeAllowed("application/pdf", allowed)).toBe(true);
    expect(typeAllowed("application/x-msdownload", allowed)).toBe(false);
    expect(typeAllowed("imagex/png", allowed)).toBe(false);
  });

  it("accepts bytes of the declared type and refuses bytes of another or of none", async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "white" } })
      .png()
      .toBuffer();
    expect(await sniffMismatch("image/png", png)).toBeUndefined();
    expect(await sniffMismatch("image/jpeg", png)).toMatch(/image\/png/);
    expect(await sniffMismatch("text/plain", png)).toMatch(/image\/png/);
    expect(await sniffMismatch("image/png", Buffer.from("just text"))).toMatch(/not image\/png/);
    expect(await sniffMismatch("application/pdf", Buffer.from("just text"))).toMatch(/not application\/pdf/);
    // Text has no signature: a text type is taken at its word, and octet-stream claims nothing.
    expect(await sniffMismatch("text/html", Buffer.from("<p>hi</p>"))).toBeUndefined();
    expect(await sniffMismatch("application/octet-stream", png)).toBeUndefined();
  });
});
