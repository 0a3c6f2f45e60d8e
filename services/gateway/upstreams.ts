import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@grpc/grpc-js";
import { AuthService } from "../gen/es/parley/v1/auth_pb.js";
import { CryptoService } from "../gen/es/parley/v1/crypto_pb.js";
import { GroupService } from "../gen/es/parley/v1/groups_pb.js";
import { MediaService } from "../gen/es/parley/v1/media_pb.js";
import { MessageService } from "../gen/es/parley/v1/messages_pb.js";
import { AuthServiceClient } from "../gen/grpc/parley/v1/auth.js";
import { CryptoServiceClient } from "../gen/grpc/parley/v1/crypto.js";
import { GroupServiceClient } from "../gen/grpc/parley/v1/groups.js";
import { MediaServiceClient } from "../gen/grpc/parley/v1/media.js";
import { MessageServiceClient } from "../gen/grpc/parley/v1/messages.js";
import { DomainError } from "../kit/errors.js";
import { createClient } from "../kit/grpc/client.js";
import type { AddressBook, ServiceName } from "../kit/module.js";

/** The services that own a public API (presence and delivery are internal only). */
type PublicOwner = Exclude<ServiceName, "presence" | "delivery">;

/** The public services the gateway serves, and which service process owns each. */
export const PUBLIC_SERVICES: { descriptor: DescService; owner: PublicOwner }[] = [
  { descriptor: AuthService, owner: "auth" },
  { descriptor: MessageService, owner: "messages" },
  { descriptor: GroupService, owner: "groups" },
  { descriptor: CryptoService, owner: "crypto" },
  { descriptor: MediaService, owner: "media" },
];

/** One gRPC channel per service; REST uses the typed methods, the Connect proxy the raw ones. */
export interface Upstreams {
  auth: AuthServiceClient;
  messages: MessageServiceClient;
  groups: GroupServiceClient;
  crypto: CryptoServiceClient;
  media: MediaServiceClient;
  /** The client of the service that owns a public service (by its fully-qualified name). */
  owning(typeName: string): Client;
  close(): void;
}

/**
 * Channels open on first use, so the gateway can listen (and answer /healthz) before the services
 * it calls have started; until a service has an address, calls to it are `unavailable`.
 */
export function connectUpstreams(addresses: AddressBook): Upstreams {
  const constructors = {
    auth: AuthServiceClient,
    messages: MessageServiceClient,
    groups: GroupServiceClient,
    crypto: CryptoServiceClient,
    media: MediaServiceClient,
  } as const;
  const open = new Map<ServiceName, Client>();
  function client<S extends keyof typeof constructors>(service: S): InstanceType<(typeof constructors)[S]> {
    let existing = open.get(service);
    if (!existing) {
      let address: string;
      try {
        address = addresses.resolve(service);
      } catch (err) {
        throw new DomainError("unavailable", `the ${service} service is not available yet`, { cause: err });
      }
      existing = createClient(
        constructors[service] as unknown as Parameters<typeof createClient>[0],
        address,
      );
      open.set(service, existing);
    }
    return existing as InstanceType<(typeof constructors)[S]>;
  }
  const owners = new Map(PUBLIC_SERVICES.map(({ descriptor, owner }) => [descriptor.typeName, owner]));
  return {
    get auth() {
      return client("auth");
    },
    get messages() {
      return client("messages");
    },
    get groups() {
      return client("groups");
    },
    get crypto() {
      return client("crypto");
    },
    get media() {
      return client("media");
    },
    owning(typeName) {
      const owner = owners.get(typeName);
      if (!owner) throw new Error(`no upstream serves ${typeName}`);
      return client(owner);
    },
    close() {
      for (const channel of open.values()) channel.close();
    },
  };
}
