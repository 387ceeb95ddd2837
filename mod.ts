// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Sockets as an explicit state machine. Every call on a {@linkcode Socket}
 * is checked against one XState machine before it reaches the operating
 * system; an illegal ordering throws {@linkcode SocketError} with the errno
 * Linux would give, and no system call is made. Legal calls run for real.
 *
 * {@linkcode streamConnection} is the procedure "Create a connection with
 * connection oriented sockets": a listening server, a client, and the
 * connected pair it returns.
 *
 * ```ts
 * import { SocketError, streamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await streamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 * });
 * await pair.clntS.send(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "hello");
 *
 * // A connected socket cannot listen: refused before any system call.
 * await assert.rejects(pair.clntS.listen(), (error: SocketError) =>
 *   error.code === "EINVAL");
 * ```
 *
 * @module
 */
export {
  type AddrOf,
  checkAddr,
  type Domain,
  domainOf,
  type DomainOfAddr,
  formatAddr,
  type InetAddr,
  isWildcard,
  type SocketAddr,
  type UnixAddr,
} from "./machine/address.ts";
export type { Readiness, ShutdownHow } from "./machine/effects.ts";
export type {
  Linger,
  SettableOptionName,
  SocketOptionName,
  SocketOptionRecord,
  SocketOptionValues,
} from "./machine/options.ts";
export {
  type Errno,
  errnoName,
  errnoNumber,
  isErrno,
} from "./machine/errno.ts";
export {
  type ProcedureStep,
  SocketError,
  type SocketErrorOptions,
  type SocketOp,
} from "./machine/errors.ts";
export type {
  Environment,
  Link,
  PortChoice,
  ShutBits,
  SocketContext,
  SocketState,
  SocketType,
} from "./machine/socket_machine.ts";
export type { Backend } from "./steps/backend.ts";
export {
  type AcceptOptions,
  type CallOptions,
  type Socket,
  socket,
  type SocketOptions,
  type StateChange,
  type WaitOptions,
} from "./steps/socket.ts";
export {
  type StreamConnection,
  streamConnection,
  type StreamConnectionOptions,
  type StreamConnectionStep,
  type StreamRole,
} from "./steps/stream_connection.ts";
export type { ConnectionProcedureOptions } from "./steps/_procedure.ts";
export { localPco, type Pco, type PcoKind } from "./steps/pco.ts";
export { workerPco, type WorkerPcoOptions } from "./steps/worker_pco.ts";
export {
  type ProcessPco,
  processPco,
  type ProcessPcoOptions,
} from "./steps/process_pco.ts";
export {
  type DgramConnection,
  dgramConnection,
  type DgramConnectionOptions,
  type DgramConnectionStep,
  type DgramRole,
} from "./steps/dgram_connection.ts";
export {
  type GenConnection,
  genConnection,
  type GenConnectionOptions,
  type GenRole,
} from "./steps/gen_connection.ts";
export {
  type Op,
  OPS,
  predict,
  type PredictOptions,
  type Result,
} from "./machine/predict.ts";
export {
  BUILTIN_INVARIANTS,
  type Exploration,
  explore,
  type ExploredStep,
  type ExploreOptions,
  type Invariant,
  type SocketView,
  type Witness,
} from "./machine/explore.ts";
export {
  type BoundSocket,
  type ClosedSocket,
  type ConnectedSocket,
  type CreatedSocket,
  type ListeningSocket,
  typed,
  type TypedSocket,
  type TypedStreamConnection,
  typedStreamConnection,
} from "./steps/typed_socket.ts";
export { type DiagramOptions, toMermaid } from "./machine/mermaid.ts";
export {
  DEFAULT_KERNEL,
  KERNEL_DIFFERENCES,
  type KernelBehaviour,
  type KernelBehaviourName,
  type KernelDifference,
  type KernelName,
  type KernelProfile,
  kernelProfiles,
} from "./machine/kernel.ts";
export { detectKernel } from "./steps/detect_kernel.ts";
export {
  observe,
  observeConnection,
  type ObserveConnectionOptions,
  type ObserveOptions,
} from "./steps/observe.ts";
export {
  CONNECTION_INVARIANTS,
  CONNECTION_OPS,
  type ConnectionExploration,
  type ConnectionOp,
  type ConnectionOptions,
  type ConnectionView,
  type ConnectionWitness,
  exploreConnection,
  predictConnection,
} from "./machine/connection.ts";
export type { Path, Property, System, WalkReport } from "./machine/walk.ts";
