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
import { type ActorScope, createActor } from "xstate";
import type {
  SocketContext,
  SocketEvent,
  SocketInput,
  SocketMachine,
  SocketSnapshot,
  SocketState,
} from "./socket_machine.ts";
import { type Verdict, verdictOf } from "./verdict.ts";

/**
 * An effect in flight: the invoked actor's id, the name of the effect (the
 * runtime runs it as a plain call, `sysCalls[src]`), and its input.
 */
export interface Effect {
  readonly id: string;
  readonly src: string;
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

/**
 * A node as the graph keeps it. Its XState snapshot is made when something
 * asks for it (XState's guards, its own transition, a caller): most nodes
 * never need one, and `resolveState()` of each was a tenth of a first
 * `explore()`. `value` and `context` are what `taken()` and `verdictOf()`
 * read of a snapshot.
 */
class Node implements SocketNode {
  readonly steps = new Map<string, Step>();
  /** Steps by the event object, for events used again (`stepShared()`). */
  readonly shared = new Map<SocketEvent, Step>();
  readonly outcomes: { done?: SocketNode; error?: SocketNode } = {};
  readonly inFlight: boolean;
  readonly invoke: { id: string; src: string; input: unknown } | undefined;
  #snapshot: SocketSnapshot | undefined;
  readonly #machine: SocketMachine;

  constructor(
    machine: SocketMachine,
    readonly state: SocketState,
    readonly facts: SocketContext,
    snapshot: SocketSnapshot | undefined,
    /** The numbers of its state and facts, if they have the first shape. */
    readonly ids: readonly number[] | undefined,
  ) {
    this.#machine = machine;
    this.#snapshot = snapshot;
    const definition = machine.root.states[state].invoke[0];
    this.inFlight = definition !== undefined;
    this.invoke = definition && {
      id: definition.id,
      src: String(definition.src),
      input: definition.input,
    };
  }

  get snapshot(): SocketSnapshot {
    return this.#snapshot ??= this.#machine.resolveState({
      value: this.state,
      context: this.facts,
    });
  }

  get value(): SocketState {
    return this.state;
  }

  get context(): SocketContext {
    return this.facts;
  }
}

/**
 * The memoised graph of a socket machine. One graph serves every socket of
 * that machine.
 */
export class SocketGraph {
  readonly #machine: SocketMachine;
  readonly #scope: ActorScope<SocketSnapshot, SocketEvent>;
  /**
   * Nodes whose facts have the first context's shape, by the hash of the
   * numbers of their state and values (`#node()`).
   */
  readonly #buckets = new Map<number, Node[]>();
  /** Nodes whose facts have another shape, by their JSON text. */
  readonly #others = new Map<string, Node>();
  #size = 0;
  /** The facts' names in the order of the first context's own keys. */
  #order: readonly string[] | undefined;
  /** A number for each value that is not an object (`#ids()`). */
  readonly #values = new Map<unknown, number>();
  /** A number for each object's JSON text (`#ids()`). */
  readonly #objects = new Map<string, number>();
  /** The number each object met as a fact has. */
  readonly #objectIds = new WeakMap<object, number>();
  #numbered = 0;
  /** The numbers of the node being looked up: one array for all. */
  readonly #scratch: number[] = [];
  /** The refusal each refusing transition gives (`#compute()`). */
  readonly #refusals = new Map<Selected, Step>();
  /**
   * XState's guarded selections by state, then by the call (its key, or
   * the shared event object): each with the facts its guards read and the
   * values they had (`#select()`).
   */
  readonly #selections = new Map<SocketState, Map<unknown, Selection[]>>();
  /** Start nodes by kernel behaviour (a profile's constant object). */
  readonly #starts = new Map<unknown, Map<string, Node>>();

  /** @param machine The socket machine, with or without provided effects. */
  constructor(machine: SocketMachine) {
    this.#machine = machine;
    this.#scope = inertScope(machine);
  }

