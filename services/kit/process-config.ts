import { z } from "zod";
import { defineConfig, list, port } from "./config.js";

/** Settings of the whole process, shared by every target it runs. */
export const processConfig = defineConfig({
  port: {
    env: "PORT",
    schema: port().default(8080),
    help: "Public port of the gateway (REST, Connect, gRPC-Web, gRPC).",
  },
  dataDir: {
    env: "PARLEY_DATA_DIR",
    schema: z.string().min(1).default("./data"),
    help: "Folder for embedded-default data (PGlite databases, message log, generated keys).",
  },
  adminPort: {
    env: "PARLEY_ADMIN_PORT",
    schema: port().default(9464),
    help: "Admin port serving /metrics (Prometheus). 0 picks a free port.",
  },
  logLevel: {
    env: "LOG_LEVEL",
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    help: "Log level of the JSON logs.",
  },
  bindHost: {
    env: "PARLEY_BIND_HOST",
    schema: z.string().default("0.0.0.0"),
    help: "Address the public and admin listeners bind to.",
  },
  grpcBindHost: {
    env: "PARLEY_GRPC_BIND_HOST",
    schema: z.string().optional(),
    help: "Address the services' gRPC listeners bind to. Default: 127.0.0.1 for --target=all, 0.0.0.0 otherwise.",
  },
  shutdownGraceSeconds: {
    env: "PARLEY_SHUTDOWN_GRACE_SECONDS",
    schema: z.coerce.number().min(0).default(10),
    help: "How long stopping waits for in-flight requests before closing them.",
  },
  corsOrigins: {
    env: "PARLEY_CORS_ORIGINS",
    schema: list().default([]),
    help: "Origins allowed to call the API from a browser (comma-separated; * for any).",
  },
});

export type ProcessConfig = ReturnType<typeof processConfig.load>;
