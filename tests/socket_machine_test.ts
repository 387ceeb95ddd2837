// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import { createActor, fromPromise, initialTransition, waitFor } from "xstate";
import type { Domain, SocketAddr } from "../machine/address.ts";
import type { BindInput, ConnectInput, SysSocket } from "../machine/effects.ts";
import {
  type SocketContext,
  type SocketEvent,
  socketMachine,
  type SocketState,
} from "../machine/socket_machine.ts";
import { verdict } from "../machine/verdict.ts";
import { ANY_KERNEL, kernelProfile } from "../machine/kernel.ts";
import { SocketGraph, type SocketNode } from "../machine/graph.ts";

const DOMAINS: Domain[] = ["inet", "inet6", "unix"];
const STATES = Object.keys(socketMachine.root.states) as SocketState[];
const LOOPBACK: SocketAddr = { hostname: "127.0.0.1", port: 0 };

/** One event of every type, with every payload variant. */
/** The environment's events: actions of the harness, not socket calls. */
const ENVIRONMENT = new Set([
  "PEER_CONNECT",
  "PEER_CLOSE",
  "PEER_RESET",
  "SEEN_END",
  "SEEN_RESET",
  "INTERRUPT",
]);

const EVENTS: SocketEvent[] = [
  ...(["inet", "inet6", "unix"] as const).flatMap((family) =>
    [
      { type: "BIND", family, port: family === "unix" ? "path" : "kernel" },
      { type: "BIND", family, port: "caller" },
      { type: "BIND", family, port: "abstract" },
      { type: "CONNECT", family },
      { type: "CONNECT", family, target: "refused" },
      { type: "CONNECT", family, nonblocking: true },
      { type: "CONNECT", family, target: "refused", nonblocking: true },
    ] as SocketEvent[]
  ),
  { type: "LISTEN" },
  { type: "ACCEPT" },
  { type: "ACCEPT", nonblocking: true },
  { type: "SEND" },
  { type: "RECV" },
  { type: "RECV", nonblocking: true },
  { type: "PEER_CONNECT" },
  { type: "PEER_CLOSE" },
  { type: "PEER_RESET" },
  { type: "SEEN_END" },
  { type: "SEEN_RESET" },
  { type: "INTERRUPT" },
  { type: "SHUTDOWN", how: "read" },
  { type: "SHUTDOWN", how: "write" },
  { type: "SHUTDOWN", how: "both" },
  { type: "CLOSE" },
  { type: "GETSOCKNAME" },
  { type: "GETPEERNAME" },
];

/** Context variants that the guards read. */
function contexts(domain: Domain): SocketContext[] {
  const base: SocketContext = {
    domain,
    type: "stream",
    bound: false,
    portChosenBy: undefined,
    name: "none",
    shut: { read: false, write: false },
    peer: false,
    backlog: 0,
    link: "up",
    unread: false,
    peers: false,
    error: undefined,
    datagrams: 0,
    targetGone: false,
    inProgress: false,
    disconnecting: false,
    connectFailed: false,
    listenStopped: false,
    kernel: kernelProfile("classic").behaviour,
    environment: "modelled",
    seen: "none",
    lingerReset: false,
  };
  const dgram: SocketContext = { ...base, type: "dgram" };
  const sticky = kernelProfile("sticky").behaviour;
  return [
    base,
    dgram,
    { ...dgram, peer: true, peers: true, datagrams: 1, link: "fin" },
    { ...base, peer: true, inProgress: true, link: "reset", error: "EPIPE" },
    { ...base, bound: true, portChosenBy: "caller", name: "port" },
    { ...base, peer: true, peers: true, shut: { read: true, write: false } },
    { ...base, peer: true, link: "reset", error: "ECONNRESET", backlog: 2 },
    { ...base, peer: true, shut: { read: true, write: true } },
    { ...base, connectFailed: true, listenStopped: true, kernel: sticky },
    { ...base, connectFailed: true, listenStopped: true, kernel: ANY_KERNEL },
    {
      ...base,
      peer: true,
      peers: true,
      environment: "unseen",
      seen: "end",
      shut: { read: false, write: true },
    },
  ];
}

function snapshotIn(state: SocketState, context: SocketContext) {
  return socketMachine.resolveState({ value: state, context });
}

