// Copyright 2026 the sockfsm authors. MIT license.
/**
 * `struct sockaddr_in`, `sockaddr_in6` and `sockaddr_un` as bytes, in the
 * layouts of Linux on x86-64 and arm64 (little-endian hosts): the family in
 * host byte order, ports and IPv4 addresses in network byte order.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";

/** `AF_UNIX` */
export const AF_UNIX = 1;
/** `AF_INET` */
export const AF_INET = 2;
/** `AF_INET6` */
export const AF_INET6 = 10;

/** `sizeof(struct sockaddr_storage)`: room for any address. */
export const SOCKADDR_STORAGE_SIZE = 128;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** `sizeof(struct sockaddr_in)` */
const SOCKADDR_IN_SIZE = 16;
/** `sizeof(struct sockaddr_in6)` */
const SOCKADDR_IN6_SIZE = 28;
/** `offsetof(struct sockaddr_un, sun_path)` */
const SUN_PATH_OFFSET = 2;

/**
 * Encodes an address as the `struct sockaddr` of its family; its length is
 * the `addrlen` to pass with it. A unix path is written with its final NUL
 * (an abstract name, which starts with NUL, without: its length is part of
 * it);
 * a path too long for `sun_path` is written whole, for the kernel to refuse.
 *
 * @param addr An IP literal and port, or a unix path.
 * @returns The bytes, or `undefined` when `hostname` is not an IP literal.
 */
export function encodeSockaddr(
  addr: SocketAddr,
): Uint8Array<ArrayBuffer> | undefined {
  if ("path" in addr) {
    const path = ENCODER.encode(addr.path);
    // An abstract name (a leading NUL) is exactly its bytes: no final NUL.
    const nul = addr.path.startsWith("\0") ? 0 : 1;
    const bytes = new Uint8Array(SUN_PATH_OFFSET + path.length + nul);
    new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
    bytes.set(path, SUN_PATH_OFFSET);
    return bytes;
  }
  const ip = parseIp(addr.hostname);
  if (ip === undefined) return undefined;
  const v4 = ip.length === 4;
  const bytes = new Uint8Array(v4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  // The family in host byte order (little-endian), the port in network's.
  bytes[0] = v4 ? AF_INET : AF_INET6;
  bytes[2] = (addr.port >> 8) & 0xff;
  bytes[3] = addr.port & 0xff;
  // sin6_flowinfo (4..8) and sin6_scope_id (24..28) stay 0.
  bytes.set(ip, v4 ? 4 : 8);
  return bytes;
}

/**
 * The 4 or 16 bytes of an IP literal, or `undefined`; the last few parsed
 * are kept, since a program uses few addresses and encodes them often.
 */
function parseIp(hostname: string): Uint8Array | undefined {
  const known = PARSED.get(hostname);
  if (known !== undefined) return known;
  const ip = parseIpv4(hostname) ?? parseIpv6(hostname);
  if (ip === undefined) return undefined;
  if (PARSED.size >= PARSED_MAX) PARSED.clear();
  PARSED.set(hostname, ip);
  return ip;
}

const PARSED = new Map<string, Uint8Array>();
const PARSED_MAX = 64;

/** A `struct sockaddr` of family `AF_UNSPEC`, as `connect(2)` takes to disconnect. */
export function unspecSockaddr(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(SOCKADDR_IN_SIZE);
}

/**
 * Decodes the `struct sockaddr` that the kernel wrote, such as the one
 * `getsockname(2)` fills.
 *
 * A unix socket without a name (`addrlen` 2) decodes as `{ path: "" }`; an
 * abstract name (a leading NUL) keeps its NUL: `{ path: "\0name" }`.
 *
 * @param bytes The buffer the kernel wrote to.
 * @param length The `addrlen` the kernel reported.
 * @returns The address, or `undefined` for a family other than `AF_INET`,
 * `AF_INET6` and `AF_UNIX`, or a length too short for its family.
 */
export function decodeSockaddr(
  bytes: Uint8Array,
  length: number,
): SocketAddr | undefined {
  if (length < 2 || bytes.length < 2) return undefined;
  const family = bytes[0] | (bytes[1] << 8);
  if (family === AF_UNIX) {
    const end = Math.min(length, bytes.length);
    let sunPath = bytes.subarray(SUN_PATH_OFFSET, end);
    if (sunPath.length > 0 && sunPath[0] !== 0) {
      const nul = sunPath.indexOf(0);
      if (nul >= 0) sunPath = sunPath.subarray(0, nul);
    }
    return { path: DECODER.decode(sunPath) };
  }
  if (family === AF_INET && length >= 8 && bytes.length >= 8) {
    return {
      hostname: `${bytes[4]}.${bytes[5]}.${bytes[6]}.${bytes[7]}`,
      port: (bytes[2] << 8) | bytes[3],
    };
  }
  if (family === AF_INET6 && length >= 24 && bytes.length >= 24) {
    return {
      hostname: formatIpv6(bytes.subarray(8, 24)),
      port: (bytes[2] << 8) | bytes[3],
    };
  }
  return undefined;
}

/** The 4 bytes of a dotted-quad IPv4 literal, or `undefined`. */
function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

/**
 * The 16 bytes of an IPv6 literal (brackets allowed, `::` and a dotted IPv4
 * tail too), or `undefined`.
 */
function parseIpv6(text: string): Uint8Array | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1");
  const halves = bare.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (v4 === undefined) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  all.forEach((group, i) => view.setUint16(2 * i, group, false));
  return bytes;
}

/**
 * Formats 16 bytes as an IPv6 literal the way `checkAddr()` canonicalises
 * one (the URL standard's serializer): lowercase hexadecimal, the first
 * longest run of two or more zero groups compressed to `::`.
 */
function formatIpv6(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(2 * i));
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) [best, bestLength] = [i, end - i];
    i = end === i ? i + 1 : end;
  }
  if (best < 0) return groups.map((group) => group.toString(16)).join(":");
  const hex = (part: number[]) => part.map((group) => group.toString(16));
  return `${hex(groups.slice(0, best)).join(":")}::${
    hex(groups.slice(best + bestLength)).join(":")
  }`;
}
