// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The three sockets of streamConnection() together: what the model says of
 * their misorderings. Every expectation here agrees with the kernel
 * (`deno task conformance --connection`).
 */
import assert from "node:assert/strict";
import {
  CONNECTION_OPS,
  type ConnectionOp,
  exploreConnection,
  predictConnection,
  type Result,
} from "../mod.ts";

function expect(
  ops: ConnectionOp[],
  results: Result[],
  domain: "inet" | "inet6" | "unix" = "inet",
): void {
  assert.deepEqual(predictConnection(ops, { domain }), results, ops.join(" "));
}

Deno.test("the procedure in order: every step succeeds, and the ends see each other", () => {
  for (const domain of ["inet", "inet6"] as const) {
    expect(
      [
        "listener.bind",
        "listener.listen",
        "client.connect",
        "listener.accept",
        "listener.close",
        "accepted.getpeername",
        "client.getpeername",
      ],
      ["ok", "ok", "ok", "ok", "ok", "ok:port>0", "ok:port>0"],
      domain,
    );
  }
  expect(
    ["listener.bind", "listener.listen", "client.connect", "listener.accept"],
    ["ok", "ok", "ok", "ok"],
    "unix",
  );
});

Deno.test("connect before listen is refused", () => {
  expect(["listener.bind", "client.connect"], ["ok", "ECONNREFUSED"]);
  expect(["listener.bind", "client.connect"], ["ok", "ECONNREFUSED"], "unix");
  expect(["client.connect"], ["ECONNREFUSED"]);
});

Deno.test("accept before connect would block", () => {
  expect(["listener.listen", "listener.accept"], ["ok", "EAGAIN"]);
});

Deno.test("accept before listen is EINVAL", () => {
  expect(["listener.bind", "listener.accept"], ["ok", "EINVAL"]);
});

Deno.test("a client that closes before the accept is accepted all the same", () => {
  expect(
    ["listener.listen", "client.connect", "client.close", "listener.accept"],
    ["ok", "ok", "ok", "ok"],
  );
});

Deno.test("closing the listener resets a connection it had not accepted", () => {
  expect([
    "listener.listen",
    "client.connect",
    "listener.close",
    "client.getpeername",
    "client.bind",
    "client.bind",
  ], ["ok", "ok", "ok", "ENOTCONN", "ok", "EINVAL"]);
});

Deno.test("the accepted socket's peer is unnamed when the unix client did not bind", () => {
  expect(
    [
      "listener.bind",
      "listener.listen",
      "client.connect",
      "listener.accept",
      "accepted.getpeername",
    ],
    ["ok", "ok", "ok", "ok", "ok:unnamed"],
    "unix",
  );
});

Deno.test("an op of the accepted socket before any accept is a noop", () => {
  expect(["accepted.close", "accepted.getpeername"], ["noop", "noop"]);
});

Deno.test("exploreConnection() reports the procedure's misorderings with shortest scenarios, and its invariants hold", () => {
  const report = exploreConnection({ domain: "inet", depth: 6 });
  assert.deepEqual(report.violations, []);
  const witness = (op: ConnectionOp, errno: string) =>
    report.errors.find((e) => e.op === op && e.errno === errno)?.witness.ops;
  assert.deepEqual(witness("client.connect", "ECONNREFUSED"), [
    "client.connect",
  ]);
  assert.deepEqual(witness("listener.accept", "EAGAIN"), [
    "listener.listen",
    "listener.accept",
  ]);
  assert.deepEqual(witness("listener.accept", "EINVAL"), ["listener.accept"]);
  assert.ok(report.snapshots < 5000, "scenarios merge");
});

Deno.test("exploreConnection() counts at depth 3 match a plain enumeration", () => {
  let sequences = 0;
  let illegal = 0;
  const all = (length: number): ConnectionOp[][] =>
    length === 0
      ? [[]]
      : all(length - 1).flatMap((head) =>
        CONNECTION_OPS.map((op) => [...head, op])
      );
  for (let length = 1; length <= 3; length++) {
    for (const ops of all(length)) {
      sequences++;
      if (predictConnection(ops).some((r) => /^E[A-Z]+$/.test(r))) illegal++;
    }
  }
  const report = exploreConnection({ depth: 3 });
  assert.equal(report.sequences, BigInt(sequences));
  assert.equal(report.illegal, BigInt(illegal));
});

Deno.test("SO_LINGER 0 makes close() reset a TCP connection: the peer's getpeername() is ENOTCONN, where after a FIN it still answers", () => {
  const connected = [
    "listener.listen",
    "client.connect",
    "listener.accept",
  ] as const;
  expect([...connected, "client.close", "accepted.getpeername"], [
    "ok",
    "ok",
    "ok",
    "ok",
    "ok:port>0",
  ]);
  expect(
    [
      ...connected,
      "client.set_linger0",
      "client.close",
      "accepted.getpeername",
    ],
    ["ok", "ok", "ok", "ok", "ok", "ENOTCONN"],
  );
  expect(
    [
      ...connected,
      "accepted.set_linger0",
      "accepted.close",
      "client.getpeername",
    ],
    ["ok", "ok", "ok", "ok", "ok", "ENOTCONN"],
  );
});

Deno.test("a connection that SO_LINGER 0 reset before the accept is accepted reset", () => {
  expect([
    "listener.listen",
    "client.connect",
    "client.set_linger0",
    "client.close",
    "listener.accept",
    "accepted.getpeername",
  ], ["ok", "ok", "ok", "ok", "ok", "ENOTCONN"]);
});

Deno.test("SO_LINGER 0 changes nothing for a unix connection, which has no reset", () => {
  expect(
    [
      "listener.bind",
      "listener.listen",
      "client.connect",
      "listener.accept",
      "client.set_linger0",
      "client.close",
      "accepted.getpeername",
    ],
    ["ok", "ok", "ok", "ok", "ok", "ok", "ok:unnamed"],
    "unix",
  );
});
