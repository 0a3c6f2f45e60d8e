import { setTimeout as delay } from "node:timers/promises";
import type { TargetName } from "../../services/kit/module.js";
import { ensureDatabases } from "./databases.js";
import {
  isMeshVariable,
  loadSecrets,
  MESH_TARGETS,
  type MeshNames,
  type MeshPlan,
  type MeshPorts,
  processEnv,
  type RealServers,
} from "./plan.js";
import { type MeshProcess, SupervisedProcess } from "./processes.js";

export interface MeshOptions {
  repoDir: string;
  /** repoDir is a compiled build (scripts/compiled-build.ts), run on plain node like the image. */
  compiled?: boolean;
  servers: RealServers;
  ports: MeshPorts;
  names: MeshNames;
  /** Where the shared secrets live (secrets.json, generated once). */
  stateDir: string;
  /** Each process's data folder is `<dataDir>/<target>`. */
  dataDir: string;
  extraEnv?: Record<string, string>;
  /** What children inherit besides the mesh's own variables. Default: this process's environment. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Every line a process writes, and the mesh's own notices (name "mesh"). Default: dropped. */
  output?: (name: TargetName | "mesh", line: string) => void;
  /** How long each process may take to become ready. Default 90 s. */
  readyTimeoutMs?: number;
  /** How long stop() waits for each process before SIGKILL. Default 15 s. */
  stopGraceMs?: number;
}

export interface Mesh {
  /** The gateway's public URL. */
  url: string;
  plan: MeshPlan;
  processes: Record<TargetName, MeshProcess>;
  /** Resolves once every process and the gateway's view of the services are ready (bounded). */
  waitReady(): Promise<void>;
  /** Why the mesh stopped by itself (a process died unasked), if it did. */
  failure(): string | undefined;
  /** Resolves with the reason when a process dies unasked and the mesh has stopped because of it. */
  failed: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts one process per target on the given real servers: creates each service's database and
 * role, starts every process at once (clients connect on first use, so the order does not
 * matter), and resolves once each process's /readyz and the gateway's /readyz answer 200.
 *
 * A process that exits without being asked to (kill() and restart() ask) stops the whole mesh:
 * a half-running mesh answers some requests and fails others, which hides the cause. Restarting
 * crashed processes is the job of what runs the mesh in production (Kubernetes).
 */
export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const output = options.output ?? (() => {});
  const secrets = loadSecrets(options.stateDir);
  const plan: MeshPlan = {
    ports: options.ports,
    servers: options.servers,
    names: options.names,
    secrets,
    dataDir: options.dataDir,
    extraEnv: options.extraEnv,
  };
  if (options.servers.postgresUrl) await ensureDatabases(options.servers.postgresUrl, options.names, secrets);

  const baseEnv = Object.fromEntries(
    Object.entries(options.baseEnv ?? process.env).filter(([key]) => !isMeshVariable(key)),
  );
  const url = `http://127.0.0.1:${options.ports.public}`;
  let failure: string | undefined;
  let stopping: Promise<void> | undefined;
  let reportFailure: (reason: string) => void = () => {};
  const failed = new Promise<string>((resolve) => {
    reportFailure = resolve;
  });

  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const processes = {} as Record<TargetName, SupervisedProcess>;
  for (const name of MESH_TARGETS) {
    processes[name] = new SupervisedProcess({
      name,
      repoDir: options.repoDir,
      compiled: options.compiled,
      env: { ...baseEnv, ...processEnv(plan, name) },
      adminUrl: `http://127.0.0.1:${options.ports.admin[name]}`,
      readyTimeoutMs,
      onLine: output,
      onUnexpectedExit(name, description) {
        if (stopping || failure) return;
        failure = `${name} ${description}`;
        output("mesh", `${failure}; stopping the mesh`);
        void stop().then(() => reportFailure(failure as string));
      },
      afterRestart: () => waitGatewayReady(),
    });
  }

  const stop = () => {
    stopping ??= Promise.all(Object.values(processes).map((p) => p.stop(options.stopGraceMs ?? 15_000))).then(
      () => undefined,
    );
    return stopping;
  };

  /** The gateway's /readyz asks every service over gRPC: it turns 200 once the gateway reaches them all. */
  const waitGatewayReady = async () => {
    const deadline = Date.now() + readyTimeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (failure) throw new Error(`the mesh stopped: ${failure}`);
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
        if (res.status === 200) return;
        last = `${res.status} ${await res.text()}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await delay(200);
    }
    throw new Error(`the gateway did not see every service within ${readyTimeoutMs} ms; /readyz: ${last}`);
  };

  const waitReady = async () => {
    await Promise.all(Object.values(processes).map((p) => p.waitReady()));
    await waitGatewayReady();
  };

  for (const name of MESH_TARGETS) processes[name].start();
  try {
    await waitReady();
  } catch (err) {
    await stop();
    throw err;
  }
  output("mesh", `ready at ${url}`);
  return { url, plan, processes, waitReady, failure: () => failure, failed, stop };
}
