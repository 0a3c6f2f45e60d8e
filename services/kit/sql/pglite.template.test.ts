import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { infraConfig } from "../infra.js";
import { openPglite } from "./database.pglite.js";
import { DEFAULT_SHARED_BUFFERS_MB } from "./pglite.template.js";

const template = process.env.PARLEY_PGLITE_TEMPLATE;
const root = mkdtempSync(join(tmpdir(), "parley-pglite-template-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function sharedBuffers(options: Parameters<typeof openPglite>[3], name: string): Promise<string> {
  const db = await openPglite(join(root, name), "shared-buffers-test", template, options);
  try {
    const [row] = await db.query<{ shared_buffers: string }>("SHOW shared_buffers");
    return row?.shared_buffers ?? "";
  } finally {
    await db.close();
  }
}

describe("PGlite's shared buffers", () => {
  it("are Parley's small default unless told otherwise, not PostgreSQL's 128 MB", async () => {
    expect(await sharedBuffers({ thread: true }, "default")).toBe(`${DEFAULT_SHARED_BUFFERS_MB}MB`);
    expect(DEFAULT_SHARED_BUFFERS_MB).toBeLessThan(128);
  });

  it("follow the setting in the worker thread and on the event loop alike", async () => {
    expect(await sharedBuffers({ thread: true, sharedBuffersMb: 24 }, "thread")).toBe("24MB");
    expect(await sharedBuffers({ thread: false, sharedBuffersMb: 8 }, "event-loop")).toBe("8MB");
  });

  it("default to the same figure when PARLEY_PGLITE_SHARED_BUFFERS_MB is unset", () => {
    expect(infraConfig.load({}).pgliteSharedBuffersMb).toBe(DEFAULT_SHARED_BUFFERS_MB);
    expect(() => infraConfig.load({ PARLEY_PGLITE_SHARED_BUFFERS_MB: "0" })).toThrow(
      /PARLEY_PGLITE_SHARED_BUFFERS_MB/,
    );
  });
});

describe("a new data folder", () => {
  it.each([true, false])(
    "makes one template for databases opened in it at once (thread: %s)",
    async (thread) => {
      const folder = join(root, `fresh-${thread}`);
      const names = ["auth", "groups", "messages"];
      const dbs = await Promise.all(
        names.map((name) => openPglite(join(folder, name), name, undefined, { thread })),
      );
      try {
        for (const db of dbs) expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
        expect(readdirSync(folder).sort()).toEqual([".pglite-template", ...names].sort());
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    },
  );
});
