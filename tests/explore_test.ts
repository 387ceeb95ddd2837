// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import {
  BUILTIN_INVARIANTS,
  explore,
  type Op,
  OPS,
  predict,
  SocketError,
} from "../mod.ts";
import { isErrno } from "../machine/errno.ts";
import { exploreGraph } from "../machine/explore.ts";
import { SocketGraph } from "../machine/graph.ts";
import { modelGraph, predictStep } from "../machine/predict.ts";
import { socketMachine } from "../machine/socket_machine.ts";

const KINDS = [
  { domain: "inet", type: "stream" },
  { domain: "inet6", type: "stream" },
  { domain: "unix", type: "stream" },
  { domain: "inet", type: "dgram" },
  { domain: "inet6", type: "dgram" },
  { domain: "unix", type: "dgram" },
] as const;

/** Every scenario of exactly `length` ops. */
function* scenarios(length: number): Generator<Op[]> {
  if (length === 0) {
    yield [];
    return;
  }
  for (const head of scenarios(length - 1)) {
    for (const op of OPS) yield [...head, op];
  }
}

Deno.test("explore() counts at depth 4 match a plain enumeration of every scenario", () => {
  for (const kind of [KINDS[0], KINDS[5]]) {
    let sequences = 0;
    let illegal = 0;
    for (let length = 1; length <= 4; length++) {
      for (const ops of scenarios(length)) {
        sequences++;
        const results = predict(ops, kind);
        const refused = ops.some((op, i) =>
          op !== "peer_connect" && op !== "peer_close" && isErrno(results[i])
        );
        if (refused) illegal++;
      }
    }
    const report = explore({ ...kind, depth: 4 });
    assert.equal(report.sequences, BigInt(sequences));
    assert.equal(
      report.illegal,
      BigInt(illegal),
      `${kind.domain} ${kind.type}`,
    );
    assert.equal(report.legal, BigInt(sequences - illegal));
  }
});

Deno.test("explore() gives each reachable state a shortest scenario that reaches it", () => {
  const report = explore({ domain: "inet", type: "stream", depth: 5 });
  const byState = new Map(report.states.map((s) => [s.state, s.witness]));
  assert.deepEqual(byState.get("created")?.ops, []);
  assert.deepEqual(byState.get("listening")?.ops, ["listen"]);
  assert.deepEqual(byState.get("shutRdWr")?.ops, ["connect", "shut_rdwr"]);
  for (const { state, witness } of report.states) {
    let node = modelGraph().start({ domain: "inet", type: "stream" });
    for (const op of witness.ops) node = predictStep(node, op).node;
    assert.equal(node.state, state);
    assert.deepEqual(predict([...witness.ops]), witness.results);
  }
});

Deno.test("explore() finds a shortest scenario for every errno a call can give", () => {
  const report = explore({ domain: "inet", type: "stream", depth: 4 });
  const find = (op: Op, errno: string) =>
    report.errors.find((e) => e.op === op && e.errno === errno)?.witness.ops;
  assert.deepEqual(find("accept", "EINVAL"), ["accept"]);
  assert.equal(find("connect", "EISCONN")?.length, 2);
  for (const { op, errno, witness } of report.errors) {
    assert.equal(witness.ops.at(-1), op);
    assert.equal(
      predict([...witness.ops]).at(-1),
      errno,
      witness.ops.join(" "),
    );
  }
  // disconnect() resets the connection and leaves ECONNRESET pending.
  assert.deepEqual(find("send", "ECONNRESET"), [
    "connect",
    "disconnect",
    "send",
  ]);
  assert.deepEqual(find("recv", "ECONNRESET"), [
    "connect",
    "disconnect",
    "recv",
  ]);
  assert.deepEqual(find("bind", "EBADF"), ["close", "bind"]);
});

Deno.test("explore() lists every reachable (state, op) pair with its results", () => {
  const report = explore({ domain: "unix", type: "dgram", depth: 3 });
  const listen = report.calls.find((c) =>
    c.state === "created" && c.op === "listen"
  );
  assert.deepEqual(listen?.results, ["EOPNOTSUPP"]);
  const recv = report.calls.find((c) => c.state === "bound" && c.op === "recv");
  assert.deepEqual(recv?.results, ["EAGAIN", "ok:data"]);
});

Deno.test("the built-in invariants hold at depth 8 for every socket kind, blocking or not", () => {
  for (const kind of KINDS) {
    for (const nonblocking of [false, true]) {
      const report = explore({ ...kind, depth: 8, nonblocking });
      assert.deepEqual(report.violations, [], JSON.stringify(kind));
      assert.ok(report.snapshots < 2000, "snapshots merge");
    }
  }
  assert.ok(BUILTIN_INVARIANTS.length >= 5);
});

Deno.test("explore() finds the shortest counterexample in a deliberately broken machine", () => {
  // The defect: the shutdown bit for writing is never consulted.
  const broken = socketMachine.provide({ guards: { shutWrite: () => false } });
  const noSendAfterShutWr = {
    name: "no send succeeds after shutdown(SHUT_WR)",
    holds: ({ from, op, result }: {
      from: { facts: { shut: { write: boolean } } };
      op: Op;
      result: string;
    }) => op !== "send" || result !== "ok" || !from.facts.shut.write,
  };
  const sound = explore({
    depth: 5,
    invariants: [noSendAfterShutWr],
  });
  assert.deepEqual(sound.violations, []);
  const report = exploreGraph(new SocketGraph(broken), {
    depth: 5,
    invariants: [noSendAfterShutWr],
  });
  assert.deepEqual(report.violations, [{
    invariant: "no send succeeds after shutdown(SHUT_WR)",
    witness: {
      ops: ["connect", "shut_wr", "send"],
      results: ["ok", "ok", "ok"],
    },
  }]);
});

Deno.test("explore() refuses a depth that is not an integer from 1 to 64", () => {
  for (const depth of [0, 65, 2.5, Number.NaN]) {
    assert.throws(
      () => explore({ depth }),
      (error: unknown) =>
        error instanceof SocketError && error.code === "EINVAL" &&
        error.message.includes(String(depth)),
    );
  }
});

Deno.test("explore() reports what a call made while another is in flight gives: it waits for an instant call, a second connect() waits for the first (never EALREADY), and a TCP shutdown() or disconnect() ends it", () => {
  for (const domain of ["inet", "inet6", "unix"] as const) {
    const { overlaps } = explore({ domain, type: "stream", depth: 4 });
    const answer = (state: string, op: string) =>
      overlaps.find((o) => o.state === state && o.op === op)?.answers;
    for (const state of ["binding", "opening", "shuttingDown"]) {
      for (const o of overlaps.filter((o) => o.state === state)) {
        assert.ok(!o.answers.includes("EALREADY"), `${state} ${o.op}`);
      }
      assert.deepEqual(answer(state, "recv"), ["waits"], `${domain} ${state}`);
      assert.deepEqual(answer(state, "getsockname"), ["ok"]);
    }
    // A blocking connect in flight: data calls and a second connect wait
    // (as Linux's blocking connect(2) does), a TCP shutdown or disconnect
    // ends the attempt at once, Linux's answers else.
    assert.deepEqual(answer("connecting", "send"), ["waits"]);
    assert.deepEqual(answer("connecting", "connect"), ["waits"]);
    const unix = domain === "unix";
    assert.deepEqual(answer("connecting", "shut_wr"), [unix ? "waits" : "ok"]);
    assert.deepEqual(answer("connecting", "disconnect"), [
      unix ? "EINVAL" : "ok",
    ]);
    assert.deepEqual(answer("connecting", "listen"), ["EINVAL"]);
  }
});
