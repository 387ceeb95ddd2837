// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Every message a user of the runtime can see is listed here with its text,
 * so that a change to any of them is deliberate: the errors of bad input to
 * each call, procedure and pure function, of a call refused by the machine,
 * of an abort, of a call the socket's closing ended, and of the kernel's
 * commonest refusals with their advice. (The machine's own reasons, which
 * end the refusals' messages, are listed in refusal_messages_test.ts.)
 *
 * Ports and temporary paths vary from run to run: they are written `<port>`
 * and `<dir>`. When the list is stale, the failure prints what changed and
 * the list to paste.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  dgramConnection,
  errnoNumber,
  explore,
  exploreConnection,
  genConnection,
  localPco,
  predict,
  predictConnection,
  processPco,
  socket,
  SocketError,
  streamConnection,
  toMermaid,
  typed,
  workerPco,
} from "../mod.ts";
import { tempDir, within } from "./_net.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

/** A case: what it does, and the call whose error it shows. */
type Case = readonly [what: string, run: (scope: Scope) => unknown];

/** What the cases share: sockets to close, a directory, ports to hide. */
class Scope {
  readonly dir: string;
  readonly #sockets: { close(): void; state: string }[] = [];
  readonly ports = new Set<number>();
  constructor(dir: string) {
    this.dir = dir;
  }
  /** A socket closed when the case is over. */
  keep<S extends { close(): void; state: string }>(sock: S): S {
    this.#sockets.push(sock);
    return sock;
  }
  /** A fresh socket of the backend, closed when the case is over. */
  sock(
    options: Parameters<typeof socket>[0] = { domain: "inet" },
  ): ReturnType<typeof socket> {
    return this.keep(socket(options));
  }
  /** A listening inet socket and its address. */
  async listener(backend: Backend = "deno") {
    const server = this.keep(socket({ domain: "inet", backend }));
    await server.bind(LOOPBACK);
    await server.listen();
    const addr = server.getsockname();
    this.ports.add(addr.port);
    return { server, addr };
  }
  /** A connected pair. */
  async pair(backend: Backend = "deno") {
    const { server, addr } = await this.listener(backend);
    const client = this.keep(socket({ domain: "inet", backend }));
    await client.connect(addr);
    this.ports.add(client.getsockname().port);
    const peer = this.keep(await server.accept());
    return { client, peer };
  }
  close(): void {
    for (const sock of this.#sockets.reverse()) {
      if (sock.state !== "closed") sock.close();
    }
  }
}

const BYTES = new Uint8Array([1, 2, 3]);
const INET = { domain: "inet" } as const;

