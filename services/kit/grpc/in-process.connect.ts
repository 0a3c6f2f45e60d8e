import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Code,
  ConnectError,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createMethodUrl, runUnaryCall } from "@connectrpc/connect/protocol";
import { Metadata } from "@grpc/grpc-js";
import type { GrpcErrorShape } from "../errors.js";
import { inProcessMethod, invokeInProcess } from "./in-process.js";

/**
 * A connect-es transport for the same in-process path as grpc-js channels (in-process.ts): a unary
 * call to a server of this process is handed to it, written and read by protobuf-es on this side
 * and by the server's codecs on the other, through the same interceptors; anything else (streams,
 * servers elsewhere or stopped) goes over `network`. Connect codes are gRPC status codes.
 */
export function inProcessConnectTransport(
  address: string,
  network: Transport,
  interceptors: Interceptor[],
): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const local = inProcessMethod(address, `/${method.parent.typeName}/${method.name}`);
      if (!local) return network.unary(method, signal, timeoutMs, header, input, contextValues);
      return runUnaryCall({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(`http://${address}`, method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) => {
          const metadata = new Metadata();
          for (const [key, value] of req.header) metadata.set(key, value);
          const codec = {
            requestSerialize: (message: typeof req.message) => Buffer.from(toBinary(method.input, message)),
            responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
          };
          const deadline = timeoutMs === undefined || timeoutMs <= 0 ? Infinity : Date.now() + timeoutMs;
          try {
            const message = (await invokeInProcess(
              local,
              codec,
              req.message,
              metadata,
              deadline,
            )) as ReturnType<typeof codec.responseDeserialize>;
            return {
              stream: false,
              service: method.parent,
              method,
              header: new Headers(),
              message,
              trailer: new Headers(),
            };
          } catch (failure) {
            const { code, details } = failure as GrpcErrorShape;
            throw new ConnectError(details, code as number as Code);
          }
        },
      });
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      network.stream(method, signal, timeoutMs, header, input, contextValues),
  };
}
