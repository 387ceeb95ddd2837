// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Every error of a call on a socket carries `state`: the socket's state
 * when the call was made, whoever answered (the machine, the backend or the
 * kernel), on both backends.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  type Socket,
  socket,
  SocketError,
  type SocketState,
  streamConnection,
} from "../mod.ts";
import { answerOf, canRunDeno, runChild } from "./_child.ts";
import { freePort, LOOPBACK, tempDir, within } from "./_net.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const PROMPT_MS = 2000;

/** A `SocketError` check: `code`, and `state` as the socket had it. */
function failsWith(
  code: string,
  state: SocketState,
): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.state, state, `${code}: ${error.message}`);
    return true;
  };
}

/** A connected pair of `backend` on loopback, closed on dispose. */
async function pair(backend: Backend, nonblocking = false) {
  using server = socket({ domain: "inet", backend });
  await server.bind({ hostname: LOOPBACK.inet, port: 0 });
  await server.listen();
  const client = socket({ domain: "inet", backend, nonblocking });
  const accepting = server.accept();
  await client.connect(server.getsockname()).catch((error) => {
    if (!(error instanceof SocketError && error.code === "EINPROGRESS")) {
      throw error;
    }
  });
  const peer = await within(PROMPT_MS, accepting, "accept()");
  return {
    client,
    peer,
    [Symbol.dispose]() {
      for (const sock of [client, peer]) {
        if (sock.state !== "closed") sock.close();
      }
    },
  };
}

for (const backend of BACKENDS) {
  Deno.test(`connect() refused by the kernel is ECONNREFUSED with the state at the call (${backend})`, async () => {
    const port = freePort(LOOPBACK.inet);
    using created = socket({ domain: "inet", backend });
    await assert.rejects(
      created.connect({ hostname: LOOPBACK.inet, port }),
      failsWith("ECONNREFUSED", "created"),
    );
    using bound = socket({ domain: "inet", backend });
    await bound.bind({ hostname: LOOPBACK.inet, port: 0 });
    await assert.rejects(
      bound.connect({ hostname: LOOPBACK.inet, port }),
      failsWith("ECONNREFUSED", "bound"),
    );
  });

  Deno.test(`connect() of a listening unix socket to a stale socket file is ECONNREFUSED with state "listening" (${backend})`, async () => {
    await using dir = await tempDir();
    const stale = { path: `${dir.path}/stale.sock` };
    {
      using old = socket({ domain: "unix", backend: "posix" });
      await old.bind(stale);
      await old.listen();
    }
    using sock = socket({ domain: "unix", backend });
    await sock.bind({ path: `${dir.path}/own.sock` });
    await sock.listen();
    await assert.rejects(
      sock.connect(stale),
      failsWith("ECONNREFUSED", "listening"),
    );
  });

  Deno.test(`recv() after the peer's reset is ECONNRESET with state "connected" (${backend})`, async () => {
    using conn = await pair(backend);
    await conn.peer.setsockopt("SO_LINGER", { onoff: true, linger: 0 });
    conn.peer.close();
    await assert.rejects(
      within(PROMPT_MS, conn.client.recv(), "recv()"),
      failsWith("ECONNRESET", "connected"),
    );
  });

  Deno.test(`bind() to an address in use is EADDRINUSE with the state at the call, and a unix path's hint is about the path (${backend})`, async () => {
    using holder = socket({ domain: "inet", backend });
    await holder.bind({ hostname: LOOPBACK.inet, port: 0 });
    using sock = socket({ domain: "inet", backend });
    await assert.rejects(
      sock.bind(holder.getsockname()),
      (error: SocketError) => {
        failsWith("EADDRINUSE", "created")(error);
        assert.match(error.message, /use another port, or port 0/);
        return true;
      },
    );
    await using dir = await tempDir();
    const path = `${dir.path}/taken.sock`;
    await Deno.writeTextFile(path, "");
    using unix = socket({ domain: "unix", backend });
    await assert.rejects(unix.bind({ path }), (error: SocketError) => {
      failsWith("EADDRINUSE", "created")(error);
      assert.match(error.message, /a file already exists at that path/);
      assert.match(error.message, /remove it, or use another path/);
      assert.doesNotMatch(error.message, /port/);
      return true;
    });
  });

  Deno.test(`a non-blocking recv() and accept() with nothing there are EAGAIN with the state at the call (${backend})`, async () => {
    using conn = await pair(backend, true);
    await assert.rejects(
      conn.client.recv(),
      failsWith("EAGAIN", "connected"),
    );
    using listener = socket({ domain: "inet", backend, nonblocking: true });
    await listener.bind({ hostname: LOOPBACK.inet, port: 0 });
    await listener.listen();
    await assert.rejects(listener.accept(), failsWith("EAGAIN", "listening"));
  });

  Deno.test(`a malformed address is EINVAL with the state at the call (${backend})`, async () => {
    using sock = socket({ domain: "inet", backend });
    const bad = { hostname: "localhost", port: 80 };
    await assert.rejects(sock.bind(bad), failsWith("EINVAL", "created"));
    await assert.rejects(sock.connect(bad), failsWith("EINVAL", "created"));
    await sock.bind({ hostname: LOOPBACK.inet, port: 0 });
    await assert.rejects(
      sock.connect({ hostname: "127.0.0.1", port: -1 }),
      failsWith("EINVAL", "bound"),
    );
    using udp = socket({ domain: "inet", type: "dgram", backend });
    await assert.rejects(
      udp.sendto(new Uint8Array(1), bad),
      failsWith("EINVAL", "created"),
    );
  });

  Deno.test(`a procedure's error keeps the state of the socket whose call failed (${backend})`, async () => {
    const port = freePort(LOOPBACK.inet);
    using holder = socket({ domain: "inet", backend });
    await holder.bind({ hostname: LOOPBACK.inet, port });
    await assert.rejects(
      streamConnection({
        srvrAddr: { hostname: LOOPBACK.inet, port },
        backend,
      }),
      (error: SocketError) => {
        failsWith("EADDRINUSE", "created")(error);
        assert.equal(error.step, "bind server");
        return true;
      },
    );
  });
}

