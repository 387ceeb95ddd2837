// Copyright 2026 the sockfsm authors. MIT license.
import type { Domain } from "./address.ts";
import {
  checkDepth,
  checkInvariants,
  checkOptions,
} from "./_check_scenario.ts";
import type { SocketGraph, SocketNode } from "./graph.ts";
import type { KernelName } from "./kernel.ts";
import { walk } from "./walk.ts";
import {
  modelGraph,
  modelStart,
  type Op,
  OPS,
  opStep,
  predictStep,
  type Result,
} from "./predict.ts";
import type {
  SocketContext,
  SocketState,
  SocketType,
} from "./socket_machine.ts";

/** A socket as an invariant sees it: its state and its facts. */
export interface SocketView {
  /** The socket's state. */
  readonly state: SocketState;
  /** The facts of the model about it (bound, shutdown bits, peer...). */
  readonly facts: SocketContext;
}

/** One step of a scenario: from where, which op, what it gave, to where. */
export interface ExploredStep {
  /** The socket before the op. */
  readonly from: SocketView;
  /** The op. */
  readonly op: Op;
  /** What the op gave. */
  readonly result: Result;
  /** The socket after the op. */
  readonly to: SocketView;
}

/** A property every step must have; a step without it is a violation. */
export interface Invariant {
  /** What must hold, in words. */
  readonly name: string;
  /** Whether the step keeps the property. */
  holds(step: ExploredStep): boolean;
}

/** Options for {@linkcode explore}. */
export interface ExploreOptions {
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
  /** The longest scenario to explore, in ops (1 to 64). */
  depth: number;
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
  /**
   * The properties to check on every step.
   *
   * @default {BUILTIN_INVARIANTS}
   */
  invariants?: readonly Invariant[];
}

/** A shortest scenario and what each of its ops gave. */
export interface Witness {
  /** The ops, from a fresh socket. */
  readonly ops: readonly Op[];
  /** What each op gave. */
  readonly results: readonly Result[];
}

/** What {@linkcode explore} found. */
export interface Exploration {
  /**
   * Every scenario of 1 to `depth` ops, exactly: `n + n² + … + n^depth` for
   * the `n` ({@linkcode OPS}`.length`, 22) ops. A `bigint`: from depth 12 it
   * passes 2^53, where a `number` would round it.
   */
  readonly sequences: bigint;
  /**
   * Scenarios in which no call of the socket was answered with an errno,
   * exactly.
   */
  readonly legal: bigint;
  /**
   * Scenarios in which some call of the socket was answered with an errno,
   * exactly.
   */
  readonly illegal: bigint;
  /** The distinct machine snapshots (state and facts) visited. */
  readonly snapshots: number;
  /** Every reachable state, with a shortest scenario that reaches it. */
  readonly states: readonly {
    readonly state: SocketState;
    readonly witness: Witness;
  }[];
  /** Every reachable (state, op) pair, with every result it can give. */
  readonly calls: readonly {
    readonly state: SocketState;
    readonly op: Op;
    readonly results: readonly Result[];
  }[];
  /** Every (op, errno) the socket can answer, with a shortest scenario. */
  readonly errors: readonly {
    readonly op: Op;
    readonly errno: Result;
    readonly witness: Witness;
  }[];
  /** Each violated invariant, with a shortest counterexample. */
  readonly violations: readonly {
    readonly invariant: string;
    readonly witness: Witness;
  }[];
  /**
   * What a call made while another call's effect is in flight gives, for
   * every in-flight state the scenarios pass through (`binding`, `opening`,
   * `connecting`, `shuttingDown`): `"waits"` (it waits for the call in
   * flight, and the state that call leaves answers it), or an answer at
   * once. The ops of a scenario never overlap; this is what two tasks
   * calling at once would see.
   */
  readonly overlaps: readonly {
    readonly state: SocketState;
    readonly op: Op;
    readonly answers: readonly (Result | "waits")[];
  }[];
}

const CONNECTED: ReadonlySet<SocketState> = new Set([
  "connected",
  "shutRd",
  "shutWr",
  "shutRdWr",
]);

/** The environment's ops: what they give is the peer's, not the socket's. */
const ENVIRONMENT: ReadonlySet<Op> = new Set(["peer_connect", "peer_close"]);

/**
 * Invariants the socket model must satisfy; {@linkcode explore} checks them
 * unless told otherwise, and the tests check that they hold at depth 8.
 */
