// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the posix backend: each step is the matching libc call on a real
 * descriptor, so what the kernel does (a bound socket that refuses
 * connections, the port chosen at bind time, end of stream after
 * `shutdown(SHUT_WR)`) shows through the `Socket`; waits never block the
 * event loop and `close()` ends them at once, leaving nothing behind.
 */
import assert from "node:assert/strict";
import { mock } from "node:test";
import {
  detectKernel,
  type Domain,
  type InetAddr,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  streamConnection,
} from "../mod.ts";
import {
  AF_INET,
  AF_UNIX,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLLET,
  epollEventBits,
  epollEvents,
  epollEventToken,
  EPOLLIN,
  F_DUPFD_CLOEXEC,
  F_GETFL,
  F_SETFL,
  type Libc,
  O_NONBLOCK,
  openLibc,
  pollFds,
  POLLOUT,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  sysBind,
  sysBindAutobind,
  sysClose,
  sysConnect,
  sysEpollCreate1,
  sysEpollCtl,
  sysEpollWait,
  sysEventfd,
  sysFcntl,
  sysGetpeername,
  sysGetsockname,
  sysGetsockoptInt,
  sysListen,
  sysPoll,
  sysRead,
  sysRecv,
  sysSend,
  sysShutdown,
  sysSocket,
  sysWrite,
} from "../steps/libc.ts";
import { runningKernel } from "../steps/detect_kernel.ts";
import { libcHolders, processLibc } from "../steps/libc_lease.ts";
import { posixSocket } from "../steps/posix_backend.ts";
import { freePort, LOOPBACK, recvAll, settlesWithin } from "./_net.ts";

// ---------------------------------------------------------------- helpers

const DOMAINS = ["inet", "inet6", "unix"] as const satisfies readonly Domain[];
const TCP_DOMAINS = ["inet", "inet6"] as const;
type TcpDomain = typeof TCP_DOMAINS[number];
const LOOPBACK_PORT_0 = { hostname: "127.0.0.1", port: 0 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A posix socket of `domain`. */
function posix(domain: Domain): Socket {
  return socket({ domain, backend: "posix" });
}

/** Posix sockets and a temp dir that a test owns; all freed on dispose. */
class Arena implements AsyncDisposable {
  readonly domain: Domain;
  #sockets: Socket[] = [];
  #dir: string | undefined;
  #names = 0;

  private constructor(domain: Domain, dir: string | undefined) {
    this.domain = domain;
    this.#dir = dir;
  }

  static async open(domain: Domain): Promise<Arena> {
    const dir = domain === "unix"
      ? await Deno.makeTempDir({ prefix: "sockfsm-posix-" })
      : undefined;
    return new Arena(domain, dir);
  }

  /** A new posix socket, closed on dispose. */
  socket(): Socket {
    return this.own(posix(this.domain));
  }

  own(sock: Socket): Socket {
    this.#sockets.push(sock);
    return sock;
  }

  /** A fresh local address: loopback port 0, or a new path in the temp dir. */
  addr(): SocketAddr {
    if (this.#dir !== undefined) {
      return { path: `${this.#dir}/s${this.#names++}.sock` };
    }
    return { hostname: LOOPBACK[this.domain as TcpDomain], port: 0 };
  }

  /** A bound, listening socket. */
  async listener(backlog?: number): Promise<Socket> {
    const server = this.socket();
    await server.bind(this.addr());
    await server.listen(backlog);
    return server;
  }

  /** A connected pair: the client and the socket `server` accepted. */
  async pair(server: Socket): Promise<{ client: Socket; peer: Socket }> {
    const client = this.socket();
    const accepting = server.accept();
    await client.connect(server.getsockname());
    const peer = this.own(await accepting);
    return { client, peer };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const sock of this.#sockets.reverse()) sock[Symbol.dispose]();
    this.#sockets = [];
    if (this.#dir !== undefined) {
      await Deno.remove(this.#dir, { recursive: true });
    }
  }
}

/** Asserts a rejection by close(): EBADF, "closed while ... in progress". */
function closedMeanwhile(op: string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, "EBADF");
    assert.equal(error.op, op);
    assert.match(error.message, /closed while the call was in progress/);
    return true;
  };
}

