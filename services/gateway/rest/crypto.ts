import { z } from "zod";
import { call } from "../../kit/grpc/client.js";
import type { Upstreams } from "../upstreams.js";
import { ok, type RestRoute } from "./route.js";
import { text } from "./validate.js";

const encryptBody = z.strictObject({ message: text() });
const decryptBody = z.strictObject({ encryptedMessage: text() });

/** The seed's Encryption Service: only the caller who encrypted a text can decrypt it. */
export function cryptoRoutes(upstreams: Upstreams): RestRoute[] {
  return [
    {
      method: "POST",
      path: "/encrypt",
      auth: true,
      async handle(req) {
        const body = await req.body(encryptBody);
        const { encryptedMessage } = await call(upstreams.crypto, "encrypt", body, req.call);
        return ok({ encryptedMessage });
      },
    },
    {
      method: "POST",
      path: "/decrypt",
      auth: true,
      async handle(req) {
        const body = await req.body(decryptBody);
        const { message } = await call(upstreams.crypto, "decrypt", body, req.call);
        return ok({ message });
      },
    },
  ];
}
