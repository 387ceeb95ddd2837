// Copyright 2026 the sockfsm authors. MIT license.
import {
  checkDepth,
  checkInvariants,
  checkOps,
  checkOptions,
} from "./_check_scenario.ts";
import type { Domain } from "./address.ts";
import type { SocketNode } from "./graph.ts";
import type { SocketView } from "./explore.ts";
import type { KernelName } from "./kernel.ts";
import { modelGraph, modelStart, predictStep, type Result } from "./predict.ts";
import type { SocketEvent } from "./socket_machine.ts";
import { type Path, type Property, walk, type WalkReport } from "./walk.ts";

/** `setsockopt(SO_LINGER, { onoff: 1, linger: 0 })`. */
const LINGER_0: SocketEvent = {
  type: "SETSOCKOPT",
  option: "SO_LINGER",
  resets: true,
};

/** The socket's connection is reset by its peer. */
const PEER_RESET: SocketEvent = { type: "PEER_RESET" };

/**
 * A call of one of the three sockets of `streamConnection()`: the listener,
 * the client, and the socket the listener accepts. Each has the meaning of
 * the same op of `predict()`; the three share their environment (the
 * client's connect reaches the listener, a close is seen by the other end).
 */
export type ConnectionOp =
  | "listener.bind"
  | "listener.listen"
  | "listener.accept"
  | "listener.close"
  | "client.bind"
  | "client.connect"
  | "client.getpeername"
  | "client.close"
  | "client.set_linger0"
  | "accepted.getpeername"
  | "accepted.close"
  | "accepted.set_linger0";

/** Every {@linkcode ConnectionOp}, in a fixed order. */
export const CONNECTION_OPS: readonly ConnectionOp[] = [
  "listener.bind",
  "listener.listen",
  "listener.accept",
  "listener.close",
  "client.bind",
  "client.connect",
  "client.getpeername",
  "client.close",
  "client.set_linger0",
  "accepted.getpeername",
  "accepted.close",
  "accepted.set_linger0",
];

/** The three sockets, as the model sees them. */
export interface ConnectionView {
  /** The listening socket. */
  readonly listener: SocketView;
  /** The client socket. */
  readonly client: SocketView;
  /** The accepted socket, once `listener.accept` succeeded. */
  readonly accepted: SocketView | undefined;
  /**
   * The client's connection while it waits in the listener's queue:
   * `"queued"`, `"queuedClosed"` once the client closed it, or
   * `"queuedReset"` once it closed it with `SO_LINGER` 0.
   */
  readonly queue: "none" | "queued" | "queuedClosed" | "queuedReset";
}

/** Options for {@linkcode exploreConnection} and {@linkcode predictConnection}. */
export interface ConnectionOptions {
  /**
   * The domain of the three stream sockets.
   *
   * @default {"inet"}
   */
  domain?: Domain;
  /**
   * The kernel profile to answer for (see `kernelProfiles()`).
   *
   * @default {"classic"}
   */
  kernel?: KernelName;
}

/**
 * Properties the three sockets must keep; {@linkcode exploreConnection}
 * checks them unless told otherwise.
 */
export const CONNECTION_INVARIANTS: readonly Property<
  ConnectionView,
  ConnectionOp
>[] = [
  {
    name: "the client connects only to a listening socket",
    holds: ({ from, op, result }) =>
      op !== "client.connect" || result !== "ok" ||
      from.listener.state === "listening",
  },
  {
    name: "the listener accepts only a connection the client made",
    holds: ({ from, op, result }) =>
      op !== "listener.accept" || result !== "ok" || from.queue !== "none",
  },
  {
    name: "the accepted socket's peer is the client",
    holds: ({ to }) =>
      to.accepted === undefined || to.client.state !== "created",
  },
];

/** The model's own view: the graph's nodes, which are socket views. */
interface View extends ConnectionView {
  readonly listener: SocketNode;
  readonly client: SocketNode;
  readonly accepted: SocketNode | undefined;
}

/** What {@linkcode exploreConnection} found. */
export type ConnectionExploration = WalkReport<ConnectionOp>;

/** One scenario of the three sockets, with what each op gave. */
export type ConnectionWitness = Path<ConnectionOp>;

