import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  type Client,
  type ClientDuplexStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  makeClientConstructor,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CryptoServiceClient } from "../services/gen/grpc/parley/v1/crypto.js";
import { MessageServiceClient } from "../services/gen/grpc/parley/v1/messages.js";
import type { ServiceName } from "../services/kit/module.js";
import { type Json, newUser, restClient, type TestUser } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

const SERVICES: [ServiceName, string][] = [
  ["auth", "parley.v1.AuthService"],
  ["groups", "parley.v1.GroupService"],
  ["crypto", "parley.v1.CryptoService"],
  ["messages", "parley.v1.MessageService"],
  ["media", "parley.v1.MediaService"],
];

const HealthClient = makeClientConstructor(healthService, "grpc.health.v1.Health");

const reflectionProto = join(
  dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
  "build/proto",
);
const reflectionPackage = loadPackageDefinition(
  loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [reflectionProto], keepCase: true }),
) as unknown as {
  grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => Client } } };
};

let parley: TestParley;
let user: TestUser;
let peer: TestUser;
const clients: Client[] = [];

beforeAll(async () => {
  parley = await startTestParley();
  const api = restClient(parley.url);
  [user, peer] = await Promise.all([newUser(api, "grpc"), newUser(api, "peer")]);
});

afterAll(async () => {
  for (const client of clients) client.close();
  await parley?.cleanup();
});

function address(service: ServiceName): string {
  return parley.parley.addresses.resolve(service);
}

function track<C extends Client>(client: C): C {
  clients.push(client);
  return client;
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

describe.each(SERVICES)("the %s service's own gRPC port", (service, fullName) => {
  it("answers grpc.health.v1 Check with SERVING, for the server and for its service", async () => {
    const health = track(new HealthClient(address(service), credentials.createInsecure())) as unknown as {
      check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void;
    };
    for (const name of ["", fullName]) {
      const res = await unary<{ status: string }>((cb) => health.check({ service: name }, cb));
      expect(res.status, name || "(server)").toBe("SERVING");
    }
  });

  it("lists its services through server reflection", async () => {
    const reflection = track(
      new reflectionPackage.grpc.reflection.v1.ServerReflection(
        address(service),
        credentials.createInsecure(),
      ),
    ) as Client & { ServerReflectionInfo(): ClientDuplexStream<unknown, Json> };
    const stream = reflection.ServerReflectionInfo();
    const reply = new Promise<Json>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
    });
    stream.write({ list_services: "" });
    const names = (await reply).list_services_response.service.map((s: { name: string }) => s.name);
    stream.end();
    expect(names).toContain(fullName);
  });
});

describe("a grpc-js client calling a service directly", () => {
  it("calls a public method with the user's bearer token", async () => {
    const crypto = track(new CryptoServiceClient(address("crypto"), credentials.createInsecure()));
    const encrypted = await unary<{ encryptedMessage: string }>((cb) =>
      crypto.encrypt({ message: "straight to crypto" }, bearer(user.token), cb),
    );
    expect(encrypted.encryptedMessage).toMatch(/^v1\./);
    const decrypted = await unary<{ message: string }>((cb) =>
      crypto.decrypt({ encryptedMessage: encrypted.encryptedMessage }, bearer(user.token), cb),
    );
    expect(decrypted.message).toBe("straight to crypto");

    const messages = track(new MessageServiceClient(address("messages"), credentials.createInsecure()));
    const sent = await unary<{ message?: { senderId: string } }>((cb) =>
      messages.sendDirectMessage(
        { recipientUsername: peer.username, content: "over grpc", clientMessageId: "", attachmentIds: [] },
        bearer(user.token),
        cb,
      ),
    );
    expect(sent.message?.senderId).toBe(user.userId);
  });

  it("is refused UNAUTHENTICATED without a token", async () => {
    const crypto = track(new CryptoServiceClient(address("crypto"), credentials.createInsecure()));
    const err = await unary((cb) => crypto.encrypt({ message: "x" }, new Metadata(), cb)).catch((e) => e);
    expect((err as ServiceError).code).toBe(status.UNAUTHENTICATED);
  });
});
