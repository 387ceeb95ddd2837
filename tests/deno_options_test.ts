// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the deno backend's socket options, straight on the system side
 * (`denoSocket()`): what Deno and Node set natively, what goes through libc
 * on the descriptor found by its addresses (`--allow-ffi`), options set
 * before the socket's object exists, and the kernel's errnos. Each value is
 * checked against the kernel's own `getsockopt(2)`, so the tests need
 * `--allow-ffi` (without it they are ignored; `deno_without_ffi_test.ts`
 * covers that case).
 */
import assert from "node:assert/strict";
import type { Domain, InetAddr, SocketAddr } from "../machine/address.ts";
import type { SysSocket } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import type { SettableOptionName } from "../machine/options.ts";
import { denoSocket } from "../steps/deno_backend.ts";
import { findSocketFd } from "../steps/deno_fd.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  openLibc,
  SO_BROADCAST,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  sysClose,
  sysGetsockopt,
  sysGetsockoptInt,
  sysSetsockoptInt,
  sysSocket,
  TCP_NODELAY,
} from "../steps/libc.ts";
import { LOOPBACK, tempDir, within } from "./_net.ts";

const BOOLEANS: Readonly<Record<string, [number, number]>> = {
  SO_REUSEADDR: [SOL_SOCKET, SO_REUSEADDR],
  SO_REUSEPORT: [SOL_SOCKET, SO_REUSEPORT],
  SO_KEEPALIVE: [SOL_SOCKET, SO_KEEPALIVE],
  SO_BROADCAST: [SOL_SOCKET, SO_BROADCAST],
  TCP_NODELAY: [IPPROTO_TCP, TCP_NODELAY],
  IPV6_V6ONLY: [IPPROTO_IPV6, IPV6_V6ONLY],
};
const SIZES: Readonly<Record<string, number>> = {
  SO_RCVBUF,
  SO_SNDBUF,
};

const withFfi = Deno.permissions.querySync({ name: "ffi" }).state ===
  "granted";

/** A test that asks the kernel through libc: ignored without FFI. */
function kernelTest(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, ignore: !withFfi, fn });
}

/** Sockets that a test owns: all closed on dispose. */
class Sockets implements Disposable {
  readonly #all: SysSocket[] = [];

  make(domain: Domain, type: "stream" | "dgram" = "stream"): SysSocket {
    return this.add(denoSocket({ domain, type, nonblocking: false }));
  }

  add(sock: SysSocket): SysSocket {
    this.#all.push(sock);
    return sock;
  }

  [Symbol.dispose](): void {
    for (const sock of this.#all) sock.close();
  }
}

/** What the kernel says of `name` on the socket with these addresses. */
function kernel(
  type: "stream" | "dgram",
  local: SocketAddr,
  remote: SocketAddr | undefined,
  name: string,
): unknown {
  using libc = openLibc();
  const fd = findSocketFd(libc, { type, local, remote });
  assert.equal(typeof fd, "number", `no single descriptor for ${name}`);
  if (name === "SO_LINGER") {
    const bytes = new Uint8Array(8);
    assert.ok(
      sysGetsockopt(libc, fd as number, SOL_SOCKET, SO_LINGER, bytes).ok,
    );
    const [onoff, linger] = new Int32Array(bytes.buffer);
    return { onoff: onoff !== 0, linger };
  }
  const [level, opt] = BOOLEANS[name] ?? [SOL_SOCKET, SIZES[name]];
  const got = sysGetsockoptInt(libc, fd as number, level, opt);
  assert.ok(got.ok, `getsockopt(${name}) failed`);
  return name in SIZES ? got.value : got.value !== 0;
}

/** What the kernel says of `name` on `sock` (by its local and peer names). */
function kernelOf(sock: SysSocket, type: "stream" | "dgram", name: string) {
  return kernel(type, sock.local!, sock.remote, name);
}

/** A TCP listener, a client connected to it, and the accepted socket. */
async function tcpTrio(
  sockets: Sockets,
  domain: "inet" | "inet6",
  prepare?: (listener: SysSocket) => void,
): Promise<[SysSocket, SysSocket, SysSocket]> {
  const listener = sockets.make(domain);
  await listener.bind({ hostname: LOOPBACK[domain], port: 0 }, false);
  prepare?.(listener);
  await listener.listen(undefined);
  const client = sockets.make(domain);
  const accepting = listener.accept();
  await client.connect(listener.local!, AbortSignal.timeout(1000));
  const accepted = sockets.add(await within(1000, accepting, "accept()"));
  return [listener, client, accepted];
}

/** The errno of `call`, or `undefined` if it succeeds. */
function errnoOf(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof SocketError, String(error));
    return error.code;
  }
}