/** The model of the three sockets of one domain, with equal views shared. */
class ConnectionModel {
  readonly #graph = modelGraph();
  readonly #views = new Map<string, View>();
  readonly #ids = new Map<SocketNode, number>();
  readonly start: View;

  constructor(domain: Domain, kernel: KernelName | undefined) {
    const fresh = modelStart(domain, "stream", kernel, this.#graph);
    this.start = this.#view(fresh, fresh, undefined, "none");
  }

  step(
    view: View,
    op: ConnectionOp,
  ): { node: View; result: Result } {
    let { listener, client, accepted, queue } = view;
    let result: Result;
    const [role, call] = op.split(".") as [string, string];
    if (role === "accepted" && accepted === undefined) {
      return { node: view, result: "noop" };
    }
    switch (op) {
      case "listener.bind":
      case "listener.listen":
      case "listener.close": {
        const step = predictStep(listener, call as "bind");
        listener = step.node;
        result = step.result;
        // A listener closed with the client's connection still queued
        // resets it.
        if (op === "listener.close" && result === "ok" && queue === "queued") {
          client = this.#reset(client);
          queue = "none";
        }
        break;
      }
      case "listener.accept": {
        const step = predictStep(listener, "accept");
        listener = step.node;
        result = step.result;
        if (result === "ok") {
          accepted = this.#graph.start({
            domain: listener.facts.domain,
            type: "stream",
            accepted: true,
            kernel: listener.facts.kernel,
          });
          if (queue === "queuedClosed") {
            accepted = predictStep(accepted, "peer_close").node;
          } else if (queue === "queuedReset") {
            accepted = this.#reset(accepted);
          }
          queue = "none";
        }
        break;
      }
      case "client.bind":
      case "client.getpeername": {
        const step = predictStep(client, call as "bind");
        client = step.node;
        result = step.result;
        break;
      }
      case "client.connect": {
        const reached = listener.state === "listening"
          ? predictStep(listener, "peer_connect")
          : undefined;
        if (reached?.result === "ok") {
          const step = predictStep(client, "connect");
          client = step.node;
          result = step.result;
          if (result === "ok") {
            listener = reached.node;
            queue = "queued";
          }
        } else {
          const step = predictStep(client, "connect_refused");
          client = step.node;
          result = step.result;
        }
        break;
      }
      case "client.close": {
        const resets = client.facts.lingerReset;
        const step = predictStep(client, "close");
        client = step.node;
        result = step.result;
        if (result === "ok") {
          // SO_LINGER 0: the close resets the connection, FIN otherwise.
          if (accepted !== undefined) {
            accepted = resets
              ? this.#reset(accepted)
              : predictStep(accepted, "peer_close").node;
          } else if (queue === "queued") {
            queue = resets ? "queuedReset" : "queuedClosed";
          }
        }
        break;
      }
      case "client.set_linger0":
      case "accepted.set_linger0": {
        const step = this.#graph.stepShared(
          role === "client" ? client : accepted!,
          LINGER_0,
        );
        // No call is in flight in the model: a refusal carries its errno.
        result = step.allowed || step.waits ? "ok" : step.errno;
        if (step.allowed && role === "client") client = step.next;
        if (step.allowed && role === "accepted") accepted = step.next;
        break;
      }
      case "accepted.getpeername": {
        const step = predictStep(accepted!, "getpeername");
        accepted = step.node;
        result = step.result;
        // The accepted socket's peer is the client: unnamed unless it bound.
        if (result === "ok:path" && client.facts.name !== "path") {
          result = "ok:unnamed";
        }
        break;
      }
      case "accepted.close": {
        const resets = accepted!.facts.lingerReset;
        const step = predictStep(accepted!, "close");
        accepted = step.node;
        result = step.result;
        if (result === "ok") {
          client = resets
            ? this.#reset(client)
            : predictStep(client, "peer_close").node;
        }
        break;
      }
    }
    return { node: this.#view(listener, client, accepted, queue), result };
  }

  /** A socket's connection reset by its peer's end being torn down. */
  #reset(sock: SocketNode): SocketNode {
    const step = this.#graph.stepShared(sock, PEER_RESET);
    return step.allowed ? step.next : sock;
  }

  #view(
    listener: SocketNode,
    client: SocketNode,
    accepted: SocketNode | undefined,
    queue: ConnectionView["queue"],
  ): View {
    const key = `${this.#id(listener)} ${this.#id(client)} ${
      accepted ? this.#id(accepted) : "-"
    } ${queue}`;
    let view = this.#views.get(key);
    if (view === undefined) {
      view = { listener, client, accepted, queue };
      this.#views.set(key, view);
    }
    return view;
  }

  #id(node: SocketNode): number {
    let id = this.#ids.get(node);
    if (id === undefined) this.#ids.set(node, id = this.#ids.size);
    return id;
  }
}

