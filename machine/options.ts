// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The socket options sockfsm sets and reads (`setsockopt(2)`,
 * `getsockopt(2)`): their names, the values they take, and the protocol
 * level each lives at. Which option applies to which socket, and when, is
 * the machine's to say; this file only names them and checks values.
 *
 * @module
 */
import type { Errno } from "./errno.ts";
import { SocketError, type SocketOp } from "./errors.ts";
import type { SocketState } from "./socket_machine.ts";

/**
 * `SO_LINGER`: whether `close()` lingers, and for how many seconds. With
 * `onoff` and `linger: 0`, `close()` of a TCP connection resets it (the
 * peer reads `ECONNRESET`) instead of sending FIN.
 */
export interface Linger {
  /** Whether close() lingers (`l_onoff`). */
  readonly onoff: boolean;
  /** How long, in whole seconds (`l_linger`). */
  readonly linger: number;
}

/**
 * Every option sockfsm knows, with the type of its value:
 *
 * - `SO_REUSEADDR`, `SO_REUSEPORT`, `SO_KEEPALIVE`, `SO_BROADCAST`
 *   (`SOL_SOCKET`), `TCP_NODELAY` (`IPPROTO_TCP`), `IPV6_V6ONLY`
 *   (`IPPROTO_IPV6`): on or off;
 * - `SO_RCVBUF`, `SO_SNDBUF`: a size in bytes (Linux doubles what is set,
 *   and `getsockopt` reports the doubled size);
 * - `SO_LINGER`: {@linkcode Linger};
 * - `SO_ERROR` (read only): the pending error, which reading clears, or
 *   `null`;
 * - `SO_TYPE` (read only): the socket type.
 */
export interface SocketOptionValues {
  /** Bind an address that a socket in `TIME_WAIT` still holds. */
  SO_REUSEADDR: boolean;
  /** Let several inet sockets bind the same address and port. */
  SO_REUSEPORT: boolean;
  /** Send TCP keep-alive probes on an idle connection. */
  SO_KEEPALIVE: boolean;
  /** Let a UDP socket send to a broadcast address. */
  SO_BROADCAST: boolean;
  /** Send small segments at once, without waiting for Nagle's algorithm. */
  TCP_NODELAY: boolean;
  /** An inet6 socket speaks IPv6 only (no v4-mapped addresses). */
  IPV6_V6ONLY: boolean;
  /** The receive buffer's size, in bytes (Linux reports double). */
  SO_RCVBUF: number;
  /** The send buffer's size, in bytes (Linux reports double). */
  SO_SNDBUF: number;
  /** Whether and how long `close()` lingers to send what is queued. */
  SO_LINGER: Linger;
  /** The pending error, which reading takes; `null` when there is none. */
  SO_ERROR: Errno | null;
  /** The socket type. */
  SO_TYPE: "stream" | "dgram";
}

/** The name of a socket option, such as `"TCP_NODELAY"`. */
export type SocketOptionName = keyof SocketOptionValues;

/** The options `setsockopt()` takes: all but `SO_ERROR` and `SO_TYPE`. */
export type SettableOptionName = Exclude<
  SocketOptionName,
  "SO_ERROR" | "SO_TYPE"
>;

/**
 * A record of options to set, as `streamConnection()`'s `srvrOptions` and
 * `clntOptions` take it.
 */
export type SocketOptionRecord = {
  readonly [N in SettableOptionName]?: SocketOptionValues[N];
};

/**
 * The protocol level an option lives at: `SOL_SOCKET` (every socket),
 * `IPPROTO_TCP` (TCP only) or `IPPROTO_IPV6` (inet6 only).
 */
export type OptionLevel = "socket" | "tcp" | "ipv6";

/** The level of each option. */
export const OPTION_LEVELS: Readonly<Record<SocketOptionName, OptionLevel>> = {
  SO_REUSEADDR: "socket",
  SO_REUSEPORT: "socket",
  SO_KEEPALIVE: "socket",
  SO_BROADCAST: "socket",
  TCP_NODELAY: "tcp",
  IPV6_V6ONLY: "ipv6",
  SO_RCVBUF: "socket",
  SO_SNDBUF: "socket",
  SO_LINGER: "socket",
  SO_ERROR: "socket",
  SO_TYPE: "socket",
};

/** Every option, in a fixed order. */
export const SOCKET_OPTIONS: readonly SocketOptionName[] = Object.keys(
  OPTION_LEVELS,
) as SocketOptionName[];

const BOOLEAN_OPTIONS: ReadonlySet<SocketOptionName> = new Set([
  "SO_REUSEADDR",
  "SO_REUSEPORT",
  "SO_KEEPALIVE",
  "SO_BROADCAST",
  "TCP_NODELAY",
  "IPV6_V6ONLY",
]);

/** The largest value of a C `int`, the type of a buffer size. */
const INT_MAX = 2 ** 31 - 1;

/**
 * Whether `name` is an option sockfsm knows.
 *
 * @param name Anything.
 * @returns Whether it names an option.
 */
export function isOptionName(name: unknown): name is SocketOptionName {
  return typeof name === "string" && Object.hasOwn(OPTION_LEVELS, name);
}

/**
 * Checks an option name for `op` (`setsockopt`, `getsockopt`): a name
 * sockfsm does not know, or a read-only option given to `setsockopt`, is
 * `ENOPROTOOPT`, as Linux answers an option it does not have.
 *
 * @throws {SocketError} `ENOPROTOOPT` with a message that lists the names.
 */
