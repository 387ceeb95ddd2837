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
import type { SocketType } from "./socket_machine.ts";

/** What the caller does with a scenario: the verb of its messages. */
export type ScenarioVerb = "predict" | "observe";

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
 * @throws {SocketError} `EINVAL` for options that are not an object, an
 * unknown domain or type, a `nonblocking` that is not a boolean, or an
 * unknown kernel profile.
 */
export function checkOptions(
  verb: ScenarioVerb,
  options: unknown,
): CheckedOptions {
  if (typeof options !== "object" || options === null) {
    throw invalid(
      `Cannot ${verb} with options ${
        describe(options)
      }: give an object, such as { domain: "inet" }`,
    );
  }
  const {
    domain = "inet",
    type = "stream",
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

/** A value as a message quotes it. */
function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
