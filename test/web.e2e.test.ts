import { readFileSync } from "node:fs";
import { Script } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestParley, type TestParley } from "./harness.js";

/** The newcomer's web app: served from the gateway's one port, locked down, and calling only real routes. */
let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley();
}, 180_000);

afterAll(async () => {
  await parley?.cleanup();
});

const appSource = readFileSync(new URL("../web/app.js", import.meta.url), "utf8");

describe("web app", () => {
  it("serves the page, its script and its styles with a strict content security policy", async () => {
    const page = await fetch(`${parley.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/app.js">');
    expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script: the CSP would refuse it

    for (const [path, type] of [
      ["/app.js", /^text\/javascript/],
      ["/app.css", /^text\/css/],
    ] as const) {
      const res = await fetch(`${parley.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(type);
    }
  });

  it("ships a script that parses", () => {
    expect(() => new Script(appSource, { filename: "app.js" })).not.toThrow();
  });

  it("calls only routes the gateway has", async () => {
    const calls = [...appSource.matchAll(/api\("(GET|POST|PUT|DELETE)", [`"]([^`"?$]+)/g)].map((m) => ({
      method: m[1] as string,
      path: m[2] as string,
    }));
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(
      expect.arrayContaining(["POST /auth/login", "POST /chat/send", "POST /v1/events/ticket"]),
    );
    for (const { method, path } of calls) {
      const res = await fetch(`${parley.url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: method === "GET" ? undefined : "{}",
      });
      // Unauthenticated or invalid, but never "no such route" or "method not allowed".
      expect([404, 405], `${method} ${path}`).not.toContain(res.status);
    }
    const stream = await fetch(`${parley.url}/v1/events?ticket=not-a-ticket`);
    expect(stream.status).toBe(401);
  });
});
