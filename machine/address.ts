// Copyright 2026 the sockfsm authors. MIT license.
import { SocketError, type SocketOp } from "./errors.ts";
import { describe } from "./options.ts";

/** The address families sockfsm models: IPv4, IPv6 and Unix domain sockets. */
export type Domain = "inet" | "inet6" | "unix";

/** An IPv4 or IPv6 address: an IP literal and a port (0 lets the kernel pick). */
export interface InetAddr {
  /** An IP literal, such as `"127.0.0.1"` or `"::1"`; names are not resolved. */
  hostname: string;
  /** A port from 0 to 65535; 0 means "any free port". */
  port: number;
}

/** A Unix domain socket address: a path in the file system. */
export interface UnixAddr {
  /** The socket file's path; `""` is an unnamed socket. */
  path: string;
}

/** The address of a socket: {@linkcode InetAddr} or {@linkcode UnixAddr}. */
export type SocketAddr = InetAddr | UnixAddr;

/**
 * The address of a socket of domain `D`: {@linkcode UnixAddr} for `"unix"`,
 * {@linkcode InetAddr} for `"inet"` and `"inet6"`, and either for the whole
 * {@linkcode Domain}. A socket's `getsockname()` and `getpeername()` return
 * it, so a socket made with a literal domain needs no cast.
 *
 * @example The address type follows the domain
 * ```ts
 * import { type AddrOf, socket } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using sock = socket({ domain: "inet" });
 * const name: AddrOf<"inet"> = sock.getsockname();
 * assert.equal(name.port, 0); // no cast: an inet socket's name has a port
 * ```
 *
 * @typeParam D The socket's domain.
 */
export type AddrOf<D extends Domain> = D extends "unix" ? UnixAddr : InetAddr;

/**
 * The domains an address of type `A` can belong to: `"unix"` for a
 * {@linkcode UnixAddr}, `"inet"` or `"inet6"` for an {@linkcode InetAddr}.
 * `streamConnection()` types its sockets with it.
 *
 * @example From an address literal to a domain
 * ```ts
 * import type { DomainOfAddr } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const tcp: DomainOfAddr<{ hostname: string; port: number }> = "inet6";
 * const unix: DomainOfAddr<{ path: string }> = "unix";
 * assert.deepEqual([tcp, unix], ["inet6", "unix"]);
 * ```
 *
 * @typeParam A The address type.
 */
export type DomainOfAddr<A extends SocketAddr> = A extends UnixAddr ? "unix"
  : "inet" | "inet6";

/** The longest `sun_path` Linux accepts, in bytes, without the final NUL. */
const UNIX_PATH_MAX = 107;

const IPV4 =
  /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Returns the domain an IP literal belongs to, or `undefined` when the string
 * is not an IP literal. Brackets around an IPv6 literal are allowed.
 */
function hostnameDomain(hostname: string): "inet" | "inet6" | undefined {
  if (IPV4.test(hostname)) return "inet";
  return canonicalIpv6(hostname) === undefined ? undefined : "inet6";
}

