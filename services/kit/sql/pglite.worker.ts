/**
 * The worker thread that runs this process's PGlite databases (PostgreSQL compiled to WebAssembly),
 * so their execution and fsyncs leave the main event loop. Driven by pglite.thread.ts over the
 * messages of pglite.protocol.ts. It imports no Parley module at run time: Node loads it as it is
 * (type stripping) under tsx, vitest or the compiled build alike.
 */
import { Buffer } from "node:buffer";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { parentPort } from "node:worker_threads";
import type { PGlite } from "@electric-sql/pglite";
import type { Reply, Request, WireError } from "./pglite.protocol.js";

const port = parentPort;
if (!port) throw new Error("pglite.worker runs as a worker thread");

const BYTEA = 17;

/**
 * bytea through Buffer's hex codec: PGlite's own (a string per byte) costs more than the query
 * for a sealed message body.
 */
const byteaCodec = {
  serializers: {
    [BYTEA]: (value: unknown) => {
      if (!(value instanceof Uint8Array)) throw new Error("Invalid input for bytea type");
      return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
    },
  },
  parsers: {
    [BYTEA]: (text: string) => {
      // A Uint8Array of its own (not a view into Buffer's pool), so the clone back copies only it.
      const bytes = new Uint8Array((text.length - 2) / 2);
      Buffer.from(bytes.buffer).write(text.slice(2), "hex");
      return bytes;
    },
  },
};

// Its siblings, with this file's extension (.ts from source, .js once compiled): static imports of
// "./pglite.template.js" and "./pglite.prepared.js" would not load from source, where Node runs
// this file with no loader.
const sibling = (name: string) =>
  new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
const { openCluster } = (await import(sibling("pglite.template"))) as typeof import("./pglite.template.js");
const { PreparedStatements } = (await import(
  sibling("pglite.prepared")
)) as typeof import("./pglite.prepared.js");

interface Database {
  db: PGlite;
  statements: InstanceType<typeof PreparedStatements>;
}
const databases = new Map<number, Database>();
let lastDatabase = 0;

type TxCommand = Extract<Request, { op: "txQuery" | "end" }>;

/** A transaction the main thread is running: its statements arrive one message at a time. */
interface OpenTransaction {
  queue: TxCommand[];
  waiting: ((command: TxCommand) => void) | undefined;
  /** Set when it failed before the caller ended it (BEGIN failed): every later command gets it. */
  failed: WireError | undefined;
}
const transactions = new Map<number, OpenTransaction>();

/** Thrown out of PGlite's transaction() so that it rolls back. */
const ROLLBACK = Symbol("rollback");

function answer(id: number, value: unknown): void {
  try {
    port?.postMessage({ id, ok: true, value } satisfies Reply);
  } catch (err) {
    // A value that cannot be cloned must still answer the call.
    fail(id, err);
  }
}

function fail(id: number, err: unknown): void {
  port?.postMessage({ id, ok: false, error: toWire(err) } satisfies Reply);
}

/** PostgreSQL's error fields (pg-protocol's DatabaseError) that cross; `params` does not. */
const FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
  "query",
];

function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) {
    return { kind: "Error", name: "Error", message: String(err), stack: undefined, fields: {} };
  }
  const fields: Record<string, string> = {};
  for (const key of FIELDS) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (typeof value === "string") fields[key] = value;
  }
  return {
    kind: typeof fields.severity === "string" ? "DatabaseError" : "Error",
    name: err.name,
    message: err.message,
    stack: err.stack,
    fields,
  };
}

function database(id: number): Database {
  const db = databases.get(id);
  if (!db) throw new Error(`PGlite database ${id} is not open`);
  return db;
}

function begin(dbId: number, txId: number): void {
  const state: OpenTransaction = { queue: [], waiting: undefined, failed: undefined };
  transactions.set(txId, state);
  const open = databases.get(dbId);
  if (!open) {
    state.failed = toWire(new Error(`PGlite database ${dbId} is not open`));
    return;
  }
  const next = () =>
    new Promise<TxCommand>((resolve) => {
      const queued = state.queue.shift();
      if (queued) resolve(queued);
      else state.waiting = resolve;
    });
  let end: TxCommand | undefined;
  // PGlite's transaction() holds the database (its other callers wait) until the callback ends.
  open.db
    .transaction(async () => {
      for (;;) {
        const command = await next();
        if (command.op === "txQuery") {
          // An error answers the statement; the caller decides whether the transaction goes on.
          await open.statements.queryInTransaction(command.sql, command.params).then(
            (rows) => answer(command.id, rows),
            (err) => fail(command.id, err),
          );
          continue;
        }
        end = command;
        if (!command.commit) throw ROLLBACK;
        return;
      }
    })
    .then(
      () => {
        transactions.delete(txId);
        if (end) answer(end.id, undefined);
      },
      (err) => {
        if (end) {
          transactions.delete(txId);
          if (err === ROLLBACK) answer(end.id, undefined);
          else fail(end.id, err);
          return;
        }
        state.failed = toWire(err);
        for (const command of state.queue.splice(0)) refuse(txId, state, command);
      },
    );
}

function refuse(txId: number, state: OpenTransaction, command: TxCommand): void {
  port?.postMessage({ id: command.id, ok: false, error: state.failed } as Reply);
  if (command.op === "end") transactions.delete(txId);
}

function toTransaction(command: TxCommand): void {
  const state = transactions.get(command.tx);
  if (!state) {
    fail(command.id, new Error(`transaction ${command.tx} is not open`));
  } else if (state.failed) {
    refuse(command.tx, state, command);
  } else {
    const waiting = state.waiting;
    state.waiting = undefined;
    if (waiting) waiting(command);
    else state.queue.push(command);
  }
}

async function handle(request: Request): Promise<void> {
  switch (request.op) {
    case "open": {
      const db = await openCluster(request.dir, request.templateDir, {
        ...byteaCodec,
        sharedBuffersMb: request.sharedBuffersMb,
      });
      databases.set(++lastDatabase, { db, statements: new PreparedStatements(db) });
      return answer(request.id, lastDatabase);
    }
    case "query":
      return answer(request.id, await database(request.db).statements.query(request.sql, request.params));
    case "exec":
      await database(request.db).db.exec(request.sql);
      return answer(request.id, undefined);
    case "begin":
      return begin(request.db, request.tx);
    case "txQuery":
    case "end":
      return toTransaction(request);
    case "close": {
      const open = databases.get(request.db);
      databases.delete(request.db);
      await open?.db.close();
      return answer(request.id, undefined);
    }
  }
}

port.on("message", (request: Request) => {
  // Every request but begin (which cannot throw) has an id to answer.
  handle(request).catch((err) => "id" in request && fail(request.id, err));
});
