// Copyright 2026 the sockfsm authors. MIT license.
import { checkOps, checkOptions } from "./_check_scenario.ts";
import type { Domain } from "./address.ts";
import type { Errno } from "./errno.ts";
import { SocketGraph, type SocketNode, type Step } from "./graph.ts";
import { type KernelName, kernelProfile } from "./kernel.ts";
import {
  type SocketEvent,
  socketMachine,
  type SocketType,
} from "./socket_machine.ts";

/**
 * One step of a scenario on a fresh socket under test, and the two actions
 * of its environment:
 *
 * - `"bind"`: to the loopback address, port 0 (unix: a fresh path);
 * - `"bind_wild"`: to the wildcard address, port 0 (unix: autobind to an
 *   abstract name);
 * - `"listen"`;
 * - `"connect"`: to a live peer, a listener that accepts at once and keeps
 *   its end open (for dgram, a bound peer socket);
 * - `"connect_refused"`: to a loopback port with nothing bound (unix: a stale
 *   socket file);
 * - `"accept"`: non-blocking (would-block is `EAGAIN`);
 * - `"send"`: one byte, without `SIGPIPE`;
 * - `"recv"`: non-blocking;
 * - `"shut_wr"`, `"shut_rd"`, `"shut_rdwr"`: `shutdown()`;
 * - `"close"`, `"getsockname"`, `"getpeername"`;
 * - `"peer_connect"`: a new peer connects to the socket's local address
 *   (for dgram, it sends one datagram to it);
 * - `"peer_close"`: the socket's peers close in an orderly way;
 * - `"sendto"`: one byte to the live peer's address (`sendto(2)`);
 * - `"disconnect"`: `connect(2)` with `AF_UNSPEC`;
 * - `"set_reuseaddr"`, `"set_nodelay"`, `"set_v6only"`: `setsockopt()` of
 *   `SO_REUSEADDR`, `TCP_NODELAY`, `IPV6_V6ONLY` to 1;
 * - `"get_error"`: `getsockopt(SO_ERROR)`, which takes the pending error.
 */
export type Op =
  | "bind"
  | "bind_wild"
  | "listen"
  | "connect"
  | "connect_refused"
  | "accept"
  | "send"
  | "recv"
  | "shut_wr"
  | "shut_rd"
  | "shut_rdwr"
  | "close"
  | "getsockname"
  | "getpeername"
  | "peer_connect"
  | "peer_close"
  | "sendto"
  | "disconnect"
  | "set_reuseaddr"
  | "set_nodelay"
  | "set_v6only"
  | "get_error";

/** Every {@linkcode Op}, in a fixed order. */
export const OPS: readonly Op[] = [
  "bind",
  "bind_wild",
  "listen",
  "connect",
  "connect_refused",
  "accept",
  "send",
  "recv",
  "shut_wr",
  "shut_rd",
  "shut_rdwr",
  "close",
  "getsockname",
  "getpeername",
  "peer_connect",
  "peer_close",
  "sendto",
  "disconnect",
  "set_reuseaddr",
  "set_nodelay",
  "set_v6only",
  "get_error",
];

/**
 * The answer to one op: `"ok"` or an errno; `recv` gives `"ok:data"` or
 * `"ok:eof"`; `getsockname`/`getpeername` give `"ok:port=0"` or
 * `"ok:port>0"` (inet, inet6) and `"ok:path"`, `"ok:abstract"` or
 * `"ok:unnamed"` (unix); `get_error` gives `"ok:none"` or the pending errno
 * it took (`"ok:ECONNREFUSED"`); a peer action with nothing to act on gives
 * `"noop"`, else the peer's own outcome.
 */
export type Result =
  | "ok"
  | "ok:data"
  | "ok:eof"
  | "ok:port=0"
  | "ok:port>0"
  | "ok:path"
  | "ok:abstract"
  | "ok:unnamed"
  | "ok:none"
  | `ok:${Errno}`
  | "noop"
  | Errno;

/** Options for {@linkcode predict}. */
export interface PredictOptions {
  /**
   * The socket's address family.
   *
   * @default {"inet"}
   */
  domain?: Domain;
  /**
   * The socket type.
   *
   * @default {"stream"}
   */
  type?: SocketType;
  /**
   * Whether the socket is `O_NONBLOCK` from creation.
   *
   * @default {false}
   */
  nonblocking?: boolean;
  /**
   * The kernel profile to answer for (see `kernelProfiles()`).
   *
   * @default {"classic"}
   */
  kernel?: KernelName;
}

