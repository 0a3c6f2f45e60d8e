/**
 * Messages between the process and its PGlite worker thread (pglite.worker.ts). Values cross by
 * structured clone, which keeps Date, Uint8Array, bigint, null and plain objects as they are.
 * Types only: the worker imports nothing of Parley's at run time (it loads without a TS loader).
 */
export type Request =
  | {
      op: "open";
      id: number;
      dir: string;
      templateDir: string | undefined;
      sharedBuffersMb: number | undefined;
    }
  | { op: "query"; id: number; db: number; sql: string; params: unknown[] | undefined }
  | { op: "exec"; id: number; db: number; sql: string }
  /** Starts a transaction; not answered itself: its statements and its end are. */
  | { op: "begin"; db: number; tx: number }
  | { op: "txQuery"; id: number; tx: number; sql: string; params: unknown[] | undefined }
  /** Commits (or rolls back) the transaction; answered once it is over. */
  | { op: "end"; id: number; tx: number; commit: boolean }
  | { op: "close"; id: number; db: number };

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** An error as it crossed the thread boundary: PostgreSQL's fields (SQLSTATE `code`, …) included. */
export interface WireError {
  /** "DatabaseError" when PostgreSQL raised it (it has a severity), else "Error". */
  kind: "DatabaseError" | "Error";
  name: string;
  message: string;
  stack: string | undefined;
  fields: Record<string, string>;
}