Deno.test("socketMachine handles every event in every state explicitly", () => {
  let checked = 0;
  for (const domain of DOMAINS) {
    for (const context of contexts(domain)) {
      for (const state of STATES) {
        const snapshot = snapshotIn(state, context);
        for (const event of EVENTS) {
          const found = verdict(snapshot, event); // throws if unhandled
          checked++;
          if (!found.allowed) {
            if (!found.waits) assert.match(found.errno, /^E[A-Z]+$/);
            assert.ok(found.why.length > 10, `${state} ${event.type}: why`);
          }
        }
      }
    }
  }
  assert.equal(checked, DOMAINS.length * 11 * STATES.length * EVENTS.length);
});

Deno.test("socketMachine refusals are forbidden transitions: can() is false exactly for them", () => {
  for (const domain of DOMAINS) {
    for (const context of contexts(domain)) {
      for (const state of STATES) {
        const snapshot = snapshotIn(state, context);
        for (const event of EVENTS) {
          if (ENVIRONMENT.has(event.type)) continue;
          assert.equal(
            snapshot.can(event),
            verdict(snapshot, event).allowed,
            `${domain} ${state} ${JSON.stringify(event)}`,
          );
        }
      }
    }
  }
});

Deno.test("socketMachine refuses every call after close with EBADF", () => {
  const snapshot = snapshotIn("closed", contexts("inet")[0]);
  for (const event of EVENTS.filter((e) => !ENVIRONMENT.has(e.type))) {
    assert.deepEqual(
      { ...verdict(snapshot, event), why: "" },
      { allowed: false, errno: "EBADF", why: "" },
    );
  }
});

Deno.test("socketMachine stops an interrupted unix connect(), which then fails, and lets an interrupted TCP one go on", () => {
  const interrupt: SocketEvent = { type: "INTERRUPT" };
  for (const domain of DOMAINS) {
    for (const bound of [false, true]) {
      const graph = new SocketGraph(socketMachine);
      let node = graph.start({ domain, type: "stream" });
      if (bound) {
        const port = domain === "unix" ? "path" : "caller";
        node = allowed(graph, node, { type: "BIND", family: domain, port });
        node = graph.settle(node, "done");
      }
      const connecting = allowed(graph, node, {
        type: "CONNECT",
        family: domain,
      });
      assert.equal(connecting.state, "connecting");
      const step = graph.step(connecting, interrupt);
      assert.ok(step.allowed, `${domain}: an interrupt is no refusal`);
      // The interrupt itself moves nothing: a stopped attempt settles as
      // its failure does (unconnected, bound as it was).
      assert.equal(step.next, connecting);
      if (domain === "unix") {
        assert.equal(step.stops, "EINTR");
        assert.match(step.why!, /unconnected.*connect\(\) again/);
        assert.equal(
          graph.settle(connecting, "error").state,
          bound ? "bound" : "created",
        );
      } else {
        assert.equal(step.stops, undefined, `${domain}: the attempt goes on`);
        assert.match(step.why!, /goes on.*connect\(\) again to wait for it/);
      }
    }
    // Where no call waits, an interrupt changes nothing.
    for (const state of STATES.filter((s) => s !== "connecting")) {
      const found = verdict(snapshotIn(state, contexts(domain)[0]), interrupt);
      assert.deepEqual(
        { ...found, why: "" },
        { allowed: true, outcome: "noop", why: "" },
        `${domain} ${state}`,
      );
    }
  }
});

Deno.test("socketMachine gives the Linux errno where TCP and unix sockets differ", () => {
  const cases: [SocketState, SocketEvent, string, string][] = [
    ["created", { type: "SEND" }, "EPIPE", "ENOTCONN"],
    ["created", { type: "RECV" }, "ENOTCONN", "EINVAL"],
    ["listening", { type: "CONNECT", family: "inet" }, "EISCONN", "EINVAL"],
    ["created", { type: "SHUTDOWN", how: "both" }, "ENOTCONN", "allowed"],
    ["created", { type: "LISTEN" }, "allowed", "EINVAL"],
  ];
  for (const [state, event, tcp, unix] of cases) {
    const answer = (domain: Domain) => {
      const call = "family" in event ? { ...event, family: domain } : event;
      const found = verdict(snapshotIn(state, contexts(domain)[0]), call);
      if (found.allowed) return found.outcome ?? "allowed";
      return found.waits ? "waits" : found.errno;
    };
    assert.equal(answer("inet"), tcp, `inet ${state} ${event.type}`);
    assert.equal(answer("inet6"), tcp, `inet6 ${state} ${event.type}`);
    assert.equal(answer("unix"), unix, `unix ${state} ${event.type}`);
  }
});

