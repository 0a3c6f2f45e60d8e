import { readFileSync } from "node:fs";
import type { RestRoute } from "./route.js";

/** The newcomer's web app (web/): plain files, read once at start, served from the gateway's port. */
const WEB_DIR = new URL("../../../web/", import.meta.url);

const FILES: { path: string; file: string; type: string }[] = [
  { path: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { path: "/app.js", file: "app.js", type: "text/javascript; charset=utf-8" },
  { path: "/app.css", file: "app.css", type: "text/css; charset=utf-8" },
];

// Only the app's own scripts, styles and API: no inline code, nothing from elsewhere.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function webAppRoutes(): RestRoute[] {
  return FILES.map(({ path, file, type }) => {
    const body = readFileSync(new URL(file, WEB_DIR));
    return {
      method: "GET",
      path,
      auth: false,
      async handle(req) {
        const { res } = req.http;
        res.statusCode = 200;
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
        res.setHeader("content-type", type);
        res.setHeader("content-length", body.length);
        res.end(body);
        return undefined;
      },
    } satisfies RestRoute;
  });
}
