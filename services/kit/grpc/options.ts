/**
 * Options every gRPC server and channel of Parley starts with. Channelz is off: it records every
 * call (call trackers, per-call handler state) for a channelz service Parley does not serve.
 */
export const GRPC_SHARED_OPTIONS = { "grpc.enable_channelz": 0 } as const;
