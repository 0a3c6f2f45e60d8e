import type { ParleyModule, TargetName } from "./kit/module.js";

/**
 * The one registry: target name -> its module. A module is imported only by a process that runs
 * it, so a gateway does not load the S3 client, the CQL driver or PGlite's code it never uses.
 * `all` runs every one of them.
 */
const LOADERS: Record<TargetName, () => Promise<ParleyModule>> = {
  auth: async () => (await import("./auth/index.js")).authModule,
  crypto: async () => (await import("./crypto/index.js")).cryptoModule,
  groups: async () => (await import("./groups/index.js")).groupsModule,
  messages: async () => (await import("./messages/index.js")).messagesModule,
  media: async () => (await import("./media/index.js")).mediaModule,
  presence: async () => (await import("./presence/index.js")).presenceModule,
  delivery: async () => (await import("./delivery/index.js")).deliveryModule,
  gateway: async () => (await import("./gateway/index.js")).gatewayModule,
};

export const TARGET_NAMES = Object.keys(LOADERS) as TargetName[];

/** The modules of these targets, loaded. */
export async function loadTargets(names: readonly TargetName[]): Promise<Map<TargetName, ParleyModule>> {
  const modules = await Promise.all(names.map((name) => LOADERS[name]()));
  return new Map(names.map((name, i) => [name, modules[i] as ParleyModule]));
}

/**
 * Parses a --target value ("all" or a comma list) and loads those targets' modules, in start order
 * (callees first).
 */
export async function resolveTargets(value: string): Promise<Map<TargetName, ParleyModule>> {
  const requested = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (requested.length === 0) throw new Error("--target is empty");
  const names = new Set<TargetName>();
  for (const name of requested) {
    if (name === "all") for (const t of TARGET_NAMES) names.add(t);
    else if (name in LOADERS) names.add(name as TargetName);
    else throw new Error(`unknown target "${name}"; known: all, ${TARGET_NAMES.join(", ")}`);
  }
  const modules = await loadTargets([...names]);
  const ordered: TargetName[] = [];
  const visit = (name: TargetName, path: TargetName[]) => {
    if (ordered.includes(name) || !names.has(name)) return;
    if (path.includes(name)) throw new Error(`target cycle: ${[...path, name].join(" -> ")}`);
    for (const dep of (modules.get(name) as ParleyModule).needs) visit(dep, [...path, name]);
    ordered.push(name);
  };
  for (const name of TARGET_NAMES) visit(name, []);
  return new Map(ordered.map((name) => [name, modules.get(name) as ParleyModule]));
}
