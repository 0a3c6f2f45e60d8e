/**
 * The bare servers bench/floor.ts measures, one per process: `--role grpc` answers one unary
 * method with its request bytes (grpc-js, no codec), `--role h2` the same with node:http2 alone;
 * `--role http` answers a JSON POST, after one such gRPC call when `--upstream` names the server. Nothing else: no auth, no logging, no
 * metrics — the least any HTTP → gRPC service pair can do per request.
 */
import { createServer } from "node:http";
import { type ClientHttp2Session, connect, createServer as createHttp2Server } from "node:http2";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { MessageService } from "../services/gen/es/parley/v1/messages_pb.js";

export const ECHO_PATH = "/parley.bench.Floor/Echo";
/** A real method's path, so connect-node's client (which needs a generated service) can call it. */
const SEND_PATH = "/parley.v1.MessageService/SendDirectMessage";
const same = (b: Buffer) => b;
/** A unary method whose messages stay bytes: no codec between the wire and the handler. */
const rawUnary = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: same,
  requestDeserialize: same,
  responseSerialize: same,
  responseDeserialize: same,
});

const { values } = parseArgs({
  options: {
    role: { type: "string" },
    port: { type: "string" },
    upstream: { type: "string" },
    // How the HTTP server calls upstream: "grpc-js" (its Client), "connect-node" (connect-es's
    // gRPC transport, as the gateway's clients of delivery and presence), or "http2" (node:http2
    // with gRPC's framing by hand: what any gRPC client must at least do).
    client: { type: "string", default: "grpc-js" },
  },
});
const port = Number(values.port);

if (values.role === "grpc") {
  const server = new grpc.Server();
  server.addService(
    { send: rawUnary(SEND_PATH), echo: rawUnary(ECHO_PATH) },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, call.request),
      // An empty SendDirectMessageResponse: what connect-node's client decodes.
      send: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, Buffer.alloc(0)),
    },
  );
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    console.log("ready");
  });
} else if (values.role === "h2") {
  // The least a gRPC server can do: node:http2 answering every call with its request, by hand.
  const server = createHttp2Server();
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat(chunks));
    });
  });
  server.listen(port, "127.0.0.1", () => console.log("ready"));
} else {
  const upstream =
    values.upstream && values.client === "grpc-js"
      ? new grpc.Client(`127.0.0.1:${values.upstream}`, grpc.credentials.createInsecure())
      : undefined;
  const session =
    values.upstream && values.client === "http2" ? connect(`http://127.0.0.1:${values.upstream}`) : undefined;
  const connectClient =
    values.upstream && values.client === "connect-node"
      ? createClient(MessageService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${values.upstream}` }))
      : undefined;
  const echo = async (body: Buffer) => {
    if (connectClient) {
      await connectClient.sendDirectMessage({ recipientUsername: "bob", content: body.toString("utf8") });
      return body;
    }
    return echoBytes(body);
  };
  const echoBytes = (body: Buffer) =>
    session
      ? http2Echo(session, body)
      : new Promise<Buffer>((resolve, reject) =>
          upstream?.makeUnaryRequest(ECHO_PATH, same, same, body, (err, reply) =>
            err || !reply ? reject(err) : resolve(reply),
          ),
        );
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: string };
        const reply = values.upstream
          ? await echo(Buffer.from(body.message ?? ""))
          : Buffer.from(body.message ?? "");
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: reply.toString("utf8"), id: crypto.randomUUID() }));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  }).listen(port, "127.0.0.1", () => console.log("ready"));
}

/** One gRPC unary call over a shared HTTP/2 session: a length-prefixed message out, one back. */
function http2Echo(session: ClientHttp2Session, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": ECHO_PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("trailers", (trailers) => {
      if (trailers["grpc-status"] !== "0") reject(new Error(`grpc-status ${trailers["grpc-status"]}`));
    });
    stream.on("end", () => resolve(Buffer.concat(chunks).subarray(5)));
    stream.on("error", reject);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(body.length, 1);
    stream.end(Buffer.concat([prefix, body]));
  });
}
