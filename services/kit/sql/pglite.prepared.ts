/**
 * Statements on PGlite through named prepared statements. PGlite's own query() sends Parse,
 * Describe, Bind, Describe, Execute and Sync as six calls into PostgreSQL and parses and plans the
 * statement every time; here each distinct SQL text is parsed and described once per database,
 * and every later call is one call (Bind, Execute, Sync) on a plan PostgreSQL keeps. bytea, bytea[]
 * and text[] parameters go as binary. For a short INSERT that halves the CPU per statement
 * (docs/architecture.md). Dependency-free apart from Node and PGlite: the worker loads it as it is.
 */
import { Buffer } from "node:buffer";
import { type PGlite, parse, protocol } from "@electric-sql/pglite";

const BYTEA = 17;
const TEXT = 25;
const BYTEA_ARRAY = 1001;
const TEXT_ARRAY = 1009;
/** More distinct statements than Parley has: the oldest is closed past it (dynamic SQL). */
const DEFAULT_MAX_STATEMENTS = 256;
/** SQLSTATE of "cached plan must not change result type" (a table changed under a statement). */
const FEATURE_NOT_SUPPORTED = "0A000";

/** Statement names are unique in the process, so two caches on one database never collide. */
let lastName = 0;

type Message = Parameters<typeof parse.parseResults>[0][number];

interface Statement {
  name: string;
  paramTypes: number[];
  /** The statement's RowDescription, sent with every result instead of a Describe per call. */
  rowDescription: Message | undefined;
}

/** Array parameter types sent in PostgreSQL's binary array format, and how each element becomes bytes. */
const BINARY_ARRAYS = new Map<number, { element: number; bytes: (value: unknown) => Uint8Array | undefined }>(
  [
    [BYTEA_ARRAY, { element: BYTEA, bytes: (value) => (value instanceof Uint8Array ? value : undefined) }],
    [
      TEXT_ARRAY,
      { element: TEXT, bytes: (value) => (typeof value === "string" ? Buffer.from(value) : undefined) },
    ],
  ],
);

/**
 * A flat array in the format PostgreSQL's array_recv reads: dimensions, null flag, element type,
 * then each element's length (-1 for null) and bytes. As text, delivery's inbox_append built a
 * string of twice its payloads (hex) and PGlite escaped every text element. Undefined for anything
 * but a flat array of the element's values and nulls, which PGlite's own serializer then takes
 * (or refuses).
 */
function binaryArray(values: unknown, type: number): Uint8Array | undefined {
  const format = BINARY_ARRAYS.get(type);
  if (!format || !Array.isArray(values)) return undefined;
  const elements: (Uint8Array | null)[] = [];
  let size = values.length === 0 ? 12 : 20;
  for (const value of values) {
    const bytes = value === null || value === undefined ? null : format.bytes(value);
    if (bytes === undefined) return undefined;
    elements.push(bytes);
    size += 4 + (bytes?.byteLength ?? 0);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, elements.length === 0 ? 0 : 1);
  view.setInt32(4, elements.includes(null) ? 1 : 0);
  view.setInt32(8, format.element);
  if (elements.length === 0) return out;
  view.setInt32(12, elements.length);
  view.setInt32(16, 1); // lower bound
  let offset = 20;
  for (const bytes of elements) {
    view.setInt32(offset, bytes === null ? -1 : bytes.byteLength);
    offset += 4;
    if (bytes) {
      out.set(bytes, offset);
      offset += bytes.byteLength;
    }
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export class PreparedStatements {
  readonly #db: PGlite;
  /** By SQL text, least recently used first. */
  readonly #statements = new Map<string, Statement>();
  /** Names PostgreSQL still holds for statements the cache let go: closed with the next prepare. */
  readonly #stale: string[] = [];
  readonly #maxStatements: number;

  constructor(db: PGlite, { maxStatements = DEFAULT_MAX_STATEMENTS } = {}) {
    this.#db = db;
    this.#maxStatements = maxStatements;
  }

  /** Runs one statement on its own, after any transaction in progress (as PGlite's query()). */
  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    await this.#db._checkReady();
    return this.#db._runExclusiveTransaction(() => this.#run<T>(sql, params, false));
  }

  /** Runs one statement inside the transaction the caller holds (PGlite's transaction()). */
  queryInTransaction<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.#run<T>(sql, params, true);
  }

  #run<T>(sql: string, params: unknown[], inTransaction: boolean): Promise<T[]> {
    return this.#db._runExclusiveQuery(async () => {
      try {
        return await this.#execute<T>(sql, params, inTransaction);
      } catch (err) {
        if ((err as { code?: string }).code !== FEATURE_NOT_SUPPORTED) throw err;
        // The statement's plan no longer fits its tables: prepare it afresh (once), unless a
        // transaction is open, which the error aborted.
        this.#forget(sql);
        if (inTransaction) throw err;
        return this.#execute<T>(sql, params, inTransaction);
      }
    });
  }

  async #execute<T>(sql: string, params: unknown[], inTransaction: boolean): Promise<T[]> {
    const statement = await this.#statement(sql);
    const values = params.map((value, i) => this.#serialize(value, statement.paramTypes[i]));
    const messages = await this.#send(
      sql,
      [
        protocol.serialize.bind({ statement: statement.name, values }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ],
      !inTransaction,
    );
    if (statement.rowDescription) messages.unshift(statement.rowDescription);
    return (parse.parseResults(messages, this.#db.parsers)[0]?.rows ?? []) as T[];
  }

  async #statement(sql: string): Promise<Statement> {
    const known = this.#statements.get(sql);
    if (known) {
      this.#statements.delete(sql);
      this.#statements.set(sql, known);
      return known;
    }
    if (this.#statements.size >= this.#maxStatements)
      this.#forget(this.#statements.keys().next().value as string);
    const closing = this.#stale
      .splice(0)
      .map((stale) => protocol.serialize.close({ type: "S", name: stale }));
    const name = `parley_${++lastName}`;
    const messages = await this.#send(
      sql,
      [
        ...closing,
        protocol.serialize.parse({ name, text: sql }),
        protocol.serialize.describe({ type: "S", name }),
        protocol.serialize.sync(),
      ],
      false,
    );
    const statement: Statement = {
      name,
      paramTypes: parse.parseDescribeStatementResults(messages),
      rowDescription: messages.find((message) => message.name === "rowDescription"),
    };
    this.#statements.set(sql, statement);
    return statement;
  }

  /** Sends protocol messages as one call; a failure names the statement's SQL, as PGlite's does. */
  async #send(sql: string, messages: Uint8Array[], syncToFs: boolean): Promise<Message[]> {
    try {
      return await this.#db.execProtocolStream(concat(messages), { syncToFs });
    } catch (err) {
      throw Object.assign(err as Error, { query: sql });
    }
  }

  /** Drops a statement from the cache; PostgreSQL's copy is closed with the next prepare. */
  #forget(sql: string): void {
    const statement = this.#statements.get(sql);
    if (!statement) return;
    this.#statements.delete(sql);
    this.#stale.push(statement.name);
  }

  #serialize(value: unknown, type: number | undefined): string | Uint8Array | null {
    if (value === null || value === undefined) return null;
    if (type === BYTEA) {
      if (!(value instanceof Uint8Array)) throw new Error("Invalid input for bytea type");
      return value;
    }
    const array = type === undefined ? undefined : binaryArray(value, type);
    if (array !== undefined) return array;
    const serializer = type === undefined ? undefined : this.#db.serializers[type];
    return serializer ? serializer(value) : String(value);
  }
}
