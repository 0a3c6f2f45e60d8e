import { Buffer } from "node:buffer";
import type {
  GenerateDataKeyRequest,
  GenerateDataKeyResponse,
  UnwrapDataKeyRequest,
  UnwrapDataKeyResponse,
} from "../gen/grpc/parley/internal/v1/datakeys.js";
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
} from "../gen/grpc/parley/v1/crypto.js";
import { DomainError, invalidArgument } from "../kit/errors.js";
import type { CallContext } from "../kit/grpc/server.js";
import type { CryptoConfig } from "./config.js";
import { decryptForUser, encryptForUser, newDataKey, unwrapKey, wrapKey } from "./envelope.js";

/** The public seed operations: encrypt and decrypt for the calling user. */
export function cryptoHandlers(kek: Buffer, config: CryptoConfig) {
  return {
    async encrypt(request: EncryptRequest, ctx: CallContext): Promise<EncryptResponse> {
      if (request.message.length === 0) throw invalidArgument("message must not be empty");
      if (Buffer.byteLength(request.message, "utf8") > config.maxMessageBytes) {
        throw invalidArgument(`message must be at most ${config.maxMessageBytes} bytes`);
      }
      return { encryptedMessage: encryptForUser(kek, userOf(ctx), request.message) };
    },
    async decrypt(request: DecryptRequest, ctx: CallContext): Promise<DecryptResponse> {
      if (request.encryptedMessage.length === 0) throw invalidArgument("encryptedMessage must not be empty");
      return { message: decryptForUser(kek, userOf(ctx), request.encryptedMessage) };
    },
  };
}

/** The internal data-key operations that messages uses for encryption at rest. */
export function dataKeyHandlers(kek: Buffer) {
  return {
    async generateDataKey(request: GenerateDataKeyRequest): Promise<GenerateDataKeyResponse> {
      if (!request.context) throw invalidArgument("context is required");
      const plaintextKey = newDataKey();
      return { plaintextKey, wrappedKey: wrapKey(kek, plaintextKey, request.context) };
    },
    async unwrapDataKey(request: UnwrapDataKeyRequest): Promise<UnwrapDataKeyResponse> {
      try {
        return { plaintextKey: unwrapKey(kek, Buffer.from(request.wrappedKey), request.context) };
      } catch (err) {
        throw new DomainError("invalid_argument", "wrapped key does not unwrap for this context", {
          cause: err,
        });
      }
    },
  };
}

function userOf(ctx: CallContext): string {
  if (!ctx.principal) throw new DomainError("unauthenticated", "a valid access token is required");
  return ctx.principal.userId;
}
