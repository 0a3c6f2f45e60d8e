import { join } from "node:path";
import { DataKeyServiceService } from "../gen/grpc/parley/internal/v1/datakeys.js";
import { CryptoServiceService } from "../gen/grpc/parley/v1/crypto.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import { loadOrCreateKey } from "../kit/key-file.js";
import type { ParleyModule } from "../kit/module.js";
import { cryptoConfig } from "./config.js";
import { cryptoHandlers, dataKeyHandlers } from "./handlers.js";

/** The seed's Encryption Service: holds the key-encryption key; nothing else ever sees it. */
export const cryptoModule: ParleyModule = {
  name: "crypto",
  needs: [],
  async start(ctx) {
    const config = cryptoConfig.load(ctx.env);
    const kek = loadOrCreateKey(config.kek, join(ctx.config.dataDir, "crypto", "kek"));
    const server = await startGrpcServer({
      target: "crypto",
      bind: ctx.grpcBind("crypto"),
      logger: ctx.logger,
      verifier: ctx.verifier,
      protoFiles: ["parley/v1/crypto.proto", "parley/internal/v1/datakeys.proto"],
      services: [
        {
          name: "parley.v1.CryptoService",
          definition: CryptoServiceService,
          handlers: cryptoHandlers(kek, config),
          access: "user",
        },
        {
          name: "parley.internal.v1.DataKeyService",
          definition: DataKeyServiceService,
          handlers: dataKeyHandlers(kek),
          access: "internal",
        },
      ],
    });
    ctx.addresses.register("crypto", server.address);
    return { stop: () => server.stop(ctx.config.shutdownGraceSeconds * 1000) };
  },
};
