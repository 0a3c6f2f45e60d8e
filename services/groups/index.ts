import { MembershipServiceService } from "../gen/grpc/parley/internal/v1/membership.js";
import { GroupServiceService } from "../gen/grpc/parley/v1/groups.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import type { ParleyModule } from "../kit/module.js";
import { groupsConfig } from "./config.js";
import { grpcUserDirectory } from "./directory.js";
import { createGroups } from "./groups.js";
import { groupHandlers, membershipHandlers } from "./handlers.js";
import { SqlGroupStore } from "./store.sql.js";

/** The seed's Group Management Service: groups, members and roles; events on parley.groups. */
export const groupsModule: ParleyModule = {
  name: "groups",
  needs: ["auth"],
  async start(ctx) {
    const config = groupsConfig.load(ctx.env);
    const logger = ctx.logger.child({ target: "groups" });
    const store = await SqlGroupStore.open(await ctx.sql("groups"));
    const directory = grpcUserDirectory(ctx.addresses.resolve("auth"));
    const groups = createGroups({ store, directory, log: await ctx.messageLog(), config, logger });
    const server = await startGrpcServer({
      target: "groups",
      bind: ctx.grpcBind("groups"),
      logger,
      verifier: ctx.verifier,
      protoFiles: ["parley/v1/groups.proto", "parley/internal/v1/membership.proto"],
      services: [
        {
          name: "parley.v1.GroupService",
          definition: GroupServiceService,
          handlers: groupHandlers(groups),
          access: "user",
        },
        {
          name: "parley.internal.v1.MembershipService",
          definition: MembershipServiceService,
          handlers: membershipHandlers(groups),
          access: "internal",
        },
      ],
    });
    ctx.addresses.register("groups", server.address);
    return {
      async stop() {
        await server.stop(ctx.config.shutdownGraceSeconds * 1000);
        directory.close();
      },
    };
  },
};
