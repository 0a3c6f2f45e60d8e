import { credentials, Metadata, status } from "@grpc/grpc-js";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  CryptoServiceClient,
  CryptoServiceService,
  type EncryptRequest,
} from "../../gen/grpc/parley/v1/crypto.js";
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenVerifier } from "../auth-verifier.js";
import { DomainError } from "../errors.js";
import { createLogger } from "../logger.js";
import { rpcDuration } from "../metrics.js";
import { call, createClient } from "./client.js";
import { type InProcessMethod, MAX_MESSAGE_BYTES, registerInProcess } from "./in-process.js";
import { type RunningGrpcServer, startGrpcServer } from "./server.js";

/** Nothing listens on port 1 of loopback: a call that reaches it over the network is refused. */
const NOBODY_LISTENS = "127.0.0.1:1";

const encryptPath = CryptoServiceService.encrypt.path;

/** Encrypt answers with what the handler saw; "hang" never answers, "busy" fails with a retry hint. */
async function encrypt(request: EncryptRequest, metadata: Metadata): Promise<unknown> {
  if (request.message === "hang") return new Promise(() => {});
  if (request.message === "unwritable") return null;
  if (request.message === "busy")
    throw { code: status.RESOURCE_EXHAUSTED, details: "busy", metadata: retryAfter(metadata) };
  return { encryptedMessage: `${request.message}|${metadata.get("x-test")[0] ?? ""}` };
}

function retryAfter(metadata: Metadata): Metadata {
  const out = metadata.clone();
  out.set("retry-after", "7");
  return out;
}

function encryptMethod(): Map<string, InProcessMethod> {
  const definition = CryptoServiceService.encrypt;
  return new Map([
    [
      encryptPath,
      {
        requestDeserialize: definition.requestDeserialize,
        responseSerialize: definition.responseSerialize as (response: unknown) => Buffer,
        serve: (request, metadata) => encrypt(request as EncryptRequest, metadata),
      },
    ],
  ]);
}

function callError(promise: Promise<unknown>): Promise<DomainError> {
  return promise.then(
    () => {
      throw new Error("the call succeeded");
    },
    (err: DomainError) => err,
  );
}

describe("in-process gRPC calls", () => {
  it("reach a server registered in this process without the network, and the network once it is gone", async () => {
    const client = createClient(CryptoServiceClient, NOBODY_LISTENS);
    const unregister = registerInProcess(NOBODY_LISTENS, encryptMethod());
    // call() hands an in-process call over itself, without grpc-js's call objects.
    const viaNetwork = vi.spyOn(client, "makeUnaryRequest");
    try {
      const response = await call(client, "encrypt", { message: "hello" }, { timeoutMs: 2_000 });
      expect(response).toEqual({ encryptedMessage: "hello|" });
      expect(viaNetwork).not.toHaveBeenCalled();
      // The same through grpc-js's own client method (the Connect proxy's way), by the interceptor.
      const viaGrpcJs = await new Promise((resolve, reject) =>
        client.encrypt({ message: "raw" }, (err, answer) => (err ? reject(err) : resolve(answer))),
      );
      expect(viaGrpcJs).toEqual({ encryptedMessage: "raw|" });
      // Decrypt is not registered: it goes to the network, where nobody answers.
      const missing = await callError(
        call(client, "decrypt", { encryptedMessage: "x" }, { timeoutMs: 2_000 }),
      );
      expect(missing.code).toBe("unavailable");
    } finally {
      unregister();
    }
    const after = await callError(call(client, "encrypt", { message: "hello" }, { timeoutMs: 2_000 }));
    expect(after.code).toBe("unavailable");
    expect(viaNetwork).toHaveBeenCalledTimes(2); // decrypt, and this one: over the network
    client.close();
  });

  it("keep the deadline, the size limit, the status with its metadata, and fail a response that does not encode", async () => {
    const client = createClient(CryptoServiceClient, NOBODY_LISTENS);
    const unregister = registerInProcess(NOBODY_LISTENS, encryptMethod());
    try {
      const late = await new Promise<number | undefined>((resolve) =>
        client.encrypt({ message: "hang" }, new Metadata(), { deadline: Date.now() + 50 }, (err) =>
          resolve(err?.code),
        ),
      );
      expect(late).toBe(status.DEADLINE_EXCEEDED);

      const unwritable = await new Promise<{ code?: number; details?: string } | null>((resolve) =>
        client.encrypt({ message: "unwritable" }, (err) => resolve(err)),
      );
      expect(unwritable?.code).toBe(status.INTERNAL);
      expect(unwritable?.details).toMatch(/^Error serializing response/);

      const huge = "x".repeat(MAX_MESSAGE_BYTES);
      const tooLarge = await callError(call(client, "encrypt", { message: huge }, { timeoutMs: 2_000 }));
      expect(tooLarge.code).toBe("resource_exhausted");
      expect(tooLarge.message).toMatch(/larger than max/);

      const busy = await callError(call(client, "encrypt", { message: "busy" }, { timeoutMs: 2_000 }));
      expect(busy.code).toBe("resource_exhausted");
      expect(busy.retryAfterSeconds).toBe(7);
    } finally {
      unregister();
      client.close();
    }
  });

  it("stop listening for the answer once the caller cancels", async () => {
    const client = createClient(CryptoServiceClient, NOBODY_LISTENS);
    const unregister = registerInProcess(NOBODY_LISTENS, encryptMethod());
    try {
      const outcome = new Promise<number | undefined>((resolve) => {
        const pending = client.encrypt({ message: "hang" }, (err) => resolve(err?.code));
        pending.cancel();
      });
      expect(await outcome).toBe(status.CANCELLED);
    } finally {
      unregister();
      client.close();
    }
  });
});