const models = new Map<string, ConnectionModel>();

function modelOf(
  { domain, kernel }: { domain: Domain; kernel: KernelName },
): ConnectionModel {
  const key = `${domain} ${kernel}`;
  let model = models.get(key);
  if (model === undefined) {
    models.set(key, model = new ConnectionModel(domain, kernel));
  }
  return model;
}

/**
 * The model's answer to a scenario of the three sockets of a connection,
 * without any I/O: one result per op (`"noop"` for an op of the accepted
 * socket before there is one).
 *
 * @example Connect before listen is refused
 * ```ts
 * import { predictConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   predictConnection(["listener.bind", "client.connect", "listener.listen"]),
 *   ["ok", "ECONNREFUSED", "ok"],
 * );
 * ```
 *
 * @param ops The scenario.
 * @param options The domain of the sockets and the kernel profile.
 * @returns One result per op.
 * @throws {SocketError} `EINVAL` for ops that are not an array of
 * {@linkcode ConnectionOp}s, options that are not an object, an unknown
 * domain, or an unknown kernel profile.
 */
export function predictConnection(
  ops: readonly ConnectionOp[],
  options: ConnectionOptions = {},
): Result[] {
  checkOps("predict", ops, CONNECTION_OPS);
  const model = modelOf(checkOptions("predict", options));
  let view = model.start;
  return ops.map((op) => {
    const step = model.step(view, op);
    view = step.node;
    return step.result;
  });
}

/**
 * Model-checks the three sockets of `streamConnection()` together: every
 * scenario of up to `depth` {@linkcode ConnectionOp}s, merged as
 * `explore()` merges one socket's. The report's `errors` are the
 * procedure's misorderings, each with a shortest scenario.
 *
 * @example The procedure's misorderings
 * ```ts
 * import { exploreConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const report = exploreConnection({ domain: "inet", depth: 4 });
 * assert.deepEqual(report.violations, []);
 * const early = report.errors.find((e) => e.op === "client.connect");
 * assert.deepEqual(early?.witness.ops, ["client.connect"]); // nothing listens
 * const waiting = report.errors.find((e) =>
 *   e.op === "listener.accept" && e.errno === "EAGAIN"
 * );
 * assert.deepEqual(waiting?.witness.ops, ["listener.listen", "listener.accept"]);
 * ```
 *
 * @param options The domain, the kernel profile, the depth, and the
 * invariants.
 * @returns Counts, states, misorderings with shortest scenarios, and the
 * violated invariants with shortest counterexamples.
 * @throws {SocketError} `EINVAL` for options that are not an object, an
 * unknown domain, a depth that is not an integer from 1 to 32, invariants
 * that are not an array of `{ name, holds }`, an invariant whose `holds`
 * throws (its error is the `cause`), or an unknown kernel profile.
 */
export function exploreConnection(
  options: ConnectionOptions & {
    depth: number;
    invariants?: readonly Property<ConnectionView, ConnectionOp>[];
  },
): ConnectionExploration {
  const model = modelOf(checkOptions("explore", options, "{ depth: 4 }"));
  const depth = checkDepth(options.depth, 32);
  const invariants = checkInvariants(
    options.invariants,
    CONNECTION_INVARIANTS,
  );
  return walk<View, ConnectionOp>(
    {
      start: model.start,
      ops: CONNECTION_OPS,
      step: (view, op) => model.step(view, op),
      label: (view) =>
        `${view.listener.state}/${view.client.state}/${
          view.accepted?.state ?? "-"
        }`,
      isEnvironment: () => false,
    },
    depth,
    invariants,
  );
}
