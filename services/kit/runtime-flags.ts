/**
 * Node flags every Parley process runs with: the image's NODE_OPTIONS (Dockerfile), `npm start`,
 * and every process the repository's scripts start (the mesh, the benchmarks), so what is measured
 * is what ships (runtime-flags.test.ts holds the Dockerfile and package.json to this list).
 *
 * `--max-semi-space-size=8`: V8's young generation is capped at 8 MiB per semi-space. A pod with
 * a 512 MiB memory limit gets about that from V8 anyway (it sizes the heap from the limit), but a
 * process on a large machine or with `--max-old-space-size` gets 32, and there each scavenge
 * copied ~12 MiB of a gRPC-heavy process and stopped it 10–17 ms (docs/benchmarks.md, "What a
 * scavenge copies"). At 8 the pauses are ~2 ms for the same CPU; every pod, `npm start`, the mesh
 * and the benchmarks run the same young generation whatever their memory.
 */
export const NODE_RUNTIME_FLAGS = ["--max-semi-space-size=8"] as const;