function canonicalIpv6(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  if (!bare.includes(":") || !/^[0-9a-fA-F:.]+$/.test(bare)) return undefined;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * Returns the domain of an address: `"unix"` for a path, `"inet"` or
 * `"inet6"` for an IP literal.
 *
 * @example Tell the domain of an address
 * ```ts
 * import { domainOf } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(domainOf({ hostname: "::1", port: 0 }), "inet6");
 * assert.equal(domainOf({ path: "/tmp/s.sock" }), "unix");
 * ```
 *
 * @param addr The address.
 * @returns Its domain.
 * @throws {SocketError} `EINVAL` when the address is not an IP literal with a
 * port nor a path.
 */
export function domainOf(addr: SocketAddr): Domain {
  return checkAddr(addr, "socket", "address").domain;
}

/** The v4-mapped wildcard, `::ffff:0.0.0.0`, as `canonicalIpv6()` writes it. */
const V4_MAPPED_WILDCARD = "::ffff:0:0";

/**
 * Returns whether an address is the wildcard address of its domain (`0.0.0.0`
 * or `::`), which means "every local address". The v4-mapped wildcard
 * (`::ffff:0.0.0.0`, in any spelling) is one too: an inet6 socket bound to
 * it takes every local IPv4 address.
 *
 * @example Spot a wildcard
 * ```ts
 * import { isWildcard } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isWildcard({ hostname: "0.0.0.0", port: 80 }), true);
 * assert.equal(isWildcard({ hostname: "::ffff:0.0.0.0", port: 80 }), true);
 * assert.equal(isWildcard({ hostname: "127.0.0.1", port: 80 }), false);
 * assert.equal(isWildcard(null as never), false); // not an address at all
 * ```
 *
 * @param addr The address.
 * @returns Whether it is `0.0.0.0`, `::` or `::ffff:0.0.0.0`; `false` for
 * anything that is not an IP address (a unix address, or a value that is no
 * address at all). It never throws.
 */
export function isWildcard(addr: SocketAddr): boolean {
  if (typeof addr !== "object" || addr === null || !("hostname" in addr)) {
    return false;
  }
  const { hostname } = addr as { hostname: unknown };
  if (typeof hostname !== "string") return false;
  if (hostname === "0.0.0.0") return true;
  const canonical = canonicalIpv6(hostname);
  return canonical === "::" || canonical === V4_MAPPED_WILDCARD;
}

/**
 * The address Linux connects to when a connect() or sendto() targets a
 * wildcard address: the loopback address of the same kind, `127.0.0.1` for
 * `0.0.0.0`, `::1` for `::`, and `::ffff:127.0.0.1` for the v4-mapped
 * wildcard `::ffff:0.0.0.0` (in canonical form, `::ffff:7f00:1`).
 *
 * @param addr A wildcard address (see {@linkcode isWildcard}).
 * @returns The loopback address with its port.
 */
export function wildcardPeer(addr: InetAddr): InetAddr {
  const canonical = canonicalIpv6(addr.hostname);
  const hostname = canonical === undefined
    ? "127.0.0.1"
    : canonical === V4_MAPPED_WILDCARD
    ? "::ffff:7f00:1"
    : "::1";
  return { hostname, port: addr.port };
}

/** The wildcard address of an IP domain with the given port. */
export function wildcardAddr(domain: "inet" | "inet6", port: number): InetAddr {
  return { hostname: domain === "inet" ? "0.0.0.0" : "::", port };
}

/** The address `getsockname()` reports for a socket that is not bound. */
export function unboundAddr(domain: Domain): SocketAddr {
  return domain === "unix" ? { path: "" } : wildcardAddr(domain, 0);
}

/**
 * Validates an address given to a socket call and returns it in canonical
 * form (IPv6 compressed and without brackets), together with its domain.
 *
 * @example Check and canonicalise an address
 * ```ts
 * import { checkAddr, SocketError } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(checkAddr({ hostname: "[0::1]", port: 80 }, "bind", "addr"), {
 *   addr: { hostname: "::1", port: 80 },
 *   domain: "inet6",
 * });
 * assert.throws(
 *   () => checkAddr({ hostname: "localhost", port: 80 }, "bind", "addr"),
 *   (error: SocketError) => error.code === "EINVAL",
 * );
 * ```
 *
 * @param addr What the caller passed.
 * @param op The call, for the error.
 * @param what How the error names the address (`"srvrAddr"`, `"address"`).
 * @returns The address in canonical form, and its domain.
 * @throws {SocketError} `EINVAL` for anything that is not a well-formed
 * address.
 */
export function checkAddr(
  addr: unknown,
  op: SocketOp,
  what: string,
): { addr: SocketAddr; domain: Domain } {
  const invalid = (why: string) =>
    new SocketError("EINVAL", op, `Cannot use ${what}: ${why}`);
  if (typeof addr !== "object" || addr === null) {
    throw invalid(
      `expected { hostname, port } or { path }, got ${describe(addr)}`,
    );
  }
  if ("path" in addr) {
    const { path } = addr;
    if (typeof path !== "string" || path === "") {
      throw invalid(
        `"path" must be a non-empty string, got ${describe(path)}`,
      );
    }
    if (path.includes("\0")) {
      throw invalid(
        "abstract and NUL-containing unix names are not supported; use a file path",
      );
    }
    const bytes = new TextEncoder().encode(path).length;
    if (bytes > UNIX_PATH_MAX) {
      throw invalid(
        `the path is ${bytes} bytes and Linux allows at most ${UNIX_PATH_MAX}; use a shorter path (for example in Deno.makeTempDir())`,
      );
    }
    return { addr: { path }, domain: "unix" };
  }
  if (!("hostname" in addr) || !("port" in addr)) {
    throw invalid(`expected { hostname, port } or { path }`);
  }
  const { hostname, port } = addr;
  if (typeof hostname !== "string") {
    throw invalid(`"hostname" must be a string, got ${describe(hostname)}`);
  }
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw invalid(
      `"port" must be an integer from 0 to 65535, got ${describe(port)}`,
    );
  }
  if (port < 0 || port > 65535) {
    throw invalid(`"port" must be from 0 to 65535, got ${port}`);
  }
  const domain = hostnameDomain(hostname);
  if (domain === undefined) {
    throw invalid(
      `${
        describe(hostname)
      } is not an IP literal; use one such as "127.0.0.1" or "::1" (names are not resolved)`,
    );
  }
  const canonical = domain === "inet" ? hostname : canonicalIpv6(hostname)!;
  return { addr: { hostname: canonical, port }, domain };
}

/**
 * Formats an address for messages and logs: `127.0.0.1:80`, `[::1]:80`, a
 * path, or `(unnamed)`. It never throws, so that a message naming an
 * address can always be built: a value that is not an address is shown as
 * a message shows any value (`null`, `{"hostname":1}`).
 *
 * @example Format addresses
 * ```ts
 * import { formatAddr } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatAddr({ hostname: "::1", port: 80 }), "[::1]:80");
 * assert.equal(formatAddr({ path: "" }), "(unnamed)");
 * assert.equal(formatAddr(null as never), "null");
 * ```
 *
 * @param addr The address.
 * @returns Its text.
 */
export function formatAddr(addr: SocketAddr): string {
  if (typeof addr === "object" && addr !== null) {
    const { path, hostname, port } = addr as {
      path?: unknown;
      hostname?: unknown;
      port?: unknown;
    };
    if (typeof path === "string") return path === "" ? "(unnamed)" : path;
    if (typeof hostname === "string" && typeof port === "number") {
      return hostname.includes(":")
        ? `[${hostname}]:${port}`
        : `${hostname}:${port}`;
    }
  }
  return describe(addr);
}

/** "an inet", "an inet6", "a unix": the domain with its article. */
export function article(domain: Domain): string {
  return `${domain === "unix" ? "a" : "an"} ${domain}`;
}
