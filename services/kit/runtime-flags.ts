/**
 * Node flags every Parley process runs with: the image's NODE_OPTIONS (Dockerfile), `npm start`,
 * and every process the repository's scripts start (the mesh, the benchmarks), so what is measured
 * is what ships (runtime-flags.test.ts holds the Dockerfile and package.json to this list).
 *
 * `--max-semi-space-size=16`: V8's young generation, 32 MiB per semi-space by default on a machine
 * with this much memory, is capped at 16. About a quarter of what the gateway allocates outlives
 * the next scavenge (finished gRPC calls' objects; the share is the same at every size), so at the
 * default size a scavenge copies ~12 MiB and stops the process 10–17 ms, which set a history
 * page's p99. At 16 MiB the pauses average ~3 ms for the same CPU (docs/benchmarks.md, "What a
 * scavenge copies").
 */
export const NODE_RUNTIME_FLAGS = ["--max-semi-space-size=16"] as const;
