// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The socket machine as the finite graph it is. A machine snapshot holds only
 * a state and finite facts, so the snapshots a socket can reach are few.
 * `SocketGraph` asks XState once for each (snapshot, call) and
 * remembers the answer: the rules stay in the machine, XState applies them,
 * and after the first socket every call costs a map lookup instead of an
 * interpreter step (which measures 5 to 30 µs here, more than a loopback
 * connection's whole budget).
 *
 * @module
 */
import { type ActorScope, type AnyActorLogic, createActor } from "xstate";
import type {
  SocketContext,
  SocketEvent,
  SocketInput,
  SocketMachine,
  SocketSnapshot,
  SocketState,
} from "./socket_machine.ts";
import { type Verdict, verdict } from "./verdict.ts";

/** An effect in flight: the invoked actor's id, its logic, and its input. */
export interface Effect {
  readonly id: string;
  readonly src: string;
  readonly logic: AnyActorLogic;
  readonly input: unknown;
}

/** One distinct snapshot of the machine. */
export interface SocketNode {
  /** The machine snapshot: a state and its facts. */
  readonly snapshot: SocketSnapshot;
  /** The state. */
  readonly state: SocketState;
  /** The facts. */
  readonly facts: SocketContext;
  /** Whether an effect is in flight in this state (its state invokes one). */
  readonly inFlight: boolean;
}

/** Where a call leads from a node: refused, or on to the next node. */
export type Step =
  | Exclude<Verdict, { allowed: true }>
  | (Extract<Verdict, { allowed: true }> & {
    /** The node after the call (the in-flight one, for an effect). */
    readonly next: SocketNode;
  });

interface Node extends SocketNode {
  readonly steps: Map<string, Step>;
  readonly outcomes: { done?: SocketNode; error?: SocketNode };
  readonly invoke: { id: string; src: string; input: unknown } | undefined;
}

/**
 * The memoised graph of a socket machine. One graph serves every socket of
 * that machine.
 */
export class SocketGraph {
  readonly #machine: SocketMachine;
  readonly #scope: ActorScope<SocketSnapshot, SocketEvent>;
  readonly #nodes = new Map<string, Node>();
  /** Start nodes by kernel behaviour (a profile's constant object). */
  readonly #starts = new Map<unknown, Map<string, Node>>();

  /** @param machine The socket machine, with or without provided effects. */
  constructor(machine: SocketMachine) {
    this.#machine = machine;
    this.#scope = inertScope(machine);
  }

  /** The number of distinct snapshots met so far. */
  get size(): number {
    return this.#nodes.size;
  }

  /** The node a new socket starts in. */
  start(input: SocketInput): SocketNode {
    let starts = this.#starts.get(input.kernel);
    if (starts === undefined) {
      this.#starts.set(input.kernel, starts = new Map());
    }
    const key = `${input.domain}|${input.type}|${input.accepted === true}|${
      input.environment ?? "modelled"
    }`;
    let node = starts.get(key);
    if (node === undefined) {
      node = this.#node(this.#machine.getInitialSnapshot(this.#scope, input));
      starts.set(key, node);
    }
    return node;
  }

  /** Where `event` leads from `node`: the machine's verdict and next node. */
  step(node: SocketNode, event: SocketEvent): Step {
    const steps = (node as Node).steps;
    const key = callKey(event);
    let found = steps.get(key);
    if (found === undefined) {
      found = this.#compute(node as Node, withoutIo(event));
      steps.set(key, found);
    }
    return found;
  }

  /** The node after the effect in flight at `node` resolved or rejected. */
  settle(node: SocketNode, outcome: "done" | "error"): SocketNode {
    const { outcomes, invoke } = node as Node;
    if (invoke === undefined) {
      throw new Error(`No effect is in flight in state "${node.state}"`);
    }
    return outcomes[outcome] ??= this.#node(
      this.#transition(
        node.snapshot,
        // The event XState's invoke sends its parent (not a SocketEvent).
        (outcome === "done"
          ? { type: `xstate.done.actor.${invoke.id}`, output: undefined }
          : {
            type: `xstate.error.actor.${invoke.id}`,
            error: undefined,
          }) as unknown as SocketEvent,
      ),
    );
  }

  /**
   * The effect that `event` starts at `node` (an in-flight node): the logic
   * the machine was provided with and the input its invoke maps `event` to.
   */
  effect(node: SocketNode, event: SocketEvent): Effect {
    const { invoke } = node as Node;
    if (invoke === undefined) {
      throw new Error(`No effect is in flight in state "${node.state}"`);
    }
    const logic = this.#machine.implementations.actors[invoke.src];
    const input = typeof invoke.input === "function"
      ? invoke.input({ context: node.facts, event })
      : invoke.input;
    return {
      id: invoke.id,
      src: invoke.src,
      logic: logic as AnyActorLogic,
      input,
    };
  }

  #compute(node: Node, event: SocketEvent): Step {
    const answer = verdict(node.snapshot, event);
    if (!answer.allowed) return answer;
    return {
      ...answer,
      next: this.#node(this.#transition(node.snapshot, event)),
    };
  }

  /**
   * XState's next snapshot, as `transition()` computes it but in one scope
   * made once: `transition()` makes an actor per call, whose initial
   * snapshot runs the context factory without input, which throws, and
   * that throw was most of a first `explore()`.
   */
  #transition(snapshot: SocketSnapshot, event: SocketEvent): SocketSnapshot {
    return this.#machine.transition(snapshot, event, this.#scope);
  }

  /** The canonical node of a snapshot: equal snapshots share one node. */
  #node(snapshot: SocketSnapshot): Node {
    const state = snapshot.value as SocketState;
    const key = `${state}|${JSON.stringify(snapshot.context)}`;
    let node = this.#nodes.get(key);
    if (node === undefined) {
      const definition = this.#machine.root.states[state].invoke[0];
      node = {
        snapshot,
        state,
        facts: snapshot.context,
        inFlight: definition !== undefined,
        invoke: definition && {
          id: definition.id,
          src: String(definition.src),
          input: definition.input,
        },
        steps: new Map(),
        outcomes: {},
      };
      this.#nodes.set(key, node);
    }
    return node;
  }
}

/**
 * An actor scope that runs nothing, as XState's `transition()` makes one:
 * actions are collected by nobody, and children are created, never
 * started.
 */
function inertScope(
  machine: SocketMachine,
): ActorScope<SocketSnapshot, SocketEvent> {
  const self = createActor(machine, {
    input: { domain: "inet", type: "stream" },
  });
  return {
    self,
    id: "",
    sessionId: "",
    system: self.system,
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    actionExecutor: () => {},
  };
}

/** The part of an event the rules read: everything but `io`. */
function callKey(event: SocketEvent): string {
  let key: string = event.type;
  for (const name in event) {
    if (name !== "type" && name !== "io") {
      key += `|${name}=${event[name as keyof typeof event]}`;
    }
  }
  return key;
}

function withoutIo(event: SocketEvent): SocketEvent {
  if (!("io" in event)) return event;
  const { io: _io, ...call } = event;
  return call as SocketEvent;
}
