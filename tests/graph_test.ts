// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { transition } from "xstate";
import type { Domain } from "../machine/address.ts";
import {
  SocketGraph,
  type SocketNode,
  type Step,
  taken,
} from "../machine/graph.ts";
import { ANY_KERNEL, kernelProfiles } from "../machine/kernel.ts";
import { eventOf, OPS } from "../machine/predict.ts";
import {
  type SocketEvent,
  type SocketInput,
  socketMachine,
  type SocketType,
} from "../machine/socket_machine.ts";
import { verdict } from "../machine/verdict.ts";

/** Calls the runtime makes besides predict()'s ops. */
const RUNTIME_EVENTS: readonly SocketEvent[] = [
  { type: "ACCEPT" },
  { type: "RECV" },
  { type: "POLL" },
  { type: "PEER_RESET" },
  { type: "SEEN_END" },
  { type: "SEEN_RESET" },
  { type: "SEEN_CONNECTED" },
  { type: "SEEN_CONNECTING" },
  { type: "SEEN_CONNECT_FAILED" },
  { type: "INTERRUPT" },
  { type: "SETSOCKOPT", option: "SO_LINGER", resets: true },
  { type: "SETSOCKOPT", option: "SO_LINGER", resets: false },
  { type: "SETSOCKOPT", option: "SO_REUSEADDR", on: false },
  { type: "GETSOCKOPT", option: "SO_TYPE" },
] as SocketEvent[];

function eventsOf(domain: Domain): SocketEvent[] {
  return [
    ...OPS.flatMap((op) => [eventOf(op, domain), eventOf(op, domain, true)]),
    { type: "BIND", family: domain, port: "caller" },
    ...RUNTIME_EVENTS,
  ];
}

/** What XState's own `transition()` says the state and facts become. */
function xstate(node: SocketNode, event: SocketEvent) {
  const [next] = transition(socketMachine, node.snapshot, event);
  return { state: next.value, facts: next.context };
}

/** Asserts that the graph's node is XState's answer to `what` at `from`. */
function agrees(
  node: SocketNode,
  fresh: { state: unknown; facts: unknown },
  from: SocketNode,
  what: unknown,
): void {
  if (
    node.state === fresh.state && isDeepStrictEqual(node.facts, fresh.facts)
  ) return;
  assert.deepEqual(
    { state: node.state, facts: node.facts },
    fresh,
    `${from.state} ${JSON.stringify(from.facts)} ${JSON.stringify(what)}`,
  );
}

/** Asserts that the graph's verdict is the one `verdict()` reads off XState. */
function sameVerdict(step: Step, node: SocketNode, event: SocketEvent): void {
  const { next: _next, ...answer } = step as Step & { next?: unknown };
  const expected = verdict(node.snapshot, event);
  if (isDeepStrictEqual(answer, expected)) return;
  assert.deepEqual(
    answer,
    expected,
    `${node.state} ${JSON.stringify(node.facts)} ${JSON.stringify(event)}`,
  );
}

