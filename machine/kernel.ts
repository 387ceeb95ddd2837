// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Kernel profiles: what the socket machine knows of each kernel build it has
 * been checked against. Builds differ in a few behaviours; a profile is the
 * data that says, for each of them, what one build does. The machine reads
 * it from its input (`SocketInput.kernel`), so there is one machine and one
 * set of rules for every kernel: a rule that depends on the kernel consults
 * the profile with the `kernel` guard.
 *
 * Profiles are named after their behaviour, not after a release: a user's
 * release string (`6.8.0-45-generic`) says nothing of which behaviour its
 * build has, and `detectKernel()` finds out with a few real calls. Each
 * profile lists the releases it was measured on.
 *
 * @module
 */
import { SocketError } from "./errors.ts";
import { describe } from "./options.ts";
import type { Op } from "./predict.ts";

/**
 * A behaviour in which kernel builds differ. Each is a statement that a
 * build either makes true or not:
 *
 * - `"failedConnectForbidsListen"`: `listen()` is `EINVAL` on a TCP socket
 *   whose `connect()` ever failed (refused, or a connection that died before
 *   the socket layer was told), even after it was reset to unconnected;
 * - `"stoppedListenForbidsConnect"`: `connect()` is `EINVAL` on a TCP socket
 *   whose listening `shutdown(SHUT_RD)` or `shutdown(SHUT_RDWR)` stopped,
 *   until it listens again.
 */
export type KernelBehaviourName =
  | "failedConnectForbidsListen"
  | "stoppedListenForbidsConnect";

/**
 * What a kernel does in each behaviour where builds differ: `true` (it does
 * so), `false` (it does not), or `undefined` (not known: the runtime lets the
 * kernel answer).
 */
export type KernelBehaviour = {
  readonly [name in KernelBehaviourName]: boolean | undefined;
};

/** The name of a kernel profile. */
export type KernelName = "classic" | "sticky";

/** One kernel profile: a behaviour of each kind, and where it was measured. */
export interface KernelProfile {
  /** The profile's name, for `predict(ops, { kernel })` and the others. */
  readonly name: KernelName;
  /** What distinguishes it from the other profiles, in one line. */
  readonly description: string;
  /** The kernel releases (`uname -r`) it was measured on. */
  readonly releases: readonly string[];
  /** What the kernel does in each behaviour where builds differ. */
  readonly behaviour: { readonly [name in KernelBehaviourName]: boolean };
}

/** A behaviour where builds differ, in words, and the scenario that shows it. */
export interface KernelDifference {
  /** The behaviour. */
  readonly name: KernelBehaviourName;
  /** The behaviour, as a statement a kernel makes true or not. */
  readonly statement: string;
  /**
   * A scenario of `predict()`'s ops on a fresh inet stream socket whose last
   * answer differs between a kernel that makes the statement true and one
   * that does not; `detectKernel()` runs it.
   */
  readonly probe: readonly Op[];
}

/** Every behaviour where kernel builds differ, in a fixed order. */
export const KERNEL_DIFFERENCES: readonly KernelDifference[] = [
  {
    name: "failedConnectForbidsListen",
    statement: "listen() is EINVAL after a refused TCP connect()",
    probe: ["connect_refused", "listen"],
  },
  {
    name: "stoppedListenForbidsConnect",
    statement:
      "connect() is EINVAL after listen() then shutdown(SHUT_RD), until the socket listens again",
    probe: ["listen", "shut_rd", "connect_refused"],
  },
];

const PROFILES: readonly KernelProfile[] = [
  {
    name: "classic",
    description:
      "A TCP socket whose connect() failed can listen(), and one whose listening shutdown(SHUT_RD) stopped can connect(), as the OKTET socket API suite expects of Linux",
    releases: ["6.18.44-fc-v657"],
    behaviour: {
      failedConnectForbidsListen: false,
      stoppedListenForbidsConnect: false,
    },
  },
  {
    name: "sticky",
    description:
      "A failed connect() sticks to a TCP socket (listen() is EINVAL from then on), and so does a listen() that shutdown(SHUT_RD) stopped (connect() is EINVAL until it listens again)",
    releases: ["6.18.44-fc-v1045"],
    behaviour: {
      failedConnectForbidsListen: true,
      stoppedListenForbidsConnect: true,
    },
  },
];

/**
 * The profile that `predict()`, `explore()`, `exploreConnection()`,
 * `predictConnection()` and `toMermaid()` answer for when none is named,
 * and that the Deno backend follows when it cannot detect the kernel:
 * `"classic"`, the behaviour the OKTET socket API suite (sapi-ts) records as
 * Linux's.
 */
export const DEFAULT_KERNEL: KernelName = "classic";

/**
 * Lists the kernel profiles the model has been checked against.
 *
 * @example List the profiles and what tells them apart
 * ```ts
 * import { kernelProfiles } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const profiles = kernelProfiles();
 * assert.deepEqual(profiles.map((p) => p.name), ["classic", "sticky"]);
 * assert.ok(profiles.every((p) => p.releases.length > 0));
 * ```
 *
 * @returns Every profile, the default (`"classic"`) first.
 */
export function kernelProfiles(): readonly KernelProfile[] {
  return PROFILES;
}

/**
 * The profile named `name`.
 *
 * @param name A profile's name; `undefined` is {@linkcode DEFAULT_KERNEL}.
 * @throws {SocketError} `EINVAL` for a name that no profile has.
 */
export function kernelProfile(name: unknown = DEFAULT_KERNEL): KernelProfile {
  const found = PROFILES.find((profile) => profile.name === name);
  if (found !== undefined) return found;
  throw new SocketError(
    "EINVAL",
    "socket",
    `Cannot use kernel profile ${describe(name)}: use one of ${
      PROFILES.map((profile) => JSON.stringify(profile.name)).join(", ")
    } (see kernelProfiles())`,
  );
}

/**
 * What every profile does alike, and `undefined` where they differ: the
 * behaviour of a kernel the runtime has not identified, so that it refuses a
 * call before any system call only when every profile refuses it.
 */
export const ANY_KERNEL: KernelBehaviour = Object.fromEntries(
  KERNEL_DIFFERENCES.map(({ name }) => {
    const values = new Set(PROFILES.map((profile) => profile.behaviour[name]));
    return [name, values.size === 1 ? [...values][0] : undefined];
  }),
) as KernelBehaviour;
