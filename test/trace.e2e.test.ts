import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../services/kit/testing/eventually.js";
import { newUser, restClient } from "./clients.js";
import { connectEvents, kindOf } from "./event-clients.js";
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

  it("follows a message from the send through the log and delivery to the gateway holding the stream", async () => {
    const api = restClient(parley.url);
    const alice = await newUser(api, "alice");
    const bob = await newUser(api, "bob");
    const stream = connectEvents(parley.url, { token: bob.token });
    try {
      // Live before sending, so the message is pushed (not replayed).
      while (kindOf(await stream.next(15_000)) !== "control:LIVE");
      exporter.reset();
      const sent = await api.post(
        "/chat/send",
        { recipient: bob.username, message: "followed" },
        alice.token,
      );
      let received = await stream.next(15_000);
      while (kindOf(received) !== "message") received = await stream.next(15_000);
      expect(received.message.message.messageId).toBe(sent.body.messageId);

      const spans = () => exporter.getFinishedSpans();
      const send = spans().find((s) => s.name === "parley.v1.MessageService/SendDirectMessage");
      const traceId = send?.spanContext().traceId;
      expect(traceId).toBeDefined();
      const inTrace = () => spans().filter((s) => s.spanContext().traceId === traceId);
      // delivery's push span ends when the gateway's acknowledgement arrives, which may be just
      // after the client has the message.
      await eventually(async () => inTrace().some((s) => s.name === "delivery push"), 5_000);
      const names = inTrace().map((s) => s.name);
      expect(names).toContain("delivery fan-out parley.messages");
      expect(names).toContain("delivery push");
      expect(names).toContain("gateway push");
    } finally {
      stream.close();
    }
  });
});
