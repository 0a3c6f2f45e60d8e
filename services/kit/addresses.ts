import type { AddressBook, ServiceName } from "./module.js";

/** Default gRPC ports, one per service, used in mesh mode and by the Helm chart. */
export const DEFAULT_GRPC_PORTS: Record<ServiceName, number> = {
  auth: 50051,
  groups: 50052,
  crypto: 50053,
  messages: 50054,
  presence: 50055,
  delivery: 50056,
  media: 50057,
};

export function createAddressBook(env: NodeJS.ProcessEnv): AddressBook {
  const local = new Map<ServiceName, string>();
  return {
    resolve(service) {
      const configured = env[`PARLEY_${service.toUpperCase()}_ADDR`];
      if (configured) return configured;
      const started = local.get(service);
      if (started) return started;
      throw new Error(
        `no address for the ${service} service: run it in this process or set PARLEY_${service.toUpperCase()}_ADDR`,
      );
    },
    register(service, address) {
      local.set(service, address);
    },
  };
}
