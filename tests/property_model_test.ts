// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Properties of the pure API, checked with fast-check: whatever it is given
 * (valid values, arbitrary values, a mix), the only outcomes are a result
 * or a `SocketError`, never another error type and never a hang; and the
 * model keeps its invariants: the answers to a prefix of a scenario are a
 * prefix of its answers, and a refused op changes nothing.
 *
 * Each property is bounded by `numRuns`, so that the file runs in seconds.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkAddr,
  CONNECTION_OPS,
  explore,
  formatAddr,
  isWildcard,
  kernelProfiles,
  type Op,
  OPS,
  predict,
  predictConnection,
  SocketError,
  toMermaid,
} from "../mod.ts";
import {
  checkOptionName,
  checkOptionValue,
  describe,
  SOCKET_OPTIONS,
} from "../machine/options.ts";
import {
  eventOf,
  modelGraph,
  modelStart,
  predictStep,
} from "../machine/predict.ts";
import { DOMAINS, TYPES } from "./_net.ts";

const KERNELS = kernelProfiles().map((profile) => profile.name);
const SETTABLE = SOCKET_OPTIONS.filter((n) =>
  n !== "SO_ERROR" && n !== "SO_TYPE"
);

/** Runs per property: enough to find a fault, few enough for seconds. */
const RUNS = 200;
/** Generous bound per property, so a slow model fails instead of hanging. */
const LIMIT = { interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true };

/**
 * `call()`'s outcome, which must be a result or a `SocketError` (of one of
 * `codes`, if given); the message is checked too: it says what was wrong
 * and what to do.
 */
function outcome(
  call: () => unknown,
  codes?: readonly string[],
): { ok: true; value: unknown } | { ok: false; error: SocketError } {
  try {
    return { ok: true, value: call() };
  } catch (error) {
    if (!(error instanceof SocketError)) {
      throw new assert.AssertionError({
        message: `threw ${String(error)}, not a SocketError`,
      });
    }
    if (codes !== undefined) {
      assert.ok(codes.includes(error.code), `${error.code}: ${error.message}`);
    }
    assert.match(error.message, /^Cannot .+: .+/s);
    return { ok: false, error };
  }
}

/** Either a valid word of `words` or any value at all. */
function mostly<T>(words: readonly T[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...words) },
    { weight: 1, arbitrary: fc.anything() },
  );
}

/** Scenario options, each field valid, arbitrary, or absent. */
const scenarioOptions = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      domain: mostly(DOMAINS),
      type: mostly(TYPES),
      nonblocking: mostly([false, true]),
      kernel: mostly(KERNELS),
    }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: fc.anything() },
);

/** Valid options of a scenario on one socket. */
const validOptions = fc.record({
  domain: fc.constantFrom(...DOMAINS),
  type: fc.constantFrom(...TYPES),
  nonblocking: fc.boolean(),
  kernel: fc.constantFrom(...KERNELS),
});

const validOps = fc.array(fc.constantFrom(...OPS), { maxLength: 12 });