kernelTest(
  "denoSocket() TCP_NODELAY and SO_KEEPALIVE on a connected TCP socket read back, and the kernel has them",
  async () => {
    using sockets = new Sockets();
    const [, client, accepted] = await tcpTrio(sockets, "inet");
    for (const sock of [client, accepted]) {
      assert.equal(sock.getOption("TCP_NODELAY"), false);
      sock.setOption("TCP_NODELAY", true);
      sock.setOption("SO_KEEPALIVE", true);
      assert.equal(sock.getOption("TCP_NODELAY"), true);
      assert.equal(sock.getOption("SO_KEEPALIVE"), true);
      assert.equal(kernelOf(sock, "stream", "TCP_NODELAY"), true);
      assert.equal(kernelOf(sock, "stream", "SO_KEEPALIVE"), true);
      sock.setOption("TCP_NODELAY", false);
      assert.equal(sock.getOption("TCP_NODELAY"), false);
      assert.equal(kernelOf(sock, "stream", "TCP_NODELAY"), false);
    }
  },
);

kernelTest(
  "denoSocket() a TCP listener's options are given to the connections it accepts",
  async () => {
    using sockets = new Sockets();
    const [listener, , accepted] = await tcpTrio(sockets, "inet6", (l) => {
      l.setOption("TCP_NODELAY", true);
      l.setOption("SO_KEEPALIVE", true);
      l.setOption("SO_LINGER", { onoff: true, linger: 7 });
    });
    assert.equal(listener.getOption("TCP_NODELAY"), true);
    for (const name of ["TCP_NODELAY", "SO_KEEPALIVE"] as const) {
      assert.equal(accepted.getOption(name), true);
      assert.equal(kernelOf(accepted, "stream", name), true);
    }
    assert.deepEqual(accepted.getOption("SO_LINGER"), {
      onoff: true,
      linger: 7,
    });
    assert.deepEqual(kernelOf(accepted, "stream", "SO_LINGER"), {
      onoff: true,
      linger: 7,
    });
  },
);

kernelTest(
  "denoSocket() UDP buffer sizes read back doubled, as Linux reports them",
  async () => {
    using sockets = new Sockets();
    const sock = sockets.make("inet", "dgram");
    // Before bind there is no node:dgram socket: a new socket answers.
    sock.setOption("SO_RCVBUF", 40000);
    assert.equal(sock.getOption("SO_RCVBUF"), 80000);
    await sock.bind({ hostname: "127.0.0.1", port: 0 }, false);
    assert.equal(sock.getOption("SO_RCVBUF"), 80000);
    assert.equal(kernelOf(sock, "dgram", "SO_RCVBUF"), 80000);
    sock.setOption("SO_SNDBUF", 30000);
    assert.equal(sock.getOption("SO_SNDBUF"), 60000);
    assert.equal(kernelOf(sock, "dgram", "SO_SNDBUF"), 60000);
    // Linux's minimum applies too.
    sock.setOption("SO_RCVBUF", 1);
    assert.equal(sock.getOption("SO_RCVBUF"), 2304);
  },
);

kernelTest(
  "denoSocket() options set before bind() are applied once bound",
  async () => {
    using sockets = new Sockets();
    const udp = sockets.make("inet", "dgram");
    udp.setOption("SO_BROADCAST", true);
    udp.setOption("SO_REUSEADDR", true);
    udp.setOption("SO_SNDBUF", 50000);
    await udp.bind({ hostname: "127.0.0.1", port: 0 }, false);
    assert.equal(kernelOf(udp, "dgram", "SO_BROADCAST"), true);
    assert.equal(kernelOf(udp, "dgram", "SO_REUSEADDR"), true);
    assert.equal(kernelOf(udp, "dgram", "SO_SNDBUF"), 100000);
    assert.equal(udp.getOption("SO_BROADCAST"), true);

    const tcp = sockets.make("inet");
    tcp.setOption("SO_KEEPALIVE", true);
    tcp.setOption("SO_RCVBUF", 65536);
    await tcp.bind({ hostname: "127.0.0.1", port: 0 }, false);
    // The bind reservation keeps SO_KEEPALIVE for what it connects or accepts.
    assert.equal(tcp.getOption("SO_KEEPALIVE"), true);
    assert.equal(kernelOf(tcp, "stream", "SO_RCVBUF"), 131072);
    // ... and again to what replaces the bind reservation: the connection.
    const [listener] = await tcpTrio(sockets, "inet");
    await tcp.connect(listener.local!, AbortSignal.timeout(1000));
    assert.equal(tcp.getOption("SO_KEEPALIVE"), true);
    assert.equal(kernelOf(tcp, "stream", "SO_KEEPALIVE"), true);
    assert.equal(kernelOf(tcp, "stream", "SO_RCVBUF"), 131072);
  },
);