export const BUILTIN_INVARIANTS: readonly Invariant[] = [
  {
    name: "no send succeeds before the socket was ever connected",
    holds: ({ from, op, result }) =>
      op !== "send" || result !== "ok" || CONNECTED.has(from.state),
  },
  {
    name: "after close every call is EBADF",
    holds: ({ from, op, result }) =>
      from.state !== "closed" || ENVIRONMENT.has(op) || result === "EBADF",
  },
  {
    name: "a listening socket never has a peer",
    holds: ({ to }) => to.state !== "listening" || !to.facts.peer,
  },
  {
    name: "accept succeeds only on a listening socket",
    holds: ({ from, op, result }) =>
      op !== "accept" || result !== "ok" || from.state === "listening",
  },
  {
    name: "getpeername succeeds only on a socket with a peer",
    holds: ({ from, op, result }) =>
      op !== "getpeername" || !result.startsWith("ok") || from.facts.peer,
  },
  {
    name: "a datagram socket never reads end of stream",
    holds: ({ from, op, result }) =>
      op !== "recv" || from.facts.type !== "dgram" || result !== "ok:eof",
  },
];

/**
 * Model-checks the socket machine: explores every scenario of up to `depth`
 * of {@linkcode predict}'s ops from a fresh socket, without I/O. Scenarios
 * that lead to the same machine snapshot are merged, so the work grows with
 * the number of distinct snapshots, not with `22^depth`; the counts are
 * exact `bigint`s at every depth.
 *
 * @example Find what refuses accept, and check an invariant
 * ```ts
 * import { explore } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const report = explore({ domain: "inet", type: "stream", depth: 3 });
 * assert.equal(report.sequences, 22n + 22n ** 2n + 22n ** 3n); // 22 ops
 * assert.equal(report.legal + report.illegal, report.sequences);
 * assert.deepEqual(report.violations, []);
 * const accept = report.errors.find((e) => e.op === "accept");
 * assert.deepEqual(accept?.witness.ops, ["accept"]);
 * assert.equal(accept?.errno, "EINVAL");
 * ```
 *
 * @param options The socket kind, the kernel profile, the depth and the
 * invariants.
 * @returns Counts, reachable states and calls with shortest witnesses, and
 * the violated invariants with shortest counterexamples.
 * @throws {SocketError} `EINVAL` for options that are not an object, an
 * unknown domain or type, a `nonblocking` that is not a boolean, a depth
 * that is not an integer from 1 to 64, invariants that are not an array of
 * `{ name, holds }`, an invariant whose `holds` throws (its error is the
 * `cause`), or an unknown kernel profile.
 */
export function explore(options: ExploreOptions): Exploration {
  return exploreGraph(modelGraph(), options);
}

/**
 * {@linkcode explore} over the graph of any socket machine. Internal: the
 * tests check the checker on a machine with a known defect.
 */
export function exploreGraph(
  graph: SocketGraph,
  options: ExploreOptions,
): Exploration {
  const { domain, type, nonblocking, kernel } = checkOptions(
    "explore",
    options,
    "{ depth: 4 }",
  );
  const depth = checkDepth(options.depth, 64);
  const invariants = checkInvariants(options.invariants, BUILTIN_INVARIANTS);
  const stepped = new Set<SocketNode>();
  const report = walk<SocketNode, Op>(
    {
      start: modelStart(domain, type, kernel, graph),
      ops: OPS,
      step: (node, op) => {
        stepped.add(node);
        return predictStep(node, op, nonblocking, graph);
      },
      label: (node) => node.state,
      isEnvironment: (op) => ENVIRONMENT.has(op),
    },
    depth,
    invariants,
  );
  return {
    ...report as Omit<Exploration, "overlaps">,
    overlaps: overlapsOf(graph, stepped, nonblocking),
  };
}

/** What each op gives in the in-flight nodes that `nodes` lead to. */
function overlapsOf(
  graph: SocketGraph,
  nodes: ReadonlySet<SocketNode>,
  nonblocking: boolean,
): Exploration["overlaps"] {
  const calls = OPS.filter((op) => !ENVIRONMENT.has(op));
  // The in-flight nodes, each once, in the order they are first met: what
  // an op gives in one depends only on it.
  const inFlight = new Set<SocketNode>();
  for (const node of nodes) {
    for (const first of calls) {
      const into = opStep(node, first, nonblocking, graph);
      if (into.allowed && into.next.inFlight) inFlight.add(into.next);
    }
  }
  const found = new Map<
    SocketState,
    Map<Op, { state: SocketState; op: Op; answers: Set<Result | "waits"> }>
  >();
  for (const node of inFlight) {
    const state = node.state;
    let byOp = found.get(state);
    if (byOp === undefined) found.set(state, byOp = new Map());
    for (const op of calls) {
      const step = opStep(node, op, nonblocking, graph);
      const answer = step.allowed
        ? step.outcome ?? "ok"
        : step.waits
        ? "waits"
        : step.errno;
      let entry = byOp.get(op);
      if (entry === undefined) {
        byOp.set(op, entry = { state, op, answers: new Set() });
      }
      entry.answers.add(answer);
    }
  }
  return [...found.values()].flatMap((byOp) =>
    [...byOp.values()].map(({ state, op, answers }) => ({
      state,
      op,
      answers: [...answers].sort(),
    }))
  );
}
