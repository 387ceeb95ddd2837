// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What the peer did, at runtime. The runtime cannot see the environment as
 * `predict()` does, so it never refuses a call whose answer depends on it:
 * the kernel answers (the posix backend asks it; the Deno backend answers as
 * its reads and writes saw the connection). Each case runs the same calls
 * through the harness on raw sockets, so the kernel itself says what the
 * runtime must answer.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  type Result,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  streamConnection,
} from "../mod.ts";
import type { Op } from "../machine/predict.ts";
import { runScenario } from "../steps/harness.ts";
import { openLibc } from "../steps/libc.ts";
import { LOOPBACK, recvAll, tempDir, within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const LIMIT_MS = 10_000;

/** The kernel's answers to `ops` on a fresh raw socket of `domain`. */
function kernel(domain: Domain, ops: Op[]): Result[] {
  using libc = openLibc();
  return runScenario(libc, ops, { domain });
}

/** What a call gave, in predict()'s words. */
async function answer(call: () => unknown): Promise<Result> {
  try {
    const value = await call();
    if (value instanceof Uint8Array) {
      return value.length === 0 ? "ok:eof" : "ok:data";
    }
    if (value !== null && typeof value === "object" && "port" in value) {
      return (value as { port: number }).port > 0 ? "ok:port>0" : "ok:port=0";
    }
    if (value !== null && typeof value === "object" && "path" in value) {
      return (value as { path: string }).path === "" ? "ok:unnamed" : "ok:path";
    }
    return "ok";
  } catch (error) {
    assert.ok(error instanceof SocketError, String(error));
    return error.code;
  }
}

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6"] as const) {
    const kind = `(${backend} backend, ${domain})`;
    const loopback = { hostname: LOOPBACK[domain], port: 0 };

    Deno.test(`after both ends sent FIN, bind() succeeds and getpeername() and shutdown() are ENOTCONN, as the kernel answers ${kind}`, async () => {
      const expected = kernel(domain, [
        "connect",
        "shut_wr",
        "peer_close",
        "recv",
        "getpeername",
        "shut_rdwr",
        "bind",
      ]);
      using pair = await streamConnection({ srvrAddr: loopback, backend });
      const { srvrS, clntS } = pair;
      const got: Result[] = ["ok"];
      got.push(await answer(() => clntS.shutdown("write")));
      // The peer reads our FIN, then closes: its FIN.
      assert.equal((await within(LIMIT_MS, recvAll(srvrS), "peer")).length, 0);
      srvrS.close();
      got.push("ok");
      got.push(...await afterTheEnd(clntS, loopback));
      assert.deepEqual(got, expected);
      assert.deepEqual(expected.slice(4), ["ENOTCONN", "ENOTCONN", "ok"]);
    });

    Deno.test(`after the peer reset the connection, bind() succeeds and getpeername() and shutdown() are ENOTCONN, as the kernel answers ${kind}`, async () => {
      const expected = kernel(domain, [
        "connect",
        "send",
        "peer_close",
        "recv",
        "getpeername",
        "shut_rdwr",
        "bind",
      ]);
      // The peer is a posix socket: its close() with data unread is a real
      // close(2), which resets (Deno's own close ends with a FIN instead).
      using listener = socket({ domain, backend: "posix" });
      await listener.bind(loopback);
      await listener.listen();
      using clntS = socket({ domain, backend });
      const accepting = listener.accept();
      await clntS.connect(listener.getsockname());
      using srvrS = await within(LIMIT_MS, accepting, "accept");
      const got: Result[] = ["ok"];
      got.push(await answer(() => clntS.send(new Uint8Array([1]))));
      // The peer closes with our byte unread (on loopback it has arrived
      // once send() resolved): a reset.
      srvrS.close();
      got.push("ok");
      got.push(...await afterTheEnd(clntS, loopback));
      assert.deepEqual(got, expected);
      assert.deepEqual(expected.slice(3), [
        "ECONNRESET",
        "ENOTCONN",
        "ENOTCONN",
        "ok",
      ]);
    });

    Deno.test(`while the connection is up, bind() is EINVAL and getpeername() names the peer ${kind}`, async () => {
      const expected = kernel(domain, ["connect", "getpeername", "bind"]);
      using pair = await streamConnection({ srvrAddr: loopback, backend });
      const { clntS } = pair;
      const got: Result[] = ["ok"];
      got.push(await answer(() => clntS.getpeername()));
      got.push(await answer(() => clntS.bind(loopback)));
      assert.deepEqual(got, expected);
      assert.deepEqual(expected, ["ok", "ok:port>0", "EINVAL"]);
      assert.equal(clntS.state, "connected");
      // The refused bind left the connection as it was.
      await clntS.send(new Uint8Array([5]));
      assert.deepEqual(await pair.srvrS.recv(1), new Uint8Array([5]));
    });
  }

  const kind = `(${backend} backend, unix)`;

  Deno.test(`connect() from a connected or listening unix socket looks the target up first: a stale socket file is ECONNREFUSED, a missing path ENOENT ${kind}`, async () => {
    await using dir = await tempDir();
    // A stale socket file: bound, then closed (a real close leaves it).
    const stale: SocketAddr = { path: `${dir.path}/stale` };
    {
      using holder = socket({ domain: "unix", backend: "posix" });
      await holder.bind(stale);
    }
    const missing: SocketAddr = { path: `${dir.path}/missing` };
    using pair = await streamConnection({
      srvrAddr: { path: `${dir.path}/server` },
      backend,
    });
    using listener = socket({ domain: "unix", backend });
    await listener.bind({ path: `${dir.path}/listener` });
    await listener.listen();

    const connected = kernel("unix", ["connect", "connect_refused"]);
    const listening = kernel("unix", ["bind", "listen", "connect_refused"]);
    assert.equal(
      await answer(() => pair.clntS.connect(stale)),
      connected[1],
    );
    assert.equal(await answer(() => listener.connect(stale)), listening[2]);
    assert.deepEqual([connected[1], listening[2]], [
      "ECONNREFUSED",
      "ECONNREFUSED",
    ]);
    assert.equal(await answer(() => pair.clntS.connect(missing)), "ENOENT");
    assert.equal(await answer(() => listener.connect(missing)), "ENOENT");
    // A live target: the socket's own state answers.
    const live = { path: `${dir.path}/listener` };
    assert.equal(await answer(() => pair.clntS.connect(live)), "EISCONN");
    assert.equal(await answer(() => listener.connect(live)), "EINVAL");
    assert.equal(pair.clntS.state, "connected");
    assert.equal(listener.state, "listening");
  });
}

/** recv(), getpeername(), shutdown("both") and bind() on a socket whose peer has gone. */
async function afterTheEnd(sock: Socket, addr: SocketAddr): Promise<Result[]> {
  return [
    await answer(() => within(LIMIT_MS, sock.recv(), "recv")),
    await answer(() => sock.getpeername()),
    await answer(() => sock.shutdown("both")),
    await answer(() => sock.bind(addr)),
  ];
}
