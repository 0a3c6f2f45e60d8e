import { type Client, Metadata, status } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import type { Upstreams } from "./upstreams.js";
import { PUBLIC_SERVICES } from "./upstreams.js";

const check =
  healthService.Check ??
  (() => {
    throw new Error("grpc-health-check has no Check method");
  })();

export interface Readiness {
  ready: boolean;
  /** Each public service and whether its owner answered SERVING (or why not). */
  services: Record<string, "SERVING" | string>;
}

/**
 * Asks every service the gateway calls, over the same channels the gateway uses, whether it
 * serves. Ready only when all of them answer SERVING within the deadline.
 */
export async function checkReadiness(upstreams: Upstreams, timeoutMs: number): Promise<Readiness> {
  const results = await Promise.all(
    PUBLIC_SERVICES.map(async ({ descriptor }) => {
      let client: Client;
      try {
        client = upstreams.owning(descriptor.typeName);
      } catch {
        return [descriptor.typeName, "starting"] as const;
      }
      return [descriptor.typeName, await healthCheck(client, descriptor.typeName, timeoutMs)] as const;
    }),
  );
  return {
    ready: results.every(([, status]) => status === "SERVING"),
    services: Object.fromEntries(results),
  };
}

function healthCheck(client: Client, serviceName: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      check.path,
      check.requestSerialize,
      check.responseDeserialize as (bytes: Buffer) => { status?: string | number },
      { service: serviceName },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, response) => {
        if (err) resolve(`unreachable (${status[err.code] ?? err.code})`);
        else {
          const status = response?.status;
          resolve(status === "SERVING" || status === 1 ? "SERVING" : String(status ?? "UNKNOWN"));
        }
      },
    );
  });
}
