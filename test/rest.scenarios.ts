import { request } from "node:http";
import { beforeAll, describe, expect, it } from "vitest";
import { freshUsername, type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Where the scenarios run: the public URL, and the admin URL of the process serving it. */
export interface RestTarget {
  url: string;
  adminUrl: string;
}

/**
 * The foundation's REST walk through the seed API, against any running Parley: all-in-one
 * (rest.e2e.test.ts) and mesh mode on the real servers (mesh.e2e.test.ts) run the same scenarios.
 * `target` is read once the caller's beforeAll has started Parley.
 */
export function restScenarios(target: () => RestTarget): void {
  let api: RestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  beforeAll(async () => {
    api = restClient(target().url);
    [alice, bob, carol] = await Promise.all([
      newUser(api, "alice"),
      newUser(api, "bob"),
      newUser(api, "carol"),
    ]);
  });

  function expectDirectMessage(message: Json, from: TestUser, to: TestUser, content: string) {
    expect(message).toMatchObject({ senderId: from.userId, recipientId: to.userId, content });
    expect(typeof message.messageId).toBe("string");
    expect(message.messageId.length).toBeGreaterThan(0);
    expect(message.timestamp).toMatch(RFC3339);
    expect(Math.abs(Date.parse(message.timestamp) - Date.now())).toBeLessThan(60_000);
    expect(message).not.toHaveProperty("groupId");
  }

  describe("auth", () => {
    it("registers a user with 201 and returns it without any secret", async () => {
      const username = freshUsername("reg");
      const res = await api.post("/auth/register", { username, password: "correct horse battery" });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(["createdAt", "userId", "username"]);
      expect(res.body.username).toBe(username);
      expect(res.body.createdAt).toMatch(RFC3339);
      expect(JSON.stringify(res.body)).not.toContain("correct horse");
    });

    it("refuses a duplicate username with 409 and the JSON error", async () => {
      const res = await api.post("/auth/register", {
        username: alice.username,
        password: "another password",
      });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("already_exists");
    });

    it("logs in with 200 and returns the access token, the refresh token and their expiry", async () => {
      const res = await api.post("/auth/login", { username: alice.username, password: alice.password });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        tokenType: "Bearer",
        user: { userId: alice.userId, username: alice.username },
      });
      expect(res.body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(res.body.accessToken).toBe(res.body.token);
      expect(res.body.expiresIn).toBeGreaterThan(0);
      expect(typeof res.body.refreshToken).toBe("string");
      expect(res.body.refreshExpiresIn).toBeGreaterThan(res.body.expiresIn);
    });

    it("refreshes a token pair, and after logout the refresh token no longer works", async () => {
      const user = await newUser(api, "refresh");
      const refreshed = await api.post("/auth/refresh", { refreshToken: user.refreshToken });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.user.userId).toBe(user.userId);
      expect(refreshed.body.refreshToken).not.toBe(user.refreshToken);
      const usable = await api.post("/encrypt", { message: "still me" }, refreshed.body.token);
      expect(usable.status).toBe(200);

      const logout = await api.post("/auth/logout", { refreshToken: refreshed.body.refreshToken });
      expect(logout.status).toBe(200);
      const after = await api.post("/auth/refresh", { refreshToken: refreshed.body.refreshToken });
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe("unauthenticated");
    });

    it("rate-limits repeated failed logins with 429 and a Retry-After header", async () => {
      const username = freshUsername("limited");
      let last = await api.post("/auth/login", { username, password: "wrong password" });
      for (let i = 0; i < 20 && last.status !== 429; i++) {
        expect(last.status).toBe(401);
        last = await api.post("/auth/login", { username, password: "wrong password" });
      }
      expect(last.status).toBe(429);
      expect(last.body.error.code).toBe("resource_exhausted");
      expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    });
  });

  describe("one-on-one chat", () => {
    it("stores a message and both sides see the conversation in order, in the seed's shape", async () => {
      const sent = await api.post("/chat/send", { recipient: bob.username, message: "hi bob" }, alice.token);
      expect(sent.status).toBe(200);
      expectDirectMessage(sent.body, alice, bob, "hi bob");
      const reply = await api.post(
        "/chat/send",
        { recipient: alice.username, message: "hi alice" },
        bob.token,
      );
      expect(reply.status).toBe(200);
      expectDirectMessage(reply.body, bob, alice, "hi alice");

      const forAlice = await api.get(`/chat/messages?recipient=${bob.username}`, alice.token);
      const forBob = await api.get(`/chat/messages?recipient=${alice.username}`, bob.token);
      for (const history of [forAlice, forBob]) {
        expect(history.status).toBe(200);
        expect(history.body.messages.map((m: Json) => m.messageId)).toEqual([
          sent.body.messageId,
          reply.body.messageId,
        ]);
        expect(history.body.nextCursor).toBeNull();
      }
      expect(forAlice.body.messages[0]).toEqual(sent.body);
      expectDirectMessage(forBob.body.messages[1], bob, alice, "hi alice");
    });

    it("lists the caller's messages across conversations when no recipient is given", async () => {
      const toCarol = await api.post(
        "/chat/send",
        { recipient: carol.username, message: "hi carol" },
        alice.token,
      );
      expect(toCarol.status).toBe(200);
      const mine = await api.get("/chat/messages", alice.token);
      expect(mine.status).toBe(200);
      const contents = mine.body.messages.map((m: Json) => m.content);
      expect(contents).toEqual(expect.arrayContaining(["hi bob", "hi alice", "hi carol"]));
      const bobs = await api.get("/chat/messages", bob.token);
      expect(bobs.body.messages.map((m: Json) => m.messageId)).not.toContain(toCarol.body.messageId);
    });

    it("pages back through a conversation with limit, before and nextCursor", async () => {
      const [dave, erin] = await Promise.all([newUser(api, "dave"), newUser(api, "erin")]);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await api.post("/chat/send", { recipient: erin.username, message: `m${i}` }, dave.token);
        ids.push(res.body.messageId);
      }
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = `?recipient=${dave.username}&limit=2${cursor ? `&before=${encodeURIComponent(cursor)}` : ""}`;
        const page = await api.get(`/chat/messages${query}`, erin.token);
        expect(page.status).toBe(200);
        expect(page.body.messages.length).toBeLessThanOrEqual(2);
        pages.push(page.body.messages.map((m: Json) => m.messageId));
        cursor = page.body.nextCursor;
      } while (cursor && pages.length < 10);
      expect(pages[0]).toEqual(ids.slice(3));
      expect(pages.reverse().flat()).toEqual(ids);
    });

    it("refuses bad paging parameters with 400 naming the parameter", async () => {
      for (const query of ["limit=0", "limit=201", "limit=abc", "limit=-1", "before=", "limit=1&limit=2"]) {
        const res = await api.get(`/chat/messages?${query}`, alice.token);
        expect(res.status, query).toBe(400);
        expect(res.body.error.code).toBe("invalid_argument");
        expect(res.body.error.message).toMatch(/limit|before/);
      }
    });

    it("returns the same message for a retried send with the same clientMessageId", async () => {
      const body = { recipient: carol.username, message: "once only", clientMessageId: `c-${Date.now()}` };
      const first = await api.post("/chat/send", body, bob.token);
      const retry = await api.post("/chat/send", body, bob.token);
      expect(first.status).toBe(200);
      expect(retry.status).toBe(200);
      expect(retry.body.messageId).toBe(first.body.messageId);
      expect(first.body.clientMessageId).toBe(body.clientMessageId);
      const history = await api.get(`/chat/messages?recipient=${carol.username}`, bob.token);
      expect(history.body.messages.filter((m: Json) => m.content === "once only")).toHaveLength(1);
    });

    it("refuses a message to an unknown user with 404 and stores nothing", async () => {
      const res = await api.post(
        "/chat/send",
        { recipient: freshUsername("ghost"), message: "hello?" },
        alice.token,
      );
      expect(res.status).toBe(404);
      const mine = await api.get("/chat/messages", alice.token);
      expect(mine.body.messages.map((m: Json) => m.content)).not.toContain("hello?");
    });
  });

  describe("groups", () => {
    let groupId: string;
    let firstMessageId: string;

    it("creates a group with 201: the creator is owner and the named users are members", async () => {
      const res = await api.post(
        "/groups/create",
        { name: "climbers", members: [bob.username] },
        alice.token,
      );
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: "climbers", ownerId: alice.userId });
      expect(res.body.createdAt).toMatch(RFC3339);
      const roles = Object.fromEntries(res.body.members.map((m: Json) => [m.username, m.role]));
      expect(roles).toEqual({ [alice.username]: "owner", [bob.username]: "member" });
      for (const member of res.body.members) expect(member.joinedAt).toMatch(RFC3339);
      groupId = res.body.groupId;
    });

    it("lets members send and read the group's history in the seed's shape", async () => {
      const sent = await api.post(`/groups/${groupId}/send`, { message: "first!" }, bob.token);
      expect(sent.status).toBe(200);
      expect(sent.body).toMatchObject({ groupId, senderId: bob.userId, content: "first!" });
      expect(sent.body.timestamp).toMatch(RFC3339);
      expect(sent.body).not.toHaveProperty("recipientId");
      firstMessageId = sent.body.messageId;
      const history = await api.get(`/groups/${groupId}/messages`, alice.token);
      expect(history.status).toBe(200);
      expect(history.body.messages).toEqual([sent.body]);
      expect(history.body.nextCursor).toBeNull();
    });

    it("keeps non-members out with 403", async () => {
      const read = await api.get(`/groups/${groupId}/messages`, carol.token);
      expect(read.status).toBe(403);
      const send = await api.post(`/groups/${groupId}/send`, { message: "let me in" }, carol.token);
      expect(send.status).toBe(403);
      expect(send.body.error.code).toBe("permission_denied");
    });

    it("adds a member who can then read and send", async () => {
      const res = await api.put(`/groups/${groupId}/add-member`, { member: carol.username }, alice.token);
      expect(res.status).toBe(200);
      expect(res.body.members.find((m: Json) => m.userId === carol.userId)?.role).toBe("member");
      const read = await api.get(`/groups/${groupId}/messages`, carol.token);
      expect(read.status).toBe(200);
      expect(read.body.messages.map((m: Json) => m.messageId)).toContain(firstMessageId);
      const send = await api.post(`/groups/${groupId}/send`, { message: "thanks" }, carol.token);
      expect(send.status).toBe(200);
    });

    it("does not let a plain member add members (403), and changes nothing", async () => {
      const outsider = await newUser(api, "outsider");
      const res = await api.put(`/groups/${groupId}/add-member`, { member: outsider.username }, bob.token);
      expect(res.status).toBe(403);
      const read = await api.get(`/groups/${groupId}/messages`, outsider.token);
      expect(read.status).toBe(403);
    });

    it("removes a member (JSON body on DELETE), who can then neither read nor send", async () => {
      const before = await api.get(`/groups/${groupId}/messages`, alice.token);
      const res = await api.del(`/groups/${groupId}/remove-member`, { member: bob.username }, alice.token);
      expect(res.status).toBe(200);
      expect(res.body.members.map((m: Json) => m.userId)).not.toContain(bob.userId);
      const read = await api.get(`/groups/${groupId}/messages`, bob.token);
      expect(read.status).toBe(403);
      const send = await api.post(`/groups/${groupId}/send`, { message: "still here?" }, bob.token);
      expect(send.status).toBe(403);
      const after = await api.get(`/groups/${groupId}/messages`, alice.token);
      expect(after.body.messages).toEqual(before.body.messages);
    });

    it("returns the same group message for a retried send with the same clientMessageId", async () => {
      const body = { message: "group once", clientMessageId: `g-${Date.now()}` };
      const first = await api.post(`/groups/${groupId}/send`, body, alice.token);
      const retry = await api.post(`/groups/${groupId}/send`, body, alice.token);
      expect(first.status).toBe(200);
      expect(retry.body.messageId).toBe(first.body.messageId);
      const history = await api.get(`/groups/${groupId}/messages`, alice.token);
      expect(history.body.messages.filter((m: Json) => m.content === "group once")).toHaveLength(1);
    });

    it("answers 404 for an unknown group", async () => {
      const res = await api.get("/groups/01890000-0000-7000-8000-000000000000/messages", alice.token);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    });
  });

  describe("encryption", () => {
    it("round-trips a message through /encrypt and /decrypt", async () => {
      const enc = await api.post("/encrypt", { message: "attack at dawn" }, alice.token);
      expect(enc.status).toBe(200);
      expect(Object.keys(enc.body)).toEqual(["encryptedMessage"]);
      expect(enc.body.encryptedMessage).not.toContain("attack");
      const dec = await api.post("/decrypt", { encryptedMessage: enc.body.encryptedMessage }, alice.token);
      expect(dec.status).toBe(200);
      expect(dec.body).toEqual({ message: "attack at dawn" });
    });

    it("never decrypts another user's ciphertext", async () => {
      const enc = await api.post("/encrypt", { message: "for alice only" }, alice.token);
      const dec = await api.post("/decrypt", { encryptedMessage: enc.body.encryptedMessage }, bob.token);
      expect([400, 403]).toContain(dec.status);
      expect(JSON.stringify(dec.body)).not.toContain("for alice only");
    });
  });

  describe("the edge", () => {
    const authenticated: [string, string, unknown][] = [
      ["POST", "/chat/send", { recipient: "someone", message: "x" }],
      ["GET", "/chat/messages", undefined],
      ["POST", "/groups/create", { name: "g", members: [] }],
      ["PUT", "/groups/g1/add-member", { member: "someone" }],
      ["DELETE", "/groups/g1/remove-member", { member: "someone" }],
      ["POST", "/groups/g1/send", { message: "x" }],
      ["GET", "/groups/g1/messages", undefined],
      ["POST", "/encrypt", { message: "x" }],
      ["POST", "/decrypt", { encryptedMessage: "v1.x" }],
    ];

    it("answers 401 on every authenticated route without a valid bearer token", async () => {
      for (const [method, path, body] of authenticated) {
        for (const token of [undefined, "not-a-jwt", `${alice.token.slice(0, -4)}AAAA`]) {
          const res = await api.request(method, path, { body, token });
          expect(res.status, `${method} ${path} ${token ? "bad" : "no"} token`).toBe(401);
          expect(res.body.error.code).toBe("unauthenticated");
        }
      }
    });

    it("refuses malformed JSON with 400", async () => {
      const res = await api.request("POST", "/chat/send", {
        raw: '{"recipient": "bob", ',
        token: alice.token,
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
    });

    it("refuses a body that is not JSON with 415", async () => {
      const res = await api.request("POST", "/auth/register", {
        raw: "username=x&password=y",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe("unsupported_media_type");
    });

    it("refuses a body over 1 MiB with 413", async () => {
      const res = await api.post("/encrypt", { message: "x".repeat(1024 * 1024 + 1) }, alice.token);
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe("payload_too_large");
    });

    it("stops reading a streamed body once it passes 1 MiB and answers 413", async () => {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${target().url}/encrypt`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${alice.token}` },
        });
        req.on("response", (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        // The server may close the connection while we are still writing; the response is what counts.
        req.on("error", (err) => (req.writableEnded ? undefined : reject(err)));
        const chunk = "x".repeat(64 * 1024);
        req.write('{"message":"');
        for (let i = 0; i < 24; i++) req.write(chunk);
        req.end('"}');
      });
      expect(status).toBe(413);
      expect(JSON.parse(body).error.code).toBe("payload_too_large");
    });

    it("refuses wrong types, missing and unknown fields with 400 naming the field", async () => {
      const cases: [string, unknown, RegExp][] = [
        ["/chat/send", { recipient: 42, message: "x" }, /recipient/],
        ["/chat/send", { recipient: bob.username }, /message/],
        ["/chat/send", { recipient: bob.username, message: "x", admin: true }, /admin/],
        ["/groups/create", { name: "g", members: "bob" }, /members/],
        ["/groups/create", { name: "g", members: [1] }, /members/],
        ["/encrypt", ["message"], /body/],
        ["/encrypt", null, /body/],
      ];
      for (const [path, body, field] of cases) {
        const res = await api.post(path, body, alice.token);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.code).toBe("invalid_argument");
        expect(res.body.error.message).toMatch(field);
      }
      const history = await api.get(`/chat/messages?recipient=${bob.username}`, alice.token);
      expect(history.body.messages.map((m: Json) => m.content)).toEqual(["hi bob", "hi alice"]);
    });

    it("answers 404 for an unknown route and 405 for a wrong method, in JSON", async () => {
      const unknown = await api.get("/no/such/route", alice.token);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe("not_found");
      const wrong = await api.get("/chat/send", alice.token);
      expect(wrong.status).toBe(405);
      expect(wrong.body.error.code).toBe("method_not_allowed");
      expect(wrong.headers.get("allow")).toBe("POST");
    });

    it("never sends a stack trace in an error", async () => {
      const res = await api.request("POST", "/chat/send", {
        raw: "{",
        token: alice.token,
        headers: { "content-type": "application/json" },
      });
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
      expect(Object.keys(res.body)).toEqual(["error"]);
      expect(Object.keys(res.body.error).sort()).toEqual(["code", "message"]);
    });

    it("records request latency by route pattern, not by raw path", async () => {
      const res = await fetch(`${target().adminUrl}/metrics`);
      const metrics = await res.text();
      expect(metrics).toMatch(
        /parley_http_request_duration_seconds_count\{route="\/groups\/:groupId\/send",method="POST",status="200"\} [1-9]/,
      );
      expect(metrics).not.toMatch(/route="\/groups\/[0-9a-f-]{36}\//);
    });

    it("answers /healthz at once and /readyz with every service serving", async () => {
      const health = await api.get("/healthz");
      expect(health.status).toBe(200);
      const ready = await api.get("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.services).toEqual({
        "parley.v1.AuthService": "SERVING",
        "parley.v1.MessageService": "SERVING",
        "parley.v1.GroupService": "SERVING",
        "parley.v1.CryptoService": "SERVING",
        "parley.v1.MediaService": "SERVING",
      });
    });

    it("publishes the token signing keys at /.well-known/jwks.json", async () => {
      const res = await api.get("/.well-known/jwks.json");
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
      expect(res.body.keys.length).toBeGreaterThan(0);
      for (const key of res.body.keys) {
        expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
        expect(typeof key.kid).toBe("string");
        expect(key).not.toHaveProperty("d");
      }
      const [header] = alice.token.split(".");
      const { kid } = JSON.parse(Buffer.from(header ?? "", "base64url").toString());
      expect(res.body.keys.map((k: Json) => k.kid)).toContain(kid);
    });
  });
}