Deno.test("socketMachine answers recv with end of stream after shutdown(read), and lets a blocking recv wait", () => {
  for (const state of ["shutRd", "shutRdWr"] as const) {
    const found = verdict(snapshotIn(state, contexts("inet")[5]), {
      type: "RECV",
    });
    assert.ok(found.allowed);
    assert.equal(found.outcome, "ok:eof");
  }
  const up = { ...contexts("inet")[0], peer: true, peers: true };
  const blocking = verdict(snapshotIn("connected", up), { type: "RECV" });
  assert.ok(blocking.allowed);
  assert.equal(blocking.outcome, undefined, "the kernel decides: it waits");
  const polling = verdict(snapshotIn("connected", up), {
    type: "RECV",
    nonblocking: true,
  });
  assert.ok(polling.allowed);
  assert.equal(polling.outcome, "EAGAIN");
});

Deno.test("socketMachine starts a socket born by accept() in connected", () => {
  const [snapshot] = initialTransition(socketMachine, {
    domain: "inet",
    type: "stream",
    accepted: true,
  });
  assert.equal(snapshot.value, "connected");
  assert.equal(snapshot.context.peer, true);
});

Deno.test("socketMachine without provided effects fails the step and stays pure", async () => {
  const actor = createActor(socketMachine, {
    input: { domain: "inet", type: "stream" },
  }).start();
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.send({ type: "BIND", family: "inet", port: "kernel" });
  assert.equal(actor.getSnapshot().value, "binding");
  const after = await waitFor(actor, (s) => s.value !== "binding");
  assert.equal(after.value, "created", "the failed bind went back");
  assert.deepEqual(errors, []);
  actor.stop();
});

Deno.test("socketMachine runs provided effects with the call's io: bind to a chosen port, then a failed connect back to bound", async () => {
  const calls: string[] = [];
  const sys = {} as SysSocket;
  const machine = socketMachine.provide({
    actors: {
      bind: fromPromise<void, BindInput>(({ input }) => {
        calls.push(`bind ${JSON.stringify(input.addr)}`);
        assert.equal(input.sys, sys);
        return Promise.resolve();
      }),
      connect: fromPromise<void, ConnectInput>(({ input }) => {
        calls.push(`connect ${JSON.stringify(input.addr)}`);
        return Promise.reject(new Error("refused"));
      }),
    },
  });
  const actor = createActor(machine, {
    input: { domain: "inet", type: "stream" },
  }).start();
  actor.send({
    type: "BIND",
    family: "inet",
    port: "caller",
    io: { sys, addr: LOOPBACK },
  });
  const bound = await waitFor(actor, (s) => s.value === "bound");
  assert.equal(bound.context.portChosenBy, "caller");
  assert.equal(bound.context.bound, true);

  const remote = { hostname: "127.0.0.1", port: 1 };
  actor.send({ type: "CONNECT", family: "inet", io: { sys, addr: remote } });
  const back = await waitFor(actor, (s) => s.value !== "connecting");
  assert.equal(back.value, "bound");
  assert.deepEqual(calls, [
    `bind ${JSON.stringify(LOOPBACK)}`,
    `connect ${JSON.stringify(remote)}`,
  ]);
  actor.stop();
});

Deno.test("SocketGraph gives equal snapshots one node, so a socket's graph stays small", () => {
  const graph = new SocketGraph(socketMachine);
  const start = graph.start({ domain: "inet", type: "stream" });
  assert.equal(graph.start({ domain: "inet", type: "stream" }), start);

  const step = (node: SocketNode, event: SocketEvent) => {
    const found = graph.step(node, event);
    assert.ok(found.allowed, `${node.state} ${event.type}`);
    return found.next;
  };
  const binding = step(start, { type: "BIND", family: "inet", port: "caller" });
  assert.equal(binding.inFlight, true);
  const bound = graph.settle(binding, "done");
  assert.equal(bound.state, "bound");
  // bind, fail a connect, and again: the walk comes back to the same nodes.
  const connecting = step(bound, { type: "CONNECT", family: "inet" });
  const back = graph.settle(connecting, "error");
  assert.equal(back, bound, "the classic kernel keeps no fact of it");
  assert.equal(step(back, { type: "CONNECT", family: "inet" }), connecting);
  // A kernel that remembers the failure: one more node, then the same ones.
  const sticky = graph.start({
    domain: "inet",
    type: "stream",
    kernel: kernelProfile("sticky").behaviour,
  });
  const stickyBound = graph.settle(
    step(sticky, { type: "BIND", family: "inet", port: "caller" }),
    "done",
  );
  const failed = graph.settle(
    step(stickyBound, { type: "CONNECT", family: "inet" }),
    "error",
  );
  assert.notEqual(failed, stickyBound);
  assert.equal(failed.facts.connectFailed, true);
  assert.equal(
    graph.settle(step(failed, { type: "CONNECT", family: "inet" }), "error"),
    failed,
  );
  const size = graph.size;
  for (let i = 0; i < 10; i++) {
    graph.settle(step(bound, { type: "CONNECT", family: "inet" }), "error");
    graph.settle(step(failed, { type: "CONNECT", family: "inet" }), "error");
  }
  assert.equal(graph.size, size);
});