const CASES: readonly Case[] = [
  // socket()
  ["socket(null)", () => socket(null as never)],
  [
    "socket() with an unknown option",
    () => socket({ ...INET, timeout: 1 } as never),
  ],
  [
    "socket() with a tracer that is not a function",
    () => socket({ ...INET, onTransition: 5 as never }),
  ],
  [
    'socket() with nonblocking "yes"',
    () => socket({ ...INET, nonblocking: "yes" as never }),
  ],
  ["socket() of an unknown domain", () => socket({ domain: "bogus" as never })],
  ["socket() of domain 1n", () => socket({ domain: 1n as never })],
  [
    "socket() of an unknown type",
    () => socket({ ...INET, type: "raw" as never }),
  ],
  ["socket() of a stream with UDP", () => socket({ ...INET, protocol: 17 })],
  ["socket() of protocol NaN", () => socket({ ...INET, protocol: NaN })],
  [
    "socket() of an unknown backend",
    () => socket({ ...INET, backend: "x" as never }),
  ],
  // bind(), listen(), connect() and their addresses
  ["bind(null)", (s) => s.sock().bind(null as never)],
  [
    "bind() to a host name",
    (s) => s.sock().bind({ hostname: "localhost", port: 0 }),
  ],
  [
    "bind() to port 70000",
    (s) => s.sock().bind({ hostname: "127.0.0.1", port: 70000 }),
  ],
  [
    "bind() of an inet socket to a path",
    (s) => s.sock().bind({ path: "/tmp/x" }),
  ],
  [
    "bind() to an address not of this machine",
    (s) => s.sock().bind({ hostname: "192.0.2.1", port: 0 }),
  ],
  ["bind() to a port in use", async (s) => {
    const { addr } = await s.listener();
    await s.sock().bind(addr);
  }],
  ["bind() to a unix path in use", async (s) => {
    const path = `${s.dir}/in-use`;
    await s.sock({ domain: "unix" }).bind({ path });
    await s.sock({ domain: "unix" }).bind({ path });
  }],
  ["bind() twice", async (s) => {
    const sock = s.sock();
    await sock.bind(LOOPBACK);
    await sock.bind(LOOPBACK);
  }],
  ["listen(-1)", (s) => s.sock().listen(-1)],
  ["listen(Symbol())", (s) => s.sock().listen(Symbol() as never)],
  [
    "connect() with null options",
    (s) => s.sock().connect(LOOPBACK, null as never),
  ],
  [
    "connect() with an unknown option",
    (s) => s.sock().connect(LOOPBACK, { timeout: 5 } as never),
  ],
  [
    "connect() with a signal that is not one",
    (s) => s.sock().connect(LOOPBACK, { signal: {} as never }),
  ],
  [
    "connect() with an aborted signal",
    (s) => s.sock().connect(LOOPBACK, { signal: AbortSignal.abort() }),
  ],
  ["connect() to a port nothing listens on", async (s) => {
    const { server, addr } = await s.listener();
    server.close();
    await s.sock().connect(addr);
  }],
  [
    "connect() to port 0",
    (s) => s.sock().connect({ hostname: "127.0.0.1", port: 0 }),
  ],
  [
    "connect() to a missing unix path",
    (s) => s.sock({ domain: "unix" }).connect({ path: `${s.dir}/none` }),
  ],
  ["connect() of a connected socket", async (s) => {
    const { client } = await s.pair();
    await client.connect(LOOPBACK);
  }],
  // accept()
  ["accept(null)", (s) => s.sock().accept(null as never)],
  [
    "accept() with a tracer that is not a function",
    (s) => s.sock().accept({ onTransition: 5 as never }),
  ],
  ["accept() on a socket that does not listen", (s) => s.sock().accept()],
  ["accept() timed out", async (s) => {
    const { server } = await s.listener();
    await server.accept({ signal: AbortSignal.timeout(10) });
  }],
  ["accept() cancelled while it waits", async (s) => {
    const { server } = await s.listener();
    const stop = new AbortController();
    const accepting = server.accept({ signal: stop.signal });
    stop.abort();
    await accepting;
  }],
  ["accept() of a socket closed meanwhile", async (s) => {
    const { server } = await s.listener();
    const accepting = server.accept();
    server.close();
    await accepting;
  }],
  // send(), recv() and the rest of the data calls
  ["send(5)", (s) => s.sock().send(5 as never)],
  ["send() on a socket that is not connected", (s) => s.sock().send(BYTES)],
  ['send() after shutdown("write")', async (s) => {
    const { client } = await s.pair();
    await client.shutdown("write");
    await client.send(BYTES);
  }],
  ["recv(0)", (s) => s.sock().recv(0)],
  ["recv(2 ** 53)", (s) => s.sock().recv(2 ** 53)],
  ["recv(Symbol())", (s) => s.sock().recv(Symbol() as never)],
  [
    "recvInto() of an empty buffer",
    (s) => s.sock().recvInto(new Uint8Array(0)),
  ],
  [
    "recvInto() of an ArrayBuffer",
    (s) => s.sock().recvInto(new ArrayBuffer(8) as never),
  ],
  ["recv() cancelled while it waits", async (s) => {
    const { client } = await s.pair();
    const stop = new AbortController();
    const receiving = client.recv(10, { signal: stop.signal });
    stop.abort();
    await receiving;
  }],
  ["recv() of a socket closed meanwhile", async (s) => {
    const { client } = await s.pair();
    const receiving = client.recv();
    client.close();
    await receiving;
  }],
  ["recvfrom(-1)", (s) => s.sock().recvfrom(-1)],
  [
    "sendto() to null",
    (s) => s.sock({ ...INET, type: "dgram" }).sendto(BYTES, null as never),
  ],
  [
    "send() of a datagram socket with no peer",
    (s) => s.sock({ ...INET, type: "dgram" }).send(BYTES),
  ],
  ['shutdown("x")', (s) => s.sock().shutdown("x" as never)],
  ["shutdown(1n)", (s) => s.sock().shutdown(1n as never)],
  [
    "shutdown() of a socket that is not connected",
    (s) => s.sock().shutdown("both"),
  ],
  ['wait("x")', (s) => s.sock().wait("x" as never)],
  [
    "getpeername() of a socket that is not connected",
    (s) => s.sock().getpeername(),
  ],
  ["a call on a closed socket", (s) => {
    const sock = s.sock();
    sock.close();
    return sock.listen();
  }],
  // setsockopt() and getsockopt()
  [
    "setsockopt() of an unknown option",
    (s) => s.sock().setsockopt("SO_BOGUS" as never, true as never),
  ],
  [
    "setsockopt() of a boolean option to 5",
    (s) => s.sock().setsockopt("TCP_NODELAY", 5 as never),
  ],
  [
    "setsockopt() of SO_LINGER to true",
    (s) => s.sock().setsockopt("SO_LINGER", true as never),
  ],
  [
    "setsockopt() of a TCP option on UDP",
    (s) => s.sock({ ...INET, type: "dgram" }).setsockopt("TCP_NODELAY", true),
  ],
  [
    "getsockopt() of an unknown option",
    (s) => s.sock().getsockopt("X" as never),
  ],
  // the procedures
  ["streamConnection(null)", () => streamConnection(null as never)],
  ["streamConnection() without srvrAddr", () => streamConnection({} as never)],
  [
    "streamConnection() to a wildcard",
    () => streamConnection({ srvrAddr: { hostname: "0.0.0.0", port: 0 } }),
  ],
  [
    "streamConnection() with an unknown option",
    () => streamConnection({ srvrAddr: LOOPBACK, timeout: 5 } as never),
  ],
  [
    "streamConnection() with proto 1n",
    () => streamConnection({ srvrAddr: LOOPBACK, proto: 1n as never }),
  ],
  [
    "streamConnection() with an aborted signal",
    () => streamConnection({ srvrAddr: LOOPBACK, signal: AbortSignal.abort() }),
  ],
  ["streamConnection() with a port in use", async (s) => {
    const { addr } = await s.listener();
    await streamConnection({ srvrAddr: addr });
  }],
  [
    "dgramConnection() with an unknown option",
    () => dgramConnection({ srvrAddr: LOOPBACK, srvrS: 1 } as never),
  ],
  [
    "genConnection() of an unknown type",
    () => genConnection({ type: "raw", srvrAddr: LOOPBACK } as never),
  ],
  // PCOs
  [
    "streamConnection() with a srvr that is not a PCO",
    () => streamConnection({ srvrAddr: LOOPBACK, srvr: 5 } as never),
  ],
  [
    "processPco() with a command that is not a list",
    () => processPco({ command: "ip netns exec h1" } as never),
  ],
  ["socket() of a closed local PCO", async () => {
    const pco = localPco();
    await pco.close();
    await pco.socket({ domain: "inet" });
  }],
  ["socket() of a closed worker PCO", async () => {
    const pco = await workerPco({ name: "w" });
    await pco.close();
    await pco.socket({ domain: "inet" });
  }],
  // the pure functions
  ["predict(null)", () => predict(null as never)],
  ["predict([1n])", () => predict([1n] as never)],
  ["predict() of an unknown op", () => predict(["bogus"] as never)],
  [
    "predict() of an unknown domain",
    () => predict(["bind"], { domain: "bogus" as never }),
  ],
  [
    "predictConnection() of an unknown op",
    () => predictConnection(["bogus"] as never),
  ],
  ["explore()", () => explore(undefined as never)],
  [
    "explore() to depth 65",
    () => explore({ domain: "inet", type: "stream", depth: 65 }),
  ],
  ["exploreConnection(null)", () => exploreConnection(null as never)],
  ["toMermaid()", () => toMermaid(undefined as never)],
  ["errnoNumber() of an unknown name", () => errnoNumber("EBOGUS" as never)],
  ["typed() of a bound socket", async (s) => {
    const sock = s.sock();
    await sock.bind(LOOPBACK);
    typed(sock);
  }],
];

