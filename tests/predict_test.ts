// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What the model learned from the kernel, one behaviour per test. Every
 * expectation here was observed on Linux (6.18) with real system calls; the
 * conformance check (`deno task conformance`) keeps model and kernel equal.
 * Tests without a kernel profile in their name hold for the default profile,
 * "classic" (measured on 6.18.44-fc-v657); each behaviour where the profiles
 * differ has one test per profile.
 */
import assert from "node:assert/strict";
import {
  type KernelName,
  type Op,
  predict,
  type Result,
  SocketError,
} from "../mod.ts";

function expect(
  ops: Op[],
  results: Result[],
  domain: "inet" | "inet6" | "unix" = "inet",
): void {
  assert.deepEqual(predict(ops, { domain }), results, ops.join(" "));
}

function expectDgram(
  ops: Op[],
  results: Result[],
  domain: "inet" | "inet6" | "unix" = "inet",
): void {
  assert.deepEqual(
    predict(ops, { domain, type: "dgram" }),
    results,
    `dgram ${ops.join(" ")}`,
  );
}

Deno.test("listen on an unbound TCP socket auto-binds a port", () => {
  expect(["listen", "getsockname"], ["ok", "ok:port>0"]);
  expect(["listen", "getsockname"], ["ok", "ok:port>0"], "inet6");
});

Deno.test("listen on an unbound unix socket is EINVAL", () => {
  expect(["listen"], ["EINVAL"], "unix");
});

Deno.test("accept without a queued connection would block (EAGAIN); a peer's connect queues one", () => {
  expect(
    ["bind", "listen", "accept", "peer_connect", "accept", "accept"],
    ["ok", "ok", "EAGAIN", "ok", "ok", "EAGAIN"],
  );
});

Deno.test("a peer's connect to a bound socket that does not listen is refused", () => {
  expect(["bind", "peer_connect"], ["ok", "ECONNREFUSED"]);
  expect(["bind", "peer_connect"], ["ok", "ECONNREFUSED"], "unix");
  expect(["peer_connect"], ["noop"], "unix");
});

Deno.test("shutdown(SHUT_RD) on a TCP listener stops it listening", () => {
  expect(
    ["listen", "peer_connect", "shut_rd", "accept", "peer_connect"],
    ["ok", "ok", "ok", "EINVAL", "ECONNREFUSED"],
  );
});

Deno.test("shutdown(SHUT_WR) on a TCP listener changes nothing", () => {
  expect(["listen", "shut_wr", "peer_connect", "accept"], [
    "ok",
    "ok",
    "ok",
    "ok",
  ]);
});

Deno.test("a unix listener shut for reading refuses new connections but goes on listening", () => {
  expect(["bind", "listen", "shut_rd", "peer_connect", "accept"], [
    "ok",
    "ok",
    "ok",
    "ECONNREFUSED",
    "EAGAIN",
  ], "unix");
});

Deno.test("a refused TCP connect gives back the port the kernel chose, though getsockname still shows it", () => {
  expect(["connect_refused", "getsockname", "bind"], [
    "ECONNREFUSED",
    "ok:port>0",
    "ok",
  ]);
  expect(["bind", "connect_refused", "bind"], ["ok", "ECONNREFUSED", "ok"]);
});

Deno.test("shutdown on an unconnected TCP socket is ENOTCONN but sets the bits: recv then reads end of stream", () => {
  expect(["shut_rd", "recv"], ["ENOTCONN", "ok:eof"]);
  expect(["shut_wr", "recv", "send"], ["ENOTCONN", "ENOTCONN", "EPIPE"]);
});

Deno.test("shutdown on an unconnected unix socket succeeds", () => {
  expect(["shut_rdwr", "recv", "send"], ["ok", "EINVAL", "ENOTCONN"], "unix");
});

Deno.test("shutdown bits set before a TCP connect stay after it, but a failed connect clears them", () => {
  expect(["shut_wr", "connect", "send"], ["ENOTCONN", "ok", "EPIPE"]);
  expect(["shut_rd", "connect", "recv"], ["ENOTCONN", "ok", "ok:eof"]);
  expect(["shut_rd", "connect_refused", "recv"], [
    "ENOTCONN",
    "ECONNREFUSED",
    "ENOTCONN",
  ]);
});

