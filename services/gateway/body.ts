import { DomainError, invalidArgument } from "../kit/errors.js";
import type { GatewayRequest } from "./request-context.js";

/**
 * Reads a JSON request body of at most `maxBytes`. Refuses a declared or actual size above the
 * limit without buffering the rest (the caller closes the connection), a content type other than
 * JSON, and text that does not parse.
 */
export async function readJsonBody(req: GatewayRequest, maxBytes: number): Promise<unknown> {
  const mediaType = String(req.headers["content-type"] ?? "")
    .split(";")[0]
    ?.trim()
    .toLowerCase();
  if (mediaType !== "application/json") {
    throw new DomainError("unsupported_media_type", "Content-Type must be application/json");
  }
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);

  const { chunks, size } = await collect(req, maxBytes);
  const text = Buffer.concat(chunks, size).toString("utf8");
  if (text.trim() === "") throw invalidArgument("request body is empty; expected a JSON object");
  try {
    return JSON.parse(text);
  } catch {
    throw invalidArgument("request body is not valid JSON");
  }
}

/** Stops reading (without destroying the socket, so the 413 can still be sent) once over the limit. */
function collect(req: GatewayRequest, maxBytes: number): Promise<{ chunks: Buffer[]; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve({ chunks, size });
    };
    const onError = () => {
      cleanup();
      reject(invalidArgument("request body could not be read"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

function tooLarge(maxBytes: number): DomainError {
  return new DomainError("payload_too_large", `request body must be at most ${maxBytes} bytes`);
}