// ------------------------------------------------------- bind is bind(2)

for (const domain of DOMAINS) {
  Deno.test(`a posix ${domain} socket that is bound but not listening refuses a connection with ECONNREFUSED`, async () => {
    await using arena = await Arena.open(domain);
    const server = arena.socket();
    await server.bind(arena.addr());
    assert.equal(server.state, "bound");
    const client = arena.socket();
    await assert.rejects(client.connect(server.getsockname()), {
      name: "SocketError",
      code: "ECONNREFUSED",
      op: "connect",
    });
    // Once it listens, the same address takes the connection.
    await server.listen();
    const { peer } = await arena.pair(server);
    assert.equal(peer.state, "connected");
  });
}

for (const domain of TCP_DOMAINS) {
  Deno.test(`getsockname() on a posix ${domain} socket bound to port 0 reports the kernel's port before listen()`, async () => {
    await using arena = await Arena.open(domain);
    const server = arena.socket();
    await server.bind({ hostname: LOOPBACK[domain], port: 0 });
    const bound = server.getsockname() as InetAddr;
    assert.equal(bound.hostname, LOOPBACK[domain]);
    assert.ok(bound.port > 0, `port ${bound.port}`);
    await server.listen();
    assert.deepEqual(server.getsockname(), bound);
    const { client } = await arena.pair(server);
    assert.deepEqual(client.getpeername(), bound);
  });
}

for (const domain of DOMAINS) {
  Deno.test(`a posix ${domain} client bound to a chosen address connects from it, and the peer sees that address`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const chosen: SocketAddr = domain === "unix"
      ? arena.addr()
      : { hostname: LOOPBACK[domain], port: freePort(LOOPBACK[domain]) };
    const client = arena.socket();
    await client.bind(chosen);
    assert.deepEqual(client.getsockname(), chosen);
    const accepting = server.accept();
    await client.connect(server.getsockname());
    const peer = arena.own(await accepting);
    assert.deepEqual(client.getsockname(), chosen);
    assert.deepEqual(peer.getpeername(), chosen);
    assert.deepEqual(peer.getsockname(), server.getsockname());
    assert.deepEqual(client.getpeername(), server.getsockname());
  });
}

Deno.test("a posix unix client that connects unbound has no name, and its peer sees none", async () => {
  await using arena = await Arena.open("unix");
  const server = await arena.listener();
  const { client, peer } = await arena.pair(server);
  assert.deepEqual(client.getsockname(), { path: "" });
  assert.deepEqual(peer.getpeername(), { path: "" });
});

Deno.test("closing a posix unix listener leaves its socket file in place, as close(2) does", async () => {
  await using arena = await Arena.open("unix");
  const server = await arena.listener();
  const { path } = server.getsockname() as { path: string };
  server.close();
  assert.ok(Deno.lstatSync(path).isSocket);
});

// ------------------------------------------------------ connect failures

for (const domain of TCP_DOMAINS) {
  Deno.test(`connect() from a posix ${domain} socket to a port with nothing listening rejects with ECONNREFUSED and leaves it in created, ready to connect again`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const client = arena.socket();
    await assert.rejects(
      client.connect({
        hostname: LOOPBACK[domain],
        port: freePort(LOOPBACK[domain]),
      }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.code, "ECONNREFUSED");
        assert.equal(error.op, "connect");
        assert.match(error.message, /ECONNREFUSED/);
        return true;
      },
    );
    assert.equal(client.state, "created");
    const accepting = server.accept();
    await client.connect(server.getsockname());
    arena.own(await accepting);
    assert.equal(client.state, "connected");
  });

  Deno.test(`connect() from a posix ${domain} socket bound to a chosen port, to a port with nothing listening, rejects with ECONNREFUSED and leaves it bound there`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const chosen = {
      hostname: LOOPBACK[domain],
      port: freePort(LOOPBACK[domain]),
    };
    const client = arena.socket();
    await client.bind(chosen);
    await assert.rejects(
      client.connect({
        hostname: LOOPBACK[domain],
        port: freePort(LOOPBACK[domain]),
      }),
      { code: "ECONNREFUSED" },
    );
    assert.equal(client.state, "bound");
    assert.deepEqual(client.getsockname(), chosen);
    const accepting = server.accept();
    await client.connect(server.getsockname());
    const peer = arena.own(await accepting);
    assert.deepEqual(peer.getpeername(), chosen);
  });
}

