// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The model checker's walk, for any finite system of nodes and ops: every
 * scenario up to a depth, breadth first, with scenarios that reach the same
 * node merged and counted by dynamic programming over each level.
 * `explore()` walks one socket; `exploreConnection()` walks the three
 * sockets of a connection.
 *
 * @module
 */
import { isErrno } from "./errno.ts";
import { SocketError } from "./errors.ts";
import { describe } from "./options.ts";
import type { Result } from "./predict.ts";

/** What a walk needs: where it starts, the ops, and one step. */
export interface System<N, O extends string> {
  /** The node every scenario starts from. */
  readonly start: N;
  /** The ops a scenario is made of. */
  readonly ops: readonly O[];
  /**
   * The node after `op`, and what `op` gave. Equal nodes must be `===`, and
   * the answer must be the same every time: the walk asks once per (node,
   * op) and remembers it.
   */
  step(node: N, op: O): { readonly node: N; readonly result: Result };
  /** A name for the node, such as its state, for the report. */
  label(node: N): string;
  /** Whether `op` is the environment's: its result is not the socket's. */
  isEnvironment(op: O): boolean;
}

/** A shortest scenario and what each of its ops gave. */
export interface Path<O extends string> {
  /** The ops, from the start. */
  readonly ops: readonly O[];
  /** What each op gave. */
  readonly results: readonly Result[];
}

/** A property every step of a walk must have. */
export interface Property<N, O extends string> {
  /** What must hold, in words. */
  readonly name: string;
  /** Whether one step (from, op, result, to) keeps the property. */
  holds(
    step: { from: N; op: O; result: Result; to: N },
  ): boolean;
}

/** What a walk found. */
export interface WalkReport<O extends string> {
  /**
   * Every scenario of 1 to `depth` ops, exactly: a `bigint`, since the
   * count passes 2^53 (at depth 12 for 22 ops).
   */
  readonly sequences: bigint;
  /** Scenarios in which no call was answered with an errno, exactly. */
  readonly legal: bigint;
  /** Scenarios in which some call was answered with an errno, exactly. */
  readonly illegal: bigint;
  /** The distinct nodes visited. */
  readonly snapshots: number;
  /** Every reachable state, with a shortest scenario that reaches it. */
  readonly states: readonly {
    readonly state: string;
    readonly witness: Path<O>;
  }[];
  /** Every reachable (state, op) pair, with every result it can give. */
  readonly calls: readonly {
    readonly state: string;
    readonly op: O;
    readonly results: readonly Result[];
  }[];
  /** Every (op, errno) a call can give, with a shortest scenario. */
  readonly errors: readonly {
    readonly op: O;
    readonly errno: Result;
    readonly witness: Path<O>;
  }[];
  /** Each violated property, with a shortest counterexample. */
  readonly violations: readonly {
    readonly invariant: string;
    readonly witness: Path<O>;
  }[];
}

/** Scenarios that reach a node: [legal, illegal], both numbers or bigints. */
type Counts = [number, number] | [bigint, bigint];

/**
 * The ops of one node that lead to one node: how many pass, and how many
 * are refused.
 */
interface Edge<N> {
  readonly to: N;
  passed: number;
  refused: number;
}

/**
 * Adds the scenarios of one node, extended by the ops of `edge`, to the
 * counts of the node they lead to: the `clean` ones extended by a refused
 * op become illegal. `counts`, `clean` and `dirty` are all numbers or all
 * bigints, and `+` and `*` are exact on either: as numbers, every product
 * is a part of the level's scenarios, which stay below 2^53.
 */
function add<N>(
  counts: Counts,
  edge: Edge<N>,
  clean: number | bigint,
  dirty: number | bigint,
): void {
  if (typeof clean === "number") {
    const sums = counts as [number, number];
    const d = dirty as number;
    sums[0] += edge.passed * clean;
    sums[1] += edge.passed * d + edge.refused * (clean + d);
  } else {
    const sums = counts as [bigint, bigint];
    const d = dirty as bigint;
    // Only levels past 2^53 get here: their bigints are made as needed.
    const passed = BigInt(edge.passed);
    sums[0] += passed * clean;
    sums[1] += passed * d + BigInt(edge.refused) * (clean + d);
  }
}

interface Discovery<N, O> {
  readonly parent: N | undefined;
  readonly op: O | undefined;
  readonly result: Result | undefined;
}

