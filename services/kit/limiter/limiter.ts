/** The rate-limit role: in-process for one process, Redis when replicas must share counts. */
export interface RateLimiter {
  /** Counts one attempt for `key`; says whether it is allowed and, if not, when to retry. */
  hit(key: string): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
}

export interface RateLimit {
  /** Attempts allowed per window. */
  limit: number;
  windowSeconds: number;
}
