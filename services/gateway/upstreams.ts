import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@grpc/grpc-js";
import { AuthService } from "../gen/es/parley/v1/auth_pb.js";
import { CryptoService } from "../gen/es/parley/v1/crypto_pb.js";
import { GroupService } from "../gen/es/parley/v1/groups_pb.js";
import { MessageService } from "../gen/es/parley/v1/messages_pb.js";
import { AuthServiceClient } from "../gen/grpc/parley/v1/auth.js";
import { CryptoServiceClient } from "../gen/grpc/parley/v1/crypto.js";
import { GroupServiceClient } from "../gen/grpc/parley/v1/groups.js";
import { MessageServiceClient } from "../gen/grpc/parley/v1/messages.js";
import { createClient } from "../kit/grpc/client.js";
import type { AddressBook, ServiceName } from "../kit/module.js";

/** The public services the gateway serves, and which service process owns each. */
export const PUBLIC_SERVICES: { descriptor: DescService; owner: ServiceName }[] = [
  { descriptor: AuthService, owner: "auth" },
  { descriptor: MessageService, owner: "messages" },
  { descriptor: GroupService, owner: "groups" },
  { descriptor: CryptoService, owner: "crypto" },
];

/** One gRPC channel per service; REST uses the typed methods, the Connect proxy the raw ones. */
export interface Upstreams {
  auth: AuthServiceClient;
  messages: MessageServiceClient;
  groups: GroupServiceClient;
  crypto: CryptoServiceClient;
  /** The client of the service that owns a public service (by its fully-qualified name). */
  owning(typeName: string): Client;
  close(): void;
}

export function connectUpstreams(addresses: AddressBook): Upstreams {
  const clients = {
    auth: createClient(AuthServiceClient, addresses.resolve("auth")),
    messages: createClient(MessageServiceClient, addresses.resolve("messages")),
    groups: createClient(GroupServiceClient, addresses.resolve("groups")),
    crypto: createClient(CryptoServiceClient, addresses.resolve("crypto")),
  };
  const byTypeName = new Map<string, Client>(
    PUBLIC_SERVICES.map(({ descriptor, owner }) => [descriptor.typeName, clients[owner]]),
  );
  return {
    ...clients,
    owning(typeName) {
      const client = byTypeName.get(typeName);
      if (!client) throw new Error(`no upstream serves ${typeName}`);
      return client;
    },
    close() {
      for (const client of Object.values(clients)) client.close();
    },
  };
}
