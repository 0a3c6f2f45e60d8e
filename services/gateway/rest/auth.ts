import { z } from "zod";
import { call } from "../../kit/grpc/client.js";
import { tokensJson, userJson } from "../json.js";
import type { Upstreams } from "../upstreams.js";
import { created, ok, type RestRoute } from "./route.js";
import { text } from "./validate.js";

const credentials = z.strictObject({ username: text(), password: text() });
const refreshBody = z.strictObject({ refreshToken: text() });

/** Register and login are public; refresh and logout authenticate by the refresh token itself. */
export function authRoutes(upstreams: Upstreams): RestRoute[] {
  return [
    {
      method: "POST",
      path: "/auth/register",
      auth: false,
      async handle(req) {
        const body = await req.body(credentials);
        const { user } = await call(upstreams.auth, "register", body, req.call);
        return created(userJson(user));
      },
    },
    {
      method: "POST",
      path: "/auth/login",
      auth: false,
      async handle(req) {
        const body = await req.body(credentials);
        const { tokens, user } = await call(upstreams.auth, "login", body, req.call);
        return ok(tokensJson(tokens, user));
      },
    },
    {
      method: "POST",
      path: "/auth/refresh",
      auth: false,
      async handle(req) {
        const body = await req.body(refreshBody);
        const { tokens, user } = await call(upstreams.auth, "refresh", body, req.call);
        return ok(tokensJson(tokens, user));
      },
    },
    {
      method: "POST",
      path: "/auth/logout",
      auth: false,
      async handle(req) {
        const body = await req.body(refreshBody);
        await call(upstreams.auth, "logout", body, req.call);
        return ok({});
      },
    },
  ];
}
