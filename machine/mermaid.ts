// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Pictures of the socket machine, derived from it alone. `socketDiagram()`
 * walks the machine's snapshot graph (`SocketGraph`)
 * from a fresh socket of one kind, trying every call in every snapshot it
 * reaches, and collapses the snapshots to their states: the facts are not
 * drawn. {@linkcode toMermaid} writes the result as a Mermaid
 * `stateDiagram-v2`; `tools/diagram_svg.ts` draws the same diagram as SVG.
 *
 * No rule is written here: which call leads where, and which errno refuses
 * it, is what the machine answers.
 *
 * @module
 */
import type { Domain } from "./address.ts";
import type { Errno } from "./errno.ts";
import { SocketGraph, type SocketNode } from "./graph.ts";
import { checkOptions } from "./_check_scenario.ts";
import type { KernelName } from "./kernel.ts";
import { modelStart } from "./predict.ts";
import {
  type PortChoice,
  type SocketEvent,
  type SocketEventType,
  socketMachine,
  type SocketState,
  type SocketType,
} from "./socket_machine.ts";

/** Which kind of socket to draw. */
export interface DiagramOptions {
  /** The socket's address family. */
  readonly domain: Domain;
  /** The socket type. */
  readonly type: SocketType;
  /**
   * The kernel profile to draw for (see `kernelProfiles()`).
   *
   * @default {"classic"}
   */
  readonly kernel?: KernelName;
}

/** A socket call: an event of the machine that the socket itself makes. */
export type SocketCall = Exclude<
  SocketEventType,
  | "PEER_CONNECT"
  | "PEER_CLOSE"
  | "PEER_RESET"
  | "SEEN_END"
  | "SEEN_RESET"
  | "SEEN_CONNECTING"
  | "SEEN_CONNECTED"
  | "SEEN_CONNECT_FAILED"
  | "INTERRUPT"
>;

/**
 * What a call that does not simply go through gives: an errno, or
 * `"waits"` (it waits for the call in flight, and the state after that one
 * answers it).
 */
export type DiagramAnswer = Errno | "waits";

/** A call that a state refuses or defers, in some or all of its snapshots. */
export interface DiagramRefusal {
  readonly call: SocketCall;
  /** The errnos it is refused with, and `"waits"` if it waits; sorted. */
  readonly errnos: readonly DiagramAnswer[];
  /**
   * Whether the state also lets the call through in some snapshot, or for
   * some address (for example `RECV` on a TCP socket shut for reading).
   */
  readonly sometimes: boolean;
}

/** One state of the diagram. */
export interface DiagramState {
  readonly state: SocketState;
  /** An effect (`bind`, `listen`, `connect`, `shutdown`) is in flight. */
  readonly inFlight: boolean;
  /** The fewest transitions from `created` to this state. */
  readonly distance: number;
  /** The calls it refuses, in call order. */
  readonly refused: readonly DiagramRefusal[];
}

/** The transitions from one state to another (or to itself), merged. */
export interface DiagramEdge {
  readonly from: SocketState;
  readonly to: SocketState;
  /**
   * What takes the socket there, in call order: a call (`"BIND"`; with
   * `" (O_NONBLOCK)"` when only a non-blocking call does), then the effect's
   * completion, `"done"` or `"error"`; last, in parentheses, an event of the
   * environment (`"(PEER_CLOSE)"`), if one ever changes the state.
   */
  readonly triggers: readonly string[];
}

/** The socket machine for one kind of socket, as states and transitions. */
export interface SocketDiagram {
  readonly domain: Domain;
  readonly type: SocketType;
  /** The kernel profile drawn for. */
  readonly kernel: KernelName;
  /** The reachable states, nearest to `created` first. */
  readonly states: readonly DiagramState[];
  /** The transitions, in the order of `states` (from, then to). */
  readonly edges: readonly DiagramEdge[];
}

