import { trace } from "@opentelemetry/api";
import { type Logger, pino } from "pino";

export type { Logger };

/** Paths never written to logs, wherever they appear in a logged object. */
const REDACT = [
  "password",
  "*.password",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "content",
  "*.content",
  "message",
  "*.message.content",
  "encryptedMessage",
  "*.encryptedMessage",
  "key",
  "*.key",
  "kek",
  "*.kek",
  "privateKey",
  "*.privateKey",
];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? "parley",
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    redact: { paths: REDACT, censor: "[redacted]" },
    // Every line carries the active trace id so logs and traces join up.
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
