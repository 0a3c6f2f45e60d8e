import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CryptoService } from "../../gen/es/parley/v1/crypto_pb.js";
import { CryptoServiceService, type EncryptRequest } from "../../gen/grpc/parley/v1/crypto.js";
import { TokenVerifier } from "../auth-verifier.js";
import { createLogger } from "../logger.js";
import { inProcessConnectTransport } from "./in-process.connect.js";
import { registerInProcess } from "./in-process.js";
import { type RunningGrpcServer, startGrpcServer } from "./server.js";

/** Nothing listens on port 1 of loopback: a call that reaches it over the network is refused. */
const NOBODY_LISTENS = "127.0.0.1:1";

/** Counts the calls that pass, so a test can tell the interceptors ran on the in-process path. */
function counting(): { interceptor: Interceptor; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    interceptor: (next) => async (req) => {
      calls.push(req.method.name);
      req.header.set("x-test", "from-interceptor");
      return next(req);
    },
  };
}

function clientFor(address: string, interceptors: Interceptor[]) {
  const network = createGrpcTransport({ baseUrl: `http://${address}`, interceptors });
  return createClient(CryptoService, inProcessConnectTransport(address, network, interceptors));
}

describe("connect clients of a server in this process", () => {
  let server: RunningGrpcServer;

  beforeAll(async () => {
    server = await startGrpcServer({
      target: "crypto",
      bind: "127.0.0.1:0",
      protoFiles: ["parley/v1/crypto.proto"],
      // Every user call fails verification: Encrypt is public below, Decrypt is not.
      verifier: new TokenVerifier({ fetchKeys: async () => [] }),
      logger: createLogger({ level: "silent" }),
      services: [
        {
          definition: CryptoServiceService,
          name: "parley.v1.CryptoService",
          access: "user",
          publicMethods: ["encrypt"],
          handlers: {
            encrypt: async (request: EncryptRequest, ctx) => ({
              encryptedMessage: `${request.message}|${ctx.metadata.get("x-test")[0] ?? ""}`,
            }),
            decrypt: async () => ({ message: "" }),
          },
        },
      ],
    });
  });

  afterAll(() => server.stop(1_000));

  it("are served in-process, through the interceptors, with the headers they set", async () => {
    const encrypt = CryptoServiceService.encrypt;
    const unregister = registerInProcess(
      NOBODY_LISTENS,
      new Map([
        [
          encrypt.path,
          {
            requestDeserialize: encrypt.requestDeserialize,
            responseSerialize: encrypt.responseSerialize as (response: unknown) => Buffer,
            serve: async (request, metadata) => ({
              encryptedMessage: `${(request as EncryptRequest).message}|${metadata.get("x-test")[0] ?? ""}`,
            }),
          },
        ],
      ]),
    );
    const { interceptor, calls } = counting();
    const client = clientFor(NOBODY_LISTENS, [interceptor]);
    try {
      expect(await client.encrypt({ message: "hi" })).toMatchObject({
        encryptedMessage: "hi|from-interceptor",
      });
      expect(calls).toEqual(["Encrypt"]);
    } finally {
      unregister();
    }
    // Gone from this process: the call goes to the network, where nobody listens.
    const after = await client
      .encrypt({ message: "hi" }, { timeoutMs: 2_000 })
      .catch((err) => ConnectError.from(err));
    expect(after).toMatchObject({ code: Code.Unavailable });
  });

  it("answer and fail exactly as over the network", async () => {
    const inProcess = clientFor(server.address, []);
    const overNetwork = createClient(
      CryptoService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const settle = (p: Promise<unknown>) =>
      p.then(
        (response) => ({ response }),
        (err: unknown) => ({ code: ConnectError.from(err).code, message: ConnectError.from(err).rawMessage }),
      );
    const ok = [
      await settle(inProcess.encrypt({ message: "a" })),
      await settle(overNetwork.encrypt({ message: "a" })),
    ];
    expect(ok[0]).toEqual(ok[1]);
    const refused = [
      await settle(inProcess.decrypt({ encryptedMessage: "x" })),
      await settle(overNetwork.decrypt({ encryptedMessage: "x" })),
    ];
    expect(refused[0]).toMatchObject({ code: Code.Unauthenticated });
    expect(refused[0]).toEqual(refused[1]);
  });
});
