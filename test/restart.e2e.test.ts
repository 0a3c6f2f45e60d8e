import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newUser, restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

/** Every file under `dir`, for scanning the data folder byte by byte. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

let parley: TestParley | undefined;

afterAll(async () => {
  await parley?.cleanup();
});

describe("a restart on the same data folder", () => {
  it("keeps users, groups, history and signing keys; old tokens still verify", async () => {
    parley = await startTestParley();
    let api = restClient(parley.url);
    const alice = await newUser(api, "alice");
    const bob = await newUser(api, "bob");
    const dm = await api.post(
      "/chat/send",
      { recipient: bob.username, message: "before restart" },
      alice.token,
    );
    const group = await api.post("/groups/create", { name: "durable", members: [bob.username] }, alice.token);
    const gm = await api.post(`/groups/${group.body.groupId}/send`, { message: "group before" }, bob.token);
    expect([dm.status, group.status, gm.status]).toEqual([200, 201, 200]);
    const sealed = await api.post("/encrypt", { message: "kept secret" }, alice.token);

    parley = await parley.restart();
    api = restClient(parley.url);

    // Old access tokens verify: the signing key survived.
    const history = await api.get(`/chat/messages?recipient=${alice.username}`, bob.token);
    expect(history.status).toBe(200);
    expect(history.body.messages).toEqual([dm.body]);
    const groupHistory = await api.get(`/groups/${group.body.groupId}/messages`, alice.token);
    expect(groupHistory.body.messages).toEqual([gm.body]);
    // The key-encryption key survived: old ciphertexts decrypt.
    const opened = await api.post(
      "/decrypt",
      { encryptedMessage: sealed.body.encryptedMessage },
      alice.token,
    );
    expect(opened.body).toEqual({ message: "kept secret" });
    // Passwords and refresh tokens survived.
    expect((await api.post("/auth/login", { username: bob.username, password: bob.password })).status).toBe(
      200,
    );
    expect((await api.post("/auth/refresh", { refreshToken: alice.refreshToken })).status).toBe(200);
    // A sent message after the restart lands after the earlier one.
    const after = await api.post(
      "/chat/send",
      { recipient: alice.username, message: "after restart" },
      bob.token,
    );
    const both = await api.get(`/chat/messages?recipient=${bob.username}`, alice.token);
    expect(both.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual([
      dm.body.messageId,
      after.body.messageId,
    ]);
  });
});

describe("at rest", () => {
  it("message plaintext appears in no file of the data folder", async () => {
    parley = await startTestParley();
    const api = restClient(parley.url);
    const alice = await newUser(api, "alice");
    const bob = await newUser(api, "bob");
    const secretDm = `direct-plaintext-${Date.now()}-zebra`;
    const secretGroup = `group-plaintext-${Date.now()}-okapi`;
    expect(
      (await api.post("/chat/send", { recipient: bob.username, message: secretDm }, alice.token)).status,
    ).toBe(200);
    const group = await api.post("/groups/create", { name: "quiet", members: [bob.username] }, alice.token);
    expect(
      (await api.post(`/groups/${group.body.groupId}/send`, { message: secretGroup }, bob.token)).status,
    ).toBe(200);
    const dir = parley.dataDir;
    // Stop first so every page and log is flushed to disk before scanning.
    await parley.stop();
    const files = filesUnder(dir);
    expect(files.length).toBeGreaterThan(10);
    let scanned = 0;
    for (const file of files) {
      const bytes = readFileSync(file);
      scanned += statSync(file).size;
      for (const secret of [secretDm, secretGroup]) {
        expect(bytes.includes(Buffer.from(secret)), `${secret} in ${file}`).toBe(false);
        expect(bytes.includes(Buffer.from(secret, "utf16le")), `${secret} (UTF-16) in ${file}`).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(1_000_000);
    // The scan can find what is there: the usernames are stored in the clear.
    const found = files.some((file) => readFileSync(file).includes(Buffer.from(alice.username)));
    expect(found).toBe(true);
  });
});
