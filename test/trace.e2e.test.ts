import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser, restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

const exporter = new InMemorySpanExporter();
let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
});

afterAll(async () => {
  await parley?.cleanup();
});

describe("tracing", () => {
  it("one REST send is one trace spanning the gateway and the messages service", async () => {
    const api = restClient(parley.url);
    const alice = await newUser(api, "alice");
    const bob = await newUser(api, "bob");
    exporter.reset();
    const sent = await api.post("/chat/send", { recipient: bob.username, message: "traced" }, alice.token);
    expect(sent.status).toBe(200);

    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === "parley.v1.MessageService/SendDirectMessage");
    expect(server, spans.map((s) => s.name).join(", ")).toBeDefined();
    const traceId = server?.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const names = inTrace.map((s) => s.name);
    // The gateway's request span is the root; the messages server span and its own calls share the trace.
    expect(names.some((n) => n.startsWith("POST /chat/send") || n.includes("/chat/send"))).toBe(true);
    expect(names).toContain("parley.v1.MessageService/SendDirectMessage");
    expect(names.some((n) => n.startsWith("parley.internal.v1.") || n.includes("DataKeyService"))).toBe(true);
    // No span of this send started a trace of its own.
    const roots = inTrace.filter((s) => !s.parentSpanContext);
    expect(roots).toHaveLength(1);
  });
});