/** What an op sends the machine, and how its effect ends in the harness. */
interface OpCall {
  readonly event: SocketEvent;
  /** The effect's ending, for ops that start one: done, or this errno. */
  readonly failsWith?: Errno;
}

/** Every op's call on a socket of a domain, blocking and not: made once. */
const CALLS = new Map<Domain, [Record<Op, OpCall>, Record<Op, OpCall>]>();

function callOf(op: Op, domain: Domain, nonblocking: boolean): OpCall {
  let calls = CALLS.get(domain);
  if (calls === undefined) {
    const table = (nonblocking: boolean) =>
      Object.fromEntries(
        OPS.map((op) => [op, makeCall(op, domain, nonblocking)]),
      ) as Record<Op, OpCall>;
    CALLS.set(domain, calls = [table(false), table(true)]);
  }
  return calls[nonblocking ? 1 : 0][op];
}

function makeCall(op: Op, domain: Domain, nonblocking: boolean): OpCall {
  const unix = domain === "unix";
  switch (op) {
    case "bind":
      return {
        event: { type: "BIND", family: domain, port: unix ? "path" : "kernel" },
      };
    case "bind_wild":
      return {
        event: {
          type: "BIND",
          family: domain,
          port: unix ? "abstract" : "kernel",
        },
      };
    case "listen":
      return { event: { type: "LISTEN" } };
    case "connect":
      return { event: { type: "CONNECT", family: domain, nonblocking } };
    case "connect_refused":
      return {
        event: {
          type: "CONNECT",
          family: domain,
          target: "refused",
          nonblocking,
        },
        failsWith: "ECONNREFUSED",
      };
    case "accept":
      return { event: { type: "ACCEPT", nonblocking: true } };
    case "send":
      return { event: { type: "SEND" } };
    case "recv":
      return { event: { type: "RECV", nonblocking: true } };
    case "shut_wr":
      return { event: { type: "SHUTDOWN", how: "write" } };
    case "shut_rd":
      return { event: { type: "SHUTDOWN", how: "read" } };
    case "shut_rdwr":
      return { event: { type: "SHUTDOWN", how: "both" } };
    case "close":
      return { event: { type: "CLOSE" } };
    case "getsockname":
      return { event: { type: "GETSOCKNAME" } };
    case "getpeername":
      return { event: { type: "GETPEERNAME" } };
    case "peer_connect":
      return { event: { type: "PEER_CONNECT" } };
    case "peer_close":
      return { event: { type: "PEER_CLOSE" } };
    case "sendto":
      return { event: { type: "SENDTO", family: domain } };
    case "disconnect":
      return { event: { type: "DISCONNECT" } };
    case "set_reuseaddr":
      return {
        event: { type: "SETSOCKOPT", option: "SO_REUSEADDR", on: true },
      };
    case "set_nodelay":
      return { event: { type: "SETSOCKOPT", option: "TCP_NODELAY", on: true } };
    case "set_v6only":
      return { event: { type: "SETSOCKOPT", option: "IPV6_V6ONLY", on: true } };
    case "get_error":
      return { event: { type: "GETSOCKOPT", option: "SO_ERROR" } };
  }
}

/**
 * The event an op sends the machine on a socket of `domain`. Internal: for
 * model checkers that look at the machine between an op and its effect.
 */
export function eventOf(
  op: Op,
  domain: Domain,
  nonblocking = false,
): SocketEvent {
  return callOf(op, domain, nonblocking).event;
}

let graph: SocketGraph | undefined;

/** The graph of the pure machine: no effect is ever started. */
export function modelGraph(): SocketGraph {
  return graph ??= new SocketGraph(socketMachine);
}

/**
 * The node a fresh socket of a kind starts from in the model, on the kernel
 * of profile `kernel`.
 *
 * @throws {SocketError} `EINVAL` for a profile that does not exist.
 */
export function modelStart(
  domain: Domain,
  type: SocketType,
  kernel: KernelName | undefined,
  model: SocketGraph = modelGraph(),
): SocketNode {
  return model.start({ domain, type, kernel: kernelProfile(kernel).behaviour });
}