kernelTest(
  "denoSocket() IPV6_V6ONLY set before bind() is applied at creation, and refused after",
  async () => {
    using sockets = new Sockets();
    const sock = sockets.make("inet6", "dgram");
    sock.setOption("IPV6_V6ONLY", true);
    assert.equal(sock.getOption("IPV6_V6ONLY"), true);
    await sock.bind({ hostname: "::", port: 0 }, false);
    assert.equal(kernelOf(sock, "dgram", "IPV6_V6ONLY"), true);
    assert.equal(sock.getOption("IPV6_V6ONLY"), true);
    assert.equal(errnoOf(() => sock.setOption("IPV6_V6ONLY", false)), "EINVAL");
  },
);

kernelTest(
  "denoSocket() TCP IPV6_V6ONLY before bind() is had on a specific IPv6 address, and refused on the wildcard",
  async () => {
    using sockets = new Sockets();
    const specific = sockets.make("inet6");
    specific.setOption("IPV6_V6ONLY", true);
    assert.equal(specific.getOption("IPV6_V6ONLY"), true);
    await specific.bind({ hostname: "::1", port: 0 }, false);
    assert.equal(kernelOf(specific, "stream", "IPV6_V6ONLY"), true);
    assert.equal(specific.getOption("IPV6_V6ONLY"), true);
    const wildcard = sockets.make("inet6");
    wildcard.setOption("IPV6_V6ONLY", true);
    await assert.rejects(
      wildcard.bind({ hostname: "::", port: 0 }, false),
      (error) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.code, "EOPNOTSUPP");
        assert.match(error.message, /backend: "posix"/);
        return true;
      },
    );
    assert.equal(wildcard.local, undefined);
  },
);

kernelTest(
  "denoSocket() SO_LINGER 0 through libc makes close() reset the connection",
  async () => {
    using sockets = new Sockets();
    const [, client, accepted] = await tcpTrio(sockets, "inet");
    assert.deepEqual(client.getOption("SO_LINGER"), {
      onoff: false,
      linger: 0,
    });
    client.setOption("SO_LINGER", { onoff: true, linger: 0 });
    assert.deepEqual(client.getOption("SO_LINGER"), { onoff: true, linger: 0 });
    assert.deepEqual(kernelOf(client, "stream", "SO_LINGER"), {
      onoff: true,
      linger: 0,
    });
    client.close();
    await assert.rejects(
      within(1000, accepted.read(new Uint8Array(8)), "recv()"),
      (error) => {
        assert.equal((error as { name?: string }).name, "ConnectionReset");
        return true;
      },
    );
  },
);

kernelTest(
  "denoSocket() getOption() answers without libc what the kernel has",
  async () => {
    using sockets = new Sockets();
    await using dir = await tempDir();
    const checked: SysSocket[] = [];
    for (const domain of ["inet", "inet6"] as const) {
      for (
        const hostname of [
          LOOPBACK[domain],
          domain === "inet" ? "0.0.0.0" : "::",
        ]
      ) {
        const listener = sockets.make(domain);
        await listener.bind({ hostname, port: 0 }, false);
        await listener.listen(undefined);
        const port = (listener.local as InetAddr).port;
        const target = { hostname: LOOPBACK[domain], port };
        const client = sockets.make(domain);
        const accepting = listener.accept();
        await client.connect(target, AbortSignal.timeout(1000));
        const accepted = sockets.add(await within(1000, accepting, "accept()"));
        // A bound client: node:net connects from the bound address.
        const bound = sockets.make(domain);
        await bound.bind({ hostname, port: 0 }, false);
        const accepting2 = listener.accept();
        await bound.connect(target, AbortSignal.timeout(1000));
        sockets.add(await within(1000, accepting2, "accept()"));
        checked.push(listener, client, accepted, bound);
        const udp = sockets.make(domain, "dgram");
        await udp.bind({ hostname, port: 0 }, false);
        checked.push(udp);
      }
    }
    for (const sock of checked) {
      const type = await sock.getOption("SO_TYPE");
      const domain =
        "hostname" in sock.local! && sock.local.hostname.includes(":")
          ? "inet6"
          : "inet";
      for (const name of Object.keys(BOOLEANS) as SettableOptionName[]) {
        if (name === "TCP_NODELAY" && type === "dgram") continue;
        if (name === "IPV6_V6ONLY" && domain === "inet") continue;
        assert.equal(
          await sock.getOption(name),
          kernelOf(sock, type, name),
          `${name} of a ${type} socket at ${JSON.stringify(sock.local)} to ${
            JSON.stringify(sock.remote)
          } (#${checked.indexOf(sock)})`,
        );
      }
    }
    // Unix stream sockets: Deno's listener and connections.
    const path = `${dir.path}/s.sock`;
    const listener = sockets.make("unix");
    await listener.bind({ path }, false);
    await listener.listen(undefined);
    const client = sockets.make("unix");
    const accepting = listener.accept();
    await client.connect({ path }, AbortSignal.timeout(1000));
    sockets.add(await within(1000, accepting, "accept()"));
    for (const sock of [listener, client]) {
      for (const name of ["SO_REUSEADDR", "SO_KEEPALIVE", "SO_BROADCAST"]) {
        assert.equal(
          sock.getOption(name as SettableOptionName),
          kernelOf(sock, "stream", name),
        );
      }
    }
  },
);