Deno.test("SocketGraph refuses what the machine refuses and follows every change of facts", () => {
  const graph = new SocketGraph(socketMachine);
  const created = graph.start({ domain: "unix", type: "stream" });
  const refused = graph.step(created, { type: "LISTEN" });
  assert.deepEqual({ ...refused, why: "" }, {
    allowed: false,
    errno: "EINVAL",
    why: "",
  });
  const shut = graph.step(created, { type: "SHUTDOWN", how: "write" });
  assert.ok(shut.allowed);
  assert.equal(shut.next.state, "created");
  assert.deepEqual(shut.next.facts.shut, { read: false, write: true });
  assert.notEqual(shut.next, created, "the facts changed, so the node did");
});

Deno.test("SocketGraph maps an effect's input from the call's io, as the invoke does", () => {
  const graph = new SocketGraph(socketMachine);
  const created = graph.start({ domain: "inet", type: "stream" });
  const sys = {} as SysSocket;
  const event: SocketEvent = {
    type: "BIND",
    family: "inet",
    port: "kernel",
    io: { sys, addr: LOOPBACK },
  };
  const step = graph.step(created, event);
  assert.ok(step.allowed);
  const effect = graph.effect(step.next, event);
  assert.equal(effect.src, "bind");
  assert.deepEqual(effect.input, {
    sys,
    addr: LOOPBACK,
    connectionOver: false,
  });
  assert.throws(() => graph.effect(created, event), /No effect is in flight/);
});

Deno.test("socketMachine lets a connected unix socket without an address bind, and returns to its connection state", () => {
  const graph = new SocketGraph(socketMachine);
  const client = graph.settle(
    allowed(graph, graph.start({ domain: "unix", type: "stream" }), {
      type: "CONNECT",
      family: "unix",
    }),
    "done",
  );
  const shut = graph.settle(
    allowed(graph, client, { type: "SHUTDOWN", how: "write" }),
    "done",
  );
  assert.equal(shut.state, "shutWr");
  const binding = allowed(graph, shut, {
    type: "BIND",
    family: "unix",
    port: "path",
  });
  assert.equal(graph.settle(binding, "done").state, "shutWr");
  assert.equal(graph.settle(binding, "done").facts.bound, true);
  assert.equal(graph.settle(binding, "error").state, "shutWr");

  const rebind = graph.step(graph.settle(binding, "done"), {
    type: "BIND",
    family: "unix",
    port: "path",
  });
  assert.ok(!rebind.allowed && !rebind.waits && rebind.errno === "EINVAL");
  const accepted = graph.start({
    domain: "unix",
    type: "stream",
    accepted: true,
  });
  const bindAccepted = graph.step(accepted, {
    type: "BIND",
    family: "unix",
    port: "path",
  });
  assert.ok(
    !bindAccepted.allowed && !bindAccepted.waits &&
      bindAccepted.errno === "EINVAL",
  );
  const tcp = graph.start({ domain: "inet", type: "stream", accepted: true });
  const bindTcp = graph.step(tcp, {
    type: "BIND",
    family: "inet",
    port: "kernel",
  });
  assert.ok(!bindTcp.allowed && !bindTcp.waits && bindTcp.errno === "EINVAL");
});

function allowed(
  graph: SocketGraph,
  node: SocketNode,
  event: SocketEvent,
): SocketNode {
  const step = graph.step(node, event);
  assert.ok(step.allowed, `${node.state} ${event.type}`);
  return step.next;
}