/**
 * The machine's step for `op`'s call at `node`, before any effect it starts
 * settles (`next` is then in flight). Internal: for model checkers that
 * look at the machine between an op and its effect.
 */
export function opStep(
  node: SocketNode,
  op: Op,
  nonblocking: boolean,
  model: SocketGraph,
): Step {
  return model.stepShared(
    node,
    callOf(op, node.facts.domain, nonblocking).event,
  );
}

/**
 * Takes one op from `node`: the node after it and the op's result. This is
 * the step that {@linkcode predict} repeats, exported for model checkers.
 */
export function predictStep(
  node: SocketNode,
  op: Op,
  nonblocking = false,
  model: SocketGraph = modelGraph(),
): { readonly node: SocketNode; readonly result: Result } {
  const call = callOf(op, node.facts.domain, nonblocking);
  const { failsWith } = call;
  // A datagram connect only records its target: the machine decides.
  const fails = failsWith !== undefined && node.facts.type === "stream";
  const step = model.stepShared(node, call.event);
  if (!step.allowed) {
    if (step.waits) {
      // Every op settles its effect at once, so no node here has one in
      // flight: a defect of the caller.
      throw new Error(
        `Cannot take op "${op}" in state "${node.state}": a call is in flight there`,
      );
    }
    return { node, result: step.errno };
  }
  let next = step.next;
  if (next.inFlight) {
    next = model.settle(next, fails ? "error" : "done");
    return { node: next, result: fails ? failsWith : "ok" };
  }
  if (step.outcome !== undefined) return { node: next, result: step.outcome };
  return { node: next, result: resultOf(op, next, node) };
}

/**
 * The result of an op the machine lets through with no outcome of its own,
 * from the node it leads to (and the one it was made in).
 */
function resultOf(op: Op, node: SocketNode, before: SocketNode): Result {
  const { domain, name } = node.facts;
  switch (op) {
    case "get_error": {
      const { error } = before.facts;
      return error === undefined ? "ok:none" : `ok:${error}`;
    }
    case "getsockname":
      if (domain !== "unix") return name === "port" ? "ok:port>0" : "ok:port=0";
      return name === "path"
        ? "ok:path"
        : name === "abstract"
        ? "ok:abstract"
        : "ok:unnamed";
    case "getpeername":
      // The harness's peers are bound: a loopback port, or a path.
      return domain === "unix" ? "ok:path" : "ok:port>0";
    default:
      return "ok";
  }
}

/**
 * The model's answer to a scenario, without any I/O: runs the socket machine
 * with no effects over `ops` on one fresh socket under test, and returns one
 * result per op. The same machine drives the runtime `Socket`.
 *
 * @example Predict a server's life and two misorderings
 * ```ts
 * import { predict } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   predict(["bind", "listen", "peer_connect", "accept", "accept"]),
 *   ["ok", "ok", "ok", "ok", "EAGAIN"],
 * );
 * assert.deepEqual(predict(["accept", "send"]), ["EINVAL", "EPIPE"]);
 * assert.deepEqual(predict(["send"], { domain: "unix" }), ["ENOTCONN"]);
 * ```
 *
 * @example Answer for another kernel build
 * ```ts
 * import { predict } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const ops = ["connect_refused", "listen"] as const;
 * assert.deepEqual(predict(ops), ["ECONNREFUSED", "ok"]);
 * assert.deepEqual(predict(ops, { kernel: "sticky" }), [
 *   "ECONNREFUSED",
 *   "EINVAL",
 * ]);
 * ```
 *
 * @param ops The scenario.
 * @param options The socket's domain, type, blocking mode, and kernel
 * profile.
 * @returns One result per op.
 * @throws {SocketError} `EINVAL` for ops that are not an array of
 * {@linkcode Op}s, options that are not an object, an unknown domain or
 * type, a `nonblocking` that is not a boolean, or an unknown kernel profile.
 */
export function predict(
  ops: readonly Op[],
  options: PredictOptions = {},
): Result[] {
  checkOps("predict", ops, OPS);
  const { domain, type, nonblocking, kernel } = checkOptions(
    "predict",
    options,
  );
  let node = modelStart(domain, type, kernel);
  return ops.map((op) => {
    const step = predictStep(node, op, nonblocking);
    node = step.node;
    return step.result;
  });
}