describe("a Parley gRPC server called from its own process", () => {
  let server: RunningGrpcServer;
  let verifier: TokenVerifier;
  let signToken: (userId: string) => Promise<string>;

  beforeAll(async () => {
    const pair = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "EdDSA", use: "sig" };
    signToken = (userId) =>
      new SignJWT({ name: userId, sid: "s1" })
        .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "JWT" })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(userId)
        .setJti(userId)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(pair.privateKey);
    verifier = new TokenVerifier({ fetchKeys: async () => [jwk] });
    server = await startCryptoServer(verifier);
  });

  afterAll(() => server.stop(1_000));

  /** The same request through the in-process client and through a plain grpc-js client over loopback. */
  async function bothWays(request: EncryptRequest, token: string | undefined) {
    const inProcess = createClient(CryptoServiceClient, server.address);
    const overNetwork = new CryptoServiceClient(server.address, credentials.createInsecure());
    const settle = (client: CryptoServiceClient) =>
      call(client, "encrypt", request, { token, clientAddress: "203.0.113.9", timeoutMs: 5_000 }).then(
        (response) => ({ response }),
        (err: DomainError) => ({ code: err.code, message: err.message }),
      );
    try {
      return [await settle(inProcess), await settle(overNetwork)];
    } finally {
      inProcess.close();
      overNetwork.close();
    }
  }

  it("answers exactly as over the network: the response, the verified user and the client address", async () => {
    const [local, remote] = await bothWays({ message: "hi" }, await signToken("user-7"));
    expect(local).toEqual({ response: { encryptedMessage: "user-7:hi:203.0.113.9" } });
    expect(local).toEqual(remote);
  });

  it("fails exactly as over the network: a domain error, a missing token, a message too large, a response that does not encode", async () => {
    const token = await signToken("user-7");
    for (const [request, auth, code] of [
      [{ message: "missing" }, token, "not_found"],
      [{ message: "hi" }, undefined, "unauthenticated"],
      [{ message: "x".repeat(MAX_MESSAGE_BYTES) }, token, "resource_exhausted"],
      [{ message: "unwritable" }, token, "internal"],
    ] as const) {
      const [local, remote] = await bothWays(request, auth);
      expect(local).toMatchObject({ code });
      expect(local).toEqual(remote);
    }
  });

  it("goes to the network once its server has stopped, and fails there as a stopped server does", async () => {
    const stopping = await startCryptoServer(verifier);
    const client = createClient(CryptoServiceClient, stopping.address);
    const token = await signToken("user-9");
    try {
      expect(await call(client, "encrypt", { message: "up" }, { token })).toEqual({
        encryptedMessage: "user-9:up:undefined",
      });
      await stopping.stop(1_000);
      const down = await callError(call(client, "encrypt", { message: "down" }, { token, timeoutMs: 2_000 }));
      expect(down.code).toBe("unavailable");
    } finally {
      client.close();
    }
  });

  it("counts an in-process call in the server's and the client's RPC latency metrics", async () => {
    const count = async (side: string) =>
      (await rpcDuration.get()).values.find(
        (v) =>
          v.metricName?.endsWith("_count") &&
          v.labels.side === side &&
          String(v.labels.method).toLowerCase() === "encrypt" &&
          v.labels.code === "OK",
      )?.value ?? 0;
    const [server0, client0] = [await count("server"), await count("client")];
    const client = createClient(CryptoServiceClient, server.address);
    await call(client, "encrypt", { message: "count" }, { token: await signToken("user-8") });
    client.close();
    expect([await count("server"), await count("client")]).toEqual([server0 + 1, client0 + 1]);
  });
});

/** A crypto server whose Encrypt answers with the verified user, the request and the client address. */
function startCryptoServer(verifier: TokenVerifier): Promise<RunningGrpcServer> {
  return startGrpcServer({
    target: "crypto",
    bind: "127.0.0.1:0",
    protoFiles: ["parley/v1/crypto.proto"],
    verifier,
    logger: createLogger({ level: "silent" }),
    services: [
      {
        definition: CryptoServiceService,
        name: "parley.v1.CryptoService",
        access: "user",
        handlers: {
          encrypt: async (request: EncryptRequest, ctx) => {
            if (request.message === "missing") throw new DomainError("not_found", "no such thing");
            if (request.message === "unwritable") return null;
            return { encryptedMessage: `${ctx.principal?.userId}:${request.message}:${ctx.clientAddress}` };
          },
          decrypt: async () => ({ message: "" }),
        },
      },
    ],
  });
}