Deno.test("recv on a TCP listener is ENOTCONN even after shutdown(SHUT_RD) set the bit", () => {
  expect(["shut_rd", "listen", "recv"], ["ENOTCONN", "ok", "ENOTCONN"]);
});

Deno.test("send on a never-connected socket is EPIPE for TCP, ENOTCONN for unix", () => {
  expect(["send"], ["EPIPE"]);
  expect(["send"], ["ENOTCONN"], "unix");
});

Deno.test("recv on a never-connected socket is ENOTCONN for TCP, EINVAL for unix", () => {
  expect(["recv"], ["ENOTCONN"]);
  expect(["recv"], ["EINVAL"], "unix");
});

Deno.test("a unix connect does not bind the client", () => {
  expect(["connect", "getsockname", "getpeername"], [
    "ok",
    "ok:unnamed",
    "ok:path",
  ], "unix");
});

Deno.test("autobind on a unix socket that has a name succeeds and changes nothing", () => {
  expect(["bind", "bind_wild", "getsockname"], ["ok", "ok", "ok:path"], "unix");
  expect(["bind_wild", "getsockname", "bind"], [
    "ok",
    "ok:abstract",
    "EINVAL",
  ], "unix");
});

Deno.test("a unix connect looks the target up first: a stale socket file refuses even a connected socket", () => {
  expect(["connect", "connect_refused", "connect"], [
    "ok",
    "ECONNREFUSED",
    "EISCONN",
  ], "unix");
  expect(["connect", "connect_refused"], ["ok", "EISCONN"]);
});

Deno.test("after the peer's orderly close, TCP reads end of stream; the first send is reset by the peer, the next is EPIPE", () => {
  expect(["connect", "peer_close", "recv", "send", "send", "recv"], [
    "ok",
    "ok",
    "ok:eof",
    "ok",
    "EPIPE",
    "ok:eof",
  ]);
});

Deno.test("after the peer's orderly close, unix send is EPIPE at once", () => {
  expect(["connect", "peer_close", "recv", "send"], [
    "ok",
    "ok",
    "ok:eof",
    "EPIPE",
  ], "unix");
});

Deno.test("a TCP peer that closes with data unread resets the connection: ECONNRESET once, then end of stream", () => {
  expect(["connect", "send", "peer_close", "recv", "recv", "getpeername"], [
    "ok",
    "ok",
    "ok",
    "ECONNRESET",
    "ok:eof",
    "ENOTCONN",
  ]);
});

Deno.test("a unix peer that closes with data unread leaves ECONNRESET for the next recv", () => {
  expect(["connect", "send", "peer_close", "recv", "recv"], [
    "ok",
    "ok",
    "ok",
    "ECONNRESET",
    "ok:eof",
  ], "unix");
});

Deno.test("TCP reads end of stream after the peer's FIN before it reports the reset that followed", () => {
  expect(["connect", "peer_close", "send", "recv"], [
    "ok",
    "ok",
    "ok",
    "ok:eof",
  ]);
});

Deno.test("once a TCP connection is over, getpeername is ENOTCONN and the socket can bind again", () => {
  expect(["connect", "shut_wr", "peer_close", "getpeername", "bind"], [
    "ok",
    "ok",
    "ok",
    "ENOTCONN",
    "ok",
  ]);
  expect(["connect", "peer_close", "shut_wr", "getpeername", "shut_rd"], [
    "ok",
    "ok",
    "ok",
    "ENOTCONN",
    "ENOTCONN",
  ]);
  // Whichever FIN comes last, a port the kernel chose at bind() goes back.
  for (const kernel of ["classic", "sticky"] as const) {
    expectOn(kernel, ["bind", "connect", "peer_close", "shut_wr", "bind"], [
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
    ]);
    expectOn(kernel, ["bind", "connect", "shut_wr", "peer_close", "bind"], [
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
    ]);
  }
});