Deno.test("connect() from a posix unix socket to a path with no socket file rejects with ENOENT and leaves it in created", async () => {
  await using arena = await Arena.open("unix");
  const client = arena.socket();
  await assert.rejects(client.connect(arena.addr()), { code: "ENOENT" });
  assert.equal(client.state, "created");
});

// ------------------------------------------------- close() ends any wait

for (const domain of DOMAINS) {
  Deno.test(`close() while accept() waits on a posix ${domain} listener rejects the accept with EBADF at once and leaves nothing behind`, async () => {
    {
      await using arena = await Arena.open(domain);
      const server = await arena.listener();
      const accepting = server.accept();
      assert.equal(await settlesWithin(accepting, 20), false, "accept ended");
      const start = performance.now();
      server.close();
      await assert.rejects(accepting, closedMeanwhile("accept"));
      assert.ok(performance.now() - start < 1000, "close() was not prompt");
    }
    assert.equal(libcHolders(), 0, "libc is still open");
  });

  Deno.test(`close() while recv() waits on a posix ${domain} socket rejects the recv with EBADF at once, and the peer reads end of stream`, async () => {
    {
      await using arena = await Arena.open(domain);
      const server = await arena.listener();
      const { client, peer } = await arena.pair(server);
      const receiving = peer.recv();
      assert.equal(await settlesWithin(receiving, 20), false, "recv ended");
      const start = performance.now();
      peer.close();
      await assert.rejects(receiving, closedMeanwhile("recv"));
      assert.ok(performance.now() - start < 1000, "close() was not prompt");
      assert.equal((await client.recv()).length, 0);
    }
    assert.equal(libcHolders(), 0, "libc is still open");
  });
}

for (const domain of TCP_DOMAINS) {
  Deno.test(`close() while connect() waits on a posix ${domain} socket (the listener's queue is full) rejects the connect with EBADF at once`, async () => {
    await using arena = await Arena.open(domain);
    // Backlog 0 queues one connection; the kernel drops the next SYNs.
    const server = await arena.listener(0);
    const first = arena.socket();
    await first.connect(server.getsockname());
    const client = arena.socket();
    const connecting = client.connect(server.getsockname());
    assert.equal(await settlesWithin(connecting, 50), false, "connect ended");
    assert.equal(client.state, "connecting");
    // The kernel bound the socket when the attempt started.
    assert.ok((client.getsockname() as InetAddr).port > 0);
    const start = performance.now();
    client.close();
    await assert.rejects(connecting, closedMeanwhile("connect"));
    assert.ok(performance.now() - start < 1000, "close() was not prompt");
  });

  Deno.test(`aborting a posix ${domain} connect() that waits stops the attempt, and the socket can connect again`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener(0);
    const first = arena.socket();
    await first.connect(server.getsockname());
    const sys = posixSocket({ domain, type: "stream", nonblocking: false });
    try {
      const abort = new AbortController();
      const connecting = sys.connect(server.getsockname(), abort.signal);
      assert.equal(await settlesWithin(connecting, 50), false);
      abort.abort();
      await assert.rejects(connecting, { code: "EINTR", op: "connect" });
      // Make room in the queue; the same socket connects.
      arena.own(await server.accept());
      const accepting = server.accept();
      await sys.connect(server.getsockname(), new AbortController().signal);
      arena.own(await accepting);
      assert.deepEqual(sys.remote, server.getsockname());
    } finally {
      sys.close();
    }
  });
}