Deno.test("socketMachine checks an address's family before the state, but after close", () => {
  const graph = new SocketGraph(socketMachine);
  const answer = (node: SocketNode, family: Domain) => {
    const step = graph.step(node, { type: "CONNECT", family });
    return step.allowed ? "allowed" : step.waits ? "waits" : step.errno;
  };
  const cases: [Domain, Domain, string][] = [
    ["inet", "inet6", "EAFNOSUPPORT"],
    ["inet", "unix", "EAFNOSUPPORT"],
    ["inet6", "inet", "EINVAL"],
    ["inet6", "unix", "EAFNOSUPPORT"],
    ["unix", "inet", "EINVAL"],
    ["unix", "inet6", "EINVAL"],
  ];
  for (const [domain, family, errno] of cases) {
    const created = graph.start({ domain, type: "stream" });
    assert.equal(answer(created, family), errno, `${domain} <- ${family}`);
    assert.equal(answer(created, domain), "allowed");
    const connected = graph.start({ domain, type: "stream", accepted: true });
    assert.equal(answer(connected, family), errno, "before EISCONN");
    const closed = graph.step(created, { type: "CLOSE" });
    assert.ok(closed.allowed);
    assert.equal(answer(closed.next, family), "EBADF", "the fd comes first");
  }
});

Deno.test("socketMachine answers for a TCP connection its own calls saw end, and lets the kernel answer while it has not", () => {
  const graph = new SocketGraph(socketMachine);
  const start = graph.start({
    domain: "inet",
    type: "stream",
    accepted: true,
    environment: "unseen",
  });
  const next = (node: SocketNode, event: SocketEvent) => {
    const step = graph.step(node, event);
    assert.ok(step.allowed, `${node.state} ${event.type}`);
    return step.next;
  };
  const verdictOf = (node: SocketNode, event: SocketEvent) => {
    const step = graph.step(node, event);
    if (!step.allowed) return step.waits ? "waits" : step.errno;
    return step.asks ? "asks" : step.outcome ?? step.next.state;
  };
  const bind: SocketEvent = { type: "BIND", family: "inet", port: "kernel" };
  // Unseen and not seen to end: the kernel answers.
  assert.equal(verdictOf(start, { type: "GETPEERNAME" }), "asks");
  assert.equal(verdictOf(start, bind), "binding");
  // The peer's end of stream alone: the connection is half open.
  const eof = next(start, { type: "SEEN_END" });
  assert.equal(eof.state, "connected");
  assert.equal(verdictOf(eof, { type: "GETPEERNAME" }), "asks");
  // Our FIN too, or a reset: over, and the machine knows it.
  const shutting = next(eof, { type: "SHUTDOWN", how: "write" });
  const over = graph.settle(shutting, "done");
  const reset = next(start, { type: "SEEN_RESET" });
  for (const node of [over, reset]) {
    assert.equal(verdictOf(node, { type: "GETPEERNAME" }), "ENOTCONN");
    assert.equal(
      verdictOf(node, { type: "SHUTDOWN", how: "both" }),
      "ENOTCONN",
    );
    assert.equal(verdictOf(node, bind), "binding");
  }
  // In the model the runtime's observations never come: unchanged.
  const modelled = graph.start({
    domain: "inet",
    type: "stream",
    accepted: true,
  });
  assert.equal(verdictOf(modelled, { type: "GETPEERNAME" }), "connected");
});

Deno.test("socketMachine takes an end of stream seen after shutdown(\"read\") for that shutdown's, not the peer's", () => {
  const graph = new SocketGraph(socketMachine);
  const next = (node: SocketNode, event: SocketEvent) => {
    const step = graph.step(node, event);
    assert.ok(step.allowed, `${node.state} ${event.type}`);
    return step.next;
  };
  const start = graph.start({
    domain: "inet",
    type: "stream",
    accepted: true,
    environment: "unseen",
  });
  const shutRd = graph.settle(
    next(start, { type: "SHUTDOWN", how: "read" }),
    "done",
  );
  // A recv() that waited is woken by the shutdown with 0.
  const woken = next(shutRd, { type: "SEEN_END" });
  assert.equal(woken.facts.seen, "none");
  const both = graph.settle(
    next(woken, { type: "SHUTDOWN", how: "write" }),
    "done",
  );
  // Our FIN alone: the kernel still answers.
  const step = graph.step(both, { type: "GETPEERNAME" });
  assert.ok(step.allowed && step.asks);
});
