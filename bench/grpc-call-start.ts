/**
 * What starting one grpc-js unary call costs with and without the caller's stack it captures
 * (`new Error()` in makeUnaryRequest; call() in services/kit/grpc/client.ts starts calls with
 * Error.stackTraceLimit = 0). Times the synchronous part of makeUnaryRequest, ten async frames
 * deep as in a request handler, against a loopback server of this process, in alternating blocks
 * of each limit (the first four blocks warm up). Prints µs per call start.
 *   npx tsx bench/grpc-call-start.ts [blocks=40] [calls per block=500]
 */
import { Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import {
  CryptoServiceClient,
  type CryptoServiceServer,
  CryptoServiceService,
} from "../services/gen/grpc/parley/v1/crypto.js";
import { createClient } from "../services/kit/grpc/client.js";

const blocks = Number(process.argv[2] ?? 40);
const perBlock = Number(process.argv[3] ?? 500);
const WARM_UP_BLOCKS = 4;
const DEPTH = 10;
const LIMITS = [10, 0];

const server = new Server();
const implementation: CryptoServiceServer = {
  encrypt: (_call, done) => done(null, { encryptedMessage: "x" }),
  decrypt: (_call, done) => done(null, { message: "" }),
};
server.addService(CryptoServiceService, implementation);
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
    err ? reject(err) : resolve(bound),
  ),
);
const client = createClient(CryptoServiceClient, `127.0.0.1:${port}`);
const encrypt = CryptoServiceService.encrypt;

const spent = new Map(LIMITS.map((limit) => [limit, { ms: 0, calls: 0 }]));

/** One call, its start timed with V8 capturing `limit` frames. */
function oneCall(limit: number, counted: boolean): Promise<void> {
  return new Promise((resolve) => {
    const previous = Error.stackTraceLimit;
    Error.stackTraceLimit = limit;
    const started = performance.now();
    client.makeUnaryRequest(
      encrypt.path,
      encrypt.requestSerialize,
      encrypt.responseDeserialize,
      { message: "a" },
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      () => resolve(),
    );
    const elapsed = performance.now() - started;
    Error.stackTraceLimit = previous;
    const total = spent.get(limit);
    if (counted && total) {
      total.ms += elapsed;
      total.calls++;
    }
  });
}

async function nested(depth: number, run: () => Promise<void>): Promise<void> {
  return depth === 0 ? run() : nested(depth - 1, run);
}

for (let block = 0; block < blocks; block++) {
  const limit = LIMITS[block % LIMITS.length] as number;
  for (let i = 0; i < perBlock; i++) await nested(DEPTH, () => oneCall(limit, block >= WARM_UP_BLOCKS));
}
for (const [limit, { ms, calls }] of spent) {
  console.log(
    `Error.stackTraceLimit ${limit}: makeUnaryRequest's synchronous part ${((ms / calls) * 1000).toFixed(1)} µs a call (${calls} calls)`,
  );
}
client.close();
server.forceShutdown();
