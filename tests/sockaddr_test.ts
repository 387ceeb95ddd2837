// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the `struct sockaddr` codec of the posix backend: the Linux
 * layouts byte for byte, and addresses that come back in the canonical form
 * `checkAddr()` gives, so that what the kernel reports compares equal to
 * what the caller passed.
 */
import assert from "node:assert/strict";
import { checkAddr } from "../mod.ts";
import {
  AF_INET6,
  decodeSockaddr,
  encodeSockaddr,
  SOCKADDR_STORAGE_SIZE,
} from "../steps/sockaddr.ts";

Deno.test("encodeSockaddr() lays out sockaddr_in with the port and address in network byte order", () => {
  assert.deepEqual(
    encodeSockaddr({ hostname: "127.0.0.1", port: 8080 }),
    new Uint8Array([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
  );
});

Deno.test("encodeSockaddr() lays out sockaddr_in6 in 28 bytes: family, port, flowinfo, 16 address bytes, scope id", () => {
  const bytes = encodeSockaddr({ hostname: "fe80::1:2", port: 443 })!;
  assert.equal(bytes.length, 28);
  assert.deepEqual([...bytes.subarray(0, 8)], [10, 0, 1, 0xbb, 0, 0, 0, 0]);
  assert.deepEqual(
    [...bytes.subarray(8, 24)],
    [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2],
  );
  assert.deepEqual([...bytes.subarray(24)], [0, 0, 0, 0]);
});

Deno.test("encodeSockaddr() lays out sockaddr_un as AF_UNIX and the path with its NUL", () => {
  assert.deepEqual(
    encodeSockaddr({ path: "/tmp/a" }),
    new Uint8Array([1, 0, 47, 116, 109, 112, 47, 97, 0]),
  );
});

Deno.test("encodeSockaddr() gives undefined for a hostname that is not an IP literal", () => {
  for (
    const hostname of ["localhost", "1.2.3", "256.1.1.1", "1::2::3", "::g"]
  ) {
    assert.equal(encodeSockaddr({ hostname, port: 1 }), undefined, hostname);
  }
});

Deno.test("decodeSockaddr() gives back every address encodeSockaddr() wrote, in checkAddr()'s canonical form", () => {
  const addresses = [
    { hostname: "127.0.0.1", port: 80 },
    { hostname: "0.0.0.0", port: 0 },
    { hostname: "255.255.255.255", port: 65535 },
    { hostname: "::", port: 0 },
    { hostname: "::1", port: 1 },
    { hostname: "[::1]", port: 2 },
    { hostname: "2001:db8::", port: 3 },
    { hostname: "2001:DB8:0:0:1:0:0:1", port: 4 },
    { hostname: "1:0:0:1:0:0:0:1", port: 5 },
    { hostname: "0:0:1:0:0:1:0:0", port: 6 },
    { hostname: "1:2:3:4:5:6:7:8", port: 7 },
    { hostname: "1:0:2:3:4:5:6:7", port: 8 },
    { hostname: "::ffff:127.0.0.1", port: 9 },
    { path: "/tmp/sockfsm.sock" },
  ];
  for (const addr of addresses) {
    const bytes = encodeSockaddr(addr)!;
    const room = new Uint8Array(SOCKADDR_STORAGE_SIZE);
    room.set(bytes);
    assert.deepEqual(
      decodeSockaddr(room, bytes.length),
      checkAddr(addr, "bind", "addr").addr,
      JSON.stringify(addr),
    );
  }
});

Deno.test("decodeSockaddr() reads an unnamed unix socket as an empty path and an abstract name with its leading NUL", () => {
  assert.deepEqual(decodeSockaddr(new Uint8Array([1, 0]), 2), { path: "" });
  const abstract = new Uint8Array([1, 0, 0, 110, 97, 109, 101]);
  assert.deepEqual(decodeSockaddr(abstract, abstract.length), {
    path: "\0name",
  });
  // A path the kernel reports with its NUL (and garbage after it).
  const padded = new Uint8Array([1, 0, 47, 120, 0, 7, 7]);
  assert.deepEqual(decodeSockaddr(padded, padded.length), { path: "/x" });
});

Deno.test("decodeSockaddr() gives undefined for an unknown family or a length too short for its family", () => {
  assert.equal(decodeSockaddr(new Uint8Array(16), 16), undefined);
  assert.equal(decodeSockaddr(new Uint8Array([2, 0, 0, 80]), 4), undefined);
  const inet6 = new Uint8Array(28);
  inet6[0] = AF_INET6;
  assert.equal(decodeSockaddr(inet6, 20), undefined);
  assert.equal(decodeSockaddr(new Uint8Array(1), 1), undefined);
});