/** The environment's events: sent in the walk, drawn only if they move. */
const ENVIRONMENT: readonly SocketEvent[] = [
  { type: "PEER_CONNECT" },
  { type: "PEER_CLOSE" },
  { type: "PEER_RESET" },
  // What the runtime's own calls saw: in the model, where the environment
  // is told, they change nothing (they move only an unseen socket).
  { type: "SEEN_END" },
  { type: "SEEN_RESET" },
  { type: "SEEN_CONNECTING" },
  { type: "SEEN_CONNECTED" },
  { type: "SEEN_CONNECT_FAILED" },
];

/**
 * One event per call and per payload that a rule reads: every way of
 * choosing an address in the domain (an address of the socket's own family:
 * the family checks are not drawn), a target that accepts or refuses,
 * blocking or not, and each way to shut down. These are inputs to the walk,
 * not rules.
 */
function callsOf(domain: Domain): readonly SocketEvent[] {
  const ports: readonly PortChoice[] = domain === "unix"
    ? ["path", "abstract"]
    : ["kernel", "caller"];
  const connects: SocketEvent[] = [];
  for (const target of [undefined, "refused"] as const) {
    for (const nonblocking of [false, true]) {
      connects.push({
        type: "CONNECT",
        family: domain,
        ...(target === undefined ? {} : { target }),
        ...(nonblocking ? { nonblocking } : {}),
      });
    }
  }
  return [
    ...ports.map((port): SocketEvent => ({
      type: "BIND",
      family: domain,
      port,
    })),
    { type: "LISTEN" },
    ...connects,
    { type: "ACCEPT" },
    { type: "ACCEPT", nonblocking: true },
    { type: "SEND" },
    { type: "RECV" },
    { type: "RECV", nonblocking: true },
    { type: "SHUTDOWN", how: "read" },
    { type: "SHUTDOWN", how: "write" },
    { type: "SHUTDOWN", how: "both" },
    { type: "CLOSE" },
    { type: "GETSOCKNAME" },
    { type: "GETPEERNAME" },
    // One option of each level the rules tell apart, and IPV6_V6ONLY and
    // SO_ERROR, which have rules of their own.
    ...(["SO_REUSEADDR", "SO_REUSEPORT", "TCP_NODELAY", "IPV6_V6ONLY"] as const)
      .map((option): SocketEvent => ({ type: "SETSOCKOPT", option, on: true })),
    ...(["SO_ERROR", "TCP_NODELAY", "IPV6_V6ONLY"] as const).map(
      (option): SocketEvent => ({ type: "GETSOCKOPT", option }),
    ),
    { type: "SENDTO", family: domain },
    { type: "DISCONNECT" },
    { type: "POLL" },
  ];
}

/** The calls in the order the walk tries them (and the diagram lists them). */
const CALLS: readonly SocketCall[] = [
  ...new Set(callsOf("inet").map((e) => e.type as SocketCall)),
];

const STATE_ORDER = Object.keys(socketMachine.root.states) as SocketState[];

/** One graph for every diagram: a second walk costs map lookups. */
let graph: SocketGraph | undefined;

/** What the walk saw: snapshots, transitions and answers, by state. */
interface Walk {
  readonly start: SocketNode;
  readonly seen: ReadonlySet<SocketNode>;
  /** "from to" -> trigger -> whether a blocking call (or no call) led there. */
  readonly edges: ReadonlyMap<string, ReadonlyMap<string, boolean>>;
  /** state -> call -> the errnos it was refused with; whether let through. */
  readonly answers: ReadonlyMap<
    SocketState,
    ReadonlyMap<SocketCall, { errnos: Set<DiagramAnswer>; allowed: boolean }>
  >;
}

/**
 * Visits every snapshot a fresh socket of a kind reaches: tries every call
 * variant and the environment's events in each, and settles each in-flight
 * effect both ways.
 */