Deno.test("SocketGraph's every step and settle agrees with XState's transition() on every node two calls reach, every kind, every kernel, born or accepted", () => {
  const graph = new SocketGraph(socketMachine);
  const kernels = [...kernelProfiles().map((p) => p.behaviour), ANY_KERNEL];
  let checked = 0;
  let allowed = 0;
  let changed = 0;
  let bySelf = 0;
  const starts = new Set<SocketNode>();
  for (const domain of ["inet", "inet6", "unix"] as const) {
    for (const type of ["stream", "dgram"] as SocketType[]) {
      for (const kernel of kernels) {
        for (const accepted of [false, true]) {
          for (const environment of ["modelled", "unseen"] as const) {
            const input: SocketInput = {
              domain,
              type,
              kernel,
              accepted,
              environment,
            };
            starts.add(graph.start(input));
          }
        }
      }
    }
  }
  // Breadth first, each node once: a node met again checks nothing new.
  const events = new Map(
    (["inet", "inet6", "unix"] as const).map((d) => [d, eventsOf(d)]),
  );
  const seen = new Set<SocketNode>(starts);
  let level = starts;
  for (let depth = 0; depth < 2; depth++) {
    const next = new Set<SocketNode>();
    const reach = (node: SocketNode) => {
      if (!seen.has(node)) {
        seen.add(node);
        next.add(node);
      }
    };
    for (const node of level) {
      for (const event of events.get(node.facts.domain)!) {
        const step = graph.step(node, event);
        const fresh = xstate(node, event);
        checked++;
        sameVerdict(step, node, event);
        if (!step.allowed) {
          // A refusal stays: XState's transition changes nothing.
          agrees(node, fresh, node, event);
          continue;
        }
        allowed++;
        agrees(step.next, fresh, node, event);
        if (step.next !== node) changed++;
        const [selected] = socketMachine.getTransitionData(
          node.snapshot,
          event,
        );
        if (
          taken(socketMachine, node.snapshot, selected, event) !== undefined
        ) bySelf++;
        reach(step.next);
        if (!step.next.inFlight) continue;
        const id = socketMachine.root.states[step.next.state].invoke[0].id;
        for (const outcome of ["done", "error"] as const) {
          const settled = graph.settle(step.next, outcome);
          const done = xstate(
            step.next,
            (outcome === "done"
              ? { type: `xstate.done.actor.${id}`, output: undefined }
              : {
                type: `xstate.error.actor.${id}`,
                error: undefined,
              }) as unknown as SocketEvent,
          );
          agrees(settled, done, step.next, outcome);
          reach(settled);
        }
      }
    }
    level = next;
  }
  // And deeper: random scenarios of 16 calls from every start, with a
  // fixed seed, so that a node explore() reaches far out is checked too.
  let seed = 1;
  const pick = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (const start of starts) {
    const calls = events.get(start.facts.domain)!;
    for (let run = 0; run < 40; run++) {
      let node = start;
      for (let length = 0; length < 16; length++) {
        const event = calls[pick(calls.length)];
        const step = graph.step(node, event);
        checked++;
        sameVerdict(step, node, event);
        if (!step.allowed) {
          agrees(node, xstate(node, event), node, event);
          continue;
        }
        allowed++;
        agrees(step.next, xstate(node, event), node, event);
        node = step.next;
        if (!node.inFlight) continue;
        const outcome = pick(2) === 0 ? "done" : "error";
        const id = socketMachine.root.states[node.state].invoke[0].id;
        const settled = graph.settle(node, outcome);
        agrees(
          settled,
          xstate(
            node,
            { type: `xstate.${outcome}.actor.${id}` } as unknown as SocketEvent,
          ),
          node,
          outcome,
        );
        node = settled;
      }
    }
  }
  assert.ok(seen.size > 1_000, `${seen.size} nodes`);
  // The check covered steps that change the facts, and both ways the graph
  // takes a step: by the machine's own transition and assignments, and by
  // XState's transition where the graph leaves it to XState.
  assert.ok(checked > 10_000, `${checked} steps checked`);
  assert.ok(changed > 1_000, `${changed} steps changed the node`);
  assert.ok(
    bySelf > 1_000 && bySelf < allowed,
    `${bySelf} of ${allowed} taken directly`,
  );
});

Deno.test("SocketGraph gives two snapshots one node exactly when their states and facts are equal, on every node three calls reach, every kind and kernel", () => {
  const graph = new SocketGraph(socketMachine);
  const kernels = [...kernelProfiles().map((p) => p.behaviour), ANY_KERNEL];
  const events = new Map(
    (["inet", "inet6", "unix"] as const).map((d) => [d, eventsOf(d)]),
  );
  // The facts as JSON writes them: what the node key was before it was
  // made of the values.
  const textOf = (node: SocketNode) =>
    `${node.state}|${JSON.stringify(node.facts)}`;
  const byText = new Map<string, SocketNode>();
  const seen = new Set<SocketNode>();
  const meet = (node: SocketNode, into: Set<SocketNode>) => {
    if (seen.has(node)) return;
    seen.add(node);
    into.add(node);
    const text = textOf(node);
    const known = byText.get(text);
    assert.ok(
      known === undefined || known === node,
      `two nodes for ${text}`,
    );
    byText.set(text, node);
    assert.equal(node.snapshot.value, node.state);
    assert.ok(isDeepStrictEqual(node.snapshot.context, node.facts));
  };
  let level = new Set<SocketNode>();
  for (const domain of ["inet", "inet6", "unix"] as const) {
    for (const type of ["stream", "dgram"] as SocketType[]) {
      for (const kernel of kernels) {
        for (const accepted of [false, true]) {
          meet(graph.start({ domain, type, kernel, accepted }), level);
        }
      }
    }
  }
  for (let depth = 0; depth < 3; depth++) {
    const next = new Set<SocketNode>();
    for (const node of level) {
      if (node.inFlight) {
        meet(graph.settle(node, "done"), next);
        meet(graph.settle(node, "error"), next);
        continue;
      }
      for (const event of events.get(node.facts.domain)!) {
        const step = graph.step(node, event);
        if (step.allowed) meet(step.next, next);
      }
    }
    level = next;
  }
  assert.equal(byText.size, seen.size);
  assert.equal(graph.size, seen.size);
  assert.ok(seen.size > 1000, `only ${seen.size} nodes reached`);
});