Deno.test("after close every call is EBADF, and the peer actions are noops: the descriptor has no address and no peers", () => {
  expect(["bind", "listen", "close", "accept", "close", "peer_connect"], [
    "ok",
    "ok",
    "ok",
    "EBADF",
    "EBADF",
    "noop",
  ]);
  expect(["connect", "close", "peer_close", "peer_connect"], [
    "ok",
    "ok",
    "noop",
    "noop",
  ]);
  expect(["bind", "close", "peer_connect"], ["ok", "ok", "noop"], "unix");
  expectDgram(["bind", "peer_connect", "close", "peer_close"], [
    "ok",
    "ok",
    "ok",
    "noop",
  ]);
  expectDgram(["bind", "close", "peer_connect"], ["ok", "ok", "noop"]);
});

Deno.test("a datagram socket does not listen or accept: EOPNOTSUPP", () => {
  expectDgram(["listen", "accept"], ["EOPNOTSUPP", "EOPNOTSUPP"]);
  expectDgram(["bind", "listen"], ["ok", "EOPNOTSUPP"], "unix");
});

Deno.test("send on an unconnected UDP socket is EDESTADDRREQ, and binds an ephemeral port all the same", () => {
  expectDgram(["send", "getsockname", "bind", "peer_connect"], [
    "EDESTADDRREQ",
    "ok:port>0",
    "EINVAL",
    "ok",
  ]);
});

Deno.test("send on an unconnected unix datagram socket is ENOTCONN, or EPIPE once shut for writing", () => {
  expectDgram(["send", "shut_wr", "send"], ["ENOTCONN", "ok", "EPIPE"], "unix");
});

Deno.test("a UDP connect to a port with nothing bound succeeds; the ICMP after the first send is the next call's ECONNREFUSED", () => {
  expectDgram(["connect_refused", "send", "send", "send"], [
    "ok",
    "ok",
    "ECONNREFUSED",
    "ok",
  ]);
  expectDgram(["connect", "peer_close", "send", "recv"], [
    "ok",
    "ok",
    "ok",
    "ECONNREFUSED",
  ]);
});

Deno.test("a unix datagram connect looks its target up: a stale socket file is ECONNREFUSED", () => {
  expectDgram(
    ["connect_refused", "send"],
    ["ECONNREFUSED", "ENOTCONN"],
    "unix",
  );
});

Deno.test("a datagram from a peer waits for recv; after it, recv would block", () => {
  expectDgram(["bind", "peer_connect", "recv", "recv"], [
    "ok",
    "ok",
    "ok:data",
    "EAGAIN",
  ]);
  expectDgram(["bind", "peer_connect", "recv", "recv"], [
    "ok",
    "ok",
    "ok:data",
    "EAGAIN",
  ], "unix");
});

Deno.test("a connected UDP socket drops datagrams from others; a connected unix one refuses them with EPERM", () => {
  expectDgram(["bind", "connect", "peer_connect", "recv"], [
    "ok",
    "ok",
    "ok",
    "EAGAIN",
  ]);
  expectDgram(["bind", "connect", "peer_connect", "recv"], [
    "ok",
    "ok",
    "EPERM",
    "EAGAIN",
  ], "unix");
});

Deno.test("a unix datagram socket shut for reading makes its senders fail with EPIPE", () => {
  expectDgram(
    ["bind", "shut_rd", "peer_connect"],
    ["ok", "ok", "EPIPE"],
    "unix",
  );
});

Deno.test("after the unix datagram peer closes, send is ECONNREFUSED and the socket is disconnected", () => {
  expectDgram(["connect", "peer_close", "send", "send", "getpeername"], [
    "ok",
    "ok",
    "ECONNREFUSED",
    "ENOTCONN",
    "ENOTCONN",
  ], "unix");
});

Deno.test("shutdown(SHUT_RD) does not make a datagram socket read end of stream", () => {
  expectDgram(["connect", "shut_rd", "recv"], ["ok", "ok", "EAGAIN"]);
  expectDgram(["connect", "shut_rd", "recv"], ["ok", "ok", "EAGAIN"], "unix");
});

function expectNonblocking(ops: Op[], results: Result[]): void {
  assert.deepEqual(
    predict(ops, { nonblocking: true }),
    results,
    `O_NONBLOCK ${ops.join(" ")}`,
  );
}

Deno.test("a non-blocking TCP connect answers EINPROGRESS; the next connect says 0, the one after EISCONN", () => {
  expectNonblocking(["connect", "send", "connect", "connect"], [
    "EINPROGRESS",
    "ok",
    "ok",
    "EISCONN",
  ]);
});

