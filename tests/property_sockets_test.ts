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
  type Domain,
  type KernelName,
  observe,
  OPS,
  predict,
  type Result,
  type SocketType,
} from "../mod.ts";
import { libcHolders } from "../steps/libc_lease.ts";

const DOMAINS: readonly Domain[] = ["inet", "inet6", "unix"];
const TYPES: readonly SocketType[] = ["stream", "dgram"];
/** Scenarios per kind and mode: 12 of them make about 100 runs in all. */
const RUNS = 8;

let kernel: KernelName | undefined;

/**
 * The kernel's answers, run again (twice at most) while they differ from
 * the model's, as the conformance tool does: errno is read by a second FFI
 * call, which the runtime's own system calls can very rarely come between.
 */
async function kernelAnswers(
  model: readonly Result[],
  run: () => Promise<Result[]>,
): Promise<Result[]> {
  let answers = await run();
  for (let again = 0; again < 2 && answers.join() !== model.join(); again++) {
    answers = await run();
  }
  return answers;
}

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
              const real = await kernelAnswers(
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
