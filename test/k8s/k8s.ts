/**
 * Helpers of the Kubernetes tests (test/k8s): the container engine and the test API server are
 * started by the project's own scripts (deps/docker.sh, deps/kube.sh through deps/up.sh, cached
 * builds under ~/.cache/parley); helm, kubectl and promtool come from the same scripts.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { eventually } from "../../services/kit/testing/eventually.js";
import { readDepsEnv } from "../real-servers.js";

export const REPO = join(import.meta.dirname, "..", "..");
export const CHART = join(REPO, "charts", "parley");
export const VALUES_FILES = ["all-in-one", "mesh", "dev-kind", "production"] as const;
export const valuesFile = (name: string) => join(CHART, "values", `${name}.yaml`);

/** A cold build of the API server takes minutes; a warm start a few seconds. */
export const SETUP_TIMEOUT_MS = 40 * 60_000;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit (the result says). */
export function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd ?? REPO,
        env: { ...process.env, ...options.env },
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 300_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a command and fails with its output when it exits non-zero. */
export async function must(command: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}\n${result.stderr}\n${result.stdout}`);
  }
  return result;
}

/** deps/up.sh for the named servers (installs and builds what is missing), then their settings. */
export async function ensureDeps(names: ("docker" | "kube")[]): Promise<Record<string, string>> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [join(REPO, "deps", "up.sh"), ...names], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`deps/up.sh ${names} exited ${code}`)),
    );
    child.on("error", reject);
  });
  return readDepsEnv();
}

/** helm, kubectl and promtool bound to the test API server, with helm's state in a temp folder. */
export class Kube {
  readonly helmHome = mkdtempSync(join(tmpdir(), "parley-helm-"));
  constructor(readonly env: Record<string, string>) {}

  static async start(): Promise<Kube> {
    return new Kube(await ensureDeps(["kube"]));
  }

  private get toolEnv(): Record<string, string> {
    return {
      KUBECONFIG: this.setting("PARLEY_TEST_KUBECONFIG"),
      HELM_CACHE_HOME: join(this.helmHome, "cache"),
      HELM_CONFIG_HOME: join(this.helmHome, "config"),
      HELM_DATA_HOME: join(this.helmHome, "data"),
    };
  }

  setting(key: string): string {
    const value = this.env[key];
    if (!value) throw new Error(`${key} is not in .deps/env: deps/kube.sh did not start`);
    return value;
  }

  helm(args: string[], input?: string) {
    return run(this.setting("PARLEY_TEST_HELM"), args, { env: this.toolEnv, input });
  }

  kubectl(args: string[], input?: string) {
    return run(this.setting("PARLEY_TEST_KUBECTL"), args, { env: this.toolEnv, input });
  }

  promtool(args: string[]) {
    return run(this.setting("PARLEY_TEST_PROMTOOL"), args);
  }

  /** A new namespace (the API server has no controller-manager: namespaces are never reused). */
  async namespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
    const name = `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
    await must(this.setting("PARLEY_TEST_KUBECTL"), ["create", "namespace", name], { env: this.toolEnv });
    if (Object.keys(labels).length) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      await must(this.setting("PARLEY_TEST_KUBECTL"), ["label", "namespace", name, ...pairs], {
        env: this.toolEnv,
      });
    }
    // The controller-manager would make the namespace's default ServiceAccount; pods need it.
    await must(this.setting("PARLEY_TEST_KUBECTL"), ["create", "serviceaccount", "default", "-n", name], {
      env: this.toolEnv,
    });
    return name;
  }

  /** Applies the Prometheus Operator CRDs and waits until they are Established. */
  async applyPrometheusCrds(): Promise<void> {
    const dir = this.setting("PARLEY_TEST_PROM_CRDS");
    await must(
      this.setting("PARLEY_TEST_KUBECTL"),
      ["apply", "--server-side", "--force-conflicts", "-f", dir],
      { env: this.toolEnv },
    );
    // `kubectl wait` fails on a CRD whose status has no conditions yet, so poll.
    for (const crd of ["servicemonitors", "prometheusrules"]) {
      await eventually(async () => {
        const got = await this.kubectl([
          "get",
          "crd",
          `${crd}.monitoring.coreos.com`,
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ]);
        return got.stdout.trim() === "True";
      }, 60_000);
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are free-form
export type K8sObject = Record<string, any>;

export function parseYamlDocs(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`bad YAML: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === "object");
}

/** `helm template` of the chart (no cluster needed); helm validates values.schema.json first. */
export async function renderChart(
  helmBin: string,
  options: {
    values?: string[];
    set?: string[];
    namespace?: string;
    release?: string;
    showOnly?: string;
  } = {},
): Promise<RunResult & { objects: K8sObject[] }> {
  const args = ["template", options.release ?? "parley", CHART, "--namespace", options.namespace ?? "parley"];
  for (const v of options.values ?? []) args.push("-f", v);
  for (const s of options.set ?? []) args.push("--set", s);
  if (options.showOnly) args.push("--show-only", options.showOnly);
  const home = mkdtempSync(join(tmpdir(), "parley-helm-"));
  const result = await run(helmBin, args, {
    env: { HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home, KUBECONFIG: "/dev/null" },
  });
  return { ...result, objects: result.code === 0 ? parseYamlDocs(result.stdout) : [] };
}

export const readText = (path: string) => readFileSync(path, "utf8");
