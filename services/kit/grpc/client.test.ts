import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  CryptoServiceClient,
  type CryptoServiceServer,
  CryptoServiceService,
} from "../../gen/grpc/parley/v1/crypto.js";
import { call, createClient } from "./client.js";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

describe("call() over the network", () => {
  const server = new Server();
  let address = "";

  beforeAll(async () => {
    const implementation: CryptoServiceServer = {
      encrypt: (_call, done) => done(null, { encryptedMessage: "x".repeat(1000) }),
      decrypt: (_call, done) => done(null, { message: "" }),
    };
    server.addService(CryptoServiceService, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => server.forceShutdown());

  // A scavenge keeps a finished call's HTTP/2 stream, and so grpc-js's call objects, alive until
  // the next full collection: what they reach is copied and promoted (docs/benchmarks.md, "What a
  // scavenge copies"). Here the spy keeps the call objects alive instead, through a full collection.
  it("leaves a finished call's objects holding nothing of its response", async () => {
    const client = createClient(CryptoServiceClient, address);
    const keptByGrpcJs = vi.spyOn(client, "makeUnaryRequest");
    let response: { encryptedMessage: string } | undefined = await call(client, "encrypt", { message: "a" });
    expect(response.encryptedMessage).toHaveLength(1000);
    expect(keptByGrpcJs.mock.results[0]?.value).toBeDefined();
    const collectable = new WeakRef(response);
    response = undefined;
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(collectable.deref()).toBeUndefined();
    client.close();
  });

  // grpc-js captures its caller's stack in every call (client.ts, withoutStackTraces).
  it("starts a call with no stack frames captured, and puts the limit back, also when the start throws", async () => {
    const client = createClient(CryptoServiceClient, address);
    const limits: number[] = [];
    const start = client.makeUnaryRequest.bind(client);
    const spy = vi.spyOn(client, "makeUnaryRequest").mockImplementation(((
      ...args: Parameters<typeof start>
    ) => {
      limits.push(Error.stackTraceLimit);
      return start(...args);
    }) as typeof start);
    const before = Error.stackTraceLimit;
    expect(before).toBeGreaterThan(0);
    expect((await call(client, "encrypt", { message: "a" })).encryptedMessage).toHaveLength(1000);
    expect(limits).toEqual([0]);
    expect(Error.stackTraceLimit).toBe(before);

    spy.mockImplementation(() => {
      throw new Error("refused at the start");
    });
    await expect(call(client, "encrypt", { message: "a" })).rejects.toThrow("refused at the start");
    expect(Error.stackTraceLimit).toBe(before);
    client.close();
  });
});
