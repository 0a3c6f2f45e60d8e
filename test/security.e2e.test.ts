import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

/**
 * The authorisation matrix and hostile input, each case asserting the refusal AND that nothing
 * changed: histories, groups and accounts read back exactly as before.
 */
let parley: TestParley;
let api: RestClient;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let groupId: string;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
const headerOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString());

/** Tokens that must all be refused, built from a real one so only one thing is wrong in each. */
async function forgedTokens(real: string): Promise<Record<string, string>> {
  const claims = claimsOf(real);
  const { kid } = headerOf(real);
  const foreign = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const sign = (payload: object, key = foreign.privateKey, alg = "EdDSA") =>
    new SignJWT(payload as Record<string, unknown>).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(key);
  return {
    "alg none": `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`,
    "HS256 keyed with the public key id": await sign(claims, new TextEncoder().encode(kid) as never, "HS256"),
    "signed by a key Parley never issued": await sign(claims),
    "claims edited after signing": `${real.split(".")[0]}.${b64url({ ...claims, sub: "someone-else" })}.${real.split(".")[2]}`,
    "another audience (re-signed)": await sign({ ...claims, aud: "not-parley" }),
  };
}

async function snapshot() {
  const [aliceDm, bobDm, group] = await Promise.all([
    api.get(`/chat/messages?recipient=${bob.username}`, alice.token),
    api.get(`/chat/messages?recipient=${alice.username}`, bob.token),
    api.get(`/groups/${groupId}/messages`, alice.token),
  ]);
  expect([aliceDm.status, bobDm.status, group.status]).toEqual([200, 200, 200]);
  return JSON.stringify([aliceDm.body, bobDm.body, group.body]);
}

beforeAll(async () => {
  parley = await startTestParley();
  api = restClient(parley.url);
  [alice, bob, carol] = await Promise.all([
    newUser(api, "alice"),
    newUser(api, "bob"),
    newUser(api, "carol"),
  ]);
  const group = await api.post("/groups/create", { name: "matrix", members: [bob.username] }, alice.token);
  expect(group.status).toBe(201);
  groupId = group.body.groupId;
  expect(
    (await api.post("/chat/send", { recipient: bob.username, message: "hello" }, alice.token)).status,
  ).toBe(200);
  expect((await api.post(`/groups/${groupId}/send`, { message: "hi all" }, bob.token)).status).toBe(200);
});

afterAll(async () => {
  await parley?.cleanup();
});

const routes = () =>
  [
    ["POST", "/chat/send", { recipient: bob.username, message: "forged" }],
    ["GET", `/chat/messages?recipient=${bob.username}`, undefined],
    ["POST", "/groups/create", { name: "forged", members: [] }],
    ["PUT", `/groups/${groupId}/add-member`, { member: carol.username }],
    ["DELETE", `/groups/${groupId}/remove-member`, { member: bob.username }],
    ["POST", `/groups/${groupId}/send`, { message: "forged" }],
    ["GET", `/groups/${groupId}/messages`, undefined],
    ["POST", "/encrypt", { message: "x" }],
    ["POST", "/decrypt", { encryptedMessage: "v1.x" }],
  ] as const;

describe("forged and expired tokens", () => {
  it("refuses every forged token on every authenticated route with 401, changing nothing", async () => {
    const before = await snapshot();
    const forged = await forgedTokens(alice.token);
    for (const [method, path, body] of routes()) {
      for (const [kind, token] of Object.entries(forged)) {
        const res = await api.request(method, path, { body, token });
        expect(res.status, `${method} ${path}: ${kind}`).toBe(401);
        expect(res.body.error.code).toBe("unauthenticated");
      }
    }
    expect(await snapshot()).toBe(before);
    const groups = await api.get(`/groups/${groupId}/messages`, carol.token);
    expect(groups.status).toBe(403);
  });

  it("refuses an access token once it has expired", async () => {
    // Long enough that register, login and the first call finish well inside it on a loaded CI
    // machine (1 s did not), short enough to wait out.
    const shortLived = await startTestParley({ env: { PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS: "5" } });
    try {
      const shortApi = restClient(shortLived.url);
      const user = await newUser(shortApi, "short");
      const peer = await newUser(shortApi, "peer");
      const { exp } = claimsOf(user.token);
      expect((await shortApi.get("/chat/messages", user.token)).status).toBe(200);
      // The token's own expiry is the condition under test: wait for the clock to pass it.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 50));
      const send = await shortApi.post(
        "/chat/send",
        { recipient: peer.username, message: "late" },
        user.token,
      );
      expect(send.status).toBe(401);
      expect(send.body.error.code).toBe("unauthenticated");
      for (const path of ["/chat/messages", "/encrypt"]) {
        const res = await shortApi.request(path === "/encrypt" ? "POST" : "GET", path, {
          body: path === "/encrypt" ? { message: "x" } : undefined,
          token: user.token,
        });
        expect(res.status, path).toBe(401);
      }
      const fresh = await shortApi.post("/auth/login", { username: user.username, password: user.password });
      const peerView = await shortApi.get(`/chat/messages?recipient=${peer.username}`, fresh.body.token);
      expect(peerView.body.messages).toEqual([]);
    } finally {
      await shortLived.cleanup();
    }
  });
});

