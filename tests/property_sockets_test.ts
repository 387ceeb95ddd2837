// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Random call sequences on real sockets agree with the model: fast-check
 * draws scenarios of up to 5 of `predict()`'s ops, `observe()` runs each on
 * a fresh real socket (through libc, so the kernel answers every call), and
 * `predict()` answers it for the profile `detectKernel()` finds, as
 * `deno task conformance` does. Every socket kind the conformance harness
 * covers runs, blocking and not; on a disagreement fast-check shrinks the
 * scenario, and the failure shows the ops and both answers.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  detectKernel,
  type KernelName,
  observe,
  OPS,
  predict,
} from "../mod.ts";
import { libcHolders } from "../steps/libc_lease.ts";
import { DOMAINS, observed, TYPES } from "./_net.ts";

/** Scenarios per kind and mode: 12 of them make about 100 runs in all. */
const RUNS = 8;

let kernel: KernelName | undefined;

for (const nonblocking of [false, true]) {
  for (const type of TYPES) {
    for (const domain of DOMAINS) {
      const mode = nonblocking ? "non-blocking" : "blocking";
      Deno.test(`observe() agrees with predict() under the detected profile on random scenarios of up to 5 ops (${domain} ${type}, ${mode})`, async () => {
        kernel ??= await detectKernel();
        const options = { domain, type, nonblocking, kernel };
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.constantFrom(...OPS), { minLength: 1, maxLength: 5 }),
            async (ops) => {
              const model = predict(ops, options);
              const real = await observed(
                model,
                () => observe(ops, options),
              );
              assert.deepEqual(
                real,
                model,
                `${domain} ${type} ${mode}, kernel profile "${kernel}": ${
                  ops.join(" ")
                }\n  kernel: ${real.join(" ")}\n  model:  ${model.join(" ")}`,
              );
            },
          ),
          {
            numRuns: RUNS,
            interruptAfterTimeLimit: 60_000,
            markInterruptAsFailure: true,
          },
        );
        // observe() closed everything it opened, libc included.
        assert.equal(libcHolders(), 0);
      });
    }
  }
}