export function checkOptionName(
  name: unknown,
  op: "setsockopt" | "getsockopt",
  state: SocketState,
): SocketOptionName {
  const settable = op === "setsockopt";
  if (isOptionName(name) && (!settable || isSettable(name))) return name;
  const known = SOCKET_OPTIONS.filter((n) => !settable || isSettable(n));
  const why = isOptionName(name)
    ? `${name} can only be read (getsockopt)`
    : `sockfsm knows no option ${describe(name)}`;
  throw new SocketError(
    "ENOPROTOOPT",
    op,
    `Cannot ${op}(): ENOPROTOOPT, ${why}; use one of ${known.join(", ")}`,
    { state },
  );
}

/** Whether `setsockopt()` takes the option. */
export function isSettable(name: SocketOptionName): name is SettableOptionName {
  return name !== "SO_ERROR" && name !== "SO_TYPE";
}

/**
 * Checks the value given for an option, as its type says.
 *
 * @throws {SocketError} `EINVAL` with a message that says what the option
 * takes.
 */
export function checkOptionValue<N extends SettableOptionName>(
  name: N,
  value: unknown,
  state: SocketState,
  op: SocketOp = "setsockopt",
): SocketOptionValues[N] {
  const invalid = (takes: string) =>
    new SocketError(
      "EINVAL",
      op,
      `Cannot set ${name} to ${describe(value)}: it takes ${takes}`,
      { state },
    );
  if (BOOLEAN_OPTIONS.has(name)) {
    if (typeof value !== "boolean") throw invalid("true or false");
    return value as SocketOptionValues[N];
  }
  if (name === "SO_LINGER") {
    const linger = value as Partial<Linger> | null;
    if (
      typeof linger !== "object" || linger === null ||
      typeof linger.onoff !== "boolean" || !isCount(linger.linger, 65535)
    ) {
      throw invalid(
        "{ onoff: boolean, linger: seconds from 0 to 65535 }",
      );
    }
    return { onoff: linger.onoff, linger: linger.linger } as
      & Linger
      & SocketOptionValues[N];
  }
  if (!isCount(value, INT_MAX)) {
    throw invalid(`a size in bytes, an integer from 0 to ${INT_MAX}`);
  }
  return value as SocketOptionValues[N];
}

/** Whether `value` is an integer from 0 to `max`. */
function isCount(value: unknown, max: number): value is number {
  return Number.isInteger(value) && (value as number) >= 0 &&
    (value as number) <= max;
}

/** The longest text `describe()` gives, in UTF-16 code units. */
const DESCRIBE_MAX = 120;

/**
 * A value as a message shows it, in JSON's notation where JSON has one:
 * `"inet"`, `1n`, `NaN`, `-0`, `Symbol(x)`, `undefined`, `a function`,
 * `{"domain":1n}`, `[1,NaN]`, `a Map`, a cyclic object's repeated part as
 * `[cyclic]`; at most 120 characters (a longer text ends in `…`). Never
 * throws, whatever the value, so that building a message cannot fail.
 *
 * @param value Anything.
 * @returns Its text.
 */
export function describe(value: unknown): string {
  let text: string;
  try {
    text = show(value, new Set(), 0);
  } catch {
    // A getter that throws, a revoked proxy: nothing more can be read.
    text = "an object";
  }
  return text.length > DESCRIBE_MAX
    ? `${text.slice(0, DESCRIBE_MAX - 1)}…`
    : text;
}

/** `describe()` of one value, `depth` levels inside `seen`. */
function show(value: unknown, seen: Set<object>, depth: number): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(
        value.length > DESCRIBE_MAX ? value.slice(0, DESCRIBE_MAX) : value,
      );
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
    case "boolean":
    case "undefined":
      return String(value);
    case "function":
      return "a function";
  }
  if (value === null) return "null";
  const object = value as object;
  if (seen.has(object)) return "[cyclic]";
  if (depth >= 3) return Array.isArray(object) ? "[…]" : "{…}";
  const prototype = Object.getPrototypeOf(object);
  const array = Array.isArray(object);
  if (!array && prototype !== null && prototype !== Object.prototype) {
    const name = prototype.constructor?.name;
    return typeof name === "string" && /^[A-Za-z_$][\w$]*$/.test(name)
      ? `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}`
      : "an object";
  }
  seen.add(object);
  const parts: string[] = [];
  let length = 0;
  const keys = array ? [] : Object.keys(object);
  const count = array ? (object as unknown[]).length : keys.length;
  for (let i = 0; i < count && length <= DESCRIBE_MAX; i++) {
    const item = array
      ? show((object as unknown[])[i], seen, depth + 1)
      : `${JSON.stringify(keys[i])}:${
        show((object as Record<string, unknown>)[keys[i]], seen, depth + 1)
      }`;
    parts.push(item);
    length += item.length + 1;
  }
  if (parts.length < count) parts.push("…");
  seen.delete(object);
  return array ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
}

/**
 * What is wrong with an options object that has a key not among `known`:
 * `unknown option "timeout"; the options are "signal"`, with a hint where
 * the key is a common mistake; `undefined` when every own key is known.
 */
export function unknownOption(
  options: object,
  known: readonly string[],
): string | undefined {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = key === "timeout" && known.includes("signal")
      ? "; to bound it, pass signal: AbortSignal.timeout(ms)"
      : "";
    return `unknown option ${JSON.stringify(key)}; the options are ${
      known.map((name) => JSON.stringify(name)).join(", ")
    }${hint}`;
  }
  return undefined;
}
