/** What every Redis key starts with unless PARLEY_REDIS_KEY_PREFIX says otherwise. */
export const DEFAULT_REDIS_KEY_PREFIX = "parley:";
