// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the typed API (typestate), both ways:
 *
 * - the legal chains type-check and run for real, on loopback and on unix
 *   sockets, with every socket closed (the sanitizers are on);
 * - the illegal chains do not compile: each is a line after
 *   `// @ts-expect-error` in {@linkcode _illegalOrderings}, which is never
 *   called but is type-checked by `deno check` and `deno test`, where an
 *   unused `@ts-expect-error` is itself an error;
 * - a cast around the types still reaches the runtime machine, which refuses
 *   the call with the Linux errno.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
} from "../mod.ts";
import {
  type BoundSocket,
  type ClosedSocket,
  type ConnectedSocket,
  type CreatedSocket,
  type ListeningSocket,
  typed,
  type TypedStreamConnection,
  typedStreamConnection,
} from "../steps/typed_socket.ts";
import { LOOPBACK, tempDir } from "./_net.ts";

// ---------------------------------------------------------------- helpers

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];

const INET_ANY: SocketAddr = { hostname: LOOPBACK.inet, port: 0 };

/**
 * Accepts on `listening` while `client` connects to it. If the connect
 * fails, the accept still pending is handled: a socket it returns later is
 * closed, and its failure (the listener closed) is ignored.
 */
async function connectTo(
  listening: ListeningSocket,
  client: CreatedSocket | BoundSocket,
): Promise<{ connected: ConnectedSocket; accepted: ConnectedSocket }> {
  const accepting = listening.accept();
  let connected: ConnectedSocket;
  try {
    connected = await client.connect(listening.getsockname());
  } catch (error) {
    accepting.then((peer) => peer.close(), () => {});
    throw error;
  }
  return { connected, accepted: await accepting };
}

/** Asserts that `promise` rejects with a SocketError from `op` in `state`. */
async function assertRefused(
  promise: Promise<unknown>,
  code: string,
  op: string,
  state: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SocketError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.op, op);
    assert.equal(error.state, state);
    return true;
  });
}

// ------------------------------------------------------ legal chains work

for (const backend of BACKENDS) {
  Deno.test(`typed() runs bind, listen, accept, connect, send, recv, shutdown and close on loopback (${backend} backend)`, async () => {
    using server = typed(socket({ domain: "inet", backend }));
    using client = typed(socket({ domain: "inet", backend }));

    const bound: BoundSocket<"inet"> = await server.bind(INET_ANY);
    assert.equal(bound.state, "bound");
    const listening: ListeningSocket<"inet"> = await bound.listen();
    assert.equal(listening.state, "listening");
    const port = listening.getsockname().port;
    assert.ok(port > 0);

    const { connected, accepted } = await connectTo(listening, client);
    using peer = accepted;
    assert.equal(connected.state, "connected");
    assert.equal(peer.state, "connected");
    assert.deepEqual(connected.getpeername(), {
      hostname: LOOPBACK.inet,
      port,
    });
    assert.deepEqual(peer.getpeername(), connected.getsockname());

    assert.equal(await connected.send(encoder.encode("ping")), 4);
    assert.equal(decoder.decode(await peer.recv()), "ping");
    assert.equal(await peer.send(encoder.encode("pong")), 4);
    const buffer = new Uint8Array(16);
    const n = await connected.recvInto(buffer);
    assert.equal(decoder.decode(buffer.subarray(0, n)), "pong");

    await connected.shutdown("write");
    assert.equal(connected.state, "shutWr");
    assert.equal((await peer.recv()).length, 0); // end of stream

    const closedClient: ClosedSocket = connected.close();
    const closedPeer: ClosedSocket = peer.close();
    const closedListener: ClosedSocket = listening.close();
    assert.equal(closedClient.state, "closed");
    assert.equal(closedPeer.state, "closed");
    assert.equal(closedListener.state, "closed");
  });
}

Deno.test("typed() chains read naturally: const l = await (await created.bind(addr)).listen()", async () => {
  using created = typed(socket({ domain: "inet6" }));
  const l = await (await created.bind({ hostname: LOOPBACK.inet6, port: 0 }))
    .listen();
  assert.equal(l.state, "listening");
  // Every step resolved to the same handle, re-typed.
  assert.equal(l, created);
});

Deno.test("typed() works on unix sockets: bind a path, listen, connect, talk", async () => {
  await using dir = await tempDir();
  using server = typed(socket({ domain: "unix" }));
  using client = typed(socket({ domain: "unix" }));
  const path = `${dir.path}/typed.sock`;
  const listening = await (await server.bind({ path })).listen();
  const { connected, accepted } = await connectTo(listening, client);
  using peer = accepted;
  await peer.send(encoder.encode("over unix"));
  assert.equal(decoder.decode(await connected.recv()), "over unix");
  assert.deepEqual(connected.getpeername(), { path });
});

