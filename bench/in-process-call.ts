/**
 * One unary call to a server of this same process, two ways: call() (services/kit/grpc/client.ts),
 * which hands it to the server's method itself, against grpc-js's own client method, which gets
 * there through the in-process interceptor (a call object, listeners, and the caller's stack
 * captured by `new Error()` on every call). A trivial method, so what is left is the call's own
 * cost; ten calls in flight at a time, alternating rounds. Prints µs of wall and CPU per call.
 *   npx tsx bench/in-process-call.ts [calls per round=30000] [rounds=3]
 */
import { Metadata } from "@grpc/grpc-js";
import {
  CryptoServiceClient,
  CryptoServiceService,
  type EncryptRequest,
  type EncryptResponse,
} from "../services/gen/grpc/parley/v1/crypto.js";
import { call, createClient } from "../services/kit/grpc/client.js";
import { type InProcessMethod, registerInProcess } from "../services/kit/grpc/in-process.js";

const perRound = Number(process.argv[2] ?? 30_000);
const rounds = Number(process.argv[3] ?? 3);
const IN_FLIGHT = 10;
// Nothing listens there: every call is served in-process or fails.
const ADDRESS = "127.0.0.1:1";

const encrypt = CryptoServiceService.encrypt;
registerInProcess(
  ADDRESS,
  new Map<string, InProcessMethod>([
    [
      encrypt.path,
      {
        requestDeserialize: encrypt.requestDeserialize,
        responseSerialize: encrypt.responseSerialize as (response: unknown) => Buffer,
        serve: async (request) => ({ encryptedMessage: (request as EncryptRequest).message }),
      },
    ],
  ]),
);
const client = createClient(CryptoServiceClient, ADDRESS);
const request = { message: "hello" };
const ways = {
  "call()": () => call(client, "encrypt", request, { token: "t", clientAddress: "203.0.113.9" }),
  "grpc-js client method": () =>
    new Promise<EncryptResponse>((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set("authorization", "Bearer t");
      client.encrypt(request, metadata, { deadline: Date.now() + 10_000 }, (err, response) =>
        err ? reject(err) : resolve(response),
      );
    }),
};
for (let round = 0; round <= rounds; round++) {
  for (const [name, run] of Object.entries(ways)) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < perRound / IN_FLIGHT; i++) await Promise.all(Array.from({ length: IN_FLIGHT }, run));
    const used = process.cpuUsage(cpu);
    // Round 0 warms both up.
    if (round === 0) continue;
    const wall = ((performance.now() - started) * 1000) / perRound;
    const cpuPer = (used.user + used.system) / perRound;
    console.log(
      `round ${round} ${name.padEnd(22)} ${wall.toFixed(1)} µs wall, ${cpuPer.toFixed(1)} µs CPU per call`,
    );
  }
}
client.close();