Deno.test("close() while recv() and send() both wait on one posix socket rejects both with EBADF", async () => {
  await using arena = await Arena.open("inet");
  const server = await arena.listener();
  const { client } = await arena.pair(server);
  const receiving = client.recv();
  // Nobody reads the other end: the send buffers fill up and send() waits.
  const sending = client.send(new Uint8Array(32 << 20));
  assert.equal(await settlesWithin(sending, 50), false, "send ended");
  client.close();
  await assert.rejects(receiving, closedMeanwhile("recv"));
  await assert.rejects(sending, closedMeanwhile("send"));
});

// ------------------------------------------------------------------ data

for (const domain of DOMAINS) {
  Deno.test(`a posix ${domain} pair carries data both ways, including 16 MiB that send() can only finish while the peer reads`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    await client.send(encoder.encode("ping"));
    assert.equal(decoder.decode(await peer.recv()), "ping");
    await peer.send(encoder.encode("pong"));
    assert.equal(decoder.decode(await client.recv()), "pong");

    const payload = new Uint8Array(16 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 255;
    const sending = client.send(payload);
    // More than the socket buffers hold: send() waits for POLLOUT.
    assert.equal(await settlesWithin(sending, 50), false, "send finished");
    const receiving = recvAll(peer);
    assert.equal(await sending, payload.length);
    await client.shutdown("write");
    const received = await receiving;
    assert.equal(received.length, payload.length);
    assert.ok(received.every((byte, i) => byte === payload[i]), "corrupt");
  });

  Deno.test(`shutdown("write") on a posix ${domain} socket makes the peer read end of stream, and the other direction still works`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    await client.send(encoder.encode("last words"));
    await client.shutdown("write");
    assert.equal(client.state, "shutWr");
    assert.equal(decoder.decode(await recvAll(peer)), "last words");
    await peer.send(encoder.encode("reply"));
    assert.equal(decoder.decode(await client.recv()), "reply");
  });
}

Deno.test("send() on a posix socket whose peer has closed rejects with EPIPE or ECONNRESET, without a SIGPIPE", async () => {
  await using arena = await Arena.open("inet");
  const server = await arena.listener();
  const { client, peer } = await arena.pair(server);
  peer.close();
  await assert.rejects(
    (async () => {
      // The first send may still be taken; a later one meets the reset.
      for (let i = 0; i < 100; i++) {
        await client.send(new Uint8Array(1024));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })(),
    (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.ok(
        error.code === "EPIPE" || error.code === "ECONNRESET",
        error.code,
      );
      assert.equal(error.op, "send");
      return true;
    },
  );
});

// ------------------------------------------------------ shutdown(2) real

for (const domain of TCP_DOMAINS) {
  Deno.test(`shutdown("read") on a posix ${domain} listener stops it in the kernel: a connection to its port is refused`, async () => {
    await using arena = await Arena.open(domain);
    const server = await arena.listener();
    const addr = server.getsockname();
    await server.shutdown("read");
    assert.equal(server.state, "created");
    const client = arena.socket();
    await assert.rejects(client.connect(addr), { code: "ECONNREFUSED" });
  });
}

// ------------------------------------------------------- library lifetime

Deno.test("the posix backend opens libc with the first socket and closes it with the last; an accepted socket holds its own share", async () => {
  assert.equal(libcHolders(), 0);
  {
    await using arena = await Arena.open("inet");
    const server = await arena.listener();
    assert.equal(libcHolders(), 1);
    await arena.pair(server);
    assert.equal(libcHolders(), 3, "listener, client and accepted socket");
    server.close();
    assert.equal(libcHolders(), 2);
  }
  assert.equal(libcHolders(), 0);
});

Deno.test("the deno backend opens libc only to detect the kernel, once per process", async () => {
  // The detection, as the first Deno-backend socket of the process makes it.
  assert.equal(runningKernel(), await detectKernel());
  const dlopen = mock.method(Deno, "dlopen");
  try {
    using pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
    });
    await pair.clntS.send(encoder.encode("x"));
    assert.equal((await pair.srvrS.recv()).length, 1);
    using sock = socket({ domain: "unix" });
    assert.equal(sock.state, "created");
  } finally {
    dlopen.mock.restore();
  }
  assert.equal(dlopen.mock.callCount(), 0);
});

