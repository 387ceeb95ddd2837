// Copyright 2026 the sockfsm authors. MIT license.
/**
 * `observe()` and `observeConnection()` ask the running kernel what
 * `predict()` and `predictConnection()` answer from the model: the same
 * scenarios on fresh real sockets, in the same words. Each agrees with the
 * model on a seeded sample of scenarios of every kind, and refuses bad input
 * as the model does, with the same `SocketError`, leaving nothing open.
 */
import assert from "node:assert/strict";
import { mock } from "node:test";
import {
  CONNECTION_OPS,
  type ConnectionOp,
  detectKernel,
  type Domain,
  observe,
  observeConnection,
  type Op,
  OPS,
  predict,
  predictConnection,
  type Result,
  SocketError,
  type SocketType,
} from "../mod.ts";
import { leaseLibc, libcHolders } from "../steps/libc_lease.ts";
import { DOMAINS, observed, TYPES } from "./_net.ts";

/** Scenarios per kind and blocking mode. */
const SAMPLE = 48;

/** A seeded PRNG (mulberry32): the same sample on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` scenarios of 3 to 5 words of `vocabulary`, from `seed`. */
function sample<O>(
  vocabulary: readonly O[],
  count: number,
  seed: number,
): O[][] {
  const next = random(seed);
  const pick = (n: number) => Math.floor(next() * n);
  return Array.from(
    { length: count },
    () =>
      Array.from(
        { length: 3 + pick(3) },
        () => vocabulary[pick(vocabulary.length)],
      ),
  );
}

/** The error a rejection carried, which must be a `SocketError`. */
async function refusal(promise: Promise<unknown>): Promise<SocketError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof SocketError, `not a SocketError: ${caught}`);
  return caught;
}

/** The error `call` threw, which must be a `SocketError`. */
function thrown(call: () => unknown): SocketError {
  let caught: unknown;
  assert.throws(call, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof SocketError, `not a SocketError: ${caught}`);
  return caught;
}

let seed = 1;
for (const nonblocking of [false, true]) {
  for (const type of TYPES) {
    for (const domain of DOMAINS) {
      const scenarios = sample(OPS, SAMPLE, seed++);
      const mode = nonblocking ? "non-blocking" : "blocking";
      Deno.test(`observe() agrees with predict() under the detected profile on ${SAMPLE} seeded scenarios (${domain} ${type}, ${mode})`, async () => {
        const kernel = await detectKernel();
        for (const ops of scenarios) {
          const options = { domain, type, nonblocking, kernel };
          const model = predict(ops, options);
          assert.deepEqual(
            await observed(model, () => observe(ops, options)),
            model,
            ops.join(" "),
          );
        }
        assert.equal(libcHolders(), 0);
      });
    }
  }
}

Deno.test("observe() gives the errno Linux gives for famous misorderings, as predict() does", async () => {
  const kernel = await detectKernel();
  const famous: [
    Op[],
    { domain?: Domain; type?: SocketType; nonblocking?: boolean },
    Result[],
  ][] = [
    // A listening socket cannot connect: TCP says EISCONN, unix EINVAL.
    [["bind", "listen", "connect"], {}, ["ok", "ok", "EISCONN"]],
    [["bind", "listen", "connect"], { domain: "unix" }, ["ok", "ok", "EINVAL"]],
    [["accept"], {}, ["EINVAL"]],
    [["listen", "accept"], {}, ["ok", "EAGAIN"]],
    [["bind", "listen", "peer_connect", "accept", "accept"], {}, [
      "ok",
      "ok",
      "ok",
      "ok",
      "EAGAIN",
    ]],
    [["send"], {}, ["EPIPE"]],
    [["send"], { domain: "unix" }, ["ENOTCONN"]],
    [["bind", "bind"], {}, ["ok", "EINVAL"]],
    [["close", "close"], {}, ["ok", "EBADF"]],
    [["connect", "connect"], {}, ["ok", "EISCONN"]],
    [["connect"], { nonblocking: true }, ["EINPROGRESS"]],
    [["connect_refused"], { domain: "inet6" }, ["ECONNREFUSED"]],
    [["connect", "shut_wr", "send"], {}, ["ok", "ok", "EPIPE"]],
    [["bind_wild", "getsockname"], { domain: "unix" }, ["ok", "ok:abstract"]],
    [["listen"], { type: "dgram" }, ["EOPNOTSUPP"]],
    [["connect", "connect"], { type: "dgram" }, ["ok", "ok"]],
  ];
  for (const [ops, options, expected] of famous) {
    const what = `${ops.join(" ")} ${JSON.stringify(options)}`;
    assert.deepEqual(predict(ops, { ...options, kernel }), expected, what);
    assert.deepEqual(
      await observed(expected, () => observe(ops, options)),
      expected,
      what,
    );
  }
});

for (const domain of DOMAINS) {
  const scenarios = sample(CONNECTION_OPS, SAMPLE, 100 + seed++);
  Deno.test(`observeConnection() agrees with predictConnection() under the detected profile on ${SAMPLE} seeded scenarios (${domain})`, async () => {
    const kernel = await detectKernel();
    for (const ops of scenarios) {
      const model = predictConnection(ops, { domain, kernel });
      assert.deepEqual(
        await observed(model, () => observeConnection(ops, { domain })),
        model,
        ops.join(" "),
      );
    }
    assert.equal(libcHolders(), 0);
  });
}