Deno.test("predict() answers any op list and options with one result per op or a SocketError EINVAL", () => {
  const ops = fc.oneof(
    { weight: 4, arbitrary: fc.array(mostly(OPS), { maxLength: 8 }) },
    { weight: 1, arbitrary: fc.anything() },
  );
  fc.assert(
    fc.property(ops, scenarioOptions, (ops, options) => {
      const answer = outcome(
        () => predict(ops as Op[], options as never),
        ["EINVAL"],
      );
      if (answer.ok) {
        assert.ok(Array.isArray(answer.value));
        assert.equal(answer.value.length, (ops as unknown[]).length);
        for (const result of answer.value) {
          assert.match(String(result), /^(ok(:.+)?|noop|E[A-Z]+)$/);
        }
      }
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});

Deno.test("predictConnection() answers any op list and options with one result per op or a SocketError EINVAL", () => {
  const ops = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.array(mostly(CONNECTION_OPS), { maxLength: 8 }),
    },
    { weight: 1, arbitrary: fc.anything() },
  );
  const options = fc.oneof(
    fc.record({ domain: mostly(DOMAINS), kernel: mostly(KERNELS) }, {
      requiredKeys: [],
    }),
    fc.anything(),
  );
  fc.assert(
    fc.property(ops, options, (ops, options) => {
      const answer = outcome(
        () => predictConnection(ops as never, options as never),
        ["EINVAL"],
      );
      if (answer.ok) {
        assert.equal((answer.value as unknown[]).length, (ops as []).length);
        assert.ok(!(answer.value as unknown[]).includes(undefined));
      }
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});

Deno.test("explore() answers any options with a report or a SocketError EINVAL", () => {
  // Valid depths stay small: the property is about the answer, not depth.
  const options = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        domain: mostly(DOMAINS),
        type: mostly(TYPES),
        depth: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.anything()),
        nonblocking: mostly([false, true]),
        kernel: mostly(KERNELS),
        invariants: fc.oneof(
          fc.constant(undefined),
          fc.constant([]),
          fc.anything(),
        ),
      }, { requiredKeys: [] }),
    },
    { weight: 1, arbitrary: fc.anything() },
  );
  fc.assert(
    fc.property(options, (options) => {
      const answer = outcome(() => explore(options as never), ["EINVAL"]);
      if (answer.ok) {
        const report = answer.value as ReturnType<typeof explore>;
        assert.equal(typeof report.sequences, "bigint");
        assert.equal(report.legal + report.illegal, report.sequences);
      }
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});

Deno.test("toMermaid() answers any options that do not name a socket kind with a SocketError EINVAL", () => {
  // A valid kind is drawn by tests/diagram_test.ts: a first drawing walks
  // the whole machine, which takes too long to repeat here.
  const invalid = fc.anything().filter((v) =>
    !(DOMAINS as unknown[]).includes(v) && !(TYPES as unknown[]).includes(v)
  );
  const options = fc.oneof(
    fc.record(
      { domain: invalid, type: mostly(TYPES), kernel: mostly(KERNELS) },
      {
        requiredKeys: [],
      },
    ),
    fc.record({ domain: mostly(DOMAINS), type: invalid }, {
      requiredKeys: ["type"],
    }),
    fc.anything().filter((v) =>
      typeof v !== "object" || v === null || Array.isArray(v)
    ),
  );
  fc.assert(
    fc.property(options, (options) => {
      const answer = outcome(() => toMermaid(options as never), ["EINVAL"]);
      assert.ok(!answer.ok);
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});

/** Address-like values: well-formed, nearly, or anything. */
const addressLike = fc.oneof(
  fc.record({
    hostname: fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.constantFrom("0.0.0.0", "::", "::ffff:0.0.0.0", "[::1]", "localhost"),
      fc.string(),
      fc.anything(),
    ),
    port: fc.oneof(fc.integer({ min: -1, max: 65536 }), fc.anything()),
  }, { requiredKeys: [] }),
  fc.record({ path: fc.oneof(fc.string(), fc.anything()) }),
  fc.anything(),
);

Deno.test("formatAddr(), isWildcard() and checkAddr() answer any address-like value", () => {
  fc.assert(
    fc.property(addressLike, (addr) => {
      assert.equal(typeof formatAddr(addr as never), "string");
      const wildcard = isWildcard(addr as never);
      assert.equal(typeof wildcard, "boolean");
      const answer = outcome(() => checkAddr(addr, "bind", "addr"), [
        "EINVAL",
      ]);
      if (answer.ok) {
        const checked = answer.value as ReturnType<typeof checkAddr>;
        // The canonical form is a fixed point, and the same kind of address.
        assert.deepEqual(checkAddr(checked.addr, "bind", "addr"), checked);
        assert.equal(isWildcard(checked.addr), wildcard);
        assert.equal(typeof formatAddr(checked.addr), "string");
      }
    }),
    { numRuns: RUNS * 2, ...LIMIT },
  );
});

Deno.test("the option checks answer any name and value with the option, or ENOPROTOOPT or EINVAL", () => {
  const name = mostly(SOCKET_OPTIONS);
  const value = fc.oneof(
    fc.boolean(),
    fc.integer({ min: -1, max: 2 ** 31 }),
    fc.record({ onoff: fc.anything(), linger: fc.anything() }, {
      requiredKeys: [],
    }),
    fc.record({ onoff: fc.boolean(), linger: fc.nat(70000) }),
    fc.anything(),
  );
  fc.assert(
    fc.property(
      name,
      fc.constantFrom("setsockopt", "getsockopt") as fc.Arbitrary<
        "setsockopt" | "getsockopt"
      >,
      value,
      fc.constantFrom(...SETTABLE),
      (name, op, value, settable) => {
        outcome(() => checkOptionName(name, op, "created"), ["ENOPROTOOPT"]);
        outcome(() => checkOptionValue(settable, value, "created"), [
          "EINVAL",
        ]);
      },
    ),
    { numRuns: RUNS * 2, ...LIMIT },
  );
});

Deno.test("describe() gives a short string for any value and never throws", () => {
  fc.assert(
    fc.property(
      fc.anything({ withBigInt: true, withNullPrototype: true }),
      (v) => {
        const text = describe(v);
        assert.equal(typeof text, "string");
        assert.ok(text.length <= 120);
      },
    ),
    { numRuns: RUNS * 2, ...LIMIT },
  );
});

Deno.test("predict() of a prefix of a scenario is the prefix of predict() of the scenario", () => {
  fc.assert(
    fc.property(validOps, validOptions, fc.nat(), (ops, options, cut) => {
      const whole = predict(ops, options);
      const length = ops.length === 0 ? 0 : cut % (ops.length + 1);
      assert.deepEqual(
        predict(ops.slice(0, length), options),
        whole.slice(0, length),
        ops.join(" "),
      );
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});

Deno.test("an op the machine refuses changes nothing: the snapshot stays, and the rest of the scenario answers as without it", () => {
  fc.assert(
    fc.property(validOps, validOptions, (ops, options) => {
      const { domain, type, nonblocking, kernel } = options;
      const graph = modelGraph();
      let node = modelStart(domain, type, kernel);
      ops.forEach((op, i) => {
        const verdict = graph.step(node, eventOf(op, domain, nonblocking));
        const step = predictStep(node, op, nonblocking);
        if (!verdict.allowed) {
          assert.equal(step.node, node, `${ops.join(" ")}: op ${i} moved`);
          assert.equal(step.result, verdict.waits ? undefined : verdict.errno);
          const without = [...ops.slice(0, i), ...ops.slice(i + 1)];
          assert.deepEqual(
            predict(without, options).slice(i),
            predict(ops, options).slice(i + 1),
            `${ops.join(" ")} without op ${i}`,
          );
        }
        node = step.node;
      });
    }),
    { numRuns: RUNS, ...LIMIT },
  );
});
