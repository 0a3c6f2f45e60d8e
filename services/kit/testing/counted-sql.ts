import type { SqlDatabase } from "../sql/database.js";

/**
 * A real database with every statement it runs recorded (whitespace folded), for tests that
 * pin how many statements a path costs. Statements inside transactions are recorded too.
 */
export function countStatements(db: SqlDatabase): {
  db: SqlDatabase;
  /** How many recorded statements start with `prefix`. */
  count(prefix: string): number;
} {
  const statements: string[] = [];
  const record = (sql: string) => statements.push(sql.replace(/\s+/g, " ").trim());
  const counted: SqlDatabase = {
    query: (sql, params) => {
      record(sql);
      return db.query(sql, params);
    },
    exec: (sql) => {
      record(sql);
      return db.exec(sql);
    },
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: (sql, params) => {
            record(sql);
            return tx.query(sql, params);
          },
        }),
      ),
    close: () => db.close(),
  };
  return { db: counted, count: (prefix) => statements.filter((s) => s.startsWith(prefix)).length };
}
