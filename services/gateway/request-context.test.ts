import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddressOf } from "./request-context.js";

function request(headers: Record<string, string>, remoteAddress = "10.0.0.9"): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe("clientAddressOf", () => {
  it("uses the socket's peer and ignores X-Forwarded-For unless the proxy is trusted", () => {
    expect(clientAddressOf(request({ "x-forwarded-for": "203.0.113.7" }), false)).toBe("10.0.0.9");
  });

  it("takes the first X-Forwarded-For hop behind a trusted proxy", () => {
    const req = request({ "x-forwarded-for": " 203.0.113.7 , 10.1.1.1" });
    expect(clientAddressOf(req, true)).toBe("203.0.113.7");
  });

  it("falls back to the socket's peer when a trusted proxy sent no X-Forwarded-For", () => {
    expect(clientAddressOf(request({}), true)).toBe("10.0.0.9");
  });
});
