// The `cors` package ships no types and @types/cors is not a dependency; this is the part we use.
declare module "cors" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface CorsOptions {
    origin?: boolean | string | RegExp | (string | RegExp)[];
    methods?: string | string[];
    allowedHeaders?: string | string[];
    exposedHeaders?: string | string[];
    credentials?: boolean;
    maxAge?: number;
    preflightContinue?: boolean;
    optionsSuccessStatus?: number;
  }

  type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

  export default function cors(options?: CorsOptions): Middleware;
}