function walk(
  domain: Domain,
  type: SocketType,
  kernel: KernelName,
): Walk {
  const calls = callsOf(domain);
  const tried = new Set<string>([...calls, ...ENVIRONMENT].map((e) => e.type));
  // XState's own events (an invoked effect's completion) are settled below.
  const untried = socketMachine.events.filter((e) =>
    !e.startsWith("xstate.") && !tried.has(e)
  );
  if (untried.length > 0) {
    throw new Error(
      `Cannot draw the socket machine: the walk does not try ${
        untried.join(", ")
      }; add them to callsOf() in machine/mermaid.ts`,
    );
  }
  const model = graph ??= new SocketGraph(socketMachine);
  const edges = new Map<string, Map<string, boolean>>();
  const addEdge = (
    from: SocketNode,
    to: SocketNode,
    trigger: string,
    plain: boolean,
  ) => {
    const pair = `${from.state} ${to.state}`;
    const triggers = edges.get(pair) ?? new Map<string, boolean>();
    triggers.set(trigger, (triggers.get(trigger) ?? false) || plain);
    edges.set(pair, triggers);
  };
  const answers = new Map<
    SocketState,
    Map<SocketCall, { errnos: Set<DiagramAnswer>; allowed: boolean }>
  >();
  const answer = (node: SocketNode, call: SocketCall) => {
    const byCall = answers.get(node.state) ?? new Map();
    answers.set(node.state, byCall);
    let found = byCall.get(call);
    if (found === undefined) {
      found = { errnos: new Set<DiagramAnswer>(), allowed: false };
      byCall.set(call, found);
    }
    return found;
  };

  const start = modelStart(domain, type, kernel, model);
  const seen = new Set<SocketNode>([start]);
  const queue: SocketNode[] = [start];
  const visit = (node: SocketNode) => {
    if (!seen.has(node)) {
      seen.add(node);
      queue.push(node);
    }
  };
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    for (const event of calls) {
      const call = event.type as SocketCall;
      const step = model.step(node, event);
      if (!step.allowed) {
        answer(node, call).errnos.add(step.waits ? "waits" : step.errno);
        continue;
      }
      answer(node, call).allowed = true;
      const plain = !("nonblocking" in event && event.nonblocking === true);
      addEdge(node, step.next, call, plain);
      visit(step.next);
    }
    for (const event of ENVIRONMENT) {
      const step = model.step(node, event);
      if (!step.allowed) continue;
      if (step.next.state !== node.state) {
        addEdge(node, step.next, `(${event.type})`, true);
      }
      visit(step.next);
    }
    if (node.inFlight) {
      for (const outcome of ["done", "error"] as const) {
        const next = model.settle(node, outcome);
        addEdge(node, next, outcome, true);
        visit(next);
      }
    }
  }
  return { start, seen, edges, answers };
}

/**
 * Returns the socket machine for one kind of socket as a diagram: the states
 * a fresh socket of that kind can reach, the transitions between them, and
 * the calls each state refuses with their errnos.
 *
 * The walk starts from a fresh socket and tries, in every snapshot it
 * reaches, every call with every payload variant that a rule reads (see
 * `callsOf`), plus the environment's `PEER_CONNECT`, `PEER_CLOSE` and
 * `PEER_RESET`, and
 * settles every in-flight effect both ways (`done`, `error`). The
 * environment's events are tried so that the facts they feed (a queued
 * connection, a peer that closed) are reached, but they are not drawn: they
 * change a socket's facts, never its state. Should one ever change the state,
 * it is drawn, in parentheses.
 *
 * @example List the states of a unix datagram socket
 * ```ts
 * import { socketDiagram } from "./mermaid.ts";
 * import assert from "node:assert/strict";
 *
 * const diagram = socketDiagram({ domain: "unix", type: "dgram" });
 * assert.equal(diagram.states[0].state, "created");
 * assert.ok(!diagram.states.some((s) => s.state === "listening"));
 * const closed = diagram.states.find((s) => s.state === "closed");
 * assert.deepEqual(closed?.refused[0], {
 *   call: "BIND",
 *   errnos: ["EBADF"],
 *   sometimes: false,
 * });
 * ```
 *
 * @param options The socket kind.
 * @returns The diagram, in a fixed order.
 * @throws {SocketError} `EINVAL` for options that are not an object, a
 * missing or unknown domain or type, or an unknown kernel profile.
 * @throws {Error} When the machine has an event the walk does not try: a new
 * call must be added to the walk's list before it can be drawn.
 */
