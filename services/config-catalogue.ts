import { authConfig } from "./auth/config.js";
import { cryptoConfig } from "./crypto/config.js";
import { gatewayConfig } from "./gateway/config.js";
import { groupsConfig } from "./groups/config.js";
import type { ConfigSpec, Setting } from "./kit/config.js";
import { infraConfig } from "./kit/infra.js";
import { processConfig } from "./kit/process-config.js";
import { messagesConfig } from "./messages/config.js";

/** Every setting Parley reads, by area, in the order the README documents them. */
export const CONFIG_CATALOGUE: [string, ConfigSpec<Record<string, Setting>>][] = [
  ["process", processConfig],
  ["infrastructure", infraConfig],
  ["gateway", gatewayConfig],
  ["auth", authConfig],
  ["groups", groupsConfig],
  ["messages", messagesConfig],
  ["crypto", cryptoConfig],
];

function defaultOf(setting: Setting): string {
  const parsed = setting.schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return "—";
  const value = Array.isArray(parsed.data) ? parsed.data.join(",") : String(parsed.data);
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
