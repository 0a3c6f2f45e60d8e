import { UserDirectoryServiceClient } from "../gen/grpc/parley/internal/v1/directory.js";
import { call, createClient } from "../kit/grpc/client.js";
import type { UserRef } from "./membership.js";

/** Usernames to user ids: auth owns users, groups only asks. */
export interface UserDirectory {
  /** The users that exist among `usernames`, in no particular order. */
  resolveUsernames(usernames: string[]): Promise<UserRef[]>;
  close(): void;
}

/** The auth service's UserDirectoryService over gRPC. */
export function grpcUserDirectory(address: string): UserDirectory {
  const client = createClient(UserDirectoryServiceClient, address);
  return {
    async resolveUsernames(usernames) {
      if (usernames.length === 0) return [];
      const { users } = await call(client, "resolveUsernames", { usernames });
      return users;
    },
    close: () => client.close(),
  };
}