  /** The number of distinct snapshots met so far. */
  get size(): number {
    return this.#size;
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
      const snapshot = this.#machine.getInitialSnapshot(this.#scope, input);
      node = this.#node(
        snapshot.value as SocketState,
        snapshot.context,
        snapshot,
      );
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
      found = this.#compute(node as Node, withoutIo(event), key);
      steps.set(key, found);
    }
    return found;
  }

  /**
   * `step()` for an event object that is used again and never
   * changed, such as a model's call of an op: remembered by the object, so
   * that the next lookup builds no call key. (Not for the runtime's events,
   * made fresh per call: each would be remembered.)
   */
  stepShared(node: SocketNode, event: SocketEvent): Step {
    const shared = (node as Node).shared;
    let found = shared.get(event);
    if (found === undefined) {
      found = this.#compute(node as Node, withoutIo(event), event);
      shared.set(event, found);
    }
    return found;
  }

  /** The node after the effect in flight at `node` resolved or rejected. */
  settle(node: SocketNode, outcome: "done" | "error"): SocketNode {
    const { outcomes, invoke } = node as Node;
    if (invoke === undefined) {
      throw new Error(`No effect is in flight in state "${node.state}"`);
    }
    // The event XState's invoke sends its parent (not a SocketEvent).
    const event =
      (outcome === "done"
        ? { type: `xstate.done.actor.${invoke.id}`, output: undefined }
        : {
          type: `xstate.error.actor.${invoke.id}`,
          error: undefined,
        }) as unknown as SocketEvent;
    return outcomes[outcome] ??= this.#after(
      node as Node,
      this.#select(node as Node, event, event.type),
      event,
    );
  }

  /**
   * The effect that `event` starts at `node` (an in-flight node): its name
   * and the input its invoke maps `event` to.
   */
  effect(node: SocketNode, event: SocketEvent): Effect {
    const { invoke } = node as Node;
    if (invoke === undefined) {
      throw new Error(`No effect is in flight in state "${node.state}"`);
    }
    const input = typeof invoke.input === "function"
      ? invoke.input({ context: node.facts, event })
      : invoke.input;
    return {
      id: invoke.id,
      src: invoke.src,
      input,
    };
  }

  #compute(node: Node, event: SocketEvent, call: unknown): Step {
    const selected = this.#select(node, event, call);
    // A refusal is the transition's alone (its meta): one for every node.
    const refusal = selected && this.#refusals.get(selected);
    if (refusal !== undefined) return refusal;
    const answer = verdictOf(selected, node, event);
    if (!answer.allowed) {
      this.#refusals.set(selected!, answer);
      return answer;
    }
    return { ...answer, next: this.#after(node, selected, event) };
  }

  /**
   * The transition XState selects for `event` (the call `call`) at `node`:
   * its first candidate for the event type in the node's state when that
   * one has no guard (XState takes it whatever the facts, as its `next()`
   * does), else XState's `getTransitionData()`, guards and all. The guards
   * are the machine's functions of the facts and the event: a selection
   * holds for every node of the state whose facts have the values its
   * guards read (recorded as XState evaluated them), for the same call.
   */
  #select(
    node: Node,
    event: SocketEvent,
    call: unknown,
  ): Selected | undefined {
    const state = node.state;
    const first = this.#machine.root.states[state].transitions
      .get(event.type)?.[0];
    if (first !== undefined && first.guard === undefined) return first;
    let byCall = this.#selections.get(state);
    if (byCall === undefined) this.#selections.set(state, byCall = new Map());
    let known = byCall.get(call);
    if (known === undefined) byCall.set(call, known = []);
    const facts = node.facts as unknown as Record<PropertyKey, unknown>;
    for (const { reads, selected } of known) {
      let same = true;
      for (let i = 0; i < reads.length; i += 2) {
        if (!Object.is(facts[reads[i] as PropertyKey], reads[i + 1])) {
          same = false;
          break;
        }
      }
      if (same) return selected;
    }
    const read = new Map<PropertyKey, unknown>();
    const watched = new Proxy(facts, {
      get(target, name) {
        const value = target[name];
        if (!read.has(name)) read.set(name, value);
        return value;
      },
      has(target, name) {
        if (!read.has(name)) read.set(name, target[name]);
        return name in target;
      },
    });
    const selected = this.#machine.getTransitionData(
      Object.create(node.snapshot, { context: { value: watched } }),
      event,
    )[0];
    known.push({ reads: [...read].flat(), selected });
    return selected;
  }

  /**
   * The node after the machine took `selected`, the transition XState
   * selected for `event` at `node`: `taken()` when it can say,
   * else XState's own next snapshot.
   */
  #after(node: Node, selected: Selected | undefined, event: SocketEvent): Node {
    const next = selected &&
      taken(this.#machine, node, selected, event);
    if (next === undefined) {
      const snapshot = this.#machine.transition(
        node.snapshot,
        event,
        this.#scope,
      );
      return this.#node(
        snapshot.value as SocketState,
        snapshot.context,
        snapshot,
      );
    }
    // Most calls change nothing: the node stays, with no key to make.
    if (next.state === node.state && next.context === node.facts) return node;
    return this.#node(next.state, next.context, undefined);
  }

  /**
   * Fills `#scratch` with the numbers of `state` and of the values of
   * `facts`, in the order of the first context's own keys: equal numbers
   * for equal values (`SameValueZero`; an object by its JSON text, found
   * once per object). False for facts of another shape: other keys, or
   * another order, or a value JSON would not write (a function).
   */
  #ids(state: SocketState, facts: SocketContext): boolean {
    const values = facts as unknown as Record<string, unknown>;
    const order = this.#order ??= Object.keys(values);
    const ids = this.#scratch;
    ids[0] = this.#valueId(state);
    let i = 0;
    for (const name in values) {
      if (name !== order[i++]) return false;
      const value = values[name];
      if (typeof value === "object" && value !== null) {
        ids[i] = this.#objectId(value);
      } else if (typeof value === "function") {
        return false;
      } else {
        ids[i] = this.#valueId(value);
      }
    }
    return i === order.length;
  }

  /** The number of a value that is not an object. */
  #valueId(value: unknown): number {
    let id = this.#values.get(value);
    if (id === undefined) this.#values.set(value, id = this.#numbered++);
    return id;
  }

  /** The number of an object's JSON text: equal texts, equal numbers. */
  #objectId(value: object): number {
    let id = this.#objectIds.get(value);
    if (id === undefined) {
      const text = JSON.stringify(value);
      id = this.#objects.get(text);
      if (id === undefined) this.#objects.set(text, id = this.#numbered++);
      this.#objectIds.set(value, id);
    }
    return id;
  }

  /**
   * The canonical node of a state and its facts: equal snapshots share one
   * node. A new node's snapshot is `snapshot`, or else XState's
   * `resolveState()` of them.
   *
   * Facts of the first context's shape are found by the numbers of their
   * values (`#ids()`), hashed, and compared number by number: no key is
   * made (`JSON.stringify()` of every context, most of it the kernel
   * profile, was a tenth of a first `explore()`, and its garbage more).
   * Facts of any other shape are found by their JSON text.
   */
  #node(
    state: SocketState,
    facts: SocketContext,
    snapshot: SocketSnapshot | undefined,
  ): Node {
    const ids = this.#scratch;
    let node: Node | undefined;
    let text: string | undefined;
    let hash = 0;
    if (this.#ids(state, facts)) {
      for (let i = 0; i < ids.length; i++) {
        hash = Math.imul(hash ^ ids[i], 0x01000193);
      }
      // In V8's small integers: a map's key that is no object to make.
      hash &= 0x3fffffff;
      const bucket = this.#buckets.get(hash);
      if (bucket !== undefined) {
        for (const known of bucket) {
          if (sameIds(known.ids!, ids)) {
            node = known;
            break;
          }
        }
      }
    } else {
      text = `${state}|${JSON.stringify(facts)}`;
      node = this.#others.get(text);
    }
    if (node === undefined) {
      node = new Node(
        this.#machine,
        state,
        facts,
        snapshot,
        text === undefined ? ids.slice() : undefined,
      );
      this.#size++;
      if (text !== undefined) this.#others.set(text, node);
      else {
        const bucket = this.#buckets.get(hash);
        if (bucket === undefined) this.#buckets.set(hash, [node]);
        else bucket.push(node);
      }
    }
    return node;
  }
}