/**
 * Every call in turn on `sock`, each in the state the calls before it left:
 * each refusal must carry that state. Resolves to the errnos.
 */
async function everyCall(
  sock: Socket,
  addr: Parameters<Socket["bind"]>[0],
): Promise<unknown[]> {
  const results: unknown[] = [];
  const calls: (() => unknown)[] = [
    () => sock.bind(addr),
    () => sock.listen(),
    () => sock.connect(addr),
    () => sock.send(new Uint8Array(1)),
    () => sock.sendto(new Uint8Array(1), addr),
    () => sock.recv(),
    () => sock.shutdown("both"),
    () => sock.getpeername(),
    () => sock.getsockopt("SO_ERROR"),
    () => sock.setsockopt("TCP_NODELAY", true),
    () => sock.disconnect(),
  ];
  for (const call of calls) {
    const state = sock.state;
    try {
      await within(PROMPT_MS, Promise.resolve().then(call), "the call");
    } catch (error) {
      assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
      assert.equal(error.state, state, error.message);
      results.push(error.code);
    }
  }
  return results;
}

for (const domain of ["inet", "unix"] as const satisfies readonly Domain[]) {
  Deno.test(`every failed call in a run of all calls on a non-blocking ${domain} socket says the state it was made in`, async () => {
    await using dir = await tempDir();
    let n = 0;
    const addr = () =>
      domain === "unix"
        ? { path: `${dir.path}/s${n++}.sock` }
        : { hostname: LOOPBACK.inet, port: 0 };
    for (const backend of BACKENDS) {
      for (const type of ["stream", "dgram"] as const) {
        // Non-blocking: a call that would wait says EAGAIN instead.
        using sock = socket({ domain, type, backend, nonblocking: true });
        const codes = await everyCall(sock, addr());
        assert.ok(codes.length > 0, `${backend} ${type}: some call failed`);
        sock.close();
        const closed = await everyCall(sock, addr());
        assert.ok(closed.every((code) => code === "EBADF"), `${closed}`);
      }
    }
  });
}

Deno.test({
  name:
    'accept() with no descriptor left is EMFILE with state "listening", and works once one is free, on both backends',
  ignore: !canRunDeno,
  async fn() {
    const answers = await runChild(
      ["--allow-ffi", "--allow-net=127.0.0.1", "--allow-read=/dev/null"],
      "emfile",
    );
    for (const backend of BACKENDS) {
      const failed = answerOf(answers, backend, "accept");
      assert.equal(failed.code, "EMFILE", `${backend}: ${failed.message}`);
      assert.equal(failed.state, "listening");
      assert.match(failed.message!, /no file descriptor left/);
      assert.equal(answerOf(answers, backend, "accept again").code, "ok");
    }
  },
});