Deno.test({
  name: "the deno backend works with --allow-net alone",
  permissions: { net: true, ffi: false, read: false, write: false },
  async fn() {
    using pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntAddr: { hostname: "127.0.0.1", port: 0 },
    });
    await pair.clntS.send(encoder.encode("hello"));
    assert.equal(decoder.decode(await pair.srvrS.recv()), "hello");
  },
});

Deno.test({
  name:
    "creating a posix socket without --allow-ffi throws EACCES and says to run with --allow-ffi",
  permissions: { net: true, ffi: false },
  fn() {
    assert.throws(
      () => socket({ domain: "inet", backend: "posix" }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.code, "EACCES");
        assert.equal(error.op, "socket");
        assert.match(error.message, /--allow-ffi/);
        return true;
      },
    );
    assert.equal(libcHolders(), 0);
  },
});

Deno.test("creating a posix socket off Linux throws EOPNOTSUPP and says the backend needs Linux's libc.so.6", () => {
  const build = Deno.build;
  Object.defineProperty(Deno, "build", { value: { ...build, os: "darwin" } });
  try {
    assert.throws(
      () => socket({ domain: "inet", backend: "posix" }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.code, "EOPNOTSUPP");
        assert.equal(error.op, "socket");
        assert.match(error.message, /posix backend/);
        assert.match(error.message, /Linux's libc\.so\.6/);
        return true;
      },
    );
  } finally {
    Object.defineProperty(Deno, "build", { value: build });
  }
  assert.equal(libcHolders(), 0);
});

Deno.test("socket() refuses an unknown backend with EINVAL and names the choices", () => {
  for (const backend of ["bsd", "", 1, null]) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => socket({ domain: "inet", backend: backend as any }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.code, "EINVAL");
        assert.equal(error.op, "socket");
        assert.match(error.message, /use "deno" .* or "posix"/);
        return true;
      },
    );
  }
  assert.equal(libcHolders(), 0);
});

// ---------------------------------------------------------- libc wrappers

Deno.test("the libc wrappers return the kernel's errno by name and never throw", () => {
  using libc = openLibc();
  const flags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fds: number[] = [];
  try {
    const made = sysSocket(libc, AF_INET, flags, 0);
    assert.ok(made.ok);
    const fd = made.value;
    fds.push(fd);
    const port = (taken.addr as Deno.NetAddr).port;
    assert.deepEqual(sysBind(libc, fd, { hostname: "127.0.0.1", port }), {
      ok: false,
      errno: "EADDRINUSE",
    });
    assert.deepEqual(sysGetpeername(libc, fd), {
      ok: false,
      errno: "ENOTCONN",
    });
    assert.deepEqual(sysRecv(libc, fd, new Uint8Array(4), 0), {
      ok: false,
      errno: "ENOTCONN",
    });
    assert.deepEqual(sysShutdown(libc, fd, 1), {
      ok: false,
      errno: "ENOTCONN",
    });
    assert.deepEqual(
      sysBind(libc, fd, { hostname: "not an ip", port: 1 }),
      { ok: false, errno: "EINVAL" },
    );
    assert.deepEqual(sysGetsockname(libc, fd), {
      ok: true,
      value: { hostname: "0.0.0.0", port: 0 },
    });

    const unix = sysSocket(libc, AF_UNIX, flags, 0);
    assert.ok(unix.ok);
    fds.push(unix.value);
    assert.deepEqual(sysListen(libc, unix.value, 1), {
      ok: false,
      errno: "EINVAL",
    });
    assert.deepEqual(
      sysConnect(libc, unix.value, { path: "/nonexistent-sockfsm/s.sock" }),
      { ok: false, errno: "ENOENT" },
    );
    assert.deepEqual(sysSend(libc, unix.value, new Uint8Array(1), 0x4000), {
      ok: false,
      errno: "ENOTCONN",
    });
    assert.deepEqual(sysSocket(libc, 12345, flags, 0), {
      ok: false,
      errno: "EAFNOSUPPORT",
    });
    assert.deepEqual(sysClose(libc, -1), { ok: false, errno: "EBADF" });
  } finally {
    for (const fd of fds) {
      assert.deepEqual(sysClose(libc, fd), { ok: true, value: undefined });
    }
    taken.close();
  }
});