Deno.test("typed() lets an unbound inet socket listen and a bound one connect", async () => {
  using server = typed(socket({ domain: "inet" }));
  using client = typed(socket({ domain: "inet" }));
  const listening = await server.listen(); // Linux binds an ephemeral port
  const bound = await client.bind(INET_ANY);
  const { connected, accepted } = await connectTo(listening, bound);
  using peer = accepted;
  assert.deepEqual(peer.getpeername(), connected.getsockname());
});

Deno.test("typed() exposes the runtime socket, its domain and its state", () => {
  const raw: Socket = socket({ domain: "inet" });
  using sock = typed(raw);
  assert.equal(sock.socket, raw);
  assert.equal(sock.domain, "inet");
  assert.equal(sock.state, "created");
});

Deno.test("typed() refuses a socket that is not in state created with SocketError EINVAL", async () => {
  using listener = socket({ domain: "inet" });
  await listener.listen();
  assert.throws(() => typed(listener), {
    name: "SocketError",
    code: "EINVAL",
    state: "listening",
    message: /state "listening"/,
  });
  listener.close();
  assert.throws(() => typed(listener), {
    name: "SocketError",
    code: "EINVAL",
    message: /state "closed"/,
  });
});

Deno.test("a typed socket closes when its first handle is disposed, whatever state the chain reached", async () => {
  let listening: ListeningSocket;
  {
    using created = typed(socket({ domain: "inet" }));
    listening = await (await created.bind(INET_ANY)).listen();
  }
  assert.equal(listening.state, "closed");
});

Deno.test("typedStreamConnection() gives a connected pair, both ends typed", async () => {
  let pair: TypedStreamConnection;
  {
    using typedPair = await typedStreamConnection({
      srvrAddr: INET_ANY,
      clntAddr: INET_ANY,
    });
    pair = typedPair;
    const srvrS: ConnectedSocket = pair.srvrS;
    const clntS: ConnectedSocket = pair.clntS;
    assert.deepEqual(srvrS.getpeername(), clntS.getsockname());
    assert.ok("port" in pair.srvrAddr && pair.srvrAddr.port > 0);
    await clntS.send(encoder.encode("hello"));
    assert.equal(decoder.decode(await srvrS.recv()), "hello");
  }
  assert.equal(pair.srvrS.state, "closed");
  assert.equal(pair.clntS.state, "closed");
});

// ------------------------- the runtime still checks what the types allow

Deno.test("an old handle still compiles, and the runtime refuses it: bind() twice is EINVAL", async () => {
  using created = typed(socket({ domain: "inet" }));
  await created.bind(INET_ANY);
  // `created` is still typed CreatedSocket; the machine knows better.
  await assertRefused(created.bind(INET_ANY), "EINVAL", "bind", "bound");
});

Deno.test("a handle used after close() is refused at runtime with EBADF", async () => {
  using server = typed(socket({ domain: "inet" }));
  using client = typed(socket({ domain: "inet" }));
  const listening = await server.listen();
  const { connected, accepted } = await connectTo(listening, client);
  using _peer = accepted;
  const closed = connected.close();
  assert.equal(closed.state, "closed");
  await assertRefused(
    connected.send(new Uint8Array(1)),
    "EBADF",
    "send",
    "closed",
  );
  assert.throws(() => connected.close(), {
    name: "SocketError",
    code: "EBADF",
  });
});

Deno.test("a cast around the types still gets the runtime SocketError with the Linux errno", async () => {
  using server = typed(socket({ domain: "inet" }));
  using client = typed(socket({ domain: "inet" }));
  using fresh = typed(socket({ domain: "inet" }));
  const listening = await server.bind(INET_ANY).then((b) => b.listen());
  const { connected, accepted } = await connectTo(listening, client);
  using _peer = accepted;

  // accept() on a connected socket: EINVAL, as the brief's example.
  await assertRefused(
    (connected as unknown as ListeningSocket).accept(),
    "EINVAL",
    "accept",
    "connected",
  );
  await assertRefused(
    (connected as unknown as CreatedSocket).listen(),
    "EINVAL",
    "listen",
    "connected",
  );
  await assertRefused(
    (connected as unknown as CreatedSocket).bind(INET_ANY),
    "EINVAL",
    "bind",
    "connected",
  );
  await assertRefused(
    (listening as unknown as ConnectedSocket).send(new Uint8Array(1)),
    "EPIPE",
    "send",
    "listening",
  );
  await assertRefused(
    (listening as unknown as CreatedSocket).connect(connected.getsockname()),
    "EISCONN",
    "connect",
    "listening",
  );
  await assertRefused(
    (fresh as unknown as ListeningSocket).accept(),
    "EINVAL",
    "accept",
    "created",
  );
  await assertRefused(
    (fresh as unknown as ConnectedSocket).recv(),
    "ENOTCONN",
    "recv",
    "created",
  );

  const closed = fresh.close();
  await assertRefused(
    (closed as unknown as ConnectedSocket).send(new Uint8Array(1)),
    "EBADF",
    "send",
    "closed",
  );
  assert.throws(() => (closed as unknown as ConnectedSocket).close(), {
    name: "SocketError",
    code: "EBADF",
  });
});