/** Walks every scenario of 1 to `depth` ops of `system`. */
export function walk<N, O extends string>(
  system: System<N, O>,
  depth: number,
  properties: readonly Property<N, O>[],
): WalkReport<O> {
  const { start, ops: OPS } = system;
  const found = new Map<N, Discovery<N, O>>([[start, {
    parent: undefined,
    op: undefined,
    result: undefined,
  }]]);
  const witness = (node: N, op?: O, result?: Result): Path<O> => {
    const ops: O[] = [];
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

  const states = new Map<string, Path<O>>([[
    system.label(start),
    witness(start),
  ]]);
  // By state, then op; by op, then errno: keys that are the labels and
  // results themselves, never strings made per step.
  const calls = new Map<
    string,
    Map<O, { state: string; op: O; results: Set<Result> }>
  >();
  const errors = new Map<
    O,
    Map<Result, { op: O; errno: Result; witness: Path<O> }>
  >();
  const errorList: { op: O; errno: Result; witness: Path<O> }[] = [];
  const violations = new Map<string, Path<O>>();

  // Where each node's ops lead, merged by target. A step's answer is the
  // same whenever its node is met again, and so is all it adds to the
  // report (the first witnesses, calls, errors and violations are found
  // on the node's first meeting, in the same order as stepping it at every
  // level would find them): each (node, op) is stepped once.
  const edges = new Map<N, Edge<N>[]>();
  const edgesOf = (node: N): Edge<N>[] => {
    let out = edges.get(node);
    if (out !== undefined) return out;
    out = [];
    const byTarget = new Map<N, Edge<N>>();
    const state = system.label(node);
    let callsHere = calls.get(state);
    if (callsHere === undefined) calls.set(state, callsHere = new Map());
    for (const op of OPS) {
      const { node: to, result } = system.step(node, op);
      const refused = !system.isEnvironment(op) && isErrno(result);
      if (!found.has(to)) found.set(to, { parent: node, op, result });
      const label = system.label(to);
      if (!states.has(label)) states.set(label, witness(to));
      let call = callsHere.get(op);
      if (call === undefined) {
        callsHere.set(op, call = { state, op, results: new Set<Result>() });
      }
      call.results.add(result);
      if (refused) {
        let byErrno = errors.get(op);
        if (byErrno === undefined) errors.set(op, byErrno = new Map());
        if (!byErrno.has(result)) {
          const error = {
            op,
            errno: result,
            witness: witness(node, op, result),
          };
          byErrno.set(result, error);
          errorList.push(error);
        }
      }
      if (properties.length > violations.size) {
        const step = { from: node, op, result, to };
        for (const property of properties) {
          if (violations.has(property.name)) continue;
          if (!holds(property, step)) {
            violations.set(property.name, witness(node, op, result));
          }
        }
      }
      let edge = byTarget.get(to);
      if (edge === undefined) {
        edge = { to, passed: 0, refused: 0 };
        byTarget.set(to, edge);
        out.push(edge);
      }
      if (refused) edge.refused++;
      else edge.passed++;
    }
    edges.set(node, out);
    return out;
  };

  // Scenarios per node at the current length: [legal, illegal], exact.
  // They are numbers while the level's scenarios (every count is a part
  // of them) stay below 2^53, bigints from there: bigint sums cost more.
  let level = new Map<N, Counts>([[start, [1, 0]]]);
  let width = 1;
  let big = false;
  let legal = 0n;
  let illegal = 0n;
  for (let length = 1; length <= depth; length++) {
    if (!big && width * OPS.length > Number.MAX_SAFE_INTEGER) {
      big = true;
      level = new Map(
        [...level].map(([node, [clean, dirty]]) => [node, [
          BigInt(clean),
          BigInt(dirty),
        ]]),
      );
    }
    width *= OPS.length;
    const next = new Map<N, Counts>();
    for (const [node, [clean, dirty]] of level) {
      for (const edge of edgesOf(node)) {
        let counts = next.get(edge.to);
        if (counts === undefined) {
          next.set(edge.to, counts = big ? [0n, 0n] : [0, 0]);
        }
        add(counts, edge, clean, dirty);
      }
    }
    // Number or bigint alike: `+` of two of one kind.
    const total = (big ? [0n, 0n] : [0, 0]) as [number, number];
    for (const counts of next.values()) {
      total[0] += counts[0] as number;
      total[1] += counts[1] as number;
    }
    legal += BigInt(total[0]);
    illegal += BigInt(total[1]);
    level = next;
  }
  return {
    sequences: legal + illegal,
    legal,
    illegal,
    snapshots: found.size,
    states: [...states].map(([state, witness]) => ({ state, witness })),
    calls: [...calls.values()].flatMap((byOp) => [...byOp.values()])
      .map(({ state, op, results }) => ({
        state,
        op,
        results: [...results].sort(),
      }))
      .sort((a, b) =>
        a.state.localeCompare(b.state) || OPS.indexOf(a.op) - OPS.indexOf(b.op)
      ),
    errors: errorList,
    violations: [...violations].map(([invariant, witness]) => ({
      invariant,
      witness,
    })),
  };
}

/**
 * Whether `property` holds of `step`; a property that throws is the
 * caller's defect, reported as our error with its own as the cause.
 */
function holds<N, O extends string>(
  property: Property<N, O>,
  step: { from: N; op: O; result: Result; to: N },
): boolean {
  try {
    return property.holds(step);
  } catch (error) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot explore: the invariant ${describe(property.name)} threw ${
        describe(error instanceof Error ? error.message : error)
      } at op ${describe(step.op)}; make holds(step) return true or false`,
      { cause: error },
    );
  }
}
