import type { Metadata } from "@grpc/grpc-js";
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";

export const tracer = trace.getTracer("parley");

/**
 * Starts the OpenTelemetry SDK when there is somewhere to send spans: an OTLP endpoint
 * from the standard OTEL_* variables, or span processors passed in (tests).
 */
export async function startTracing(options: {
  serviceName: string;
  spanProcessors?: SpanProcessor[];
}): Promise<() => Promise<void>> {
  const exporting = Boolean(
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  );
  if (!exporting && !options.spanProcessors) return async () => {};
  // Imported only when used: the SDK and its exporters are ~40 MiB of RSS in every process.
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? options.serviceName,
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [],
    // Logs go to stdout as JSON (pino), not over OTLP.
    logRecordProcessors: [],
  });
  sdk.start();
  return () => sdk.shutdown();
}

const metadataSetter: TextMapSetter<Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
};

/** Writes the active trace context into outgoing gRPC metadata. */
export function injectTraceContext(metadata: Metadata, ctx: Context = context.active()): void {
  propagation.inject(ctx, metadata, metadataSetter);
}

export function extractTraceContext(metadata: Metadata): Context {
  return propagation.extract(context.active(), metadata, metadataGetter);
}

/** Runs `fn` in a new span, recording failure; the span ends when `fn` settles. */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; parent?: Context; attributes?: Record<string, string | number | boolean> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}

export { SpanKind };
