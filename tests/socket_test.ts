// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the runtime {@linkcode Socket}: every illegal ordering of socket
 * calls is refused with the errno Linux gives, before any system call, and
 * the legal orderings Linux has work for real, on loopback and on unix
 * sockets in a temporary directory.
 *
 * The expected errnos below are an independent statement of Linux's
 * behaviour (net/ipv4/af_inet.c, net/ipv4/tcp.c, net/unix/af_unix.c), checked
 * against a Linux 6.x kernel with real system calls; they are the oracle, not
 * a copy of the machine.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { mock } from "node:test";
import {
  type Domain,
  type Errno,
  isErrno,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  type SocketOp,
  type SocketState,
} from "../mod.ts";
import { freePort, LOOPBACK, tempDir } from "./_net.ts";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const DOMAINS = ["inet", "inet6", "unix"] as const satisfies readonly Domain[];
const TCP_DOMAINS = ["inet", "inet6"] as const;
type TcpDomain = typeof TCP_DOMAINS[number];

const WILDCARD: Record<TcpDomain, string> = { inet: "0.0.0.0", inet6: "::" };

/** "an inet", "an inet6", "a unix": for test names. */
const A: Record<Domain, string> = {
  inet: "an inet",
  inet6: "an inet6",
  unix: "a unix",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sockets and a temp dir that a test owns and frees in `cleanup()`. */
class Arena {
  readonly domain: Domain;
  #sockets: Socket[] = [];
  #dir: { path: string; remove(): Promise<void> } | undefined;
  #names = 0;

  private constructor(domain: Domain) {
    this.domain = domain;
  }

  static async open(domain: Domain): Promise<Arena> {
    const arena = new Arena(domain);
    if (domain === "unix") arena.#dir = await tempDir();
    return arena;
  }

  /** A new socket of the arena's domain, closed by `cleanup()`. */
  socket(): Socket {
    return this.own(socket({ domain: this.domain }));
  }

  /** Makes `cleanup()` close `sock` too. */
  own(sock: Socket): Socket {
    this.#sockets.push(sock);
    return sock;
  }

  /** A fresh local address: loopback port 0, or a new path in the temp dir. */
  addr(): SocketAddr {
    if (this.domain === "unix") {
      return { path: `${this.#dir!.path}/s${this.#names++}.sock` };
    }
    return { hostname: LOOPBACK[this.domain], port: 0 };
  }

  /** A path in the temp dir where no socket file is. */
  missingPath(): string {
    return `${this.#dir!.path}/nothing-here.sock`;
  }

  /** A bound, listening socket. */
  async listener(): Promise<Socket> {
    const server = this.socket();
    await server.bind(this.addr());
    await server.listen();
    return server;
  }

  /** A connected pair: the client and the socket `server` accepted. */
  async pair(server: Socket): Promise<{ client: Socket; peer: Socket }> {
    const client = this.socket();
    await client.connect(server.getsockname());
    const peer = this.own(await server.accept());
    return { client, peer };
  }

  /** Closes every socket (dispose is a no-op on a closed one), removes the dir. */
  async cleanup(): Promise<void> {
    for (const sock of this.#sockets.reverse()) sock[Symbol.dispose]();
    this.#sockets = [];
    await this.#dir?.remove();
    this.#dir = undefined;
  }
}

/**
 * The stable states a test drives a socket into, by legal calls only. The
 * shut states are reached on the client side of a connection.
 */
const STAGES = {
  "created": "created",
  "bound": "bound",
  "listening": "listening",
  "connected (client)": "connected",
  "connected (accepted)": "connected",
  "shutRd": "shutRd",
  "shutWr": "shutWr",
  "shutRdWr": "shutRdWr",
  "closed": "closed",
} as const satisfies Record<string, SocketState>;
type Stage = keyof typeof STAGES;
const STAGE_NAMES = Object.keys(STAGES) as Stage[];

/** A socket in a stage, what it can be pointed at, and how to free it all. */
interface Scene {
  readonly arena: Arena;
  /** The socket under test. */
  readonly sock: Socket;
  /** A live listener of the same domain (not `sock`): a connect() target. */
  readonly server: Socket;
  readonly cleanup: () => Promise<void>;
}

/** Drives a new socket of `domain` into `stage` by legal calls. */
async function reach(domain: Domain, stage: Stage): Promise<Scene> {
  const arena = await Arena.open(domain);
  try {
    const server = await arena.listener();
    const sock = await drive(arena, server, stage);
    assert.equal(sock.state, STAGES[stage], `reach(${domain}, ${stage})`);
    return { arena, sock, server, cleanup: () => arena.cleanup() };
  } catch (error) {
    await arena.cleanup();
    throw error;
  }
}

async function drive(
  arena: Arena,
  server: Socket,
  stage: Stage,
): Promise<Socket> {
  switch (stage) {
    case "created":
      return arena.socket();
    case "bound": {
      const sock = arena.socket();
      await sock.bind(arena.addr());
      return sock;
    }
    case "listening":
      return await arena.listener();
    case "connected (client)":
      return (await arena.pair(server)).client;
    case "connected (accepted)":
      return (await arena.pair(server)).peer;
    case "shutRd":
    case "shutWr":
    case "shutRdWr": {
      const { client } = await arena.pair(server);
      const how =
        ({ shutRd: "read", shutWr: "write", shutRdWr: "both" } as const)[
          stage
        ];
      await client.shutdown(how);
      return client;
    }
    case "closed": {
      const { client } = await arena.pair(server);
      client.close();
      return client;
    }
  }
}

/** Reads from `sock` until end of stream and returns all it got as text. */
async function recvAll(sock: Socket): Promise<string> {
  let text = "";
  for (;;) {
    const chunk = await sock.recv();
    if (chunk.length === 0) return text;
    text += decoder.decode(chunk);
  }
}

// --- Spies on everything the backend could reach the OS with --------------

let denoPrototypes: { conn: object; listener: object } | undefined;

/** The prototypes that own the methods of a real `Deno.Conn`/`Deno.Listener`. */
async function prototypes(): Promise<{ conn: object; listener: object }> {
  if (denoPrototypes) return denoPrototypes;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const accepted = await listener.accept();
    const ownerOf = (object: object, method: string): object => {
      let proto: object | null = object;
      while (proto !== null && !Object.hasOwn(proto, method)) {
        proto = Object.getPrototypeOf(proto);
      }
      assert.ok(proto, `no prototype owns "${method}"`);
      return proto;
    };
    const connProto = ownerOf(conn, "read");
    for (const method of ["write", "closeWrite", "close"]) {
      assert.equal(ownerOf(conn, method), connProto);
      assert.equal(ownerOf(accepted, method), connProto);
    }
    const listenerProto = ownerOf(listener, "accept");
    assert.equal(ownerOf(listener, "close"), listenerProto);
    conn.close();
    accepted.close();
    denoPrototypes = { conn: connProto, listener: listenerProto };
    return denoPrototypes;
  } finally {
    listener.close();
  }
}

const WATCHED = [
  "Deno.listen",
  "Deno.connect",
  "Deno.dlopen",
  "net.connect",
  "Conn.read",
  "Conn.write",
  "Conn.closeWrite",
  "Conn.close",
  "Listener.accept",
  "Listener.close",
] as const;
type Watched = typeof WATCHED[number];
const NO_CALLS = Object.fromEntries(WATCHED.map((name) => [name, 0]));

/**
 * Spies (calling through) on every way the Deno backend reaches the
 * operating system. Undo with `mock.restoreAll()`.
 */
async function watchSystemCalls(): Promise<() => Record<Watched, number>> {
  const { conn, listener } = await prototypes();
  // deno-lint-ignore no-explicit-any
  const on = (object: any, method: string) => mock.method(object, method);
  const mocks: Record<Watched, { mock: { callCount(): number } }> = {
    "Deno.listen": on(Deno, "listen"),
    "Deno.connect": on(Deno, "connect"),
    "Deno.dlopen": on(Deno, "dlopen"),
    "net.connect": on(net, "connect"),
    "Conn.read": on(conn, "read"),
    "Conn.write": on(conn, "write"),
    "Conn.closeWrite": on(conn, "closeWrite"),
    "Conn.close": on(conn, "close"),
    "Listener.accept": on(listener, "accept"),
    "Listener.close": on(listener, "close"),
  };
  return () =>
    Object.fromEntries(
      WATCHED.map((name) => [name, mocks[name].mock.callCount()]),
    ) as Record<Watched, number>;
}

const CONNECTED: ReadonlySet<SocketState> = new Set([
  "connected",
  "shutRd",
  "shutWr",
  "shutRdWr",
]);

/** Asserts that `error` is the kernel's answer `errno` to `op` in `state`. */
function isKernelAnswer(
  error: unknown,
  errno: Errno,
  op: SocketOp,
  state: SocketState,
): true {
  assert.ok(error instanceof SocketError, `expected a SocketError: ${error}`);
  assert.equal(error.code, errno);
  assert.equal(error.op, op);
  assert.equal(error.state, state);
  assert.ok(error.message.includes(errno), error.message);
  return true;
}

/** Asserts that `error` is the refusal of `op` in `state` with `errno`. */
function isRefusal(
  error: unknown,
  errno: Errno,
  op: SocketOp,
  state: SocketState,
): true {
  isKernelAnswer(error, errno, op, state);
  const { message } = error as SocketError;
  assert.ok(message.includes(`${op}()`), message);
  assert.ok(message.includes(`"${state}"`), message);
  return true;
}

// ---------------------------------------------------------------------------
// The oracle: what Linux returns for each call in each state
// ---------------------------------------------------------------------------

const CALLS = [
  "bind",
  "listen",
  "connect",
  "accept",
  "send",
  "recv",
  "shutdown",
  "close",
  "getsockname",
  "getpeername",
] as const satisfies readonly SocketOp[];
type Call = typeof CALLS[number];
type Outcome = Errno | "ok";
type Table = Record<Stage, Record<Call, Outcome>>;

/** Parses a whitespace-aligned table: a header of calls, a row per stage. */
function table(text: string): Table {
  const [header, ...rows] = text.trim().split("\n").map((line) =>
    line.trim().split(/\s{2,}/)
  );
  assert.deepEqual(header, ["stage", ...CALLS]);
  const result = {} as Table;
  for (const [stage, ...outcomes] of rows) {
    assert.ok(stage in STAGES, `unknown stage "${stage}"`);
    assert.equal(outcomes.length, CALLS.length, `row "${stage}"`);
    const row = {} as Record<Call, Outcome>;
    CALLS.forEach((call, i) => {
      const outcome = outcomes[i];
      assert.ok(outcome === "ok" || isErrno(outcome), `bad cell ${outcome}`);
      row[call] = outcome as Outcome;
    });
    result[stage as Stage] = row;
  }
  assert.deepEqual(Object.keys(result), STAGE_NAMES);
  return result;
}

/**
 * TCP over inet and inet6. Notes, by call:
 * - bind: `__inet_bind` wants `TCP_CLOSE` and no port yet, else EINVAL.
 * - listen: `inet_listen` wants `SS_UNCONNECTED`, else EINVAL; it autobinds
 *   an unbound socket and accepts a second listen().
 * - connect: `__inet_stream_connect` gives EISCONN when connected, and when
 *   `sk_state != TCP_CLOSE` (so also for a listener).
 * - accept: `inet_csk_accept` gives EINVAL unless `TCP_LISTEN`.
 * - send: `sk_stream_wait_connect` gives EPIPE outside SYN_SENT/SYN_RECV, and
 *   SEND_SHUTDOWN gives EPIPE.
 * - recv: `tcp_recvmsg` gives ENOTCONN on a listener or a never-connected
 *   (`TCP_CLOSE`) socket.
 * - shutdown: `inet_shutdown` gives ENOTCONN in `TCP_CLOSE`, 0 on a listener.
 * - getpeername: `inet_getname` gives ENOTCONN without a peer.
 * - after close() the descriptor is gone: EBADF.
 */
const TCP = table(`
  stage                  bind     listen   connect   accept   send     recv      shutdown  close  getsockname  getpeername
  created                ok       ok       ok        EINVAL   EPIPE    ENOTCONN  ENOTCONN  ok     ok           ENOTCONN
  bound                  EINVAL   ok       ok        EINVAL   EPIPE    ENOTCONN  ENOTCONN  ok     ok           ENOTCONN
  listening              EINVAL   ok       EISCONN   ok       EPIPE    ENOTCONN  ok        ok     ok           ENOTCONN
  connected (client)     EINVAL   EINVAL   EISCONN   EINVAL   ok       ok        ok        ok     ok           ok
  connected (accepted)   EINVAL   EINVAL   EISCONN   EINVAL   ok       ok        ok        ok     ok           ok
  shutRd                 EINVAL   EINVAL   EISCONN   EINVAL   ok       ok        ok        ok     ok           ok
  shutWr                 EINVAL   EINVAL   EISCONN   EINVAL   EPIPE    ok        ok        ok     ok           ok
  shutRdWr               EINVAL   EINVAL   EISCONN   EINVAL   EPIPE    ok        ok        ok     ok           ok
  closed                 EBADF    EBADF    EBADF     EBADF    EBADF    EBADF     EBADF     EBADF  EBADF        EBADF
`);

/**
 * Unix stream sockets. Notes, by call:
 * - bind: `unix_bind_bsd` gives EINVAL when the socket has an address (the
 *   new path here is one where no file is). A client that connected without
 *   bind() has no address, so Linux lets it bind: "ok" in the client rows.
 *   An accepted socket shares the listener's address: EINVAL.
 * - listen: `unix_listen` gives EINVAL without an address, or outside
 *   TCP_CLOSE/TCP_LISTEN.
 * - connect (to a live listener): `unix_stream_connect` gives EISCONN when
 *   established, EINVAL in any other state but TCP_CLOSE (a listener).
 * - accept: `unix_accept` gives EINVAL unless listening.
 * - send: `unix_stream_sendmsg` gives ENOTCONN without a peer, EPIPE after
 *   SEND_SHUTDOWN.
 * - recv: `unix_stream_read_generic` gives EINVAL unless established.
 * - shutdown: `unix_shutdown` sets the bits and returns 0 in every state.
 * - getpeername: `unix_getname` gives ENOTCONN without a peer.
 */
const UNIX = table(`
  stage                  bind     listen   connect   accept   send      recv    shutdown  close  getsockname  getpeername
  created                ok       EINVAL   ok        EINVAL   ENOTCONN  EINVAL  ok        ok     ok           ENOTCONN
  bound                  EINVAL   ok       ok        EINVAL   ENOTCONN  EINVAL  ok        ok     ok           ENOTCONN
  listening              EINVAL   ok       EINVAL    ok       ENOTCONN  EINVAL  ok        ok     ok           ENOTCONN
  connected (client)     ok       EINVAL   EISCONN   EINVAL   ok        ok      ok        ok     ok           ok
  connected (accepted)   EINVAL   EINVAL   EISCONN   EINVAL   ok        ok      ok        ok     ok           ok
  shutRd                 ok       EINVAL   EISCONN   EINVAL   ok        ok      ok        ok     ok           ok
  shutWr                 ok       EINVAL   EISCONN   EINVAL   EPIPE     ok      ok        ok     ok           ok
  shutRdWr               ok       EINVAL   EISCONN   EINVAL   EPIPE     ok      ok        ok     ok           ok
  closed                 EBADF    EBADF    EBADF     EBADF    EBADF     EBADF   EBADF     EBADF  EBADF        EBADF
`);

const LINUX: Record<Domain, Table> = { inet: TCP, inet6: TCP, unix: UNIX };

/** The ways to make `call` on the scene's socket, one per argument variant. */
function invocations(
  scene: Scene,
  call: Call,
): Array<[label: string, run: () => unknown]> {
  const { sock, server, arena } = scene;
  switch (call) {
    case "bind":
      return [["bind(a fresh address)", () => sock.bind(arena.addr())]];
    case "listen":
      return [["listen()", () => sock.listen()]];
    case "connect":
      return [[
        "connect(a live listener)",
        () => sock.connect(server.getsockname()),
      ]];
    case "accept":
      return [["accept()", () => sock.accept()]];
    case "send":
      return [["send(1 byte)", () => sock.send(new Uint8Array([1]))]];
    case "recv":
      return [["recv()", () => sock.recv()]];
    case "shutdown":
      return (["read", "write", "both"] as const).map((how) => [
        `shutdown("${how}")`,
        () => sock.shutdown(how),
      ]);
    case "close":
      return [["close()", () => sock.close()]];
    case "getsockname":
      return [["getsockname()", () => sock.getsockname()]];
    case "getpeername":
      return [["getpeername()", () => sock.getpeername()]];
  }
}

const SYNC_CALLS: ReadonlySet<Call> = new Set([
  "close",
  "getsockname",
  "getpeername",
]);

/** "accept() and send() fail with EINVAL, ..." for a row of the table. */
function describeRefusals(row: Record<Call, Outcome>): string {
  const byErrno = new Map<Errno, Call[]>();
  for (const call of CALLS) {
    const outcome = row[call];
    if (outcome === "ok") continue;
    byErrno.set(outcome, [...(byErrno.get(outcome) ?? []), call]);
  }
  return [...byErrno].map(([errno, calls]) =>
    `${calls.map((call) => `${call}()`).join(", ")} ${
      calls.length === 1 ? "fails" : "fail"
    } with ${errno}`
  ).join("; ");
}

// ---------------------------------------------------------------------------
// 1 and 2. Every illegal ordering is refused with Linux's errno, no syscall
// ---------------------------------------------------------------------------

for (const domain of DOMAINS) {
  for (const stage of STAGE_NAMES) {
    const linux = LINUX[domain][stage];
    const refused = CALLS.filter((call) => linux[call] !== "ok");
    const state = STAGES[stage];
    // Where the answer depends on what the runtime cannot see, the call goes
    // to the kernel (the Deno backend answers as its reads and writes saw
    // the connection, and looks a unix target up): whether a TCP connection
    // is over decides bind(), and the target decides a unix connect().
    const kernelAnswers = (call: Call) =>
      CONNECTED.has(state) && domain !== "unix"
        ? call === "bind"
        : domain === "unix" && call === "connect" &&
          (CONNECTED.has(state) || state === "listening");
    Deno.test(
      `${domain} socket ${stage}: ${
        describeRefusals(linux)
      }; the state is unchanged and no system call is made${
        refused.some(kernelAnswers)
          ? ` but for ${
            refused.filter(kernelAnswers).map((c) => `${c}()`).join(", ")
          }, which the kernel answers`
          : ""
      }`,
      async (t) => {
        const scene = await reach(domain, stage);
        const attempt = async (call: Call, check: (e: unknown) => true) => {
          const errno = linux[call] as Errno;
          for (const [label, run] of invocations(scene, call)) {
            await t.step(`${label} fails with ${errno}`, async () => {
              if (SYNC_CALLS.has(call)) {
                assert.throws(run, check);
              } else {
                await assert.rejects(async () => await run(), check);
              }
              assert.equal(scene.sock.state, state);
            });
          }
        };
        try {
          const calls = await watchSystemCalls();
          try {
            for (const call of refused.filter((c) => !kernelAnswers(c))) {
              const errno = linux[call] as Errno;
              await attempt(call, (e) => isRefusal(e, errno, call, state));
            }
            await t.step("no system call was made", () => {
              assert.deepEqual(calls(), NO_CALLS);
            });
          } finally {
            mock.restoreAll();
          }
          for (const call of refused.filter(kernelAnswers)) {
            const errno = linux[call] as Errno;
            await attempt(call, (e) => isKernelAnswer(e, errno, call, state));
          }
          // What Linux allows without changing the state is allowed too.
          for (const call of ["getsockname", "getpeername"] as const) {
            if (linux[call] !== "ok") continue;
            const addr = scene.sock[call]();
            assert.equal(typeof addr, "object");
            assert.equal(scene.sock.state, state);
          }
        } finally {
          await scene.cleanup();
        }
      },
    );
  }
}

Deno.test("the system-call spies do see the calls that a legal sequence makes", async () => {
  const arena = await Arena.open("inet");
  try {
    const calls = await watchSystemCalls();
    try {
      const server = await arena.listener();
      const client = arena.socket();
      await client.connect(server.getsockname());
      const peer = arena.own(await server.accept());
      await client.send(encoder.encode("x"));
      await peer.recv();
      await client.shutdown("write");
      client.close();
      // A bound client connects through node:net, from its address.
      const bound = arena.socket();
      await bound.bind(arena.addr());
      await bound.connect(server.getsockname());
      arena.own(await server.accept());
      server.close();
      const seen = calls();
      assert.equal(seen["Deno.listen"], 2);
      assert.equal(seen["Deno.connect"], 1);
      assert.equal(seen["net.connect"], 1);
      assert.equal(seen["Listener.accept"], 2);
      assert.ok(seen["Conn.write"] >= 1);
      assert.ok(seen["Conn.read"] >= 1);
      assert.equal(seen["Conn.closeWrite"], 1);
      assert.ok(seen["Conn.close"] >= 1);
      assert.ok(seen["Listener.close"] >= 2);
    } finally {
      mock.restoreAll();
    }
  } finally {
    await arena.cleanup();
  }
});

Deno.test("the system-call spies do see libc being opened for a bound unix client", async () => {
  const arena = await Arena.open("unix");
  try {
    const server = await arena.listener();
    const client = arena.socket();
    await client.bind(arena.addr());
    const calls = await watchSystemCalls();
    try {
      await client.connect(server.getsockname());
    } finally {
      mock.restoreAll();
    }
    assert.equal(calls()["Deno.dlopen"], 1);
    assert.equal(client.state, "connected");
    arena.own(await server.accept());
  } finally {
    await arena.cleanup();
  }
});

// ---------------------------------------------------------------------------
// 3. Legal behaviours Linux has
// ---------------------------------------------------------------------------

for (const domain of TCP_DOMAINS) {
  Deno.test(`listen() on an unbound ${domain} TCP socket auto-binds a port`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = arena.socket();
      await server.listen();
      assert.equal(server.state, "listening");
      const local = server.getsockname();
      assert.ok("port" in local);
      assert.ok(local.port > 0, `port ${local.port}`);
      assert.equal(local.hostname, WILDCARD[domain]);
      // It really listens there.
      const client = arena.socket();
      await client.connect({ hostname: LOOPBACK[domain], port: local.port });
      const peer = arena.own(await server.accept());
      assert.equal(peer.state, "connected");
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`shutdown("write") on ${A[domain]} TCP listener is allowed and it keeps listening`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const before = server.getsockname();
      await server.shutdown("write");
      assert.equal(server.state, "listening");
      assert.deepEqual(server.getsockname(), before);
      const { peer } = await arena.pair(server);
      assert.equal(peer.state, "connected");
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`shutdown("read") or shutdown("both") on ${A[domain]} TCP listener whose port the kernel chose stops it listening and returns it to created`, async () => {
    const arena = await Arena.open(domain);
    try {
      for (const how of ["read", "both"] as const) {
        const server = await arena.listener();
        const { port } = server.getsockname() as { port: number };
        await server.shutdown(how);
        assert.equal(server.state, "created", `after shutdown("${how}")`);
        // Nothing listens on that port any more...
        const client = arena.socket();
        await assert.rejects(
          client.connect({ hostname: LOOPBACK[domain], port }),
          (error: unknown) =>
            error instanceof SocketError && error.code === "ECONNREFUSED",
        );
        // ...and the socket can be bound and listen again.
        await server.bind(arena.addr());
        assert.equal(server.state, "bound");
        await server.listen();
        assert.equal(server.state, "listening");
      }
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`shutdown("read") on ${A[domain]} TCP listener whose port the caller chose stops it listening and leaves it bound`, async () => {
    const arena = await Arena.open(domain);
    try {
      const port = freePort(LOOPBACK[domain]);
      const server = arena.socket();
      await server.bind({ hostname: LOOPBACK[domain], port });
      await server.listen();
      await server.shutdown("read");
      assert.equal(server.state, "bound");
      assert.deepEqual(server.getsockname(), {
        hostname: LOOPBACK[domain],
        port,
      });
      // Still bound: a second bind is refused; listen() works again.
      await assert.rejects(
        server.bind(arena.addr()),
        (error: unknown) =>
          error instanceof SocketError && error.code === "EINVAL",
      );
      await server.listen();
      assert.equal(server.state, "listening");
      assert.equal((server.getsockname() as { port: number }).port, port);
      const { peer } = await arena.pair(server);
      assert.equal(peer.state, "connected");
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`a failed connect() (ECONNREFUSED) leaves an unbound ${domain} socket in created, and it can connect again`, async () => {
    const arena = await Arena.open(domain);
    try {
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
          return true;
        },
      );
      assert.equal(client.state, "created");
      assert.deepEqual(client.getsockname(), {
        hostname: WILDCARD[domain],
        port: 0,
      });
      await client.connect(server.getsockname());
      assert.equal(client.state, "connected");
      arena.own(await server.accept());
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`a failed connect() (ECONNREFUSED) gives back a port the kernel chose for a bound ${domain} socket, which can bind and connect again`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const client = arena.socket();
      await client.bind(arena.addr()); // port 0: the kernel chooses
      await assert.rejects(
        client.connect({
          hostname: LOOPBACK[domain],
          port: freePort(LOOPBACK[domain]),
        }),
        (error: unknown) =>
          error instanceof SocketError && error.code === "ECONNREFUSED",
      );
      // Linux releases the port (bind() works again) but keeps showing it.
      assert.equal(client.state, "created");
      assert.ok((client.getsockname() as { port: number }).port > 0);
      await client.connect(server.getsockname());
      assert.equal(client.state, "connected");
      const peer = arena.own(await server.accept());
      assert.deepEqual(peer.getpeername(), client.getsockname());
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`a failed connect() (ECONNREFUSED) leaves ${A[domain]} socket bound to a port the caller chose, and it connects again from there`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const client = arena.socket();
      const local = {
        hostname: LOOPBACK[domain],
        port: freePort(LOOPBACK[domain]),
      };
      await client.bind(local);
      await assert.rejects(
        client.connect({
          hostname: LOOPBACK[domain],
          port: freePort(LOOPBACK[domain]),
        }),
        (error: unknown) =>
          error instanceof SocketError && error.code === "ECONNREFUSED",
      );
      assert.equal(client.state, "bound");
      assert.deepEqual(client.getsockname(), local);
      await client.connect(server.getsockname());
      assert.equal(client.state, "connected");
      assert.deepEqual(client.getsockname(), local);
      const peer = arena.own(await server.accept());
      assert.deepEqual(peer.getpeername(), local);
    } finally {
      await arena.cleanup();
    }
  });
}

Deno.test("a failed connect() (ENOENT) leaves a unix socket in created, and it can connect again", async () => {
  const arena = await Arena.open("unix");
  try {
    const server = await arena.listener();
    const client = arena.socket();
    await assert.rejects(
      client.connect({ path: arena.missingPath() }),
      (error: unknown) =>
        error instanceof SocketError && error.code === "ENOENT" &&
        error.op === "connect",
    );
    assert.equal(client.state, "created");
    await client.connect(server.getsockname());
    assert.equal(client.state, "connected");
    arena.own(await server.accept());
  } finally {
    await arena.cleanup();
  }
});

for (const domain of DOMAINS) {
  Deno.test(`listen() again on a listening ${domain} socket is allowed`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const local = server.getsockname();
      await server.listen();
      assert.equal(server.state, "listening");
      await server.listen(16);
      assert.equal(server.state, "listening");
      assert.deepEqual(server.getsockname(), local);
      const { peer } = await arena.pair(server);
      assert.equal(peer.state, "connected");
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`recv() after shutdown("read") on ${A[domain]} socket returns end of stream at once`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const { client } = await arena.pair(server);
      await client.shutdown("read");
      assert.equal(client.state, "shutRd");
      const calls = await watchSystemCalls();
      let data: Uint8Array;
      try {
        data = await client.recv();
      } finally {
        mock.restoreAll();
      }
      assert.equal(data.length, 0);
      assert.equal(calls()["Conn.read"], 0);
      assert.equal(client.state, "shutRd");
      // The write side still works.
      assert.equal(await client.send(encoder.encode("hi")), 2);
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`the peer of ${A[domain]} socket sees end of stream after shutdown("write")`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const { client, peer } = await arena.pair(server);
      await client.send(encoder.encode("last words"));
      await client.shutdown("write");
      assert.equal(client.state, "shutWr");
      assert.equal(await recvAll(peer), "last words");
      assert.equal((await peer.recv()).length, 0);
      // The other direction is still open.
      await peer.send(encoder.encode("reply"));
      assert.equal(decoder.decode(await client.recv()), "reply");
    } finally {
      await arena.cleanup();
    }
  });

  Deno.test(`an accepted ${domain} socket starts in "connected"`, async () => {
    const arena = await Arena.open(domain);
    try {
      const server = await arena.listener();
      const { client, peer } = await arena.pair(server);
      assert.equal(peer.state, "connected");
      assert.equal(peer.domain, domain);
      assert.deepEqual(peer.getsockname(), server.getsockname());
      assert.deepEqual(peer.getpeername(), client.getsockname());
      assert.deepEqual(client.getpeername(), server.getsockname());
    } finally {
      await arena.cleanup();
    }
  });
}

Deno.test("getsockname() on an unbound socket reports port 0 (inet, inet6) or an empty path (unix)", () => {
  const expected: Record<Domain, SocketAddr> = {
    inet: { hostname: "0.0.0.0", port: 0 },
    inet6: { hostname: "::", port: 0 },
    unix: { path: "" },
  };
  for (const domain of DOMAINS) {
    using sock = socket({ domain });
    assert.deepEqual(sock.getsockname(), expected[domain], domain);
    assert.equal(sock.state, "created");
  }
});

Deno.test("shutdown() on an unconnected unix socket succeeds and changes no state", async () => {
  const arena = await Arena.open("unix");
  try {
    const created = arena.socket();
    const bound = arena.socket();
    await bound.bind(arena.addr());
    const listening = await arena.listener();
    for (const sock of [created, bound, listening]) {
      const state = sock.state;
      for (const how of ["read", "write", "both"] as const) {
        await sock.shutdown(how);
        assert.equal(sock.state, state, `shutdown("${how}") in ${state}`);
      }
    }
    // The unconnected socket can still connect afterwards.
    await created.connect(listening.getsockname());
    assert.equal(created.state, "connected");
    arena.own(await listening.accept());
  } finally {
    await arena.cleanup();
  }
});

// ---------------------------------------------------------------------------
// 4. Bad arguments
// ---------------------------------------------------------------------------

/** Asserts `run` fails with `errno` for `op` and a message matching `why`. */
async function assertBadArgument(
  run: () => unknown,
  errno: Errno,
  op: SocketOp,
  why: RegExp,
): Promise<void> {
  await assert.rejects(async () => await run(), (error: unknown) => {
    assert.ok(error instanceof SocketError, `expected a SocketError: ${error}`);
    assert.equal(error.code, errno);
    assert.equal(error.op, op);
    assert.match(error.message, why);
    return true;
  });
}

Deno.test("bind() with a bad address fails with EINVAL or EAFNOSUPPORT, says why, and makes no system call", async (t) => {
  using sock = socket({ domain: "inet" });
  const cases: Array<[string, unknown, Errno, RegExp]> = [
    [
      "port 70000",
      { hostname: "127.0.0.1", port: 70000 },
      "EINVAL",
      /port.*70000/,
    ],
    ["port -1", { hostname: "127.0.0.1", port: -1 }, "EINVAL", /port.*-1/],
    ["port 1.5", { hostname: "127.0.0.1", port: 1.5 }, "EINVAL", /port.*1\.5/],
    [
      "hostname localhost",
      { hostname: "localhost", port: 0 },
      "EINVAL",
      /"localhost" is not an IP literal/,
    ],
    [
      "no address",
      undefined,
      "EINVAL",
      /expected \{ hostname, port \} or \{ path \}/,
    ],
    [
      "an inet6 address",
      { hostname: "::1", port: 0 },
      "EAFNOSUPPORT",
      /to \[::1\]:0 on an inet socket .*another family/,
    ],
    [
      "a unix path",
      { path: "/tmp/sockfsm-nowhere.sock" },
      "EAFNOSUPPORT",
      /sockfsm-nowhere\.sock on an inet socket .*another family/,
    ],
  ];
  const calls = await watchSystemCalls();
  try {
    for (const [what, addr, errno, why] of cases) {
      await t.step(
        `bind(${what}) on an inet socket fails with ${errno}`,
        async () => {
          await assertBadArgument(
            () => sock.bind(addr as SocketAddr),
            errno,
            "bind",
            why,
          );
          assert.equal(sock.state, "created");
        },
      );
    }
    assert.deepEqual(calls(), NO_CALLS);
  } finally {
    mock.restoreAll();
  }
});

Deno.test("connect() to an address of another family fails with EAFNOSUPPORT on an inet socket and EINVAL on a unix socket", async () => {
  using inet = socket({ domain: "inet" });
  await assertBadArgument(
    () => inet.connect({ path: "/tmp/sockfsm-nowhere.sock" }),
    "EAFNOSUPPORT",
    "connect",
    /sockfsm-nowhere\.sock on an inet socket .*another family/,
  );
  using unix = socket({ domain: "unix" });
  await assertBadArgument(
    () => unix.connect({ hostname: "127.0.0.1", port: 1 }),
    "EINVAL",
    "connect",
    /127\.0\.0\.1:1 on a unix socket .*takes a \{ path \} address/,
  );
  assert.equal(inet.state, "created");
  assert.equal(unix.state, "created");
});

Deno.test("bind() and connect() on a closed socket fail with EBADF even with an address of another family, as on Linux", async () => {
  const sock = socket({ domain: "inet" });
  sock.close();
  for (const op of ["bind", "connect"] as const) {
    await assertBadArgument(
      () => sock[op]({ hostname: "::1", port: 1 }),
      "EBADF",
      op,
      /state "closed"/,
    );
  }
});

Deno.test('listen(-1), recv(0), send(a string) and shutdown("sideways") fail with EINVAL and say what was wrong', async () => {
  const arena = await Arena.open("inet");
  try {
    const server = arena.socket();
    await server.bind(arena.addr());
    await assertBadArgument(
      () => server.listen(-1),
      "EINVAL",
      "listen",
      /backlog.*-1/,
    );
    await assertBadArgument(
      () => server.listen(1.5),
      "EINVAL",
      "listen",
      /backlog.*1\.5/,
    );
    assert.equal(server.state, "bound");
    await server.listen();
    const { client } = await arena.pair(server);
    await assertBadArgument(() => client.recv(0), "EINVAL", "recv", /max.*0/);
    await assertBadArgument(
      // deno-lint-ignore no-explicit-any
      () => client.send("text" as any),
      "EINVAL",
      "send",
      /Uint8Array/,
    );
    await assertBadArgument(
      // deno-lint-ignore no-explicit-any
      () => client.shutdown("sideways" as any),
      "EINVAL",
      "shutdown",
      /"read", "write" or "both", got "sideways"/,
    );
    assert.equal(client.state, "connected");
  } finally {
    await arena.cleanup();
  }
});

Deno.test("socket() refuses a domain, type or protocol it does not model with EAFNOSUPPORT, ESOCKTNOSUPPORT or EPROTONOSUPPORT", () => {
  const cases: Array<[Parameters<typeof socket>[0], Errno, RegExp]> = [
    // deno-lint-ignore no-explicit-any
    [{ domain: "bluetooth" as any }, "EAFNOSUPPORT", /"bluetooth"/],
    // deno-lint-ignore no-explicit-any
    [{ domain: "inet", type: "raw" as any }, "ESOCKTNOSUPPORT", /"raw"/],
    [{ domain: "inet", protocol: 17 }, "EPROTONOSUPPORT", /protocol 17/],
    [{ domain: "inet", type: "dgram", protocol: 6 }, "EPROTONOSUPPORT", /17/],
    [{ domain: "unix", protocol: 6 }, "EPROTONOSUPPORT", /protocol 6/],
  ];
  for (const [options, errno, why] of cases) {
    assert.throws(() => socket(options), (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, errno);
      assert.equal(error.op, "socket");
      assert.match(error.message, why);
      return true;
    });
  }
  // IPPROTO_TCP is fine for inet and inet6 streams, IPPROTO_UDP for their
  // datagrams.
  using tcp = socket({ domain: "inet6", protocol: 6 });
  assert.equal(tcp.state, "created");
  using udp = socket({ domain: "inet", type: "dgram", protocol: 17 });
  assert.equal(udp.type, "dgram");
});

