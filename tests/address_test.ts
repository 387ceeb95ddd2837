// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import { checkAddr, domainOf, isWildcard, SocketError } from "../mod.ts";

function refusal(addr: unknown): SocketError {
  try {
    checkAddr(addr, "bind", "the address");
  } catch (error) {
    assert.ok(error instanceof SocketError);
    return error;
  }
  assert.fail(`${JSON.stringify(addr)} was accepted`);
}

Deno.test("checkAddr() accepts IP literals and paths and tells their domain", () => {
  assert.deepEqual(checkAddr({ hostname: "127.0.0.1", port: 0 }, "bind", "a"), {
    addr: { hostname: "127.0.0.1", port: 0 },
    domain: "inet",
  });
  assert.deepEqual(checkAddr({ hostname: "::1", port: 65535 }, "bind", "a"), {
    addr: { hostname: "::1", port: 65535 },
    domain: "inet6",
  });
  assert.deepEqual(checkAddr({ path: "/tmp/x.sock" }, "bind", "a"), {
    addr: { path: "/tmp/x.sock" },
    domain: "unix",
  });
});

Deno.test("checkAddr() canonicalises IPv6 literals and drops brackets", () => {
  const { addr } = checkAddr(
    { hostname: "[0:0:0:0:0:0:0:1]", port: 80 },
    "connect",
    "a",
  );
  assert.deepEqual(addr, { hostname: "::1", port: 80 });
});

Deno.test("checkAddr() refuses malformed addresses with EINVAL and says why", () => {
  const cases: [unknown, RegExp][] = [
    [undefined, /expected \{ hostname, port \} or \{ path \}/],
    [{ hostname: "127.0.0.1" }, /expected/],
    [{ hostname: "127.0.0.1", port: -1 }, /from 0 to 65535, got -1/],
    [{ hostname: "127.0.0.1", port: 65536 }, /from 0 to 65535/],
    [{ hostname: "127.0.0.1", port: 1.5 }, /integer/],
    [{ hostname: "127.0.0.1", port: "80" }, /integer/],
    [{ hostname: "localhost", port: 80 }, /not an IP literal/],
    [{ hostname: "256.0.0.1", port: 80 }, /not an IP literal/],
    [{ hostname: "1.2.3", port: 80 }, /not an IP literal/],
    [{ hostname: "fe80::1%eth0", port: 80 }, /not an IP literal/],
    [{ path: "" }, /non-empty/],
    [{ path: "a\0b" }, /abstract/],
    [{ path: "/" + "x".repeat(107) }, /at most 107/],
  ];
  for (const [addr, message] of cases) {
    const error = refusal(addr);
    assert.equal(error.code, "EINVAL", JSON.stringify(addr));
    assert.equal(error.op, "bind");
    assert.match(error.message, message);
  }
});

Deno.test("domainOf() and isWildcard() read an address", () => {
  assert.equal(domainOf({ hostname: "10.0.0.1", port: 1 }), "inet");
  assert.equal(domainOf({ hostname: "fe80::1", port: 1 }), "inet6");
  assert.equal(domainOf({ path: "s" }), "unix");
  assert.equal(isWildcard({ hostname: "0.0.0.0", port: 1 }), true);
  assert.equal(isWildcard({ hostname: "::", port: 1 }), true);
  assert.equal(isWildcard({ hostname: "0:0::0", port: 1 }), true);
  assert.equal(isWildcard({ hostname: "::1", port: 1 }), false);
  assert.equal(isWildcard({ path: "/tmp/s" }), false);
});
