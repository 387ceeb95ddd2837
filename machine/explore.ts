// Copyright 2026 the sockfsm authors. MIT license.
import type { Domain } from "./address.ts";
import { isErrno } from "./errno.ts";
import { SocketError } from "./errors.ts";
import type { SocketGraph, SocketNode } from "./graph.ts";
import {
  modelGraph,
  type Op,
  OPS,
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
  /** Every scenario of 1 to `depth` ops: `16 + 16² + … + 16^depth`. */
  readonly sequences: number;
  /** Scenarios in which no call of the socket was answered with an errno. */
  readonly legal: number;
  /** Scenarios in which some call of the socket was answered with an errno. */
  readonly illegal: number;
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

/** How a node was first reached: from which node, by which op. */
interface Discovery {
  readonly parent: SocketNode | undefined;
  readonly op: Op | undefined;
  readonly result: Result | undefined;
}

/**
 * Model-checks the socket machine: explores every scenario of up to `depth`
 * of {@linkcode predict}'s ops from a fresh socket, without I/O. Scenarios
 * that lead to the same machine snapshot are merged, so the work grows with
 * the number of distinct snapshots, not with `16^depth`.
 *
 * @example Find what refuses accept, and check an invariant
 * ```ts
 * import { explore } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const report = explore({ domain: "inet", type: "stream", depth: 3 });
 * assert.equal(report.sequences, 16 + 16 ** 2 + 16 ** 3);
 * assert.deepEqual(report.violations, []);
 * const accept = report.errors.find((e) => e.op === "accept");
 * assert.deepEqual(accept?.witness.ops, ["accept"]);
 * assert.equal(accept?.errno, "EINVAL");
 * ```
 *
 * @param options The socket kind, the depth and the invariants.
 * @returns Counts, reachable states and calls with shortest witnesses, and
 * the violated invariants with shortest counterexamples.
 * @throws {SocketError} `EINVAL` for a depth that is not an integer from 1
 * to 64.
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
  const {
    domain = "inet",
    type = "stream",
    depth,
    nonblocking = false,
    invariants = BUILTIN_INVARIANTS,
  } = options;
  if (!Number.isInteger(depth) || depth < 1 || depth > 64) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot explore to depth ${depth}: use an integer from 1 to 64`,
    );
  }
  const start = graph.start({ domain, type });
  const found = new Map<SocketNode, Discovery>([[start, {
    parent: undefined,
    op: undefined,
    result: undefined,
  }]]);
  const witness = (node: SocketNode, op?: Op, result?: Result): Witness => {
    const ops: Op[] = [];
    const results: Result[] = [];
    if (op !== undefined) {
      ops.push(op);
      results.push(result!);
    }
    for (let at = found.get(node)!; at.parent !== undefined;) {
      ops.unshift(at.op!);
      results.unshift(at.result!);
      at = found.get(at.parent)!;
    }
    return { ops, results };
  };

  const states = new Map<SocketState, Witness>([[start.state, witness(start)]]);
  const calls = new Map<
    string,
    { state: SocketState; op: Op; results: Set<Result> }
  >();
  const errors = new Map<string, { op: Op; errno: Result; witness: Witness }>();
  const violations = new Map<string, Witness>();

  // Scenarios per node at the current length: [legal, illegal].
  let level = new Map<SocketNode, [number, number]>([[start, [1, 0]]]);
  let sequences = 0;
  let legal = 0;
  let illegal = 0;
  for (let length = 1; length <= depth; length++) {
    const next = new Map<SocketNode, [number, number]>();
    for (const [node, [clean, dirty]] of level) {
      for (const op of OPS) {
        const step = predictStep(node, op, nonblocking, graph);
        const to = step.node;
        const result = step.result;
        const refused = !ENVIRONMENT.has(op) && isErrno(result);
        if (!found.has(to)) found.set(to, { parent: node, op, result });
        if (!states.has(to.state)) states.set(to.state, witness(to));
        const key = `${node.state} ${op}`;
        const call = calls.get(key) ??
          { state: node.state, op, results: new Set<Result>() };
        call.results.add(result);
        calls.set(key, call);
        if (refused && !errors.has(`${op} ${result}`)) {
          errors.set(`${op} ${result}`, {
            op,
            errno: result,
            witness: witness(node, op, result),
          });
        }
        for (const invariant of invariants) {
          if (violations.has(invariant.name)) continue;
          const held = invariant.holds({
            from: node,
            op,
            result,
            to,
          });
          if (!held) violations.set(invariant.name, witness(node, op, result));
        }
        const counts = next.get(to) ?? [0, 0];
        counts[0] += refused ? 0 : clean;
        counts[1] += refused ? clean + dirty : dirty;
        next.set(to, counts);
      }
    }
    for (const [clean, dirty] of next.values()) {
      sequences += clean + dirty;
      legal += clean;
      illegal += dirty;
    }
    level = next;
  }
  return {
    sequences,
    legal,
    illegal,
    snapshots: found.size,
    states: [...states].map(([state, witness]) => ({ state, witness })),
    calls: [...calls.values()]
      .map(({ state, op, results }) => ({
        state,
        op,
        results: [...results].sort(),
      }))
      .sort((a, b) =>
        a.state.localeCompare(b.state) || OPS.indexOf(a.op) - OPS.indexOf(b.op)
      ),
    errors: [...errors.values()],
    violations: [...violations].map(([invariant, witness]) => ({
      invariant,
      witness,
    })),
  };
}