// ---------------------------------------------------------------------------
// 5. A call in flight
// ---------------------------------------------------------------------------

for (const domain of DOMAINS) {
  Deno.test(`listen() while bind() is in flight on ${A[domain]} socket waits for the bind, then listens; a second bind() waits and is EINVAL`, async () => {
    const arena = await Arena.open(domain);
    try {
      const sock = arena.socket();
      const changes: string[] = [];
      const binding = sock.bind(arena.addr());
      assert.equal(sock.state, "binding");
      const listening = sock.listen().then(() => changes.push("listened"));
      const rebinding = sock.bind(arena.addr()).catch((error) => {
        changes.push("rebind refused");
        // The bind and the listen went first: the socket is listening.
        isRefusal(error, "EINVAL", "bind", "listening");
      });
      await Promise.all([binding, listening, rebinding]);
      assert.deepEqual(changes, ["listened", "rebind refused"]);
      assert.equal(sock.state, "listening");
    } finally {
      await arena.cleanup();
    }
  });

  for (const bound of [false, true]) {
    const from = bound ? "bound" : "unbound";
    Deno.test(`close() while connect() is in flight on an ${from} ${domain} socket rejects the connect with EBADF and leaks nothing`, async () => {
      const arena = await Arena.open(domain);
      try {
        const server = await arena.listener();
        const client = arena.socket();
        if (bound) await client.bind(arena.addr());
        const connecting = client.connect(server.getsockname());
        assert.equal(client.state, "connecting");
        client.close();
        assert.equal(client.state, "closed");
        await assert.rejects(connecting, (error: unknown) => {
          assert.ok(error instanceof SocketError);
          assert.equal(error.code, "EBADF");
          assert.equal(error.op, "connect");
          assert.match(error.message, /closed while the call was in progress/);
          return true;
        });
        assert.throws(
          () => client.close(),
          (error: unknown) => isRefusal(error, "EBADF", "close", "closed"),
        );
      } finally {
        await arena.cleanup();
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Where Linux allows what the Deno backend cannot do
// ---------------------------------------------------------------------------

Deno.test("bind() on a connected unix client that has no address is allowed by the model, as on Linux, and the deno backend says it cannot do it", async (t) => {
  for (
    const stage of [
      "connected (client)",
      "shutRd",
      "shutWr",
      "shutRdWr",
    ] as const
  ) {
    await t.step(`in ${stage}`, async () => {
      const scene = await reach("unix", stage);
      try {
        const path = scene.arena.addr();
        await assert.rejects(scene.sock.bind(path), (error: unknown) => {
          assert.ok(error instanceof SocketError);
          assert.equal(error.code, "EOPNOTSUPP", "not a refusal by the model");
          assert.equal(error.op, "bind");
          assert.match(error.message, /deno backend: Linux allows it/);
          return true;
        });
        assert.equal(scene.sock.state, STAGES[stage]);
        assert.deepEqual(scene.sock.getsockname(), { path: "" });
      } finally {
        await scene.cleanup();
      }
    });
  }
});

Deno.test("bind() and connect() with an IPv4 address on an inet6 socket fail with EINVAL, as on Linux", async () => {
  using sock = socket({ domain: "inet6" });
  for (const op of ["bind", "connect"] as const) {
    await assert.rejects(
      sock[op]({ hostname: "127.0.0.1", port: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError);
        assert.equal(error.op, op);
        assert.equal(error.code, "EINVAL");
        return true;
      },
    );
  }
});

for (const backend of ["deno", "posix"] as const) {
  Deno.test(`a socket says which backend performs its calls, and an accepted socket has its listener's (${backend})`, async () => {
    using server = socket({ domain: "inet", backend });
    assert.equal(server.backend, backend);
    await server.listen();
    using client = socket({ domain: "inet" });
    assert.equal(client.backend, "deno");
    const accepting = server.accept();
    await client.connect({
      hostname: "127.0.0.1",
      port: server.getsockname().port,
    });
    using peer = await accepting;
    assert.equal(peer.backend, backend);
  });
}