Deno.test("shutdown settles a non-blocking TCP connect: connect then says EISCONN", () => {
  expectNonblocking(["connect", "shut_wr", "connect"], [
    "EINPROGRESS",
    "ok",
    "EISCONN",
  ]);
});

Deno.test("a refused non-blocking TCP connect is reported by the next connect, which resets the socket", () => {
  expectNonblocking(["connect_refused", "getpeername", "connect", "connect"], [
    "EINPROGRESS",
    "ENOTCONN",
    "ECONNREFUSED",
    "EINPROGRESS",
  ]);
});

Deno.test("recv or send can take the refusal first: connect then says ECONNABORTED", () => {
  expectNonblocking(["connect_refused", "recv", "recv", "connect"], [
    "EINPROGRESS",
    "ECONNREFUSED",
    "ok:eof",
    "ECONNABORTED",
  ]);
  expectNonblocking(["connect_refused", "send", "send"], [
    "EINPROGRESS",
    "ECONNREFUSED",
    "EPIPE",
  ]);
});

Deno.test("shutdown after a refused non-blocking connect is ENOTCONN, and connect is EINVAL from then on", () => {
  expectNonblocking(["connect_refused", "shut_wr", "connect", "recv"], [
    "EINPROGRESS",
    "ENOTCONN",
    "EINVAL",
    "ECONNREFUSED",
  ]);
});

Deno.test("a refused non-blocking connect gives its port back: bind works while the refusal waits", () => {
  expectNonblocking(["connect_refused", "bind", "connect"], [
    "EINPROGRESS",
    "ok",
    "ECONNREFUSED",
  ]);
});

Deno.test("a connection that died before the next connect: that connect reports the error", () => {
  expectNonblocking(["connect", "send", "peer_close", "connect"], [
    "EINPROGRESS",
    "ok",
    "ok",
    "ECONNRESET",
  ]);
});

Deno.test("O_NONBLOCK changes nothing for unix streams and datagram sockets on loopback", () => {
  assert.deepEqual(
    predict(["connect", "connect_refused", "send"], {
      domain: "unix",
      nonblocking: true,
    }),
    ["ok", "ECONNREFUSED", "ok"],
  );
  assert.deepEqual(
    predict(["connect_refused", "send", "send"], {
      type: "dgram",
      nonblocking: true,
    }),
    ["ok", "ok", "ECONNREFUSED"],
  );
});

/** The answers of a scenario on both IP domains, for one kernel profile. */
function expectOn(
  kernel: KernelName,
  ops: Op[],
  results: Result[],
  nonblocking = false,
): void {
  for (const domain of ["inet", "inet6"] as const) {
    assert.deepEqual(
      predict(ops, { domain, kernel, nonblocking }),
      results,
      `${kernel} ${domain}${nonblocking ? " O_NONBLOCK" : ""} ${ops.join(" ")}`,
    );
  }
}

Deno.test("classic kernel: a TCP socket whose connect was refused can listen", () => {
  expectOn("classic", ["connect_refused", "listen", "getsockname"], [
    "ECONNREFUSED",
    "ok",
    "ok:port>0",
  ]);
  expectOn("classic", ["bind", "connect_refused", "listen"], [
    "ok",
    "ECONNREFUSED",
    "ok",
  ]);
  expectOn("classic", ["connect_refused", "connect_refused", "listen"], [
    "EINPROGRESS",
    "ECONNREFUSED",
    "ok",
  ], true);
});

Deno.test("sticky kernel: listen on a TCP socket whose connect was refused is EINVAL for good, and binds an ephemeral port first", () => {
  expectOn("sticky", ["connect_refused", "listen", "bind"], [
    "ECONNREFUSED",
    "EINVAL",
    "EINVAL",
  ]);
  expectOn("sticky", ["connect_refused", "listen", "listen", "connect"], [
    "ECONNREFUSED",
    "EINVAL",
    "EINVAL",
    "ok",
  ]);
  expectOn("sticky", ["bind", "connect_refused", "connect_refused", "listen"], [
    "ok",
    "ECONNREFUSED",
    "ECONNREFUSED",
    "EINVAL",
  ]);
  expectOn("sticky", ["connect_refused", "connect_refused", "listen"], [
    "EINPROGRESS",
    "ECONNREFUSED",
    "EINVAL",
  ], true);
  // Unix sockets are alike on both kernels.
  for (const kernel of ["classic", "sticky"] as const) {
    assert.deepEqual(
      predict(["bind", "connect_refused", "listen"], {
        domain: "unix",
        kernel,
      }),
      ["ok", "ECONNREFUSED", "ok"],
    );
  }
});

