import { randomBytes } from "node:crypto";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../services/gen/es/parley/v1/auth_pb.js";
import { CryptoService } from "../services/gen/es/parley/v1/crypto_pb.js";
import { GroupRole, GroupService } from "../services/gen/es/parley/v1/groups_pb.js";
import { MessageService } from "../services/gen/es/parley/v1/messages_pb.js";
import { freshUsername } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

const APP_ORIGIN = "http://app.example";

let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ env: { PARLEY_CORS_ORIGINS: APP_ORIGIN } });
});

afterAll(async () => {
  await parley?.cleanup();
});

const transports: [string, (baseUrl: string) => Transport][] = [
  ["Connect over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["Connect over HTTP/2", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC-Web over HTTP/2", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" })],
  ["gRPC over HTTP/2", (baseUrl) => createGrpcTransport({ baseUrl })],
];

interface Clients {
  auth: Client<typeof AuthService>;
  messages: Client<typeof MessageService>;
  groups: Client<typeof GroupService>;
  crypto: Client<typeof CryptoService>;
}

async function signUp(clients: Clients, prefix: string) {
  const username = freshUsername(prefix);
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const { user } = await clients.auth.register({ username, password });
  const login = await clients.auth.login({ username, password });
  const headers = { authorization: `Bearer ${login.tokens?.accessToken}` };
  return { user, login, username, headers };
}

describe.each(transports)("a generated client, %s", (_name, makeTransport) => {
  let clients: Clients;
  beforeAll(() => {
    const transport = makeTransport(parley.url);
    clients = {
      auth: createClient(AuthService, transport),
      messages: createClient(MessageService, transport),
      groups: createClient(GroupService, transport),
      crypto: createClient(CryptoService, transport),
    };
  });

  it("registers, logs in, sends, lists, makes a group and encrypts", async () => {
    const ann = await signUp(clients, "ann");
    const ben = await signUp(clients, "ben");
    expect(ann.user?.username).toBe(ann.username);
    expect(ann.login.tokens?.tokenType).toBe("Bearer");
    expect(ann.login.user?.userId).toBe(ann.user?.userId);

    const { message } = await clients.messages.sendDirectMessage(
      { recipientUsername: ben.username, content: "hello over rpc" },
      { headers: ann.headers },
    );
    expect(message?.senderId).toBe(ann.user?.userId);
    expect(message?.recipientId).toBe(ben.user?.userId);
    expect(message?.sentAt).toBeDefined();

    const history = await clients.messages.listDirectMessages(
      { recipientUsername: ann.username },
      { headers: ben.headers },
    );
    expect(history.messages.map((m) => m.messageId)).toEqual([message?.messageId]);
    expect(history.messages[0]?.content).toBe("hello over rpc");

    const { group } = await clients.groups.createGroup(
      { name: "rpc group", memberUsernames: [ben.username] },
      { headers: ann.headers },
    );
    expect(group?.ownerId).toBe(ann.user?.userId);
    expect(group?.members.find((m) => m.userId === ben.user?.userId)?.role).toBe(GroupRole.MEMBER);
    const sent = await clients.messages.sendGroupMessage(
      { groupId: group?.groupId, content: "to the group" },
      { headers: ben.headers },
    );
    const groupHistory = await clients.messages.listGroupMessages(
      { groupId: group?.groupId },
      { headers: ann.headers },
    );
    expect(groupHistory.messages.map((m) => m.messageId)).toEqual([sent.message?.messageId]);

    const { encryptedMessage } = await clients.crypto.encrypt(
      { message: "secret" },
      { headers: ann.headers },
    );
    const { message: plain } = await clients.crypto.decrypt({ encryptedMessage }, { headers: ann.headers });
    expect(plain).toBe("secret");
  });

  it("reports failures as ConnectErrors with the service's code and message", async () => {
    const noToken = await clients.crypto.encrypt({ message: "x" }).catch((err: unknown) => err);
    expect(noToken).toBeInstanceOf(ConnectError);
    expect((noToken as ConnectError).code).toBe(Code.Unauthenticated);

    const ann = await signUp(clients, "err");
    const unknown = await clients.messages
      .sendDirectMessage(
        { recipientUsername: freshUsername("ghost"), content: "x" },
        { headers: ann.headers },
      )
      .catch((err: unknown) => err);
    expect(unknown).toBeInstanceOf(ConnectError);
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
    expect((unknown as ConnectError).rawMessage.length).toBeGreaterThan(0);
  });
});

describe("the Connect edge", () => {
  it("passes a rate limit through as resource_exhausted with retry-after", async () => {
    const auth = createClient(
      AuthService,
      createConnectTransport({ baseUrl: parley.url, httpVersion: "1.1" }),
    );
    const username = freshUsername("limited");
    let error: ConnectError | undefined;
    for (let i = 0; i < 20 && error?.code !== Code.ResourceExhausted; i++) {
      error = await auth.login({ username, password: "wrong password" }).then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
      expect(error).toBeDefined();
    }
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(Number(error?.metadata.get("retry-after"))).toBeGreaterThan(0);
  });

  it("refuses a request message over the body limit as resource_exhausted", async () => {
    const crypto = createClient(
      CryptoService,
      createConnectTransport({ baseUrl: parley.url, httpVersion: "2" }),
    );
    const err = await crypto
      .encrypt({ message: "x".repeat(1024 * 1024 + 1) }, { headers: { authorization: "Bearer x" } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
  });

  it("answers a browser's CORS preflight for an allowed origin and exposes the gRPC headers", async () => {
    const preflight = await fetch(`${parley.url}/parley.v1.AuthService/Login`, {
      method: "OPTIONS",
      headers: {
        origin: APP_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version,authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/connect-protocol-version/);

    const actual = await fetch(`${parley.url}/healthz`, { headers: { origin: APP_ORIGIN } });
    expect(actual.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(actual.headers.get("access-control-expose-headers")).toMatch(/grpc-status/);
    expect(actual.headers.get("access-control-expose-headers")).toMatch(/retry-after/i);
  });

  it("gives no CORS grant to an origin that is not configured", async () => {
    const res = await fetch(`${parley.url}/healthz`, { headers: { origin: "http://evil.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