/** Runs one case: its error as the list writes it. */
async function messageOf(run: Case[1], dir: string): Promise<string> {
  const scope = new Scope(dir);
  try {
    await within(5_000, Promise.resolve().then(() => run(scope)), "the case");
  } catch (error) {
    if (!(error instanceof SocketError)) {
      return `not a SocketError: ${String(error)}`;
    }
    let message = error.message.replaceAll(dir, "<dir>");
    for (const port of scope.ports) {
      message = message.replaceAll(`:${port}`, ":<port>");
    }
    return `${error.code}: ${message}`;
  } finally {
    scope.close();
  }
  return "no error";
}

const EXPECTED: Readonly<Record<string, string>> = {
  "socket(null)":
    'EINVAL: Cannot create a socket with options null: give an object, such as { domain: "inet" }',
  "socket() with an unknown option":
    'EINVAL: Cannot create a socket: unknown option "timeout"; the options are "domain", "type", "protocol", "backend", "nonblocking", "onTransition"',
  "socket() with a tracer that is not a function":
    "EINVAL: Cannot create a socket with onTransition 5: give a function, or leave it out",
  'socket() with nonblocking "yes"':
    'EINVAL: Cannot create a socket with nonblocking "yes": use true or false',
  "socket() of an unknown domain":
    'EAFNOSUPPORT: Cannot create a socket in domain "bogus": use "inet", "inet6" or "unix"',
  "socket() of domain 1n":
    'EAFNOSUPPORT: Cannot create a socket in domain 1n: use "inet", "inet6" or "unix"',
  "socket() of an unknown type":
    'ESOCKTNOSUPPORT: Cannot create a socket of type "raw": use "stream" or "dgram"',
  "socket() of a stream with UDP":
    "EPROTONOSUPPORT: Cannot create an inet stream socket with protocol 17: use 0 or 6 (IPPROTO_TCP)",
  "socket() of protocol NaN":
    "EPROTONOSUPPORT: Cannot create an inet stream socket with protocol NaN: use 0 or 6 (IPPROTO_TCP)",
  "socket() of an unknown backend":
    'EINVAL: Cannot use backend "x": use "deno" (Deno\'s network API) or "posix" (libc through FFI)',
  "bind(null)":
    "EINVAL: Cannot use the address: expected { hostname, port } or { path }, got null",
  "bind() to a host name":
    'EINVAL: Cannot use the address: "localhost" is not an IP literal; use one such as "127.0.0.1" or "::1" (names are not resolved)',
  "bind() to port 70000":
    'EINVAL: Cannot use the address: "port" must be from 0 to 65535, got 70000',
  "bind() of an inet socket to a path":
    'EAFNOSUPPORT: Cannot bind() to /tmp/x on an inet socket in state "created": EAFNOSUPPORT, the address is of another family than the socket; use an address of the socket\'s domain',
  "bind() to an address not of this machine":
    "EADDRNOTAVAIL: Cannot bind to 192.0.2.1:0: EADDRNOTAVAIL (Cannot assign requested address (os error 99)); the address is not one of this machine's addresses; use a local one such as 127.0.0.1",
  "bind() to a port in use":
    "EADDRINUSE: Cannot bind to 127.0.0.1:<port>: EADDRINUSE (Address already in use (os error 98)); another socket holds this address; use another port, or port 0",
  "bind() to a unix path in use":
    "EADDRINUSE: Cannot bind to <dir>/in-use: EADDRINUSE (Address already in use (os error 98)); a file already exists at that path (a stale socket file, if nothing listens there); remove it, or use another path",
  "bind() twice":
    'EINVAL: Cannot bind() to 127.0.0.1:0 on an inet socket in state "bound": EINVAL, the socket is already bound',
  "listen(-1)":
    'EINVAL: Cannot listen(): "backlog" must be a non-negative integer, got -1',
  "listen(Symbol())":
    'EINVAL: Cannot listen(): "backlog" must be a non-negative integer, got Symbol()',
  "connect() with null options":
    "EINVAL: Cannot connect(): the options must be an object or undefined, got null",
  "connect() with an unknown option":
    'EINVAL: Cannot connect(): unknown option "timeout"; the options are "signal"; to bound it, pass signal: AbortSignal.timeout(ms)',
  "connect() with a signal that is not one":
    'EINVAL: Cannot connect(): "signal" must be an AbortSignal, got {}',
  "connect() with an aborted signal":
    "ECANCELED: Cannot connect(): ECANCELED, its signal was already aborted, so nothing was done",
  "connect() to a port nothing listens on":
    "ECONNREFUSED: Cannot connect to 127.0.0.1:<port>: ECONNREFUSED (Connection refused (os error 111)); nothing is listening there; start the server first",
  "connect() to port 0":
    "ECONNREFUSED: Cannot connect to 127.0.0.1:0: ECONNREFUSED, nothing can listen on port 0 (Linux refuses the connection); connect to the port the server's getsockname() shows",
  "connect() to a missing unix path":
    "ENOENT: Cannot connect to <dir>/none: ENOENT (No such file or directory (os error 2)); there is no socket file at that path; bind and listen there first",
  "connect() of a connected socket":
    'EISCONN: Cannot connect() to 127.0.0.1:0 on an inet socket in state "connected": EISCONN, the socket is already connected',
  "accept(null)":
    "EINVAL: Cannot accept(): the options must be an object or undefined, got null",
  "accept() with a tracer that is not a function":
    'EINVAL: Cannot accept(): "onTransition" must be a function, got 5',
  "accept() on a socket that does not listen":
    'EINVAL: Cannot accept() on an inet socket in state "created": EINVAL, the socket is not listening; call listen() first',
  "accept() timed out":
    "ETIMEDOUT: Cannot finish accept(): ETIMEDOUT, its signal timed out; the socket still listens, and a connection that comes stays queued for the next accept()",
  "accept() cancelled while it waits":
    "ECANCELED: Cannot finish accept(): ECANCELED, its signal aborted it; the socket still listens, and a connection that comes stays queued for the next accept()",
  "accept() of a socket closed meanwhile":
    "EBADF: Cannot finish accept(): EBADF, the socket was closed while the call was in progress",
  "send(5)": "EINVAL: Cannot send(): data must be a Uint8Array, got 5",
  "send() on a socket that is not connected":
    'EPIPE: Cannot send() on an inet socket in state "created": EPIPE, the socket is not connected; call connect() first (Linux returns EPIPE for TCP where POSIX specifies ENOTCONN)',
  'send() after shutdown("write")':
    'EPIPE: Cannot send() on an inet socket in state "shutWr": EPIPE, the write side was shut down with shutdown(); nothing more can be sent',
  "recv(0)":
    'EINVAL: Cannot recv(): "max" must be an integer from 1 to 67108864 (64 MiB), got 0; to receive more at once, use recvInto() with a buffer of your own',
  "recv(2 ** 53)":
    'EINVAL: Cannot recv(): "max" must be an integer from 1 to 67108864 (64 MiB), got 9007199254740992; to receive more at once, use recvInto() with a buffer of your own',
  "recv(Symbol())":
    'EINVAL: Cannot recv(): "max" must be an integer from 1 to 67108864 (64 MiB), got Symbol(); to receive more at once, use recvInto() with a buffer of your own',
  "recvInto() of an empty buffer":
    "EINVAL: Cannot recv(): the buffer must be a non-empty Uint8Array, got an empty one",
  "recvInto() of an ArrayBuffer":
    "EINVAL: Cannot recv(): the buffer must be a non-empty Uint8Array, got an ArrayBuffer",
  "recv() cancelled while it waits":
    "ECANCELED: Cannot finish recv(): ECANCELED, its signal aborted it; nothing was received: data that comes stays queued for the next read",
  "recv() of a socket closed meanwhile":
    "EBADF: Cannot finish recv(): EBADF, the socket was closed while the call was in progress",
  "recvfrom(-1)":
    'EINVAL: Cannot recvfrom(): "max" must be an integer from 1 to 67108864 (64 MiB), got -1; to receive more at once, use recvInto() with a buffer of your own',
  "sendto() to null":
    "EINVAL: Cannot use the address: expected { hostname, port } or { path }, got null",
  "send() of a datagram socket with no peer":
    'EDESTADDRREQ: Cannot send() on an inet socket in state "created": EDESTADDRREQ, a datagram socket needs a peer: call connect() first',
  'shutdown("x")':
    'EINVAL: Cannot shutdown(): "how" must be "read", "write" or "both", got "x"',
  "shutdown(1n)":
    'EINVAL: Cannot shutdown(): "how" must be "read", "write" or "both", got 1n',
  "shutdown() of a socket that is not connected":
    'ENOTCONN: Cannot shutdown() on an inet socket in state "created": ENOTCONN, the socket is not connected; call connect() first',
  'wait("x")':
    'EINVAL: Cannot wait(): "what" must be "read" or "write", got "x"',
  "getpeername() of a socket that is not connected":
    'ENOTCONN: Cannot getpeername() on an inet socket in state "created": ENOTCONN, the socket has no peer; it is not connected',
  "a call on a closed socket":
    'EBADF: Cannot listen() on an inet socket in state "closed": EBADF, the socket is closed; create a new one with socket()',
  "setsockopt() of an unknown option":
    'ENOPROTOOPT: Cannot setsockopt(): ENOPROTOOPT, sockfsm knows no option "SO_BOGUS"; use one of SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, TCP_NODELAY, IPV6_V6ONLY, SO_RCVBUF, SO_SNDBUF, SO_LINGER',
  "setsockopt() of a boolean option to 5":
    "EINVAL: Cannot set TCP_NODELAY to 5: it takes true or false",
  "setsockopt() of SO_LINGER to true":
    "EINVAL: Cannot set SO_LINGER to true: it takes { onoff: boolean, linger: seconds from 0 to 65535 }",
  "setsockopt() of a TCP option on UDP":
    'ENOPROTOOPT: Cannot setsockopt() on an inet socket in state "created": ENOPROTOOPT, TCP options such as TCP_NODELAY apply to TCP sockets, not to UDP ones',
  "getsockopt() of an unknown option":
    'ENOPROTOOPT: Cannot getsockopt(): ENOPROTOOPT, sockfsm knows no option "X"; use one of SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, TCP_NODELAY, IPV6_V6ONLY, SO_RCVBUF, SO_SNDBUF, SO_LINGER, SO_ERROR, SO_TYPE',
  "streamConnection(null)":
    "EINVAL: Cannot create a connection: pass an options object with at least srvrAddr",
  "streamConnection() without srvrAddr":
    'EINVAL: Cannot create a connection: srvrAddr is required: the server\'s address, such as { hostname: "127.0.0.1", port: 0 }',
  "streamConnection() to a wildcard":
    "EINVAL: Cannot create a connection: srvrAddr 0.0.0.0:0 is a wildcard address, which a client cannot reach; give a specific address and srvrWild: true",
  "streamConnection() with an unknown option":
    'EINVAL: Cannot create a connection: unknown option "timeout"; the options are "srvrAddr", "srvrWild", "clntAddr", "domain", "proto", "backend", "srvrOptions", "clntOptions", "onTransition", "signal", "srvr", "clnt"; to bound it, pass signal: AbortSignal.timeout(ms)',
  "streamConnection() with proto 1n":
    "EPROTONOSUPPORT: Cannot create an inet stream socket with protocol 1n: use 0 or 6 (IPPROTO_TCP)",
  "streamConnection() with an aborted signal":
    'ECANCELED: streamConnection() failed at step "check arguments": ECANCELED, its signal was aborted; every socket it made is closed',
  "streamConnection() with a port in use":
    'EADDRINUSE: streamConnection() failed at step "bind server": Cannot bind to 127.0.0.1:<port>: EADDRINUSE (Address already in use (os error 98)); another socket holds this address; use another port, or port 0',
  "dgramConnection() with an unknown option":
    'EINVAL: Cannot create a connection: unknown option "srvrS"; the options are "srvrAddr", "srvrWild", "clntAddr", "domain", "proto", "backend", "srvrOptions", "clntOptions", "onTransition", "signal", "srvr", "clnt", "clntConnect", "srvrConnect"',
  "genConnection() of an unknown type":
    'ESOCKTNOSUPPORT: Cannot create a connection of type "raw": use "stream" or "dgram"',
  "streamConnection() with a srvr that is not a PCO":
    'EINVAL: Cannot create a connection: srvr must be a PCO (localPco(), await workerPco(), await processPco()) or "local", got 5',
  "processPco() with a command that is not a list":
    'EINVAL: Cannot start a process PCO: command must be an array of strings, such as ["ip", "netns", "exec", "h1"], got "ip netns exec h1"',
  "socket() of a closed local PCO":
    'EIO: Cannot create a socket in PCO "local": EIO, the PCO is closed; make sockets before closing it',
  "socket() of a closed worker PCO":
    'EIO: Cannot create a socket in PCO "w": EIO, the PCO is closed; make sockets before closing it',
  "predict(null)":
    'EINVAL: Cannot predict ops null: give an array of ops, such as ["bind","bind_wild"]',
  "predict([1n])":
    "EINVAL: Cannot predict op 1n: use one of bind, bind_wild, listen, connect, connect_refused, accept, send, recv, shut_wr, shut_rd, shut_rdwr, close, getsockname, getpeername, peer_connect, peer_close, sendto, disconnect, set_reuseaddr, set_nodelay, set_v6only, get_error",
  "predict() of an unknown op":
    'EINVAL: Cannot predict op "bogus": use one of bind, bind_wild, listen, connect, connect_refused, accept, send, recv, shut_wr, shut_rd, shut_rdwr, close, getsockname, getpeername, peer_connect, peer_close, sendto, disconnect, set_reuseaddr, set_nodelay, set_v6only, get_error',
  "predict() of an unknown domain":
    'EINVAL: Cannot predict a socket of domain "bogus": use "inet", "inet6" or "unix"',
  "predictConnection() of an unknown op":
    'EINVAL: Cannot predict op "bogus": use one of listener.bind, listener.listen, listener.accept, listener.close, client.bind, client.connect, client.getpeername, client.close, client.set_linger0, accepted.getpeername, accepted.close, accepted.set_linger0',
  "explore()":
    "EINVAL: Cannot explore with options undefined: give an object, such as { depth: 4 }",
  "explore() to depth 65":
    "EINVAL: Cannot explore to depth 65: use an integer from 1 to 64",
  "exploreConnection(null)":
    "EINVAL: Cannot explore with options null: give an object, such as { depth: 4 }",
  "toMermaid()":
    'EINVAL: Cannot draw with options undefined: give an object, such as { domain: "inet", type: "stream" }',
  "errnoNumber() of an unknown name":
    'EINVAL: Cannot give the number of errno "EBOGUS": use an errno name such as "EINVAL" (isErrno() tells one)',
  "typed() of a bound socket":
    'EINVAL: Cannot type a socket in state "bound" as created: pass typed() a socket fresh from socket()',
};

Deno.test("every message a user can see is listed with its text", async () => {
  await using dir = await tempDir();
  const actual: Record<string, string> = {};
  for (const [what, run] of CASES) {
    actual[what] = await messageOf(run, dir.path);
  }
  // Let a port closed by a case settle before the sanitizers look.
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (const [what, line] of Object.entries(actual)) {
    assert.match(
      line,
      /^E[A-Z]+: Cannot |^E[A-Z]+: \w+\(\) failed at step/,
      what,
    );
  }
  const changed = Object.keys({ ...actual, ...EXPECTED }).filter((what) =>
    actual[what] !== EXPECTED[what]
  );
  assert.deepEqual(
    changed,
    [],
    [
      ...changed.map((what) =>
        `${what}:\n  listed: ${EXPECTED[what]}\n  now:    ${actual[what]}`
      ),
      "If the change is deliberate, make EXPECTED in tests/messages_test.ts:",
      `const EXPECTED: Readonly<Record<string, string>> = ${
        JSON.stringify(actual, null, 2)
      };`,
    ].join("\n"),
  );
});