Deno.test("epoll_wait() on Deno's pool waits while the event loop runs, and a write to an edge-triggered eventfd ends it once per write", async () => {
  const { libc, epollWaitAsync } = processLibc();
  const epoll = sysEpollCreate1(libc, EPOLL_CLOEXEC);
  const made = sysEventfd(libc, 0, EFD_NONBLOCK | EFD_CLOEXEC);
  assert.ok(epoll.ok && made.ok);
  const [epfd, efd] = [epoll.value, made.value];
  try {
    assert.ok(
      sysEpollCtl(libc, epfd, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 7).ok,
    );
    const events = epollEvents(4);
    assert.deepEqual(sysEpollWait(libc, epfd, events, 0), {
      ok: true,
      value: 0,
    });
    const waiting = epollWaitAsync(epfd, events, 4, 5000);
    // The event loop is free: a timer fires while epoll_wait(2) waits.
    assert.equal(await settlesWithin(waiting, 20), false);
    const one = new Uint8Array(8);
    one[0] = 1;
    assert.deepEqual(sysWrite(libc, efd, one), { ok: true, value: 8 });
    assert.equal(await waiting, 1);
    assert.equal(epollEventToken(events, 0), 7);
    assert.equal(epollEventBits(events, 0) & EPOLLIN, EPOLLIN);
    // Reported once, though the count is still readable; again per write.
    assert.deepEqual(sysEpollWait(libc, epfd, events, 0), {
      ok: true,
      value: 0,
    });
    assert.deepEqual(sysWrite(libc, efd, one), { ok: true, value: 8 });
    assert.deepEqual(sysEpollWait(libc, epfd, events, 0), {
      ok: true,
      value: 1,
    });
    const count = new Uint8Array(8);
    assert.deepEqual(sysRead(libc, efd, count), { ok: true, value: 8 });
    assert.equal(count[0], 2);
  } finally {
    sysClose(libc, efd);
    sysClose(libc, epfd);
  }
});

/**
 * Starts a non-blocking connect from `fd` to a loopback port where nothing
 * listens, and returns that address once the attempt has failed (the
 * socket polls writable).
 */
function refusedConnect(libc: Libc, fd: number): SocketAddr {
  const dead = { hostname: "127.0.0.1", port: freePort("127.0.0.1") };
  assert.deepEqual(sysConnect(libc, fd, dead), {
    ok: false,
    errno: "EINPROGRESS",
  });
  // Loopback refuses at once: a blocking poll(2) of at most 5 s is enough.
  sysPoll(libc, pollFds([{ fd, events: POLLOUT }]), 5000);
  return dead;
}

Deno.test("the kernel: after a refused non-blocking connect, reading SO_ERROR alone leaves the socket connecting (the next connect gives ECONNABORTED); calling connect again reports ECONNREFUSED and resets it", () => {
  using libc = openLibc();
  const flags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const live = {
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  };
  const fds: number[] = [];
  try {
    // SO_ERROR only: the error is consumed, the socket stays SS_CONNECTING.
    const a = sysSocket(libc, AF_INET, flags, 0);
    assert.ok(a.ok);
    fds.push(a.value);
    refusedConnect(libc, a.value);
    assert.deepEqual(sysGetsockoptInt(libc, a.value, SOL_SOCKET, SO_ERROR), {
      ok: true,
      value: 111, // ECONNREFUSED
    });
    assert.deepEqual(sysConnect(libc, a.value, live), {
      ok: false,
      errno: "ECONNABORTED",
    });

    // connect() again, as a blocking connect does inside the kernel.
    const b = sysSocket(libc, AF_INET, flags, 0);
    assert.ok(b.ok);
    fds.push(b.value);
    const dead = refusedConnect(libc, b.value);
    assert.deepEqual(sysConnect(libc, b.value, dead), {
      ok: false,
      errno: "ECONNREFUSED",
    });
    const again = sysConnect(libc, b.value, live);
    assert.ok(
      again.ok || again.errno === "EINPROGRESS",
      `connect after the reset: ${JSON.stringify(again)}`,
    );
  } finally {
    for (const fd of fds) sysClose(libc, fd);
    listener.close();
  }
});