Deno.test("observe() of no ops resolves to no results", async () => {
  assert.deepEqual(await observe([]), []);
  assert.deepEqual(await observeConnection([], { domain: "unix" }), []);
});

Deno.test("observe() ignores the kernel option: every profile gets the running kernel's answers", async () => {
  // The one behaviour where the profiles differ on inet sockets.
  const ops: Op[] = ["connect_refused", "listen"];
  assert.notDeepEqual(
    predict(ops, { kernel: "classic" }),
    predict(ops, { kernel: "sticky" }),
  );
  const kernel = await detectKernel();
  const expected = predict(ops, { kernel });
  for (const profile of ["classic", "sticky"] as const) {
    assert.deepEqual(
      await observed(expected, () => observe(ops, { kernel: profile })),
      expected,
    );
  }
});

/** Input the model refuses: each as (ops, options) for the one socket. */
const BAD_SCENARIOS: [string, unknown, unknown][] = [
  ["an unknown op", ["bind", "dance"], {}],
  ["a bad domain", ["bind"], { domain: "inet4" }],
  ["a bad type", ["bind"], { type: "raw" }],
  ["ops that are a string", "bind", {}],
  ["ops that are null", null, {}],
  ["ops that are missing", undefined, {}],
  ["options that are null", ["bind"], null],
  ["a nonblocking that is not a boolean", ["bind"], { nonblocking: "yes" }],
  ["an unknown kernel profile", ["bind"], { kernel: "bsd" }],
];

for (const [what, ops, options] of BAD_SCENARIOS) {
  Deno.test(`observe() refuses ${what} with the SocketError EINVAL predict() throws, before any call`, async () => {
    const dlopen = mock.method(Deno, "dlopen");
    let error;
    try {
      error = await refusal(observe(ops as Op[], options as object));
    } finally {
      dlopen.mock.restore();
    }
    assert.equal(dlopen.mock.callCount(), 0, "libc was opened");
    assert.equal(error.code, "EINVAL");
    assert.equal(error.op, "socket");
    const model = thrown(() => predict(ops as Op[], options as object));
    assert.equal(error.message, model.message.replace("predict", "observe"));
    assert.equal(libcHolders(), 0);
  });
}

const BAD_CONNECTIONS: [string, unknown, unknown][] = [
  ["an unknown op", ["listener.bind", "server.bind"], {}],
  ["an op of one socket", ["bind"], {}],
  ["a bad domain", ["listener.bind"], { domain: "ipx" }],
  ["ops that are not an array", { 0: "listener.bind" }, {}],
  ["options that are a string", ["listener.bind"], "inet"],
];

for (const [what, ops, options] of BAD_CONNECTIONS) {
  Deno.test(`observeConnection() refuses ${what} with the SocketError EINVAL predictConnection() throws`, async () => {
    const error = await refusal(
      observeConnection(ops as ConnectionOp[], options as object),
    );
    assert.equal(error.code, "EINVAL");
    const model = thrown(() =>
      predictConnection(ops as ConnectionOp[], options as object)
    );
    assert.equal(error.message, model.message.replace("predict", "observe"));
    assert.equal(libcHolders(), 0);
  });
}

Deno.test("observe() uses the libc handle a lease holds instead of opening its own", async () => {
  const lease = leaseLibc();
  const dlopen = mock.method(Deno, "dlopen");
  try {
    assert.deepEqual(await observe(["listen", "accept"]), ["ok", "EAGAIN"]);
    assert.deepEqual(await observeConnection(["listener.close"]), ["ok"]);
    assert.equal(libcHolders(), 1);
  } finally {
    dlopen.mock.restore();
    lease.release();
  }
  assert.equal(dlopen.mock.callCount(), 0);
  assert.equal(libcHolders(), 0);
});

Deno.test({
  name: "observe() without --allow-ffi rejects with EACCES and names the flag",
  permissions: { ffi: false },
  async fn() {
    for (
      const promise of [
        observe(["bind"]),
        observeConnection(["listener.bind"]),
      ]
    ) {
      const error = await refusal(promise);
      assert.equal(error.code, "EACCES");
      assert.match(error.message, /--allow-ffi/);
    }
    assert.equal(libcHolders(), 0);
  },
});

Deno.test({
  name:
    "observe() of a unix socket without --allow-write rejects with EACCES and names the flag",
  permissions: { ffi: true, read: true, write: false },
  async fn() {
    const error = await refusal(observe(["bind"], { domain: "unix" }));
    assert.equal(error.code, "EACCES");
    assert.match(error.message, /--allow-write/);
    assert.equal(libcHolders(), 0);
  },
});

Deno.test("observe() off Linux rejects with EOPNOTSUPP and says it needs Linux's libc.so.6", async () => {
  const build = Deno.build;
  Object.defineProperty(Deno, "build", { value: { ...build, os: "darwin" } });
  try {
    const error = await refusal(observe(["bind"]));
    assert.equal(error.code, "EOPNOTSUPP");
    assert.match(error.message, /Linux's libc\.so\.6/);
    assert.match(error.message, /predict\(\)/);
  } finally {
    Object.defineProperty(Deno, "build", { value: build });
  }
  assert.equal(libcHolders(), 0);
});
