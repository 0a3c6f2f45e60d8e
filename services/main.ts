import { parseArgs } from "node:util";
import { startParley } from "./app.js";
import { ConfigError } from "./kit/config.js";
import { DependencyError } from "./kit/dependencies.js";
import { loadTargets, TARGET_NAMES } from "./targets.js";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: process.env.PARLEY_TARGET ?? "all" },
    "list-targets": { type: "boolean", default: false },
  },
});

if (values["list-targets"]) {
  for (const [name, module] of await loadTargets(TARGET_NAMES)) {
    console.log(`${name}${module.needs.length ? ` (needs ${module.needs.join(", ")})` : ""}`);
  }
  process.exit(0);
}

// Handlers go in before starting: the gateway may report ready (its upstreams serve) while the
// last targets are still finishing their start, and a SIGTERM then must still stop cleanly.
let parley: Awaited<ReturnType<typeof startParley>> | undefined;
let stopRequested: string | undefined;
const stop = async (signal: string) => {
  if (stopRequested) return;
  stopRequested = signal;
  console.error(`parley: ${signal}, stopping`);
  if (!parley) return; // stopped as soon as the start completes
  await parley.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

try {
  parley = await startParley({ target: values.target });
  if (stopRequested) {
    await parley.stop();
    process.exit(0);
  }
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  if (err instanceof DependencyError) {
    // One line naming the dependency: supervisors and humans see why, not a stack.
    console.error(`parley: cannot start --target=${values.target}: ${err.message}`);
    process.exit(1);
  }
  console.error("parley: failed to start:", err);
  process.exit(1);
}
