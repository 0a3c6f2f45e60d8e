import { randomBytes } from "node:crypto";

/**
 * Parsed JSON as tests read it, field by field: a missing field fails the assertion that reads it.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; typing every reply would only restate the assertions.
export type Json = any;

/** A REST reply: status, headers and the parsed JSON body (undefined when there is none). */
export interface Reply<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RestClient {
  request<T = Json>(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string },
  ): Promise<Reply<T>>;
  get<T = Json>(path: string, token?: string): Promise<Reply<T>>;
  post<T = Json>(path: string, body: unknown, token?: string): Promise<Reply<T>>;
  put<T = Json>(path: string, body: unknown, token?: string): Promise<Reply<T>>;
  del<T = Json>(path: string, body: unknown, token?: string): Promise<Reply<T>>;
}

/** Plain `fetch` against the REST routes, as any HTTP client would call them. */
export function restClient(baseUrl: string): RestClient {
  const request: RestClient["request"] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.body);
    }
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
  return {
    request,
    get: (path, token) => request("GET", path, { token }),
    post: (path, body, token) => request("POST", path, { body, token }),
    put: (path, body, token) => request("PUT", path, { body, token }),
    del: (path, body, token) => request("DELETE", path, { body, token }),
  };
}

export interface TestUser {
  userId: string;
  username: string;
  password: string;
  token: string;
  refreshToken: string;
}

/** A username no other test uses: lower-case, within the 3–32 character rule. */
export function freshUsername(prefix = "u"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

/** Registers a fresh user and logs them in. */
export async function newUser(api: RestClient, prefix = "u"): Promise<TestUser> {
  const username = freshUsername(prefix);
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const registered = await api.post("/auth/register", { username, password });
  if (registered.status !== 201) throw new Error(`register ${username}: ${JSON.stringify(registered)}`);
  const login = await api.post("/auth/login", { username, password });
  if (login.status !== 200) throw new Error(`login ${username}: ${JSON.stringify(login)}`);
  return {
    userId: registered.body.userId,
    username,
    password,
    token: login.body.token,
    refreshToken: login.body.refreshToken,
  };
}
