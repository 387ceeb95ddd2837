// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Two "hosts" for tests of sockets across a link: two network namespaces of
 * the test's own, joined by a veth pair (`link0` in each), with an IPv4
 * address on a private /30 and an IPv6 ULA on a /64 (`nodad`, so that it is
 * usable at once), `lo` up, and nothing else: no other interface and no
 * route out. What one host sends reaches only the other.
 *
 * And what tells where a socket really is: the routes and links of a
 * namespace (`ip -j`), which namespace a process runs in, and the kernel's
 * socket tables of a namespace (`/proc/<pid>/net/tcp`…), read from
 * outside it.
 *
 * Needs what `_netns.ts` needs (root, iproute2, `--allow-run=ip`), the
 * `veth` driver, and `cat`.
 */
import type { InetAddr } from "../mod.ts";
import { decodeSockaddr } from "../steps/sockaddr.ts";
import { ip, ipOrThrow, netnsUnavailable } from "./_netns.ts";

/** The name of the link's interface in each namespace. */
export const LINK_DEVICE = "link0";

/** One end of the link: a namespace and its addresses on the link. */
export interface Host {
  /** The namespace's name, as `ip netns` knows it. */
  readonly netns: string;
  /** Its address on the link, by domain. */
  readonly addr: Readonly<Record<"inet" | "inet6", string>>;
}

/** Two namespaces joined by a link; `remove()` (or `await using`) ends them. */
export interface Hosts extends AsyncDisposable {
  /** The first namespace (for the server). */
  readonly h1: Host;
  /** The second namespace (for the client). */
  readonly h2: Host;
  /** The link's subnets, as `ip route` names them. */
  readonly subnet: Readonly<Record<"inet" | "inet6", string>>;
  /** Deletes both namespaces (and so the link); idempotent. */
  remove(): Promise<void>;
}

/**
 * Why two hosts cannot be made here (no namespaces, or no `veth` driver), or
 * `undefined` when they can: found by making them and deleting them.
 */
export async function hostsUnavailable(): Promise<string | undefined> {
  const why = await netnsUnavailable();
  if (why !== undefined) return why;
  const name = `sockfsm-probe-${Deno.pid}-${randomHex(4)}`;
  await ipOrThrow(["netns", "add", name]);
  try {
    const veth = await ip([
      "-n",
      name,
      ..."link add probe0 type veth peer name probe1".split(" "),
    ]);
    if (veth.code !== 0) {
      return `a veth pair cannot be made: ${veth.stderr.trim()}`;
    }
    return undefined;
  } finally {
    await ip(["netns", "delete", name]);
  }
}

/**
 * Makes two namespaces, `sockfsm-h1-<pid>-<random>` and `sockfsm-h2-…`,
 * joined by a veth pair: `h1` at `10.254.X.1/30` and `fd00:5f:X::1/64`,
 * `h2` at `.2` and `::2`, for a random X. If a step fails, what was made is
 * deleted before the error is thrown.
 */