Deno.test("the kernel: a socket bound to port 0 gives its port back when its connect is refused, and can bind again; one bound to a chosen port keeps it", () => {
  using libc = openLibc();
  const flags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const fds: number[] = [];
  try {
    const kernelPort = sysSocket(libc, AF_INET, flags, 0);
    assert.ok(kernelPort.ok);
    fds.push(kernelPort.value);
    assert.ok(sysBind(libc, kernelPort.value, LOOPBACK_PORT_0).ok);
    const dead = refusedConnect(libc, kernelPort.value);
    assert.deepEqual(sysConnect(libc, kernelPort.value, dead), {
      ok: false,
      errno: "ECONNREFUSED",
    });
    assert.deepEqual(sysBind(libc, kernelPort.value, LOOPBACK_PORT_0), {
      ok: true,
      value: undefined,
    });

    const chosenPort = sysSocket(libc, AF_INET, flags, 0);
    assert.ok(chosenPort.ok);
    fds.push(chosenPort.value);
    const chosen = { hostname: "127.0.0.1", port: freePort("127.0.0.1") };
    assert.ok(sysBind(libc, chosenPort.value, chosen).ok);
    const deadToo = refusedConnect(libc, chosenPort.value);
    assert.deepEqual(sysConnect(libc, chosenPort.value, deadToo), {
      ok: false,
      errno: "ECONNREFUSED",
    });
    assert.deepEqual(sysBind(libc, chosenPort.value, LOOPBACK_PORT_0), {
      ok: false,
      errno: "EINVAL",
    });
    assert.deepEqual(sysGetsockname(libc, chosenPort.value), {
      ok: true,
      value: chosen,
    });
  } finally {
    for (const fd of fds) sysClose(libc, fd);
  }
});

Deno.test("sysFcntl() reads and sets O_NONBLOCK and duplicates a descriptor high; sysBindAutobind() gives a unix socket an abstract name", () => {
  using libc = openLibc();
  const made = sysSocket(libc, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert.ok(made.ok);
  const fd = made.value;
  const fds = [fd];
  try {
    const flags = sysFcntl(libc, fd, F_GETFL, 0);
    assert.ok(flags.ok);
    assert.equal(flags.value & O_NONBLOCK, 0);
    assert.ok(sysFcntl(libc, fd, F_SETFL, flags.value | O_NONBLOCK).ok);
    const now = sysFcntl(libc, fd, F_GETFL, 0);
    assert.ok(now.ok && (now.value & O_NONBLOCK) !== 0);
    const high = sysFcntl(libc, fd, F_DUPFD_CLOEXEC, 1000);
    assert.ok(high.ok && high.value >= 1000, JSON.stringify(high));
    fds.push(high.value);
    assert.deepEqual(sysFcntl(libc, -1, F_GETFL, 0), {
      ok: false,
      errno: "EBADF",
    });

    assert.deepEqual(sysBindAutobind(libc, fd), { ok: true, value: undefined });
    const name = sysGetsockname(libc, fd);
    assert.ok(name.ok && name.value !== undefined && "path" in name.value);
    assert.match(name.value.path, /^\0[0-9a-f]{5}$/);
  } finally {
    for (const each of fds) sysClose(libc, each);
  }
});
