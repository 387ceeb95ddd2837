// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the posix backend's socket options, straight on the
 * `SysSocket`: `setOption()` and `getOption()` are `setsockopt(2)` and
 * `getsockopt(2)`, so the kernel's values (a doubled buffer size) and
 * errnos (an option of another protocol) show through, and so do the
 * options' effects (a port in TIME_WAIT bound again, a reset on close).
 */
import assert from "node:assert/strict";
import type { SocketAddr } from "../machine/address.ts";
import type { SysSocket, SysSocketKind } from "../machine/effects.ts";
import type {
  SettableOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import { within } from "./_net.ts";
import {
  bytes,
  DOMAINS,
  IP_DOMAINS,
  NEVER,
  PROMPT_MS,
  socketError,
  SysArena,
} from "./_posix.ts";

const TYPES = ["stream", "dgram"] as const satisfies readonly SysSocketKind[
  "type"
][];

/** The options that are on or off. */
type FlagName = {
  [N in SettableOptionName]: SocketOptionValues[N] extends boolean ? N
    : never;
}[SettableOptionName];

/** The on/off options every socket of these kinds takes. */
const FLAGS = [
  "SO_REUSEADDR",
  "SO_KEEPALIVE",
  "SO_BROADCAST",
] as const satisfies readonly FlagName[];

/**
 * What `getsockopt(2)` answers for an option of another level on a UDP or
 * TCP socket: IPv4 says `EOPNOTSUPP` (`ip_getsockopt`), IPv6 `ENOPROTOOPT`,
 * though `setsockopt(2)` says `ENOPROTOOPT` on both.
 */
const GETSOCKOPT_NOT_HERE = {
  inet: "EOPNOTSUPP",
  inet6: "ENOPROTOOPT",
} as const;

/** Sets a flag on, reads it, sets it off, reads it. */
function flipFlag(sock: SysSocket, name: FlagName): void {
  for (const on of [true, false]) {
    sock.setOption(name, on);
    assert.equal(sock.getOption(name), on, name);
  }
}

for (const domain of DOMAINS) {
  for (const type of TYPES) {
    const kind = `${domain} ${type}`;

    Deno.test(`setOption() then getOption() on a posix ${kind} socket round-trips SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST and SO_LINGER`, async () => {
      await using arena = await SysArena.open(domain);
      const sock = arena.socket(type);
      for (const name of FLAGS) flipFlag(sock, name);
      assert.deepEqual(sock.getOption("SO_LINGER"), {
        onoff: false,
        linger: 0,
      });
      sock.setOption("SO_LINGER", { onoff: true, linger: 5 });
      assert.deepEqual(sock.getOption("SO_LINGER"), { onoff: true, linger: 5 });
    });

    Deno.test(`getOption() on a posix ${kind} socket reports SO_RCVBUF and SO_SNDBUF doubled, as Linux keeps them`, async () => {
      await using arena = await SysArena.open(domain);
      const sock = arena.socket(type);
      sock.setOption("SO_RCVBUF", 65536);
      sock.setOption("SO_SNDBUF", 32768);
      assert.equal(sock.getOption("SO_RCVBUF"), 131072);
      assert.equal(sock.getOption("SO_SNDBUF"), 65536);
    });

    Deno.test(`getOption("SO_TYPE") on a posix ${kind} socket is "${type}", and SO_ERROR of a fresh one is null`, async () => {
      await using arena = await SysArena.open(domain);
      const sock = arena.socket(type);
      assert.equal(sock.getOption("SO_TYPE"), type);
      assert.equal(sock.getOption("SO_ERROR"), null);
    });

    Deno.test(`setOption() and getOption() on a closed posix ${kind} socket throw EBADF without a call`, async () => {
      await using arena = await SysArena.open(domain);
      const sock = arena.socket(type);
      sock.close();
      assert.throws(
        () => sock.setOption("SO_KEEPALIVE", true),
        socketError("EBADF", "setsockopt"),
      );
      assert.throws(
        () => sock.getOption("SO_TYPE"),
        socketError("EBADF", "getsockopt"),
      );
    });
  }
}

for (const domain of IP_DOMAINS) {
  for (const type of TYPES) {
    Deno.test(`SO_REUSEPORT round-trips on a posix ${domain} ${type} socket`, async () => {
      await using arena = await SysArena.open(domain);
      flipFlag(arena.socket(type), "SO_REUSEPORT");
    });
  }

  Deno.test(`TCP_NODELAY round-trips on a posix ${domain} stream socket, and a UDP socket refuses it (setsockopt: ENOPROTOOPT)`, async () => {
    await using arena = await SysArena.open(domain);
    assert.equal(arena.socket("stream").getOption("TCP_NODELAY"), false);
    flipFlag(arena.socket("stream"), "TCP_NODELAY");
    const udp = arena.socket("dgram");
    assert.throws(
      () => udp.setOption("TCP_NODELAY", true),
      socketError("ENOPROTOOPT", "setsockopt"),
    );
    assert.throws(
      () => udp.getOption("TCP_NODELAY"),
      socketError(GETSOCKOPT_NOT_HERE[domain], "getsockopt"),
    );
  });
}

Deno.test("SO_REUSEPORT on a posix unix socket is refused with EOPNOTSUPP, as Linux restricts it to inet sockets", async () => {
  await using arena = await SysArena.open("unix");
  const sock = arena.socket("stream");
  assert.throws(
    () => sock.setOption("SO_REUSEPORT", true),
    socketError("EOPNOTSUPP", "setsockopt"),
  );
  assert.equal(sock.getOption("SO_REUSEPORT"), false);
});

Deno.test("TCP_NODELAY on a posix unix socket is refused with EOPNOTSUPP, and the message names the option", async () => {
  await using arena = await SysArena.open("unix");
  const sock = arena.socket("stream");
  assert.throws(() => sock.setOption("TCP_NODELAY", true), (error) => {
    socketError("EOPNOTSUPP", "setsockopt")(error);
    assert.match((error as Error).message, /setsockopt\(TCP_NODELAY\)/);
    return true;
  });
});

for (const type of TYPES) {
  Deno.test(`IPV6_V6ONLY round-trips on a posix inet6 ${type} socket before bind(), and is refused with EINVAL after`, async () => {
    await using arena = await SysArena.open("inet6");
    const sock = arena.socket(type);
    flipFlag(sock, "IPV6_V6ONLY");
    sock.setOption("IPV6_V6ONLY", true);
    await sock.bind(arena.addr(), false);
    assert.throws(
      () => sock.setOption("IPV6_V6ONLY", false),
      socketError("EINVAL", "setsockopt"),
    );
    assert.equal(sock.getOption("IPV6_V6ONLY"), true);
  });

  Deno.test(`IPV6_V6ONLY on a posix inet ${type} socket is refused with ENOPROTOOPT (getsockopt: EOPNOTSUPP)`, async () => {
    await using arena = await SysArena.open("inet");
    const sock = arena.socket(type);
    assert.throws(
      () => sock.setOption("IPV6_V6ONLY", true),
      socketError("ENOPROTOOPT", "setsockopt"),
    );
    assert.throws(
      () => sock.getOption("IPV6_V6ONLY"),
      socketError(GETSOCKOPT_NOT_HERE.inet, "getsockopt"),
    );
  });
}

for (const domain of IP_DOMAINS) {
  Deno.test(`getOption("SO_ERROR") on a posix ${domain} UDP socket reads a refused datagram's ECONNREFUSED once, which clears it`, async () => {
    await using arena = await SysArena.open(domain);
    // A connected UDP socket hears of the ICMP "port unreachable".
    const gone = await arena.bound("dgram");
    const target = gone.local!;
    gone.close();
    const sock = arena.socket("dgram");
    await sock.connect(target, NEVER);
    await sock.write(bytes("anyone there?"));
    // The pending error makes the socket readable (POLLERR).
    await within(PROMPT_MS, sock.ready("read", undefined), "ready()");
    assert.equal(sock.getOption("SO_ERROR"), "ECONNREFUSED");
    assert.equal(sock.getOption("SO_ERROR"), null);
  });
}

// ------------------------------------------------ what the options do

/**
 * Leaves `port` in TIME_WAIT: a connection to a listener on it (with
 * `SO_REUSEADDR`, which the accepted socket inherits) is closed by the
 * server first, then the client, then the listener.
 */
async function timeWait(arena: SysArena): Promise<SocketAddr> {
  const server = arena.socket();
  server.setOption("SO_REUSEADDR", true);
  await server.bind(arena.addr(), false);
  await server.listen(undefined);
  const { client, peer } = await arena.pair(server);
  peer.close();
  assert.equal(
    await within(PROMPT_MS, client.read(new Uint8Array(8)), "read()"),
    null,
  );
  client.close();
  server.close();
  return server.local!;
}

for (const domain of IP_DOMAINS) {
  Deno.test(`SO_REUSEADDR lets a posix ${domain} socket bind a port in TIME_WAIT, which is EADDRINUSE without it`, async () => {
    await using arena = await SysArena.open(domain);
    const port = await timeWait(arena);
    const plain = arena.socket();
    await assert.rejects(plain.bind(port, false), socketError("EADDRINUSE"));
    // Linux wants SO_REUSEADDR on both: the new socket and the one in
    // TIME_WAIT (which has its listener's).
    const reusing = arena.socket();
    reusing.setOption("SO_REUSEADDR", true);
    await reusing.bind(port, false);
    await reusing.listen(undefined);
    assert.deepEqual(reusing.local, port);
  });

  Deno.test(`SO_LINGER { onoff: true, linger: 0 } makes close() of a posix ${domain} connection reset it: the peer's read fails with ECONNRESET`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    const reading = peer.read(new Uint8Array(8));
    client.setOption("SO_LINGER", { onoff: true, linger: 0 });
    client.close();
    await assert.rejects(
      within(PROMPT_MS, reading, "read()"),
      socketError("ECONNRESET", "recv"),
    );
  });

  Deno.test(`a request of two small writes and its response complete over a posix ${domain} connection with TCP_NODELAY on both ends`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    client.setOption("TCP_NODELAY", true);
    peer.setOption("TCP_NODELAY", true);
    for (let round = 0; round < 10; round++) {
      await client.write(bytes("head"));
      await client.write(bytes("body"));
      const request = new Uint8Array(8);
      let got = 0;
      while (got < 8) {
        const n = await within(
          PROMPT_MS,
          peer.read(request.subarray(got)),
          "read()",
        );
        assert.notEqual(n, null);
        got += n!;
      }
      await peer.write(bytes("ok"));
      const response = new Uint8Array(2);
      assert.equal(
        await within(PROMPT_MS, client.read(response), "read()"),
        2,
      );
    }
  });
}
