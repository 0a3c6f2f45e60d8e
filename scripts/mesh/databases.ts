import pg from "pg";
import { databaseName, type MeshNames, type MeshSecrets, roleName, SQL_SERVICES } from "./plan.js";

/**
 * Each service's own PostgreSQL role and database, made with the superuser URL when missing. A
 * role can log in to its database only: it owns it, and PUBLIC may not connect to it.
 */
export async function ensureDatabases(
  superuserUrl: string,
  names: MeshNames,
  secrets: MeshSecrets,
): Promise<void> {
  await withClient(superuserUrl, async (client) => {
    for (const service of SQL_SERVICES) {
      const role = ident(roleName(service));
      const password = literal(secrets.databasePasswords[service]);
      const roles = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [roleName(service)]);
      if (roles.rowCount === 0) {
        await ignoring(["42710", "23505"], () =>
          client.query(`CREATE ROLE ${role} LOGIN PASSWORD ${password}`),
        );
      }
      // The password is the one in the state folder, also when the role came from an older one.
      await retryingConcurrentUpdate(() => client.query(`ALTER ROLE ${role} LOGIN PASSWORD ${password}`));

      const name = databaseName(names, service);
      const databases = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      if (databases.rowCount === 0) {
        await ignoring(["42P04", "23505"], () =>
          client.query(`CREATE DATABASE ${ident(name)} OWNER ${role}`),
        );
      }
      await client.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(name)} FROM PUBLIC`);
    }
  });
}

/** Drops a mesh's databases (tests), closing any connection still open to them. */
export async function dropDatabases(superuserUrl: string, names: MeshNames): Promise<void> {
  await withClient(superuserUrl, async (client) => {
    for (const service of SQL_SERVICES) {
      await client.query(`DROP DATABASE IF EXISTS ${ident(databaseName(names, service))} WITH (FORCE)`);
    }
  });
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    const { hostname, port } = new URL(url);
    throw new Error(`cannot connect to PostgreSQL at ${hostname}:${port} to create the services' databases`, {
      cause: err,
    });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Two meshes creating the same role or database at once: the loser finds it made. */
async function ignoring(codes: string[], fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!codes.includes((err as { code?: string }).code ?? "")) throw err;
  }
}

/** PostgreSQL refuses one of two concurrent catalog updates of the same row ("tuple concurrently updated"). */
async function retryingConcurrentUpdate(fn: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "XX000" || attempt >= 5) throw err;
    }
  }
}

function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return `"${name}"`;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