export function socketDiagram(options: DiagramOptions): SocketDiagram {
  const { domain, type, kernel } = checkOptions(
    "draw",
    options,
    '{ domain: "inet", type: "stream" }',
    false,
  );
  const { start, seen, edges, answers } = walk(domain, type, kernel);

  // Distances over the drawn transitions, from the start state.
  const distance = new Map<SocketState, number>([[start.state, 0]]);
  const frontier: SocketState[] = [start.state];
  for (let i = 0; i < frontier.length; i++) {
    const from = frontier[i];
    for (const pair of edges.keys()) {
      const [source, target] = pair.split(" ") as [SocketState, SocketState];
      if (source === from && !distance.has(target)) {
        distance.set(target, distance.get(from)! + 1);
        frontier.push(target);
      }
    }
  }
  const rank = (state: SocketState) =>
    distance.get(state)! * STATE_ORDER.length + STATE_ORDER.indexOf(state);
  const states = [...new Set([...seen].map((n) => n.state))].sort((a, b) =>
    rank(a) - rank(b)
  );
  const triggerRank = (trigger: string) => {
    const call = CALLS.indexOf(trigger as SocketCall);
    if (call >= 0) return call;
    if (trigger === "done") return CALLS.length;
    if (trigger === "error") return CALLS.length + 1;
    return CALLS.length + 2;
  };
  const drawn: DiagramEdge[] = [...edges].map(([pair, triggers]) => {
    const [from, to] = pair.split(" ") as [SocketState, SocketState];
    return {
      from,
      to,
      triggers: [...triggers]
        .sort(([a], [b]) => triggerRank(a) - triggerRank(b) || (a < b ? -1 : 1))
        .map(([trigger, plain]) => plain ? trigger : `${trigger} (O_NONBLOCK)`),
    };
  }).sort((a, b) => rank(a.from) - rank(b.from) || rank(a.to) - rank(b.to));

  return {
    domain,
    type,
    kernel,
    states: states.map((state) => ({
      state,
      inFlight: socketMachine.root.states[state].invoke.length > 0,
      distance: distance.get(state)!,
      refused: CALLS.flatMap((call) => {
        const found = answers.get(state)?.get(call);
        if (found === undefined || found.errnos.size === 0) return [];
        return [{
          call,
          errnos: [...found.errnos].sort(),
          sometimes: found.allowed,
        }];
      }),
    })),
    edges: drawn,
  };
}

/**
 * The lines that say what a state refuses or defers: `"ACCEPT: EINVAL"`,
 * `"SEND: sometimes EPIPE"` (the state lets it through in some snapshots),
 * `"BIND: waits"` (it waits for the call in flight). When three calls or
 * more share an answer and at most four calls do not, one line says it for
 * all (`"every call: EBADF"`, `"every call but CLOSE and GETSOCKNAME:
 * waits"`), followed by the lines of the calls refused otherwise.
 *
 * @example Say what a state refuses
 * ```ts
 * import { refusalLines } from "./mermaid.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   refusalLines({
 *     state: "created",
 *     inFlight: false,
 *     distance: 0,
 *     refused: [
 *       { call: "ACCEPT", errnos: ["EINVAL"], sometimes: false },
 *       { call: "RECV", errnos: ["ENOTCONN"], sometimes: true },
 *     ],
 *   }),
 *   ["ACCEPT: EINVAL", "RECV: sometimes ENOTCONN"],
 * );
 * ```
 *
 * @param state A state of a `SocketDiagram`.
 * @returns One line per refused call, or one line for all of them.
 */
