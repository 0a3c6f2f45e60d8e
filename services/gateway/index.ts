import { resolve } from "node:path";
import { blobConfig } from "../kit/blob/blob.config.js";
import type { ParleyModule } from "../kit/module.js";
import { withLocalBlobs } from "./blobs.js";
import { gatewayConfig } from "./config.js";
import { startEventsNode } from "./events/node.js";
import { listen } from "./listener.js";
import { authRoutes } from "./rest/auth.js";
import { chatRoutes } from "./rest/chat.js";
import { cryptoRoutes } from "./rest/crypto.js";
import { groupRoutes } from "./rest/groups.js";
import { mediaRoutes } from "./rest/media.js";
import { probeRoutes } from "./rest/probes.js";
import { createRestRouter } from "./rest/router.js";
import { webAppRoutes } from "./rest/web.js";
import { createEdgeHandler } from "./server.js";
import { connectUpstreams } from "./upstreams.js";

/** The edge: one public port serving Connect, gRPC-Web, gRPC and the seed's REST routes. */
export const gatewayModule: ParleyModule = {
  name: "gateway",
  needs: ["auth", "groups", "crypto", "messages", "media", "delivery", "presence"],
  async start(ctx) {
    const config = gatewayConfig.load(ctx.env);
    const upstreams = connectUpstreams(ctx.addresses);
    let draining = false;
    const events = await startEventsNode(ctx, config.upstreamTimeoutMs);
    const rest = createRestRouter({
      routes: [
        ...events.restRoutes,
        ...authRoutes(upstreams),
        ...chatRoutes(upstreams),
        ...groupRoutes(upstreams),
        ...cryptoRoutes(upstreams),
        ...mediaRoutes(upstreams),
        ...webAppRoutes(),
        ...probeRoutes(upstreams, {
          readinessTimeoutMs: config.readinessTimeoutMs,
          jwksMaxAgeSeconds: config.jwksMaxAgeSeconds,
          draining: () => draining,
          starting: () => ctx.allTargetsStarted?.() === false,
        }),
      ],
      verifier: ctx.verifier,
      logger: ctx.logger,
      maxBodyBytes: config.maxBodyBytes,
      trustProxy: config.trustProxy,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
    });
    const blobs = {
      config: blobConfig.load(ctx.env),
      dataDir: resolve(ctx.config.dataDir),
      logger: ctx.logger,
    };
    const listener = await listen({
      host: ctx.config.bindHost,
      port: ctx.config.port,
      idleTimeoutMs: config.headersTimeoutSeconds * 1000,
      onUpgrade: events.onUpgrade,
      handler: withLocalBlobs(
        blobs,
        createEdgeHandler({
          rest,
          upstreams,
          corsOrigins: ctx.config.corsOrigins,
          trustProxy: config.trustProxy,
          upstreamTimeoutMs: config.upstreamTimeoutMs,
          maxBodyBytes: config.maxBodyBytes,
          local: events.local,
        }),
      ),
    });
    ctx.logger.info({ target: "gateway", port: listener.port }, "gateway listening");
    return {
      port: listener.port,
      async stop() {
        draining = true;
        // Streams first: every client gets RECONNECT (and resumes elsewhere) before the port closes.
        await events.stop(ctx.config.shutdownGraceSeconds * 1000);
        await listener.stop(ctx.config.shutdownGraceSeconds * 1000);
        upstreams.close();
      },
    };
  },
};
