// Copyright 2026 the sockfsm authors. MIT license.
import { SocketError } from "./errors.ts";
import {
  KERNEL_DIFFERENCES,
  type KernelName,
  type KernelProfile,
  kernelProfiles,
} from "./kernel.ts";
import { type Op, predict, type Result } from "./predict.ts";

/**
 * The kernel profile whose model answers every probe of
 * {@linkcode KERNEL_DIFFERENCES} as a kernel did. Pure: `answers` runs a
 * probe (on a fresh inet stream socket) and says what the kernel answered;
 * `detectKernel()` gives it the harness, tests give it a kernel of their own.
 *
 * @param answers What the kernel answers each probe.
 * @param kernel The kernel's name, for the error (`Linux 6.18.44`).
 * @returns The name of the first profile that fits every probe.
 * @throws {SocketError} `EOPNOTSUPP` naming the first behaviour that leaves
 * no profile fitting, with what the kernel and each profile answered.
 */
export function matchKernel(
  answers: (probe: readonly Op[]) => readonly Result[],
  kernel = "this kernel",
): KernelName {
  let fitting: readonly KernelProfile[] = kernelProfiles();
  for (const { name, statement, probe } of KERNEL_DIFFERENCES) {
    const answer = answers(probe).join(" ");
    const expected = fitting.map((profile) => ({
      profile,
      answer: predict(probe, { kernel: profile.name }).join(" "),
    }));
    const left = expected.filter((e) => e.answer === answer);
    if (left.length === 0) {
      throw new SocketError(
        "EOPNOTSUPP",
        "socket",
        `Cannot detect the kernel's profile: on ${kernel}, the behaviour "${name}" (${statement}) fits no profile: "${
          probe.join(" ")
        }" answered ${answer}, where ${
          expected.map((e) => `"${e.profile.name}" answers ${e.answer}`)
            .join(" and ")
        }; name a profile, or report the kernel so that the model learns it`,
      );
    }
    fitting = left.map((e) => e.profile);
  }
  return fitting[0].name;
}
