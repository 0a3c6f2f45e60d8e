import type { ParleyModule } from "../kit/module.js";
import { gatewayConfig } from "./config.js";
import { listen } from "./listener.js";
import { authRoutes } from "./rest/auth.js";
import { chatRoutes } from "./rest/chat.js";
import { cryptoRoutes } from "./rest/crypto.js";
import { groupRoutes } from "./rest/groups.js";
import { probeRoutes } from "./rest/probes.js";
import { createRestRouter } from "./rest/router.js";
import { createEdgeHandler } from "./server.js";
import { connectUpstreams } from "./upstreams.js";

/** The edge: one public port serving Connect, gRPC-Web, gRPC and the seed's REST routes. */
export const gatewayModule: ParleyModule = {
  name: "gateway",
  needs: ["auth", "groups", "crypto", "messages"],
  async start(ctx) {
    const config = gatewayConfig.load(ctx.env);
    const upstreams = connectUpstreams(ctx.addresses);
    let draining = false;
    const rest = createRestRouter({
      routes: [
        ...authRoutes(upstreams),
        ...chatRoutes(upstreams),
        ...groupRoutes(upstreams),
        ...cryptoRoutes(upstreams),
        ...probeRoutes(upstreams, {
          readinessTimeoutMs: config.readinessTimeoutMs,
          jwksMaxAgeSeconds: config.jwksMaxAgeSeconds,
          draining: () => draining,
        }),
      ],
      verifier: ctx.verifier,
      logger: ctx.logger,
      maxBodyBytes: config.maxBodyBytes,
      trustProxy: config.trustProxy,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
    });
    const listener = await listen({
      host: ctx.config.bindHost,
      port: ctx.config.port,
      idleTimeoutMs: config.headersTimeoutSeconds * 1000,
      handler: createEdgeHandler({
        rest,
        upstreams,
        corsOrigins: ctx.config.corsOrigins,
        trustProxy: config.trustProxy,
        upstreamTimeoutMs: config.upstreamTimeoutMs,
        maxBodyBytes: config.maxBodyBytes,
      }),
    });
    ctx.logger.info({ target: "gateway", port: listener.port }, "gateway listening");
    return {
      port: listener.port,
      async stop() {
        draining = true;
        await listener.stop(ctx.config.shutdownGraceSeconds * 1000);
        upstreams.close();
      },
    };
  },
};