describe("authorisation", () => {
  it("keeps a non-member out of a group's history, sends and membership", async () => {
    const before = await snapshot();
    expect((await api.get(`/groups/${groupId}/messages`, carol.token)).status).toBe(403);
    expect((await api.post(`/groups/${groupId}/send`, { message: "let me in" }, carol.token)).status).toBe(
      403,
    );
    expect(
      (await api.put(`/groups/${groupId}/add-member`, { member: carol.username }, carol.token)).status,
    ).toBe(403);
    expect(
      (await api.del(`/groups/${groupId}/remove-member`, { member: bob.username }, carol.token)).status,
    ).toBe(403);
    expect(await snapshot()).toBe(before);
  });

  it("does not let a plain member act as the owner", async () => {
    const before = await snapshot();
    const add = await api.put(`/groups/${groupId}/add-member`, { member: carol.username }, bob.token);
    expect(add.status).toBe(403);
    const remove = await api.del(`/groups/${groupId}/remove-member`, { member: alice.username }, bob.token);
    expect([403, 409]).toContain(remove.status);
    expect(await snapshot()).toBe(before);
  });

  it("shows a user only the conversations they take part in", async () => {
    const carolsView = await api.get("/chat/messages", carol.token);
    expect(carolsView.status).toBe(200);
    expect(carolsView.body.messages).toEqual([]);
    const carolToAlice = await api.get(`/chat/messages?recipient=${alice.username}`, carol.token);
    expect(carolToAlice.body.messages).toEqual([]);
  });

  it("never decrypts another user's ciphertext, and says so with 403", async () => {
    const sealed = await api.post("/encrypt", { message: "alice's secret" }, alice.token);
    const res = await api.post("/decrypt", { encryptedMessage: sealed.body.encryptedMessage }, bob.token);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain("alice's secret");
  });

  it("refuses a tampered ciphertext with 400", async () => {
    const sealed: string = (await api.post("/encrypt", { message: "integrity" }, alice.token)).body
      .encryptedMessage;
    const bytes = Buffer.from(sealed.slice(3), "base64url");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    const res = await api.post(
      "/decrypt",
      { encryptedMessage: `v1.${bytes.toString("base64url")}` },
      alice.token,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_argument");
  });
});

describe("hostile and malformed input", () => {
  it("refuses weak passwords and bad usernames with 400, creating no account", async () => {
    const cases = [
      { username: "ok_name_1", password: "short" },
      { username: "ok_name_2", password: "x".repeat(257) },
      { username: "ab", password: "long enough password" },
      { username: "has space", password: "long enough password" },
      { username: "x".repeat(33), password: "long enough password" },
      { username: "robert'); drop table users;--", password: "long enough password" },
    ];
    for (const body of cases) {
      const res = await api.post("/auth/register", body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      const login = await api.post("/auth/login", body);
      expect(login.status).toBe(401);
    }
  });

  it("refuses an empty or oversized message with 400 and stores nothing", async () => {
    const before = await snapshot();
    for (const message of ["", "x".repeat(64 * 1024 + 1)]) {
      const res = await api.post("/chat/send", { recipient: bob.username, message }, alice.token);
      expect(res.status).toBe(400);
      const group = await api.post(`/groups/${groupId}/send`, { message }, alice.token);
      expect(group.status).toBe(400);
    }
    expect(await snapshot()).toBe(before);
  });

  it("refuses a message to an unknown user and an unknown group with 404, storing nothing", async () => {
    const before = await snapshot();
    expect(
      (await api.post("/chat/send", { recipient: "nobody_here", message: "hi" }, alice.token)).status,
    ).toBe(404);
    const unknownGroup = "0190a5e0-0000-7000-8000-000000000000";
    expect((await api.post(`/groups/${unknownGroup}/send`, { message: "hi" }, alice.token)).status).toBe(404);
    expect((await api.get(`/groups/${unknownGroup}/messages`, alice.token)).status).toBe(404);
    expect(await snapshot()).toBe(before);
  });

  it("refuses a group with an unknown member with 404, creating nothing", async () => {
    const res = await api.post("/groups/create", { name: "ghosts", members: ["nobody_here"] }, alice.token);
    expect(res.status).toBe(404);
  });
});