kernelTest(
  "denoSocket() answers an option of another protocol with the kernel's errno",
  () => {
    using sockets = new Sockets();
    const cases: [Domain, "stream" | "dgram", number, number, number][] = [
      ["unix", "stream", AF_UNIX, SOCK_STREAM, IPPROTO_TCP],
      ["inet", "dgram", AF_INET, SOCK_DGRAM, IPPROTO_TCP],
      ["inet6", "dgram", AF_INET6, SOCK_DGRAM, IPPROTO_TCP],
      ["inet", "stream", AF_INET, SOCK_STREAM, IPPROTO_IPV6],
      ["inet", "dgram", AF_INET, SOCK_DGRAM, IPPROTO_IPV6],
      ["unix", "stream", AF_UNIX, SOCK_STREAM, IPPROTO_IPV6],
    ];
    using libc = openLibc();
    for (const [domain, type, family, sockType, level] of cases) {
      const name = level === IPPROTO_TCP ? "TCP_NODELAY" : "IPV6_V6ONLY";
      const opt = level === IPPROTO_TCP ? TCP_NODELAY : IPV6_V6ONLY;
      const fd = sysSocket(libc, family, sockType, 0);
      assert.ok(fd.ok);
      const set = sysSetsockoptInt(libc, fd.value, level, opt, 1);
      const get = sysGetsockoptInt(libc, fd.value, level, opt);
      sysClose(libc, fd.value);
      const sock = sockets.make(domain, type);
      const what = `${name} on ${domain} ${type}`;
      assert.equal(
        errnoOf(() => sock.setOption(name, true)),
        set.ok ? undefined : set.errno,
        what,
      );
      assert.equal(
        errnoOf(() => sock.getOption(name)),
        get.ok ? undefined : get.errno,
        what,
      );
    }
  },
);

kernelTest(
  "denoSocket() SO_TYPE is the socket's type and SO_ERROR is null without an error",
  () => {
    using sockets = new Sockets();
    assert.equal(sockets.make("inet").getOption("SO_TYPE"), "stream");
    assert.equal(sockets.make("inet6", "dgram").getOption("SO_TYPE"), "dgram");
    assert.equal(sockets.make("unix").getOption("SO_ERROR"), null);
  },
);

kernelTest(
  "denoSocket() refuses a TCP option that Deno.listen() cannot honour before bind(), saying what to do",
  () => {
    using sockets = new Sockets();
    const sock = sockets.make("inet");
    assert.throws(() => sock.setOption("SO_REUSEADDR", false), (error) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EOPNOTSUPP");
      assert.match(error.message, /Deno\.listen\(\) always sets SO_REUSEADDR/);
      assert.match(error.message, /backend: "posix"/);
      return true;
    });
    sock.setOption("SO_REUSEADDR", true);
    assert.equal(sock.getOption("SO_REUSEADDR"), true);
    const unstable = typeof (Deno as { listenDatagram?: unknown })
      .listenDatagram === "function";
    if (!unstable) {
      assert.throws(
        () => sock.setOption("SO_REUSEPORT", true),
        /--unstable-net/,
      );
    }
  },
);

kernelTest(
  "denoSocket() SO_REUSEPORT set after bind() goes through libc, again on the listener a backlog makes, without asking Deno",
  async () => {
    using sockets = new Sockets();
    const sock = sockets.make("inet");
    await sock.bind({ hostname: "127.0.0.1", port: 0 }, false);
    sock.setOption("SO_REUSEPORT", true);
    assert.equal(sock.getOption("SO_REUSEPORT"), true);
    assert.equal(kernelOf(sock, "stream", "SO_REUSEPORT"), true);
    // A backlog makes the backend listen again (Deno.listen()).
    await sock.listen(8);
    assert.equal(sock.getOption("SO_REUSEPORT"), true);
    assert.equal(kernelOf(sock, "stream", "SO_REUSEPORT"), true);
  },
);