/** Whether two nodes' value numbers are the same. */
function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A transition as XState selects it (`getTransitionData()`). */
type Selected = ReturnType<SocketMachine["getTransitionData"]>[number];

/**
 * A guarded selection: the facts XState's evaluation of the guards read,
 * as name and value in turn, and the transition it selected.
 */
interface Selection {
  readonly reads: readonly unknown[];
  readonly selected: Selected | undefined;
}

/** An action of a transition, as XState keeps it. */
type ActionOf = Selected["actions"][number];

/** Thrown by an assignment that spawns: XState must take that transition. */
const SPAWNS = Symbol("spawns");

function noSpawn(): never {
  throw SPAWNS;
}

/**
 * The state and facts after the machine takes `selected` from `snapshot`
 * on `event`, as XState's macrostep computes them, for what a transition of
 * the socket machine is made of: a flat machine's state goes to one
 * sibling, or stays, and the transition's `assign` actions give the facts,
 * in order, from the facts before each (actions that are not XState's own,
 * such as a provided action, run later and never change the facts); the
 * state's eventless transitions, if it has any, are all disabled by named
 * guards (`noneEnabled()`). Anything else (entry or exit actions, an
 * enabled or otherwise guarded eventless transition, actions of
 * XState's other than `assign`, an assignment that spawns) is left to
 * XState: `undefined`.
 *
 * The transition is XState's own selection, guards and all, and the
 * assignments are the machine's own functions: nothing here knows a rule.
 * XState's `transition()` costs 20 to 40 µs a step even warm (it clones the
 * snapshot once per action, and its contexts of 22 facts are built by
 * `Object.assign`, which leaves them in V8's slow dictionary mode); this is
 * a few µs. The tests check it against `transition()` for every node and
 * call `explore()` reaches.
 */
