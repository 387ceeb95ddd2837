// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The pure API answers any input with its result or a `SocketError` whose
 * message names what was wrong and what to do; message builders never
 * throw. Each reproducer of issue 9 is a test here, and so is every pure
 * export of mod.ts fed hostile values.
 */
import assert from "node:assert/strict";
import {
  checkAddr,
  domainOf,
  errnoName,
  errnoNumber,
  explore,
  exploreConnection,
  formatAddr,
  isErrno,
  isWildcard,
  kernelProfiles,
  observe,
  observeConnection,
  OPS,
  predict,
  predictConnection,
  socket,
  SocketError,
  toMermaid,
} from "../mod.ts";
import { walk } from "../machine/walk.ts";
import { libcHolders } from "../steps/libc_lease.ts";
import { within } from "./_net.ts";
import { describe } from "../machine/options.ts";

/** The error `call` threw, which must be a `SocketError` of `code`. */
function refusal(call: () => unknown, code = "EINVAL"): SocketError {
  let caught: unknown;
  assert.throws(call, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(
    caught instanceof SocketError,
    `not a SocketError: ${String(caught)}`,
  );
  assert.equal(caught.code, code, caught.message);
  // Capital first, no final period, and an action named after a colon.
  assert.match(caught.message, /^Cannot [^\n]+: [^\n]+[^.]$/);
  return caught;
}

/** Values no caller should pass, one of each kind JavaScript has. */
const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;
const HOSTILE: readonly unknown[] = [
  undefined,
  null,
  0,
  -0,
  Number.NaN,
  Infinity,
  -Infinity,
  2 ** 53,
  1n,
  "",
  "bogus",
  "toString",
  "__proto__",
  Symbol("x"),
  Symbol(),
  true,
  () => {},
  [],
  [1n],
  {},
  Object.create(null),
  cyclic,
  new Map(),
  new Uint8Array(2),
  { toString: () => assert.fail("toString called"), valueOf: () => 1 },
];

Deno.test("describe() shows every JavaScript value and never throws", () => {
  const cases: [unknown, string][] = [
    [Number.NaN, "NaN"],
    [-0, "-0"],
    [0, "0"],
    [Infinity, "Infinity"],
    [1n, "1n"],
    [Symbol("x"), "Symbol(x)"],
    [Symbol(), "Symbol()"],
    [null, "null"],
    [undefined, "undefined"],
    ["inet", '"inet"'],
    [() => {}, "a function"],
    [Object.create(null), "{}"],
    [{ protocol: Number.NaN, port: -0 }, '{"protocol":NaN,"port":-0}'],
    [{ domain: 1n, s: Symbol("y") }, '{"domain":1n,"s":Symbol(y)}'],
    [[1, undefined, null], "[1,undefined,null]"],
    [cyclic, '{"a":1,"self":[cyclic]}'],
    [new Map(), "a Map"],
    [new Uint8Array(1), "a Uint8Array"],
    [{ a: { b: { c: { d: 1 } } } }, '{"a":{"b":{"c":{…}}}}'],
  ];
  for (const [value, text] of cases) {
    assert.equal(describe(value), text);
  }
  const throwing = {
    get boom(): never {
      throw new Error("getter");
    },
  };
  assert.equal(describe(throwing), "an object");
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  assert.equal(typeof describe(revoked.proxy), "string");
  assert.ok(describe("x".repeat(10_000)).length <= 120);
  assert.ok(describe(Array.from({ length: 1000 }, (_, i) => i)).length <= 120);
  for (const value of HOSTILE) assert.equal(typeof describe(value), "string");
});

Deno.test("predict() refuses [1n], null ops and null options with EINVAL, naming the value", () => {
  assert.match(refusal(() => predict([1n] as never)).message, /op 1n: use one/);
  assert.match(
    refusal(() => predict(null as never)).message,
    /ops null: give an array of ops/,
  );
  assert.match(
    refusal(() => predict([], null as never)).message,
    /options null: give an object/,
  );
  assert.match(
    refusal(() => predict([], { domain: "bogus" } as never)).message,
    /domain "bogus": use "inet", "inet6" or "unix"/,
  );
});

Deno.test("explore() refuses no options, null options and an unknown domain with EINVAL", () => {
  assert.match(
    refusal(() => (explore as (o?: unknown) => unknown)()).message,
    /Cannot explore with options undefined: give an object, such as \{ depth: 4 \}/,
  );
  refusal(() => explore(null as never));
  assert.match(
    refusal(() => explore({ depth: 1, domain: "bogus" } as never)).message,
    /Cannot explore a socket of domain "bogus"/,
  );
  assert.match(
    refusal(() => explore({ depth: 1, type: "seqpacket" } as never)).message,
    /type "seqpacket": use "stream" or "dgram"/,
  );
  assert.match(
    refusal(() => explore({} as never)).message,
    /depth undefined: use an integer from 1 to 64/,
  );
  assert.match(
    refusal(() => explore({ depth: Symbol("d") } as never)).message,
    /depth Symbol\(d\)/,
  );
  assert.match(
    refusal(() => explore({ depth: 1n } as never)).message,
    /depth 1n/,
  );
});

Deno.test("explore() refuses invariants that are not { name, holds } and reports one that throws as EINVAL", () => {
  refusal(() => explore({ depth: 1, invariants: 5 } as never));
  refusal(() => explore({ depth: 1, invariants: [null] } as never));
  refusal(() => explore({ depth: 1, invariants: [{ name: "x" }] } as never));
  const boom = new Error("boom");
  const error = refusal(() =>
    explore({
      depth: 1,
      invariants: [{
        name: "explodes",
        holds: () => {
          throw boom;
        },
      }],
    })
  );
  assert.equal(error.cause, boom);
  assert.match(error.message, /invariant "explodes" threw "boom"/);
});

Deno.test("exploreConnection() refuses null, no options and an unknown domain with EINVAL", () => {
  refusal(() => exploreConnection(null as never));
  refusal(() => (exploreConnection as (o?: unknown) => unknown)());
  assert.match(
    refusal(() => exploreConnection({ depth: 1, domain: "bogus" } as never))
      .message,
    /domain "bogus"/,
  );
  assert.match(
    refusal(() => exploreConnection({ depth: 33 })).message,
    /depth 33: use an integer from 1 to 32/,
  );
});

Deno.test("toMermaid() refuses no options and an unknown domain or type with EINVAL", () => {
  assert.match(
    refusal(() => (toMermaid as (o?: unknown) => unknown)()).message,
    /Cannot draw with options undefined/,
  );
  assert.match(
    refusal(() => toMermaid({ domain: "bogus", type: "stream" } as never))
      .message,
    /Cannot draw a socket of domain "bogus"/,
  );
  refusal(() => toMermaid({ domain: "inet", type: "bogus" } as never));
  // Domain and type have no default: a diagram names its kind.
  assert.match(
    refusal(() => toMermaid({} as never)).message,
    /Cannot draw a socket of domain undefined/,
  );
  refusal(() => toMermaid({ domain: "inet" } as never));
  refusal(() =>
    toMermaid({ domain: "inet", type: "stream", kernel: 1n } as never)
  );
});

Deno.test("predictConnection() refuses an unknown op with EINVAL instead of answering undefined", () => {
  assert.match(
    refusal(() => predictConnection(["bogus"] as never)).message,
    /Cannot predict op "bogus": use one of listener\.bind/,
  );
  refusal(() => predictConnection(null as never));
  refusal(() => predictConnection([], { domain: "bogus" } as never));
});

Deno.test("formatAddr() and isWildcard() answer null and any other value without throwing", () => {
  assert.equal(formatAddr(null as never), "null");
  assert.equal(isWildcard(null as never), false);
  assert.equal(
    formatAddr({ path: Symbol("p") } as never),
    '{"path":Symbol(p)}',
  );
  assert.equal(formatAddr({ hostname: "::1" } as never), '{"hostname":"::1"}');
  for (const value of HOSTILE) {
    assert.equal(typeof formatAddr(value as never), "string");
    assert.equal(isWildcard(value as never), false);
    assert.equal(isWildcard({ hostname: value, port: 0 } as never), false);
  }
});

Deno.test("isWildcard() knows the v4-mapped wildcard in every spelling", () => {
  for (
    const hostname of [
      "::ffff:0.0.0.0",
      "::ffff:0:0",
      "::FFFF:0.0.0.0",
      "::FFFF:0:0",
      "0:0:0:0:0:ffff:0.0.0.0",
      "0:0:0:0:0:FFFF:0:0",
      "[::ffff:0.0.0.0]",
      "::ffff:0000:0000",
    ]
  ) {
    assert.equal(isWildcard({ hostname, port: 0 }), true, hostname);
    assert.equal(isWildcard({ hostname, port: 8080 }), true, hostname);
  }
  for (
    const hostname of ["::ffff:127.0.0.1", "::ffff:0.0.0.1", "::ffff:1:0"]
  ) {
    assert.equal(isWildcard({ hostname, port: 0 }), false, hostname);
  }
});

Deno.test("checkAddr() treats v4-mapped addresses as inet6 and writes them as the kernel does", () => {
  for (const hostname of ["::ffff:0.0.0.0", "::FFFF:0:0", "[::ffff:0.0.0.0]"]) {
    assert.deepEqual(checkAddr({ hostname, port: 1 }, "bind", "addr"), {
      addr: { hostname: "::ffff:0:0", port: 1 },
      domain: "inet6",
    });
  }
  assert.deepEqual(
    checkAddr({ hostname: "::ffff:127.0.0.1", port: 1 }, "bind", "addr").addr,
    { hostname: "::ffff:7f00:1", port: 1 },
  );
  // The canonical form is still the wildcard, as the spelling was.
  const { addr } = checkAddr(
    { hostname: "0:0:0:0:0:ffff:0.0.0.0", port: 0 },
    "bind",
    "addr",
  );
  assert.equal(isWildcard(addr), true);
  assert.equal(domainOf({ hostname: "::ffff:0.0.0.0", port: 0 }), "inet6");
  assert.equal(formatAddr(addr), "[::ffff:0:0]:0");
});

Deno.test("a UDP inet6 connect() to the v4-mapped wildcard reaches 127.0.0.1 on both backends, as the kernel does", async () => {
  for (const backend of ["posix", "deno"] as const) {
    using server = socket({ domain: "inet", type: "dgram", backend });
    await server.bind({ hostname: "127.0.0.1", port: 0 });
    const { port } = server.getsockname();
    using client = socket({ domain: "inet6", type: "dgram", backend });
    await client.connect({ hostname: "::ffff:0.0.0.0", port });
    assert.deepEqual(client.getpeername(), {
      hostname: "::ffff:7f00:1",
      port,
    }, backend);
    await client.send(new Uint8Array([7]));
    const { data } = await within(
      2000,
      server.recvfrom(),
      `${backend} recvfrom`,
    );
    assert.deepEqual([...data], [7], backend);
  }
});

Deno.test("checkAddr() and domainOf() refuse any value that is not an address with EINVAL", () => {
  for (const value of HOSTILE) {
    refusal(() => checkAddr(value, "bind", "addr"));
    refusal(() => domainOf(value as never));
    refusal(() => checkAddr({ hostname: value, port: 0 }, "bind", "addr"));
    if (typeof value !== "string" || value === "") {
      refusal(() => checkAddr({ path: value }, "bind", "addr"));
    }
    if (value !== 0) {
      refusal(() =>
        checkAddr({ hostname: "127.0.0.1", port: value }, "bind", "addr")
      );
    }
  }
  assert.match(
    refusal(() =>
      checkAddr({ hostname: "127.0.0.1", port: Number.NaN }, "bind", "addr")
    ).message,
    /got NaN/,
  );
});

Deno.test("socket() refuses domain 1n, protocol NaN and null options with its errnos, naming the value", () => {
  assert.match(
    refusal(() => socket({ domain: 1n } as never), "EAFNOSUPPORT").message,
    /Cannot create a socket in domain 1n: use "inet", "inet6" or "unix"/,
  );
  assert.match(
    refusal(
      () => socket({ domain: "inet", protocol: Number.NaN } as never),
      "EPROTONOSUPPORT",
    ).message,
    /with protocol NaN:/,
  );
  assert.equal(
    refusal(
      () => socket({ domain: "inet", protocol: 17 } as never),
      "EPROTONOSUPPORT",
    ).message,
    "Cannot create an inet stream socket with protocol 17: use 0 or 6 (IPPROTO_TCP)",
  );
  assert.match(
    refusal(
      () => socket({ domain: "unix", type: "dgram", protocol: 17 } as never),
      "EPROTONOSUPPORT",
    ).message,
    /^Cannot create a unix dgram socket/,
  );
  refusal(() => socket(null as never));
  refusal(() => socket(undefined as never));
  for (const value of HOSTILE) {
    if (value === undefined || value === 0) continue;
    const options = [
      { domain: value },
      { domain: "inet", type: value },
      { domain: "inet", protocol: value },
      { domain: "inet", nonblocking: value },
      { domain: "inet", backend: value },
    ];
    for (const option of options) {
      if (option.nonblocking === true) continue;
      assert.throws(
        () => socket(option as never),
        SocketError,
        describe(option),
      );
    }
  }
});

Deno.test("errnoNumber(), errnoName() and isErrno() answer any value; errnoNumber() refuses a name it does not know", () => {
  assert.equal(errnoNumber("EINVAL"), 22);
  refusal(() => errnoNumber("toString" as never));
  refusal(() => errnoNumber("__proto__" as never));
  for (const value of HOSTILE) {
    assert.equal(isErrno(value as never), false);
    assert.equal(errnoName(value as never), undefined);
    refusal(() => errnoNumber(value as never));
  }
});

Deno.test("kernel profiles named by any value other than a profile's name are refused with EINVAL", () => {
  const names = kernelProfiles().map((p) => p.name as unknown);
  for (const value of HOSTILE) {
    if (value === undefined || names.includes(value)) continue;
    assert.match(
      refusal(() => predict([], { kernel: value } as never)).message,
      /Cannot use kernel profile .+: use one of "classic", "sticky"/,
    );
    refusal(() => explore({ depth: 1, kernel: value } as never));
    refusal(() => predictConnection([], { kernel: value } as never));
  }
});

Deno.test("the pure functions answer every hostile value with a result or a SocketError, nothing else", () => {
  const calls: [string, (value: unknown) => unknown][] = [
    ["predict(ops)", (v) => predict(v as never)],
    ["predict([op])", (v) => predict([v] as never)],
    ["predict([], options)", (v) => predict([], v as never)],
    ["predict([], { domain })", (v) => predict([], { domain: v } as never)],
    ["predict([], { type })", (v) => predict([], { type: v } as never)],
    [
      "predict([], { nonblocking })",
      (v) => predict([], { nonblocking: v } as never),
    ],
    ["predictConnection(ops)", (v) => predictConnection(v as never)],
    ["predictConnection([op])", (v) => predictConnection([v] as never)],
    ["explore(options)", (v) => explore(v as never)],
    ["explore({ depth })", (v) => explore({ depth: v } as never)],
    [
      "explore({ depth: 1, invariants })",
      (v) => explore({ depth: 1, invariants: v } as never),
    ],
    ["exploreConnection(options)", (v) => exploreConnection(v as never)],
    [
      "exploreConnection({ depth })",
      (v) => exploreConnection({ depth: v } as never),
    ],
    ["toMermaid(options)", (v) => toMermaid(v as never)],
    [
      "toMermaid({ domain })",
      (v) => toMermaid({ domain: v, type: "stream" } as never),
    ],
    ["formatAddr(addr)", (v) => formatAddr(v as never)],
    ["isWildcard(addr)", (v) => isWildcard(v as never)],
    ["checkAddr(addr)", (v) => checkAddr(v, "bind", "addr")],
    ["errnoNumber(name)", (v) => errnoNumber(v as never)],
  ];
  for (const [name, call] of calls) {
    for (const value of HOSTILE) {
      try {
        call(value);
      } catch (error) {
        assert.ok(
          error instanceof SocketError,
          `${name} with ${describe(value)} threw ${String(error)}`,
        );
      }
    }
  }
});

Deno.test("observe() and observeConnection() answer every hostile value with an answer or a SocketError, leaving nothing open", async () => {
  const calls: [string, (value: unknown) => Promise<unknown>][] = [
    ["observe(ops)", (v) => observe(v as never)],
    ["observe([op])", (v) => observe([v] as never)],
    ["observe([], options)", (v) => observe([], v as never)],
    ["observeConnection(ops)", (v) => observeConnection(v as never)],
    [
      "observeConnection([], options)",
      (v) => observeConnection([], v as never),
    ],
  ];
  for (const [name, call] of calls) {
    for (const value of HOSTILE) {
      try {
        assert.ok(Array.isArray(await call(value)));
      } catch (error) {
        assert.ok(
          error instanceof SocketError && error.code === "EINVAL",
          `${name} with ${describe(value)} threw ${String(error)}`,
        );
      }
    }
  }
  assert.equal(libcHolders(), 0);
});

Deno.test("explore() at depth 14 counts 6518098476924383426n scenarios, exactly the sum of 22^k", () => {
  const report = explore({ domain: "inet", type: "stream", depth: 14 });
  let exact = 0n;
  for (let k = 1n; k <= 14n; k++) exact += BigInt(OPS.length) ** k;
  assert.equal(OPS.length, 22);
  assert.equal(typeof report.sequences, "bigint");
  assert.equal(report.sequences, exact);
  assert.equal(report.sequences, 6518098476924383426n);
  // A number would have rounded it: 2^53 is passed at depth 12.
  assert.notEqual(BigInt(Number(report.sequences)), report.sequences);
  assert.equal(report.legal + report.illegal, report.sequences);
});

Deno.test("explore() counts exactly at every depth from 1 to 64, legal and illegal adding up", () => {
  // The same kind as above: its graph of snapshots is built already.
  let exact = 0n;
  for (let depth = 1; depth <= 64; depth++) {
    exact += BigInt(OPS.length) ** BigInt(depth);
    // Every depth where the count is near a power of two's edge, and the
    // deepest: a walk of 64 levels costs seconds, so not every depth runs.
    if (depth > 3 && (depth < 11 || depth > 14) && depth !== 64) continue;
    const report = explore({ domain: "inet", type: "stream", depth });
    assert.equal(report.sequences, exact, `depth ${depth}`);
    assert.equal(report.legal + report.illegal, exact, `depth ${depth}`);
  }
});

Deno.test("the walk counts the 16-op figure of issue 9 exactly: 76861433640456464n at depth 14", () => {
  // The issue was filed when predict() had 16 ops; the figure it gives is
  // the sum of 16^k for k from 1 to 14, which a number rounds.
  const ops = Array.from({ length: 16 }, (_, i) => `op${i}`);
  const report = walk<number, string>(
    {
      start: 0,
      ops,
      step: (node, op) => ({
        node: (node + ops.indexOf(op)) % 3,
        result: op === "op0" ? "EINVAL" : "ok",
      }),
      label: String,
      isEnvironment: () => false,
    },
    14,
    [],
  );
  assert.equal(report.sequences, 76861433640456464n);
  // As a number it was shown as 76861433640456460, the symptom.
  assert.equal(String(Number(report.sequences)), "76861433640456460");
  assert.equal(String(report.sequences), "76861433640456464");
  // Legal scenarios never use op0: 15 + 15² + … + 15^14.
  let legal = 0n;
  for (let k = 1n; k <= 14n; k++) legal += 15n ** k;
  assert.equal(report.legal, legal);
  assert.equal(report.illegal, report.sequences - legal);
});

Deno.test("exploreConnection() counts exactly past 2^53", () => {
  const report = exploreConnection({ domain: "unix", depth: 16 });
  let exact = 0n;
  for (let k = 1n; k <= 16n; k++) exact += 12n ** k;
  assert.equal(report.sequences, exact);
  assert.equal(report.legal + report.illegal, exact);
});

Deno.test("new SocketError() takes null or no options, as undefined", () => {
  for (const options of [null, undefined]) {
    const error = new SocketError(
      "EINVAL",
      "bind",
      "Cannot bind(): no",
      options,
    );
    assert.equal(error.state, undefined);
    assert.equal(error.step, undefined);
    assert.equal(error.cause, undefined);
  }
});
