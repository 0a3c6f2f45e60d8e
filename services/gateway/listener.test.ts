import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp } from "node:net";
import { describe, expect, it } from "vitest";
import { type Handler, listen } from "./listener.js";

function http2Get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":path": path });
    let status = 0;
    let body = "";
    req.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.on("error", reject);
  });
}

const echoVersion: Handler = (req, res) => {
  res.setHeader("content-type", "text/plain");
  res.end(`${req.httpVersion} ${req.url}`);
};

describe("the gateway listener", () => {
  it("serves HTTP/1.1 and cleartext HTTP/2 on one port", async () => {
    const listener = await listen({ host: "127.0.0.1", port: 0, handler: echoVersion, idleTimeoutMs: 5_000 });
    try {
      const h1 = await fetch(`http://127.0.0.1:${listener.port}/one`, {
        method: "POST",
        body: "x".repeat(100_000),
      });
      expect(await h1.text()).toBe("1.1 /one");
      const h2 = await http2Get(listener.port, "/two");
      expect(h2).toEqual({ status: 200, body: "2.0 /two" });
    } finally {
      await listener.stop(1_000);
    }
  });

  it("lets an in-flight request finish when stopping, and refuses new connections", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const listener = await listen({
      host: "127.0.0.1",
      port: 0,
      idleTimeoutMs: 5_000,
      handler: (_req, res) => {
        arrived();
        void released.then(() => res.end("done"));
      },
    });
    const inFlight = fetch(`http://127.0.0.1:${listener.port}/slow`).then((r) => r.text());
    await requestArrived;
    const stopped = listener.stop(30_000);
    await expect(fetch(`http://127.0.0.1:${listener.port}/new`)).rejects.toThrow();
    release();
    expect(await inFlight).toBe("done");
    await stopped;
  });

  it("closes requests still running when the grace period ends", async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const listener = await listen({
      host: "127.0.0.1",
      port: 0,
      idleTimeoutMs: 5_000,
      handler: () => arrived(),
    });
    const hanging = fetch(`http://127.0.0.1:${listener.port}/forever`);
    await requestArrived;
    await listener.stop(50);
    await expect(hanging).rejects.toThrow();
  });

  it("drops a connection that sends nothing", async () => {
    const listener = await listen({ host: "127.0.0.1", port: 0, handler: echoVersion, idleTimeoutMs: 100 });
    try {
      const socket = connectTcp(listener.port, "127.0.0.1");
      await new Promise<void>((resolve, reject) => {
        socket.once("close", () => resolve());
        socket.once("error", reject);
      });
      expect(socket.destroyed).toBe(true);
    } finally {
      await listener.stop(1_000);
    }
  });
});