export function taken(
  machine: SocketMachine,
  snapshot: Pick<SocketSnapshot, "value" | "context">,
  selected: Selected,
  event: SocketEvent,
):
  | { readonly state: SocketState; readonly context: SocketContext }
  | undefined {
  const root = machine.root;
  const from = root.states[snapshot.value as SocketState];
  let to = from;
  const target = selected.target;
  if (target !== undefined) {
    if (target.length !== 1) return undefined;
    to = target[0] as typeof from;
    if (to.parent !== root || to.type !== "atomic") return undefined;
    if (from.exit.length > 0 || to.entry.length > 0) return undefined;
  }
  if (root.always !== undefined && root.always.length > 0) return undefined;
  let context = snapshot.context;
  try {
    for (const action of selected.actions as readonly ActionOf[]) {
      const assigned = assignmentOf(machine, action, context, event);
      if (assigned === "other") continue;
      if (assigned === undefined) return undefined;
      if (changes(context, assigned)) context = { ...context, ...assigned };
    }
  } catch (error) {
    if (error === SPAWNS) return undefined;
    throw error;
  }
  if (
    to.always !== undefined && to.always.length > 0 &&
    !noneEnabled(machine, to.always, context, event)
  ) return undefined;
  return { state: to.key as SocketState, context };
}

/**
 * Whether none of a state's eventless transitions is enabled after a
 * transition left `context`, as XState's macrostep checks them next: each
 * must have a guard the machine names, implemented by a plain function of
 * the facts and the event, and that answers false. When one is enabled or
 * its guard is any other kind (XState's `and()`, `not()`, parameters), the
 * macrostep goes on: XState takes it.
 */
function noneEnabled(
  machine: SocketMachine,
  always: readonly { readonly guard?: unknown }[],
  context: SocketContext,
  event: SocketEvent,
): boolean {
  const guards = machine.implementations.guards as Record<string, unknown>;
  for (const { guard } of always) {
    if (typeof guard !== "string") return false;
    const check = guards[guard];
    if (typeof check !== "function" || "check" in check) return false;
    if (check({ context, event }, undefined)) return false;
  }
  return true;
}

/** Whether `assigned` sets some fact to another value than it has. */
function changes(
  context: SocketContext,
  assigned: Partial<SocketContext>,
): boolean {
  for (const key in assigned) {
    if (
      !Object.is(
        context[key as keyof SocketContext],
        assigned[key as keyof SocketContext],
      ) || !(key in context)
    ) return true;
  }
  return false;
}

/**
 * What an assign action sets, as XState's `resolveAssign` computes it;
 * `"other"` for an action that is not XState's own (it never changes the
 * facts), `undefined` for one of XState's other actions.
 */
function assignmentOf(
  machine: SocketMachine,
  action: ActionOf,
  context: SocketContext,
  event: SocketEvent,
): Partial<SocketContext> | "other" | undefined {
  const inline = typeof action === "function";
  const resolved = (inline ? action : machine.implementations.actions[
    typeof action === "string" ? action : (action as { type: string }).type
  ]) as
    | undefined
    | { type?: string; resolve?: unknown; assignment?: unknown };
  if (resolved === undefined || !("resolve" in resolved)) return "other";
  if (resolved.type !== "xstate.assign") return undefined;
  let params: unknown = undefined;
  if (!inline && typeof action === "object" && "params" in action) {
    const given = (action as { params: unknown }).params;
    params = typeof given === "function" ? given({ context, event }) : given;
  }
  const args = { context, event, spawn: noSpawn };
  const assignment = resolved.assignment;
  if (typeof assignment === "function") return assignment(args, params);
  const partial: Record<string, unknown> = {};
  for (const key of Object.keys(assignment as object)) {
    const value = (assignment as Record<string, unknown>)[key];
    partial[key] = typeof value === "function" ? value(args, params) : value;
  }
  return partial as Partial<SocketContext>;
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