export function refusalLines(state: DiagramState): string[] {
  const texts = state.refused.map((r) =>
    `${r.sometimes ? "sometimes " : ""}${r.errnos.join(" or ")}`
  );
  const lines = state.refused.map((r, i) => `${r.call}: ${texts[i]}`);
  // The commonest answer, if it is most calls' answer, goes in one line.
  const counts = new Map<string, number>();
  for (const text of texts) counts.set(text, (counts.get(text) ?? 0) + 1);
  const [common, count] = [...counts].sort((a, b) => b[1] - a[1])[0] ??
    ["", 0];
  const others = CALLS.filter((call) =>
    texts[state.refused.findIndex((r) => r.call === call)] !== common
  );
  if (count < 3 || others.length > 4) return lines;
  const but = others.length === 0
    ? ""
    : ` but ${others.slice(0, -1).join(", ")}${
      others.length > 1 ? " and " : ""
    }${others.at(-1)}`;
  return [
    `every call${but}: ${common}`,
    ...lines.filter((_, i) => texts[i] !== common),
  ];
}

/**
 * Returns the socket machine for one kind of socket as a Mermaid
 * `stateDiagram-v2`, derived from the machine alone:
 *
 * - the states a fresh socket of that kind can reach (for example no
 *   `listening` for a datagram socket), with the in-flight states (an effect
 *   under way: `binding`, `opening`, `connecting`, `shuttingDown`) in the
 *   class `inFlight`;
 * - one transition per pair of states, labelled by every call that leads
 *   there (`BIND, CONNECT`), `CONNECT (O_NONBLOCK)` where only a
 *   non-blocking call does, and `done` / `error` for the completion of an
 *   in-flight effect; a call that keeps the state is a transition to itself;
 * - one note per state listing the calls it refuses, with their errno
 *   (`ACCEPT: EINVAL`); `sometimes` marks a call the state lets through in
 *   other snapshots (its facts, or the address, decide).
 *
 * The environment's events (`PEER_CONNECT`, `PEER_CLOSE`, `PEER_RESET`) are
 * not drawn: they never change a socket's state, only its facts, and the
 * diagram draws states alone. The text is the same on every call.
 *
 * @example Draw the datagram socket
 * ```ts
 * import { toMermaid } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const text = toMermaid({ domain: "inet", type: "dgram" });
 * assert.ok(text.startsWith("stateDiagram-v2\n"));
 * assert.ok(text.includes("  created --> binding : BIND\n"));
 * assert.ok(text.includes("    LISTEN: EOPNOTSUPP\n"));
 * assert.ok(!text.includes("listening")); // datagram sockets never listen
 * ```
 *
 * @param options The socket kind: its domain and type; and the kernel
 * profile.
 * @returns The Mermaid text, ending with a newline.
 * @throws {SocketError} `EINVAL` for options that are not an object, a
 * missing or unknown domain or type, or an unknown kernel profile.
 */
export function toMermaid(options: DiagramOptions): string {
  const diagram = socketDiagram(options);
  const lines = [
    "stateDiagram-v2",
    `  %% sockfsm: the ${diagram.domain} ${diagram.type} socket, kernel profile ${diagram.kernel}, generated from machine/socket_machine.ts`,
    "  classDef inFlight fill:#fff4d6,stroke:#b7791f,stroke-dasharray:4 3",
    `  [*] --> ${diagram.states[0].state}`,
  ];
  for (const edge of diagram.edges) {
    lines.push(`  ${edge.from} --> ${edge.to} : ${edge.triggers.join(", ")}`);
  }
  const inFlight = diagram.states.filter((s) => s.inFlight).map((s) => s.state);
  if (inFlight.length > 0) lines.push(`  class ${inFlight.join(",")} inFlight`);
  for (const state of diagram.states) {
    const refused = refusalLines(state);
    if (refused.length === 0) continue;
    lines.push(`  note right of ${state.state}`);
    for (const line of refused) lines.push(`    ${line}`);
    lines.push("  end note");
  }
  return lines.join("\n") + "\n";
}
