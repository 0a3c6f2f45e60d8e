import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshUsername, restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { restScenarios } from "./rest.scenarios.js";

let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley();
});

afterAll(async () => {
  await parley?.cleanup();
});

restScenarios(() => ({ url: parley.url, adminUrl: `http://127.0.0.1:${parley.parley.adminPort}` }));

describe("a gateway whose services are down", () => {
  let lonely: TestParley;
  beforeAll(async () => {
    const down = "127.0.0.1:1";
    lonely = await startTestParley({
      target: "gateway",
      env: {
        PARLEY_AUTH_ADDR: down,
        PARLEY_GROUPS_ADDR: down,
        PARLEY_CRYPTO_ADDR: down,
        PARLEY_MESSAGES_ADDR: down,
        PARLEY_GATEWAY_READINESS_TIMEOUT_MS: "300",
        PARLEY_GATEWAY_UPSTREAM_TIMEOUT_MS: "1000",
      },
    });
  });
  afterAll(async () => {
    await lonely?.cleanup();
  });

  it("is alive but not ready, and names the services that do not answer", async () => {
    const lonelyApi = restClient(lonely.url);
    expect((await lonelyApi.get("/healthz")).status).toBe(200);
    const ready = await lonelyApi.get("/readyz");
    expect(ready.status).toBe(503);
    expect(Object.keys(ready.body.services).sort()).toEqual([
      "parley.v1.AuthService",
      "parley.v1.CryptoService",
      "parley.v1.GroupService",
      "parley.v1.MediaService",
      "parley.v1.MessageService",
    ]);
    for (const state of Object.values(ready.body.services)) expect(state).not.toBe("SERVING");
  });

  it("answers 503 unavailable in JSON when a service cannot be reached", async () => {
    const res = await restClient(lonely.url).post("/auth/register", {
      username: freshUsername("down"),
      password: "a fine password",
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("unavailable");
  });
});
