import { authConfig } from "./auth/config.js";
import { cryptoConfig } from "./crypto/config.js";
import { deliveryConfig } from "./delivery/config.js";
import { gatewayConfig } from "./gateway/config.js";
import { eventsConfig } from "./gateway/events/config.js";
import { groupsConfig } from "./groups/config.js";
import { blobConfig } from "./kit/blob/blob.config.js";
import type { ConfigSpec, Setting } from "./kit/config.js";
import { infraConfig } from "./kit/infra.js";
import { kafkaLogConfig } from "./kit/log/log.kafka.config.js";
import { processConfig } from "./kit/process-config.js";
import { mediaConfig } from "./media/config.js";
import { messagesConfig } from "./messages/config.js";
import { presenceConfig } from "./presence/config.js";

/** Every setting Parley reads, by area, in the order the README documents them. */
export const CONFIG_CATALOGUE: [string, ConfigSpec<Record<string, Setting>>][] = [
  ["process", processConfig],
  ["infrastructure", infraConfig],
  ["kafka", kafkaLogConfig],
  ["gateway", gatewayConfig],
  ["gateway events", eventsConfig],
  ["auth", authConfig],
  ["groups", groupsConfig],
  ["messages", messagesConfig],
  ["crypto", cryptoConfig],
  ["media", mediaConfig],
  ["media storage", blobConfig],
  ["presence", presenceConfig],
  ["delivery", deliveryConfig],
];

interface SchemaDef {
  type?: string;
  defaultValue?: unknown;
  in?: { def?: SchemaDef };
  innerType?: { def?: SchemaDef };
}

/** The default as written in the schema (before any transform), e.g. "1" rather than its parsed object. */
function declaredDefault(schema: unknown): unknown {
  let def = (schema as { def?: SchemaDef }).def;
  for (let depth = 0; def && depth < 5; depth++) {
    if (def.type === "default") return def.defaultValue;
    def = def.in?.def ?? def.innerType?.def;
  }
  return undefined;
}

function defaultOf(setting: Setting): string {
  const parsed = setting.schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return "—";
  const data = declaredDefault(setting.schema) ?? parsed.data;
  const value = Array.isArray(data) ? data.join(",") : String(data);
  return value === "" ? "—" : `\`${value}\``;
}

/** The README's configuration table, generated so it cannot drift from the code. */
export function configTable(): string {
  const rows = CONFIG_CATALOGUE.flatMap(([area, spec]) =>
    Object.values(spec.settings).map(
      (setting) =>
        `| \`${setting.env}\` | ${area} | ${defaultOf(setting)} | ${setting.help.replaceAll("|", "\\|")} |`,
    ),
  );
  return ["| variable | area | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}