Deno.test("classic kernel: a TCP socket whose listening shutdown(SHUT_RD) stopped can connect", () => {
  expectOn("classic", ["listen", "shut_rd", "connect"], ["ok", "ok", "ok"]);
  expectOn("classic", ["listen", "shut_rdwr", "connect_refused"], [
    "ok",
    "ok",
    "ECONNREFUSED",
  ]);
  expectOn("classic", ["listen", "shut_rd", "connect"], [
    "ok",
    "ok",
    "EINPROGRESS",
  ], true);
});

Deno.test("sticky kernel: connect on a TCP socket whose listening shutdown(SHUT_RD) stopped is EINVAL until it listens again", () => {
  expectOn("sticky", ["listen", "shut_rd", "connect", "connect_refused"], [
    "ok",
    "ok",
    "EINVAL",
    "EINVAL",
  ]);
  expectOn("sticky", ["listen", "shut_rdwr", "bind", "connect"], [
    "ok",
    "ok",
    "ok",
    "EINVAL",
  ]);
  expectOn("sticky", ["listen", "shut_rd", "listen", "connect"], [
    "ok",
    "ok",
    "ok",
    "EISCONN",
  ]);
  // The refused connect gives back a port the kernel chose, as a failed one.
  expectOn("sticky", ["listen", "shut_rd", "bind", "connect", "bind"], [
    "ok",
    "ok",
    "ok",
    "EINVAL",
    "ok",
  ]);
  expectOn("sticky", ["listen", "shut_wr", "shut_rd", "connect"], [
    "ok",
    "ok",
    "ok",
    "EINVAL",
  ]);
  expectOn("sticky", ["listen", "shut_rd", "connect"], [
    "ok",
    "ok",
    "EINVAL",
  ], true);
});

Deno.test("predict() refuses an unknown kernel profile and names the profiles", () => {
  assert.throws(
    // @ts-expect-error: not a profile
    () => predict(["listen"], { kernel: "bsd" }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EINVAL");
      assert.match(error.message, /"bsd"/);
      assert.match(error.message, /"classic", "sticky"/);
      return true;
    },
  );
});

Deno.test("predict() refuses an unknown op or type", () => {
  assert.throws(
    () => predict(["bind"], { type: "raw" as "stream" }),
    (error: unknown) =>
      error instanceof SocketError && error.code === "EINVAL" &&
      /"raw"/.test(error.message),
  );
  assert.throws(
    () => predict(["dance" as Op]),
    (error: unknown) =>
      error instanceof SocketError && error.code === "EINVAL" &&
      /"dance"/.test(error.message),
  );
});

// ------------------------------------------------------ socket options

Deno.test("a TCP option is EOPNOTSUPP on a unix socket and ENOPROTOOPT on UDP; an IPv6 option ENOPROTOOPT on inet", () => {
  expect(["set_nodelay"], ["EOPNOTSUPP"], "unix");
  expectDgram(["set_nodelay"], ["EOPNOTSUPP"], "unix");
  expectDgram(["set_nodelay"], ["ENOPROTOOPT"]);
  expectDgram(["set_nodelay"], ["ENOPROTOOPT"], "inet6");
  expect(["set_nodelay", "connect", "set_nodelay"], ["ok", "ok", "ok"]);
  expect(["set_v6only"], ["ENOPROTOOPT"]);
  expect(["set_v6only"], ["EOPNOTSUPP"], "unix");
  expectDgram(["set_v6only"], ["ENOPROTOOPT"]);
  expect(["set_reuseaddr"], ["ok"], "unix");
  expectDgram(["set_reuseaddr"], ["ok"], "unix");
});

