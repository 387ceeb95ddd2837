// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The checks that `predict()`, `predictConnection()`, `observe()` and
 * `observeConnection()` all make of their arguments, so that a bad argument
 * gets the same `SocketError` (`EINVAL`, with what was wrong and what to
 * give instead) whichever of them is called, and never a raw `TypeError`.
 *
 * @module
 */
import type { Domain } from "./address.ts";
import { SocketError } from "./errors.ts";
import { type KernelName, kernelProfile } from "./kernel.ts";
import { describe } from "./options.ts";
import type { SocketType } from "./socket_machine.ts";

/** What the caller does with a scenario: the verb of its messages. */
export type ScenarioVerb = "predict" | "observe" | "explore" | "draw";

/** A scenario's options once checked, with their defaults filled in. */
export interface CheckedOptions {
  readonly domain: Domain;
  readonly type: SocketType;
  readonly nonblocking: boolean;
  readonly kernel: KernelName;
}

const DOMAINS: readonly unknown[] = ["inet", "inet6", "unix"];
const TYPES: readonly unknown[] = ["stream", "dgram"];

function invalid(message: string): SocketError {
  return new SocketError("EINVAL", "socket", message);
}

/**
 * `ops`, if it is an array of words of `vocabulary`.
 *
 * @throws {SocketError} `EINVAL` naming the first word that is not one, or
 * saying that `ops` is not an array.
 */
export function checkOps<O extends string>(
  verb: ScenarioVerb,
  ops: unknown,
  vocabulary: readonly O[],
): readonly O[] {
  if (!Array.isArray(ops)) {
    throw invalid(
      `Cannot ${verb} ops ${describe(ops)}: give an array of ops, such as ${
        JSON.stringify(vocabulary.slice(0, 2))
      }`,
    );
  }
  for (const op of ops) {
    if (!vocabulary.includes(op)) {
      throw invalid(
        `Cannot ${verb} op ${describe(op)}: use one of ${
          vocabulary.join(", ")
        }`,
      );
    }
  }
  return ops;
}

/**
 * The options of a scenario on one socket (or on the three of a connection,
 * which read `domain` and `kernel` only), checked, with the defaults of
 * `predict()`.
 *
 * @param example Options to show in the message when `options` is not an
 * object.
 * @param defaults Whether a missing domain and type default to `"inet"`
 * and `"stream"`; without, they are required.
 * @throws {SocketError} `EINVAL` for options that are not an object, an
 * unknown domain or type, a `nonblocking` that is not a boolean, or an
 * unknown kernel profile.
 */
export function checkOptions(
  verb: ScenarioVerb,
  options: unknown,
  example = '{ domain: "inet" }',
  defaults = true,
): CheckedOptions {
  if (typeof options !== "object" || options === null) {
    throw invalid(
      `Cannot ${verb} with options ${
        describe(options)
      }: give an object, such as ${example}`,
    );
  }
  const {
    domain = defaults ? "inet" : undefined,
    type = defaults ? "stream" : undefined,
    nonblocking = false,
    kernel,
  } = options as Record<string, unknown>;
  if (!DOMAINS.includes(domain)) {
    throw invalid(
      `Cannot ${verb} a socket of domain ${
        describe(domain)
      }: use "inet", "inet6" or "unix"`,
    );
  }
  if (!TYPES.includes(type)) {
    throw invalid(
      `Cannot ${verb} a socket of type ${
        describe(type)
      }: use "stream" or "dgram"`,
    );
  }
  if (typeof nonblocking !== "boolean") {
    throw invalid(
      `Cannot ${verb} with nonblocking ${
        describe(nonblocking)
      }: use true or false`,
    );
  }
  return {
    domain: domain as Domain,
    type: type as SocketType,
    nonblocking,
    kernel: kernelProfile(kernel).name,
  };
}

/**
 * `depth`, if it is an integer from 1 to `max`: how deep a model checker
 * may explore.
 *
 * @throws {SocketError} `EINVAL` naming the depth and the range.
 */
export function checkDepth(depth: unknown, max: number): number {
  if (
    typeof depth !== "number" || !Number.isInteger(depth) || depth < 1 ||
    depth > max
  ) {
    throw invalid(
      `Cannot explore to depth ${
        describe(depth)
      }: use an integer from 1 to ${max}`,
    );
  }
  return depth;
}

/**
 * `invariants`, if it is an array of `{ name, holds }` with a string name
 * and a function `holds`, or `fallback` when it is `undefined`.
 *
 * @throws {SocketError} `EINVAL` naming the first invariant that is not one.
 */
export function checkInvariants<I>(
  invariants: unknown,
  fallback: readonly I[],
): readonly I[] {
  if (invariants === undefined) return fallback;
  if (!Array.isArray(invariants)) {
    throw invalid(
      `Cannot explore with invariants ${
        describe(invariants)
      }: give an array of { name, holds(step) }`,
    );
  }
  for (const invariant of invariants) {
    if (
      typeof invariant !== "object" || invariant === null ||
      typeof invariant.name !== "string" ||
      typeof invariant.holds !== "function"
    ) {
      throw invalid(
        `Cannot explore with invariant ${
          describe(invariant)
        }: give { name: string, holds(step): boolean }`,
      );
    }
  }
  return invariants;
}
