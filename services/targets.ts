import { authModule } from "./auth/index.js";
import { cryptoModule } from "./crypto/index.js";
import { deliveryModule } from "./delivery/index.js";
import { gatewayModule } from "./gateway/index.js";
import { groupsModule } from "./groups/index.js";
import type { ParleyModule, TargetName } from "./kit/module.js";
import { mediaModule } from "./media/index.js";
import { messagesModule } from "./messages/index.js";
import { presenceModule } from "./presence/index.js";

/** The one registry: target name -> module. `all` runs every one of them. */
export const TARGETS: Record<TargetName, ParleyModule> = {
  auth: authModule,
  crypto: cryptoModule,
  groups: groupsModule,
  messages: messagesModule,
  media: mediaModule,
  presence: presenceModule,
  delivery: deliveryModule,
  gateway: gatewayModule,
};

export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

/** Parses a --target value ("all" or a comma list) into targets in start order (callees first). */
export function resolveTargets(value: string): TargetName[] {
  const requested = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (requested.length === 0) throw new Error("--target is empty");
  const names = new Set<TargetName>();
  for (const name of requested) {
    if (name === "all") for (const t of TARGET_NAMES) names.add(t);
    else if (name in TARGETS) names.add(name as TargetName);
    else throw new Error(`unknown target "${name}"; known: all, ${TARGET_NAMES.join(", ")}`);
  }
  const ordered: TargetName[] = [];
  const visit = (name: TargetName, path: TargetName[]) => {
    if (ordered.includes(name) || !names.has(name)) return;
    if (path.includes(name)) throw new Error(`target cycle: ${[...path, name].join(" -> ")}`);
    for (const dep of TARGETS[name].needs) visit(dep, [...path, name]);
    ordered.push(name);
  };
  for (const name of TARGET_NAMES) visit(name, []);
  return ordered;
}