// -------------------------------------------- illegal chains do not compile

/**
 * Never called: only type-checked. Each `@ts-expect-error` line is an
 * illegal ordering the compiler must reject; the line before it, where
 * there is one, is a legal call with the same arguments, so the error comes
 * from the state, not from the arguments.
 */
async function _illegalOrderings(
  created: CreatedSocket,
  bound: BoundSocket,
  listening: ListeningSocket,
  connected: ConnectedSocket,
  closed: ClosedSocket,
  pair: TypedStreamConnection,
  addr: SocketAddr,
  data: Uint8Array,
): Promise<void> {
  // A created socket: no accept, send, recv, shutdown or getpeername.
  await created.bind(addr);
  // @ts-expect-error accept() on a socket that does not listen
  await created.accept();
  await connected.send(data);
  // @ts-expect-error send() on a socket that is not connected
  await created.send(data);
  // @ts-expect-error recv() on a socket that is not connected
  await created.recv();
  // @ts-expect-error shutdown() on a socket that is not connected
  await created.shutdown("write");
  // @ts-expect-error getpeername() on a socket that is not connected
  created.getpeername();

  // A bound socket: no second bind, no accept, no send.
  await bound.listen();
  // @ts-expect-error bind() on a bound socket
  await bound.bind(addr);
  // @ts-expect-error accept() on a bound socket that does not listen
  await bound.accept();
  // @ts-expect-error send() on a bound socket
  await bound.send(data);

  // A listening socket: accept only; no connect, send, recv or bind.
  await listening.accept();
  // @ts-expect-error connect() on a listening socket
  await listening.connect(addr);
  // @ts-expect-error send() on a listening socket
  await listening.send(data);
  // @ts-expect-error recv() on a listening socket
  await listening.recv();
  // @ts-expect-error bind() on a listening socket
  await listening.bind(addr);
  // @ts-expect-error getpeername() on a listening socket
  listening.getpeername();

  // A connected socket: no listen, accept, bind or connect.
  await created.listen();
  // @ts-expect-error listen() on a connected socket
  await connected.listen();
  // @ts-expect-error accept() on a connected socket
  await connected.accept();
  // @ts-expect-error bind() on a connected socket
  await connected.bind(addr);
  // @ts-expect-error connect() on a connected socket
  await connected.connect(addr);

  // A closed socket: nothing.
  // @ts-expect-error send() on a closed socket
  await closed.send(data);
  // @ts-expect-error close() on a closed socket
  closed.close();
  // @ts-expect-error recv() on a closed socket
  await closed.recv();
  // @ts-expect-error getsockname() on a closed socket
  closed.getsockname();
  // @ts-expect-error bind() on a closed socket
  await closed.bind(addr);

  // Through a chain, each step's result has only its state's calls.
  const l = await (await created.bind(addr)).listen();
  // @ts-expect-error send() on the listening end of a chain
  await l.send(data);
  const c = await created.connect(addr);
  // @ts-expect-error accept() on the connected end of a chain
  await c.accept();
  const a = await l.accept();
  // @ts-expect-error listen() on an accepted socket
  await a.listen();
  const x = c.close();
  // @ts-expect-error send() after close() in a chain
  await x.send(data);

  // The typed pair: both ends are connected.
  await pair.clntS.send(data);
  // @ts-expect-error listen() on an end of a typed pair
  await pair.clntS.listen();
  // @ts-expect-error accept() on an end of a typed pair
  await pair.srvrS.accept();

  // One state's type does not pass for another's.
  const ok: ConnectedSocket = a;
  // @ts-expect-error a listening socket is not a connected socket
  const notConnected: ConnectedSocket = l;
  // @ts-expect-error a connected socket is not a listening socket
  const notListening: ListeningSocket = c;
  // @ts-expect-error a closed socket is not a connected socket
  const notOpen: ConnectedSocket = x;
  // @ts-expect-error an open socket is not a closed socket
  const notClosed: ClosedSocket = c;
  // @ts-expect-error typed() takes a runtime Socket, not a typed one
  typed(created);
  void [ok, notConnected, notListening, notOpen, notClosed];
}

Deno.test("typed() of something that is not a socket says what it got, with EINVAL", () => {
  for (const [value, shown] of [[null, "null"], [5, "5"], ["s", '"s"']]) {
    assert.throws(() => typed(value as never), {
      name: "SocketError",
      code: "EINVAL",
      state: undefined,
      message:
        `Cannot type ${shown}: typed() takes a socket fresh from socket()`,
    });
  }
});
