import { z } from "zod";
import { defineConfig } from "../kit/config.js";

export const groupsConfig = defineConfig({
  maxMembers: {
    env: "PARLEY_GROUPS_MAX_MEMBERS",
    schema: z.coerce.number().int().min(2).max(100_000).default(1024),
    help: "Most members a group may have, the owner included.",
  },
  maxNameLength: {
    env: "PARLEY_GROUPS_MAX_NAME_LENGTH",
    schema: z.coerce.number().int().min(1).max(1000).default(100),
    help: "Longest group name, in characters, after trimming.",
  },
});

export type GroupsConfig = ReturnType<typeof groupsConfig.load>;
