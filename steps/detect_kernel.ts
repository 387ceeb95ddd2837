// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Which kernel profile the running kernel fits, found with real calls: each
 * behaviour where kernel builds differ has a probe, a short scenario of
 * `predict()`'s ops; the harness runs it on real sockets through libc, and
 * the profiles whose model predicts the same answers remain. Nothing here
 * knows what a profile says: the machine, with each profile's data, does.
 *
 * @module
 */
import { DEFAULT_KERNEL, type KernelName } from "../machine/kernel.ts";
import { matchKernel } from "../machine/kernel_match.ts";
import { runScenario } from "./harness.ts";
import { openLibc } from "./libc.ts";
import { libcUnavailable } from "./os_error.ts";

/**
 * Finds the kernel profile that fits the running kernel: runs the probe of
 * each behaviour where kernel builds differ (a few calls on loopback inet
 * sockets, through libc) and compares the answers with each profile's.
 *
 * @example Detect the running kernel's profile
 * ```ts
 * import { detectKernel, kernelProfiles, predict } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const kernel = await detectKernel();
 * assert.ok(kernelProfiles().some((profile) => profile.name === kernel));
 * // The model then answers as this kernel does.
 * assert.equal(predict(["listen", "accept"], { kernel })[1], "EAGAIN");
 * ```
 *
 * @returns The name of the profile that fits.
 * @throws {SocketError} `EOPNOTSUPP` when a behaviour fits no profile (the
 * message names it, with each profile's answer and the kernel's), or off
 * Linux; `EACCES` without `--allow-ffi`.
 */
export function detectKernel(): Promise<KernelName> {
  return Promise.try(detectKernelNow);
}

/**
 * {@linkcode detectKernel}, synchronously: every probe is a system call that
 * answers at once on loopback.
 */
export function detectKernelNow(): KernelName {
  let libc;
  try {
    libc = openLibc();
  } catch (error) {
    throw libcUnavailable(
      error,
      "Cannot detect the kernel's profile",
      `name a profile instead (default "${DEFAULT_KERNEL}")`,
    );
  }
  using _libc = libc;
  return matchKernel(
    (probe) => runScenario(libc, probe, { domain: "inet" }),
    release(),
  );
}

let detected: { kernel: KernelName | undefined } | undefined;

/**
 * The profile of the running kernel, detected once per process, the first
 * time it is asked for; `undefined` when it cannot be detected then (no
 * `--allow-ffi`, not Linux, or no profile fits). It never asks for a
 * permission, and after the first time it costs nothing.
 */
export function runningKernel(): KernelName | undefined {
  if (detected === undefined) {
    const ffi = Deno.build.os === "linux" &&
      Deno.permissions.querySync({ name: "ffi" }).state === "granted";
    let kernel: KernelName | undefined;
    try {
      kernel = ffi ? detectKernelNow() : undefined;
    } catch {
      kernel = undefined;
    }
    detected = { kernel };
  }
  return detected.kernel;
}

/**
 * Forgets the detected profile, so that the next `runningKernel()`
 * detects again. Internal: for tests that change the permissions.
 */
export function forgetRunningKernel(): void {
  detected = undefined;
}

function release(): string {
  const sys = Deno.permissions.querySync({ name: "sys", kind: "osRelease" });
  return sys.state === "granted" ? `Linux ${Deno.osRelease()}` : "this kernel";
}