export async function twoHosts(): Promise<Hosts> {
  const x = 1 + crypto.getRandomValues(new Uint8Array(1))[0] % 254;
  const tag = `${Deno.pid}-${randomHex(4)}`;
  const host = (n: number): Host => ({
    netns: `sockfsm-h${n}-${tag}`,
    addr: {
      inet: `10.254.${x}.${n}`,
      inet6: `fd00:5f:${x.toString(16)}::${n}`,
    },
  });
  const h1 = host(1);
  const h2 = host(2);
  const made: string[] = [];
  const remove = async () => {
    const failures: string[] = [];
    for (const name of made.splice(0)) {
      const out = await ip(["netns", "delete", name]);
      if (out.code !== 0) failures.push(`${name}: ${out.stderr.trim()}`);
    }
    if (failures.length > 0) {
      throw new Error(`Cannot delete namespaces: ${failures.join("; ")}`);
    }
  };
  try {
    for (const { netns } of [h1, h2]) {
      await ipOrThrow(["netns", "add", netns]);
      made.push(netns);
      await ipOrThrow(["-n", netns, "link", "set", "lo", "up"]);
    }
    // Made in h1 with its peer put in h2 at once: the test's own namespace
    // never holds either end.
    await ipOrThrow([
      "-n",
      h1.netns,
      ...`link add ${LINK_DEVICE} type veth peer name ${LINK_DEVICE}`.split(
        " ",
      ),
      "netns",
      h2.netns,
    ]);
    for (const { netns, addr } of [h1, h2]) {
      const dev = ["dev", LINK_DEVICE];
      await ipOrThrow(["-n", netns, "addr", "add", `${addr.inet}/30`, ...dev]);
      await ipOrThrow([
        ...["-n", netns, "-6", "addr", "add", `${addr.inet6}/64`],
        ...dev,
        "nodad",
      ]);
      await ipOrThrow(["-n", netns, "link", "set", LINK_DEVICE, "up"]);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    h1,
    h2,
    subnet: {
      inet: `10.254.${x}.0/30`,
      inet6: `fd00:5f:${x.toString(16)}::/64`,
    },
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

/** A route of `ip -j route`, with what the tests read of it. */
export interface Route {
  readonly dst: string;
  readonly dev?: string;
  readonly gateway?: string;
}

/** The routes of namespace `netns` for `family` (its main table). */
export async function routes(
  netns: string,
  family: "inet" | "inet6",
): Promise<Route[]> {
  return await ipJson([
    "-n",
    netns,
    family === "inet" ? "-4" : "-6",
    "route",
    "show",
  ]) as Route[];
}

/** The names of the interfaces of namespace `netns`, sorted. */
export async function links(netns: string): Promise<string[]> {
  const all = await ipJson(["-n", netns, "link", "show"]) as {
    ifname: string;
  }[];
  return all.map(({ ifname }) => ifname).sort();
}

/** The names of the namespaces `ip netns` knows. */
export async function netnsNames(): Promise<string[]> {
  const all = await ipJson(["netns", "list"]) as { name: string }[];
  return all.map(({ name }) => name);
}

/**
 * Whether process `pid` runs in namespace `netns`, as `ip netns identify`
 * tells (it compares the process's `/proc/<pid>/ns/net` with the files of
 * `/run/netns/`).
 */
export async function runsIn(pid: number, netns: string): Promise<boolean> {
  const out = await ip(["netns", "identify", String(pid)]);
  if (out.code !== 0) {
    throw new Error(`ip netns identify ${pid} failed: ${out.stderr}`);
  }
  return out.stdout.split(/\s+/).includes(netns);
}

/** The kernel's socket tables, as `/proc/<pid>/net/` names them. */
export type SocketTable = "tcp" | "tcp6" | "udp" | "udp6";

/** An entry of a socket table: its addresses, and its state. */
export interface TableEntry {
  readonly local: InetAddr;
  readonly remote: InetAddr;
  /** The kernel's state number: 1 is `TCP_ESTABLISHED` (a connected UDP too). */
  readonly state: number;
}

/** `TCP_ESTABLISHED`, as the tables give it (also a connected UDP socket). */
export const ESTABLISHED = 1;

/**
 * The sockets in `table` of the network namespace of process `pid`:
 * `/proc/<pid>/net/<table>`, which lists that namespace's sockets,
 * whichever process owns them. Deno refuses to read `/proc` without
 * `--allow-all`, so `cat` reads it, run by `ip netns exec` in `netns` (one
 * of the namespaces the test made; `/proc` there is still this machine's,
 * so any process's table can be read from it). With no `pid`, the table of
 * `netns` itself.
 */
export async function socketTable(
  netns: string,
  table: SocketTable,
  pid?: number,
): Promise<TableEntry[]> {
  const path = `/proc/${pid ?? "self"}/net/${table}`;
  const out = await ip(["netns", "exec", netns, "cat", path]);
  if (out.code !== 0) throw new Error(`cat ${path} failed: ${out.stderr}`);
  const inet6 = table.endsWith("6");
  return out.stdout.trim().split("\n").slice(1).map((line) => {
    const [, local, remote, state] = line.trim().split(/\s+/);
    return {
      local: tableAddr(local, inet6),
      remote: tableAddr(remote, inet6),
      state: parseInt(state, 16),
    };
  });
}

/**
 * An address of a socket table, `0100007F:1F90`: the address as the 32-bit
 * words of memory, each printed as a number (so, on a little-endian
 * machine, its bytes reversed), and the port in hexadecimal. Decoded as
 * the sockets decode theirs, so that the two compare equal.
 */
function tableAddr(text: string, inet6: boolean): InetAddr {
  const [hex, portHex] = text.split(":");
  const size = inet6 ? 28 : 16;
  const sockaddr = new Uint8Array(size);
  const view = new DataView(sockaddr.buffer);
  view.setUint16(0, inet6 ? 10 : 2, true); // AF_INET6 or AF_INET, host order
  view.setUint16(2, parseInt(portHex, 16), false);
  const at = inet6 ? 8 : 4;
  for (let word = 0; word * 8 < hex.length; word++) {
    const value = parseInt(hex.slice(word * 8, word * 8 + 8), 16);
    view.setUint32(at + word * 4, value, LITTLE_ENDIAN);
  }
  return decodeSockaddr(sockaddr, size) as InetAddr;
}

/** Whether this machine stores numbers little end first. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

async function ipJson(args: readonly string[]): Promise<unknown> {
  const out = await ip(["-j", ...args]);
  if (out.code !== 0) {
    throw new Error(
      `ip -j ${args.join(" ")} failed (${out.code}): ${out.stderr}`,
    );
  }
  // With nothing to list, some commands print nothing rather than "[]".
  const text = out.stdout.trim();
  return text === "" ? [] : JSON.parse(text);
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}