Deno.test("IPV6_V6ONLY is EINVAL once an inet6 socket holds a port, and can be set again after a failed connect gave the port back", () => {
  expect(["set_v6only", "bind", "set_v6only"], ["ok", "ok", "EINVAL"], "inet6");
  expect(["listen", "set_v6only"], ["ok", "EINVAL"], "inet6");
  expect(["connect", "set_v6only"], ["ok", "EINVAL"], "inet6");
  expect(
    ["connect_refused", "set_v6only"],
    ["ECONNREFUSED", "ok"],
    "inet6",
  );
  expectDgram(["connect", "set_v6only"], ["ok", "EINVAL"], "inet6");
  expectDgram(["sendto", "set_v6only"], ["ok", "EINVAL"], "inet6");
});

Deno.test("getsockopt(SO_ERROR) takes the pending error: a refused non-blocking connect then reports ECONNABORTED", () => {
  assert.deepEqual(
    predict(["connect_refused", "get_error", "get_error", "connect"], {
      nonblocking: true,
    }),
    ["EINPROGRESS", "ok:ECONNREFUSED", "ok:none", "ECONNABORTED"],
  );
  // The peer answers data after its close with a reset: EPIPE pending.
  expect(
    ["connect", "peer_close", "send", "get_error", "recv"],
    ["ok", "ok", "ok", "ok:EPIPE", "ok:eof"],
  );
  expect(["get_error", "close", "get_error"], ["ok:none", "ok", "EBADF"]);
});

Deno.test("every option call on a closed socket is EBADF", () => {
  for (const op of ["set_reuseaddr", "set_nodelay", "get_error"] as const) {
    expect(["close", op], ["ok", "EBADF"]);
    expectDgram(["close", op], ["ok", "EBADF"], "unix");
  }
});

// -------------------------------------------------- sendto, disconnect

Deno.test("sendto() on TCP ignores the address and answers as send(); a unix stream socket refuses an address", () => {
  expect(["sendto"], ["EPIPE"]);
  expect(["connect", "sendto", "shut_wr", "sendto"], [
    "ok",
    "ok",
    "ok",
    "EPIPE",
  ]);
  expect(["sendto"], ["EOPNOTSUPP"], "unix");
  expect(["connect", "sendto"], ["ok", "EISCONN"], "unix");
});

Deno.test("sendto() on an unbound UDP socket binds an ephemeral port first; a datagram socket need not be connected", () => {
  expectDgram(["sendto", "getsockname"], ["ok", "ok:port>0"]);
  expectDgram(["sendto", "getsockname"], ["ok", "ok:unnamed"], "unix");
  expectDgram(["connect", "sendto"], ["ok", "ok"], "unix");
  expectDgram(["shut_wr", "sendto", "getsockname"], [
    "ENOTCONN",
    "EPIPE",
    "ok:port>0",
  ]);
});

Deno.test("disconnect() of a datagram socket forgets its peer; UDP gives back a port the kernel chose", () => {
  expectDgram(["connect", "disconnect", "getpeername", "getsockname"], [
    "ok",
    "ok",
    "ENOTCONN",
    "ok:port=0",
  ]);
  expectDgram(["bind", "disconnect", "getsockname"], [
    "ok",
    "ok",
    "ok:port=0",
  ]);
  // A unix datagram socket keeps its name.
  expectDgram(["bind", "connect", "disconnect", "getsockname"], [
    "ok",
    "ok",
    "ok",
    "ok:path",
  ], "unix");
});

Deno.test("disconnect() of a TCP connection resets it: the next call reports ECONNRESET, and a new connect starts afresh", () => {
  expect(["connect", "disconnect", "send", "send"], [
    "ok",
    "ok",
    "ECONNRESET",
    "EPIPE",
  ]);
  expect(["connect", "disconnect", "connect", "send"], [
    "ok",
    "ok",
    "ok",
    "ok",
  ]);
  expect(["listen", "disconnect", "getsockname"], ["ok", "ok", "ok:port>0"]);
  expect(["listen", "disconnect", "accept"], ["ok", "ok", "EINVAL"]);
});

Deno.test("disconnect() of a unix stream socket is EINVAL: it takes only unix addresses", () => {
  expect(["disconnect"], ["EINVAL"], "unix");
  expect(["connect", "disconnect", "send"], ["ok", "EINVAL", "ok"], "unix");
});
