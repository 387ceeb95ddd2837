// Copyright 2026 the sockfsm authors. MIT license.
/**
 * PCOs: the procedures with their ends in the calling process, a worker
 * and another process, in every combination that matters, with both
 * backends, over loopback and unix sockets in a temporary directory; the
 * same data checks as the local tests, and nothing left open. Also: errors
 * that name the PCO, signals that cross to the agent, the end of a PCO,
 * and PCOs that cannot start (an agent of another protocol version, one
 * that exits at once, one that never speaks).
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type DgramConnection,
  dgramConnection,
  type Domain,
  genConnection,
  type InetAddr,
  localPco,
  type Pco,
  processPco,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  type StreamConnection,
  streamConnection,
  type StreamRole,
  workerPco,
} from "../mod.ts";
import { PROTOCOL_VERSION } from "../steps/pco_protocol.ts";
import { freePort, LOOPBACK, type TempDir, tempDir, within } from "./_net.ts";
import {
  FAKE_AGENT,
  FAKE_PERMISSIONS,
  type FakeMode,
  running,
  withFakeAgent,
} from "./_pco.ts";
import { assertAddressFree, redirectConnect, Trace } from "./_procedure.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const DOMAINS: readonly Domain[] = ["inet", "inet6", "unix"];
const WAIT_MS = 10_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Kind = "local" | "worker" | "process";

/**
 * How long a PCO may take to start: the first worker's module may be type
 * checked on a loaded machine. The PCO's own bound, which ends what it
 * started when it runs out.
 */
const START_MS = 60_000;

/** A new PCO of `kind`, named `name`. */
async function openPco(kind: Kind, name: string): Promise<Pco> {
  switch (kind) {
    case "local":
      return localPco(name);
    case "worker":
      return await workerPco({ name, startTimeout: START_MS });
    case "process":
      return await processPco({ name, startTimeout: START_MS });
  }
}

/** Closes every PCO, bounded. */
async function closeAll(pcos: readonly Pco[]): Promise<void> {
  await within(
    WAIT_MS,
    Promise.all(pcos.map((pco) => pco.close())),
    "closing the PCOs",
  );
}

/** Receives exactly `length` bytes (a stream may deliver them in pieces). */
async function recvExactly(sock: Socket, length: number): Promise<string> {
  const buffer = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await within(
      WAIT_MS,
      sock.recvInto(buffer.subarray(got)),
      "recvInto()",
    );
    assert.notEqual(n, 0, `end of stream after ${got} of ${length} bytes`);
    got += n;
  }
  return decoder.decode(buffer);
}

/** Sends a message each way over the pair and checks it arrives intact. */
async function roundTrip(pair: StreamConnection): Promise<void> {
  const ping = "ping from the client";
  assert.equal(await pair.clntS.send(encoder.encode(ping)), ping.length);
  assert.equal(await recvExactly(pair.srvrS, ping.length), ping);
  const pong = "pong from the server";
  assert.equal(await pair.srvrS.send(encoder.encode(pong)), pong.length);
  assert.equal(await recvExactly(pair.clntS, pong.length), pong);
}

/** A fresh address for a case: a new unix path in `dir`, or port 0. */
function addrIn(domain: Domain, dir: TempDir, name: string): SocketAddr {
  return domain === "unix"
    ? { path: `${dir.path}/${name}-${crypto.randomUUID().slice(0, 8)}` }
    : { hostname: LOOPBACK[domain], port: 0 };
}

/**
 * Asserts that nothing listens at `addr` any more: an agent closes a socket
 * a moment after the caller did (its close is a message), so this waits a
 * little for it.
 */
async function assertNothingListens(
  addr: SocketAddr,
  backend: Backend,
): Promise<void> {
  const until = Date.now() + 2000;
  for (;;) {
    try {
      await assertAddressFree(addr, "stream", backend, { bind: false });
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Asserts that `sock`'s error `error` names the PCO `name` (or none). */
function assertNames(error: unknown, name: string | undefined): void {
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.pco, name, error.message);
}

// ------------------------------------------- the procedure across PCOs

interface Combo {
  readonly srvr: Kind;
  /** `"same"`: the server's PCO; `"here"`: the string `"local"`. */
  readonly clnt: Kind | "same" | "here";
}

const COMBOS: readonly Combo[] = [
  { srvr: "local", clnt: "worker" },
  { srvr: "worker", clnt: "process" },
  { srvr: "process", clnt: "here" },
  { srvr: "process", clnt: "process" },
  { srvr: "worker", clnt: "same" },
];

function describeCombo({ srvr, clnt }: Combo): string {
  const where = (kind: Kind | "same" | "here") =>
    kind === "same"
      ? "the same PCO"
      : kind === "here"
      ? `"local"`
      : `a ${kind} PCO`;
  return `srvr in ${where(srvr)} and clnt in ${where(clnt)}`;
}

for (const combo of COMBOS) {
  Deno.test(
    `streamConnection() with ${
      describeCombo(combo)
    }, both backends, over inet, inet6 and unix: a connected pair that carries data both ways, whose addresses agree across the ends, closed with its PCOs`,
    async () => {
      await using dir = await tempDir();
      const srvr = await openPco(combo.srvr, `srvr ${combo.srvr}`);
      const clnt = combo.clnt === "same"
        ? srvr
        : combo.clnt === "here"
        ? "local"
        : await openPco(combo.clnt, `clnt ${combo.clnt}`);
      const pcos = clnt === "local" || clnt === srvr ? [srvr] : [srvr, clnt];
      const clntName = clnt === "local" || clnt.kind === "local"
        ? undefined
        : clnt.name;
      const srvrName = srvr.kind === "local" ? undefined : srvr.name;
      let kept: StreamConnection | undefined;
      try {
        for (const backend of BACKENDS) {
          for (const domain of DOMAINS) {
            for (const bound of [false, true]) {
              const what = `${backend} ${domain}${
                bound ? " bound client" : ""
              }`;
              const srvrAddr = addrIn(domain, dir, "srvr");
              const clntAddr = bound ? addrIn(domain, dir, "clnt") : undefined;
              const trace = new Trace<StreamRole>();
              const pair = await within(
                WAIT_MS,
                streamConnection({
                  srvrAddr,
                  clntAddr,
                  srvr,
                  clnt,
                  backend,
                  onTransition: trace.onTransition,
                }),
                `streamConnection() ${what}`,
              );
              try {
                await roundTrip(pair);
                assert.equal(pair.srvrS.state, "connected", what);
                assert.equal(pair.clntS.state, "connected", what);
                assert.equal(pair.srvrS.backend, backend);
                assert.equal(pair.clntS.domain, domain);
                if ("path" in srvrAddr) {
                  assert.deepEqual(pair.srvrAddr, srvrAddr);
                  assert.deepEqual(pair.clntS.getpeername(), srvrAddr);
                  assert.deepEqual(pair.srvrS.getsockname(), srvrAddr);
                } else {
                  const real = pair.srvrAddr as InetAddr;
                  assert.equal(real.hostname, srvrAddr.hostname);
                  assert.ok(real.port > 0, `port ${real.port}`);
                  assert.deepEqual(pair.clntS.getpeername(), real, what);
                  assert.deepEqual(pair.srvrS.getsockname(), real, what);
                }
                if (clntAddr !== undefined) {
                  const local = pair.clntS.getsockname();
                  if ("port" in clntAddr) {
                    assert.equal(
                      (local as InetAddr).hostname,
                      clntAddr.hostname,
                    );
                    assert.ok((local as InetAddr).port > 0);
                  } else {
                    assert.deepEqual(local, clntAddr);
                  }
                }
                assert.deepEqual(
                  pair.srvrS.getpeername(),
                  pair.clntS.getsockname(),
                  what,
                );
                // Each socket is its PCO's: its errors name it.
                for (
                  const [sock, name] of [
                    [pair.srvrS, srvrName],
                    [pair.clntS, clntName],
                  ] as const
                ) {
                  await assert.rejects(sock.listen(), (error: unknown) => {
                    assertNames(error, name);
                    return true;
                  });
                }
                // The listener was closed where it lived: nothing listens.
                await assertNothingListens(pair.srvrAddr, backend);
              } finally {
                // The last pair is left open for the PCOs to close.
                if (backend === "posix" && domain === "unix" && bound) {
                  kept = pair;
                } else {
                  pair[Symbol.dispose]();
                }
              }
              if (kept !== pair) trace.assertAllClosed();
            }
          }
        }
        // A socket made directly in each PCO, left open too.
        const loose = await Promise.all(
          pcos.map((pco) => pco.socket({ domain: "inet", type: "dgram" })),
        );
        await closeAll(pcos);
        const closed: Socket[] = [...loose];
        if (srvr.kind !== "local") closed.push(kept!.srvrS);
        if (clnt !== "local" && clnt.kind !== "local") closed.push(kept!.clntS);
        for (const sock of closed) {
          assert.equal(sock.state, "closed");
          const started = performance.now();
          await assert.rejects(sock.recv(), (error: unknown) => {
            assert.ok(error instanceof SocketError);
            assert.equal(error.code, "EBADF", error.message);
            return true;
          });
          assert.ok(performance.now() - started < 250, "the call waited");
        }
        for (const pco of pcos) {
          assert.equal(pco.ended, true);
          await assert.rejects(pco.socket({ domain: "inet" }), (error) => {
            assert.ok(error instanceof SocketError);
            assert.equal(error.code, "EIO");
            return true;
          });
        }
      } finally {
        kept?.[Symbol.dispose]();
        await closeAll(pcos);
      }
    },
  );
}

/** Sends a datagram each way over a connected pair; each comes whole. */
async function exchange(pair: DgramConnection): Promise<void> {
  const ping = encoder.encode("ping from the client");
  assert.equal(await within(WAIT_MS, pair.clntS.send(ping), "send"), 20);
  const got = await within(WAIT_MS, pair.srvrS.recvfrom(), "recvfrom");
  assert.equal(decoder.decode(got.data), "ping from the client");
  assert.deepEqual(got.addr, pair.clntAddr);
  const pong = encoder.encode("pong from the server");
  assert.equal(await within(WAIT_MS, pair.srvrS.send(pong), "send"), 20);
  const back = await within(WAIT_MS, pair.clntS.recvfrom(), "recvfrom");
  assert.equal(decoder.decode(back.data), "pong from the server");
  assert.deepEqual(back.addr, pair.srvrAddr);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("dgramConnection() with srvr in a worker and clnt in a process, and the other way round, both backends, over inet, inet6 and unix: connected ends that carry datagrams both ways", async () => {
  await using dir = await tempDir();
  const worker = await openPco("worker", "dgram worker");
  const process = await openPco("process", "dgram process");
  try {
    for (const [srvr, clnt] of [[worker, process], [process, worker]]) {
      for (const backend of BACKENDS) {
        for (const domain of DOMAINS) {
          const what = `${srvr.name} to ${clnt.name}, ${backend} ${domain}`;
          const srvrAddr = addrIn(domain, dir, "dgram");
          const trace = new Trace<string>();
          let madeUp: string | undefined;
          {
            using pair = await within(
              WAIT_MS,
              dgramConnection({
                srvrAddr,
                srvr,
                clnt,
                backend,
                onTransition: trace.onTransition,
              }),
              `dgramConnection() ${what}`,
            );
            assert.equal(pair.srvrS.type, "dgram");
            assert.equal(pair.srvrS.state, "connected", what);
            assert.equal(pair.clntS.state, "connected", what);
            if ("path" in srvrAddr) {
              assert.deepEqual(pair.srvrAddr, srvrAddr);
              madeUp = (pair.clntAddr as { path: string }).path;
              assert.ok(madeUp.startsWith(`${srvrAddr.path}-clnt-`), madeUp);
            } else {
              assert.equal(
                (pair.srvrAddr as InetAddr).hostname,
                srvrAddr.hostname,
              );
              assert.ok((pair.srvrAddr as InetAddr).port > 0);
            }
            assert.deepEqual(pair.srvrS.getsockname(), pair.srvrAddr, what);
            assert.deepEqual(pair.clntS.getsockname(), pair.clntAddr, what);
            assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr, what);
            assert.deepEqual(pair.srvrS.getpeername(), pair.clntAddr, what);
            await exchange(pair);
          }
          trace.assertAllClosed();
          if (madeUp !== undefined) {
            assert.ok(!exists(madeUp), `${madeUp} was left behind`);
          }
        }
      }
    }
  } finally {
    await closeAll([worker, process]);
  }
});

Deno.test('genConnection() with srvr in a process and clnt in a worker makes a "stream" and a "dgram" pair, with both backends, that carry data both ways', async () => {
  const srvr = await openPco("process", "gen process");
  const clnt = await openPco("worker", "gen worker");
  try {
    for (const backend of BACKENDS) {
      for (const type of ["stream", "dgram"] as const) {
        using pair = await within(
          WAIT_MS,
          genConnection({
            type,
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            srvr,
            clnt,
            backend,
          }),
          `genConnection() ${type}`,
        );
        assert.equal(pair.type, type);
        assert.equal(pair.srvrS.type, type);
        assert.equal(pair.srvrS.state, "connected");
        assert.equal(pair.clntS.state, "connected");
        assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
        assert.deepEqual(pair.srvrS.getpeername(), pair.clntS.getsockname());
        await pair.clntS.send(encoder.encode("ping"));
        assert.equal(
          decoder.decode(await within(WAIT_MS, pair.srvrS.recv(), "recv")),
          "ping",
        );
        await pair.srvrS.send(encoder.encode("pong"));
        assert.equal(
          decoder.decode(await within(WAIT_MS, pair.clntS.recv(), "recv")),
          "pong",
        );
        for (
          const [sock, pco] of [[pair.srvrS, srvr], [pair.clntS, clnt]] as const
        ) {
          await assert.rejects(sock.listen(), (error: unknown) => {
            assertNames(error, pco.name);
            return true;
          });
        }
      }
    }
  } finally {
    await closeAll([srvr, clnt]);
  }
});

// ------------------------------------------------ errors that name the PCO

/** What two errors must share: all but the PCO. */
function sameError(remote: unknown, local: unknown, what: string): void {
  assert.ok(remote instanceof SocketError, `${what}: not a SocketError`);
  assert.ok(local instanceof SocketError, `${what}: not a SocketError`);
  assert.deepEqual(
    {
      code: remote.code,
      op: remote.op,
      state: remote.state,
      message: remote.message,
    },
    {
      code: local.code,
      op: local.op,
      state: local.state,
      message: local.message,
    },
    what,
  );
}

/** The error `call` throws or rejects with. */
async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail("the call did not fail");
}

Deno.test("a refusal by the machine on a worker or process socket names the PCO, with the code, state and message of the same refusal here, whose pco is undefined", async () => {
  const pcos = [
    await openPco("worker", "refusing worker"),
    await openPco("process", "refusing process"),
  ];
  try {
    for (const backend of BACKENDS) {
      using here = await streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        backend,
      });
      for (const pco of pcos) {
        using there = await within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            srvr: pco,
            clnt: pco,
            backend,
          }),
          "streamConnection()",
        );
        const refusals: [string, (pair: StreamConnection) => unknown][] = [
          ["listen() on a connected socket", (pair) => pair.clntS.listen()],
          [
            "connect() on a connected socket",
            (pair) => pair.clntS.connect({ hostname: "127.0.0.1", port: 9 }),
          ],
          [
            "bind() on a connected socket",
            (pair) => pair.srvrS.bind({ hostname: "127.0.0.1", port: 0 }),
          ],
          [
            "recv() of more than the bound",
            (pair) => pair.srvrS.recv(-1),
          ],
        ];
        for (const [what, call] of refusals) {
          const local = await errorOf(() => call(here));
          const remote = await errorOf(() => call(there));
          sameError(remote, local, `${what}, ${backend}, ${pco.name}`);
          assertNames(remote, pco.name);
          assertNames(local, undefined);
        }
        // And once closed: EBADF, named.
        there.srvrS.close();
        const closedThere = await errorOf(() => there.srvrS.recv());
        assertNames(closedThere, pco.name);
        assert.equal((closedThere as SocketError).code, "EBADF");
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

Deno.test("an OS error in a worker's or process's agent (EADDRINUSE, binding a port taken) names the PCO, with the code and message of the same error here", async () => {
  const pcos = [
    await openPco("worker", "binding worker"),
    await openPco("process", "binding process"),
  ];
  try {
    for (const backend of BACKENDS) {
      using taken = socket({ domain: "inet", backend });
      await taken.bind({ hostname: "127.0.0.1", port: 0 });
      await taken.listen();
      const addr = taken.getsockname();
      using mine = socket({ domain: "inet", backend });
      const local = await errorOf(() => mine.bind(addr));
      assert.equal((local as SocketError).code, "EADDRINUSE");
      assertNames(local, undefined);
      for (const pco of pcos) {
        using theirs = await pco.socket({ domain: "inet", backend });
        const remote = await errorOf(() => theirs.bind(addr));
        sameError(remote, local, `${backend}, ${pco.name}`);
        assertNames(remote, pco.name);
        // The socket is as the kernel left it: it binds elsewhere.
        assert.equal(theirs.state, "created");
        await theirs.bind({ hostname: "127.0.0.1", port: 0 });
        assert.equal(theirs.state, "bound");
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

Deno.test("a sendto() that a process PCO's permissions refuse rejects EACCES naming the PCO and the flag, and binds nothing there, with both backends", async () => {
  await using pco = await processPco({
    name: "sandboxed process",
    startTimeout: START_MS,
    permissions: ["--allow-net=127.0.0.1", "--allow-read", "--allow-ffi"],
  });
  using receiver = socket({
    domain: "inet6",
    type: "dgram",
    nonblocking: true,
  });
  await receiver.bind({ hostname: "::1", port: 0 });
  const target = receiver.getsockname();
  for (const backend of BACKENDS) {
    using there = await pco.socket({ domain: "inet6", type: "dgram", backend });
    const error = await errorOf(() =>
      there.sendto(encoder.encode("x"), target)
    );
    assertNames(error, pco.name);
    assert.equal((error as SocketError).code, "EACCES");
    assert.equal((error as SocketError).state, "created");
    // The Deno backend binds [::]:0 first (node:dgram), which is refused
    // first; posix lets the kernel bind, and asks for the target only.
    const denied = backend === "deno" ? "[::]:0" : `[::1]:${target.port}`;
    assert.match(
      (error as SocketError).message,
      new RegExp(
        `Deno's permissions do not grant net access to "${
          denied.replace(/[[\]]/g, "\\$&")
        }"; run with --allow-net=`,
      ),
    );
    // The kernel was not reached: the socket is unbound, as the machine says.
    assert.equal(there.state, "created", backend);
    assert.equal((there.getsockname() as InetAddr).port, 0, backend);
  }
  await assert.rejects(receiver.recvfrom(), { code: "EAGAIN" }, "nothing came");
});

Deno.test("pco.socket() with bad options throws what socket() throws, naming the PCO (none for localPco())", async () => {
  const pcos = [
    localPco("here"),
    await openPco("worker", "picky worker"),
    await openPco("process", "picky process"),
  ];
  const bad: unknown[] = [
    null,
    "inet",
    {},
    { domain: "bogus" },
    { domain: "inet", type: "raw" },
    { domain: "inet", type: "dgram", protocol: 6 },
    { domain: "inet", backend: "nope" },
    { domain: "inet", nonblocking: "yes" },
    { domain: "inet", onTransition: 42 },
  ];
  try {
    for (const options of bad) {
      const local = await errorOf(() =>
        socket(options as Parameters<typeof socket>[0])
      );
      assert.ok(local instanceof SocketError, `${JSON.stringify(options)}`);
      for (const pco of pcos) {
        const remote = await errorOf(() =>
          pco.socket(options as Parameters<typeof socket>[0])
        );
        sameError(remote, local, `${JSON.stringify(options)}, ${pco.name}`);
        assertNames(remote, pco.kind === "local" ? undefined : pco.name);
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

// ------------------------------------------------------ signals across

/** A pair whose server end lives in `pco`, the client here. */
function remotePair(
  pco: Pco,
  backend: Backend,
  domain: Domain,
  dir: TempDir,
): Promise<StreamConnection> {
  return within(
    WAIT_MS,
    streamConnection({
      srvrAddr: addrIn(domain, dir, "sig"),
      srvr: pco,
      backend,
    }),
    "streamConnection()",
  );
}

/** A check that an error is the cancellation of `op` in `state`. */
function cancelled(
  op: string,
  state: string,
  reason: unknown,
  pco: string,
): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, "ECANCELED", error.message);
    assert.equal(error.op, op);
    assert.equal(error.state, state);
    assert.equal(error.cause, reason);
    assert.equal(error.pco, pco);
    return true;
  };
}

Deno.test("recv() on a worker's or process's socket aborted while it waits rejects ECANCELED as here, naming the PCO, and the data that comes later is not lost", async () => {
  await using dir = await tempDir();
  const pcos = [
    await openPco("worker", "recv worker"),
    await openPco("process", "recv process"),
  ];
  try {
    for (const pco of pcos) {
      for (const backend of BACKENDS) {
        for (const domain of DOMAINS) {
          using pair = await remotePair(pco, backend, domain, dir);
          const reason = new Error("stop");
          const controller = new AbortController();
          const waiting = pair.srvrS.recv(100, { signal: controller.signal });
          setTimeout(() => controller.abort(reason), 30);
          await within(
            1000,
            assert.rejects(
              waiting,
              cancelled("recv", "connected", reason, pco.name),
            ),
            "the aborted recv()",
          );
          assert.equal(pair.srvrS.state, "connected");
          await pair.clntS.send(encoder.encode("after the abort"));
          const got = await within(1000, pair.srvrS.recv(100), "next recv()");
          assert.equal(decoder.decode(got), "after the abort");
        }
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

Deno.test("recv() on a worker's or process's socket aborted just as data comes loses no byte: what the agent read after the abort goes to the next recv(), in order", async () => {
  const pcos = [
    await openPco("worker", "racing worker"),
    await openPco("process", "racing process"),
  ];
  try {
    for (const pco of pcos) {
      for (const backend of BACKENDS) {
        using pair = await within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            srvr: pco,
            backend,
          }),
          "streamConnection()",
        );
        let sent = "";
        let got = "";
        let aborted = 0;
        for (let i = 0; i < 40; i++) {
          const controller = new AbortController();
          // Small reads, so that some of a chunk is left for later ones.
          const reading = pair.srvrS.recv(3, { signal: controller.signal });
          const chunk = `<${i}>`;
          sent += chunk;
          await pair.clntS.send(encoder.encode(chunk));
          // Abort at a different moment each time: at once, or a little later.
          if (i % 4 !== 0) {
            await new Promise((resolve) => setTimeout(resolve, i % 4));
          }
          controller.abort("enough");
          try {
            got += decoder.decode(await within(1000, reading, "recv()"));
          } catch (error) {
            assert.ok(error instanceof SocketError, `${error}`);
            assert.equal(error.code, "ECANCELED", error.message);
            aborted++;
          }
        }
        await pair.clntS.shutdown("write");
        for (;;) {
          const rest = await within(1000, pair.srvrS.recv(7), "drain");
          if (rest.length === 0) break;
          got += decoder.decode(rest);
        }
        assert.equal(got, sent, `${pco.name}, ${backend}`);
        assert.ok(aborted > 0, "no recv() was aborted");
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

Deno.test("accept() on a worker's or process's listener aborted while it waits rejects ECANCELED naming the PCO, keeps listening, and a connection that comes as it aborts is not lost", async () => {
  await using dir = await tempDir();
  const pcos = [
    await openPco("worker", "accept worker"),
    await openPco("process", "accept process"),
  ];
  try {
    for (const pco of pcos) {
      for (const backend of BACKENDS) {
        for (const domain of DOMAINS) {
          using listener = await pco.socket({ domain, backend });
          await listener.bind(addrIn(domain, dir, "acc"));
          await listener.listen();
          const controller = new AbortController();
          const waiting = listener.accept({ signal: controller.signal });
          setTimeout(() => controller.abort("no more"), 30);
          await within(
            1000,
            assert.rejects(
              waiting,
              cancelled("accept", "listening", "no more", pco.name),
            ),
            "the aborted accept()",
          );
          assert.equal(listener.state, "listening");
          // A connection made as the accept aborts: accepted then, or next.
          for (let i = 0; i < 5; i++) {
            using client = socket({ domain, backend });
            const aborting = new AbortController();
            const accepting = listener.accept({ signal: aborting.signal })
              .then((sock) => sock, (error: unknown) => error);
            await client.connect(listener.getsockname());
            if (i > 0) await new Promise((resolve) => setTimeout(resolve, i));
            aborting.abort("now");
            let server = await within(1000, accepting, "accept()");
            if (server instanceof SocketError) {
              assert.equal(server.code, "ECANCELED");
              server = await within(1000, listener.accept(), "next accept()");
            }
            using accepted = server as Socket;
            assert.deepEqual(accepted.getpeername(), client.getsockname());
            await client.send(encoder.encode("hi"));
            assert.equal(
              decoder.decode(await within(1000, accepted.recv(), "recv()")),
              "hi",
            );
          }
        }
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

for (const kind of ["worker", "process"] as const) {
  Deno.test(`streamConnection({ signal }) aborted while the accept waits in a ${kind} PCO rejects ECANCELED at "accept" and closes every socket`, async () => {
    const srvr = await openPco(kind, `aborted ${kind}`);
    try {
      for (const backend of BACKENDS) {
        // The client, here, connects to a decoy, so that the accept waits.
        using decoy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const redirect = redirectConnect(backend, decoy.addr.port, false);
        const trace = new Trace<StreamRole>();
        const controller = new AbortController();
        const reason = new Error("give up");
        const port = freePort("127.0.0.1");
        try {
          await within(
            WAIT_MS,
            assert.rejects(
              streamConnection({
                srvrAddr: { hostname: "127.0.0.1", port },
                srvr,
                backend,
                signal: controller.signal,
                onTransition: (role, change) => {
                  trace.onTransition(role, change);
                  if (role === "client" && change.to === "connected") {
                    setTimeout(() => controller.abort(reason), 30);
                  }
                },
              }),
              (error: unknown) => {
                assert.ok(error instanceof SocketError, `${error}`);
                assert.equal(error.code, "ECANCELED", error.message);
                assert.equal(error.step, "accept");
                assert.equal(error.cause, reason);
                assert.match(error.message, /step "accept"/);
                return true;
              },
            ),
            "the aborted streamConnection()",
          );
        } finally {
          redirect.restore();
        }
        assert.equal(redirect.count(), 1, "the client did not connect");
        trace.assertAllClosed();
        assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
        // The client's connection was closed: the decoy reads end of stream.
        using peer = await within(WAIT_MS, decoy.accept(), "decoy accept");
        const got = await within(WAIT_MS, peer.read(new Uint8Array(1)), "read");
        assert.equal(got, null, "the client's connection is still open");
        // The listener was closed where it lived.
        await assertNothingListens({ hostname: "127.0.0.1", port }, backend);
      }
      // The PCO is still usable.
      using sock = await srvr.socket({ domain: "inet" });
      await sock.bind({ hostname: "127.0.0.1", port: 0 });
    } finally {
      await closeAll([srvr]);
    }
  });
}

Deno.test("recvfrom() on a worker's or process's datagram socket aborted just as datagrams come loses none: each aborted one goes to the next recvfrom()", async () => {
  const pcos = [
    await openPco("worker", "dgram racing worker"),
    await openPco("process", "dgram racing process"),
  ];
  try {
    for (const pco of pcos) {
      for (const backend of BACKENDS) {
        using pair = await within(
          WAIT_MS,
          dgramConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            srvr: pco,
            backend,
          }),
          "dgramConnection()",
        );
        const got: number[] = [];
        let aborted = 0;
        const count = 30;
        for (let i = 0; i < count; i++) {
          const controller = new AbortController();
          const reading = pair.srvrS.recvfrom(100, {
            signal: controller.signal,
          });
          await pair.clntS.send(new Uint8Array([i]));
          if (i % 3 !== 0) {
            await new Promise((resolve) => setTimeout(resolve, i % 3));
          }
          controller.abort("enough");
          try {
            const { data, addr } = await within(1000, reading, "recvfrom()");
            assert.deepEqual(addr, pair.clntAddr);
            got.push(...data);
          } catch (error) {
            assert.ok(error instanceof SocketError, `${error}`);
            assert.equal(error.code, "ECANCELED", error.message);
            assert.equal(error.pco, pco.name);
            aborted++;
          }
        }
        // What was left (each aborted call's datagram), one by one, whole.
        while (got.length < count) {
          const { data } = await within(1000, pair.srvrS.recvfrom(), "rest");
          assert.equal(data.length, 1);
          got.push(data[0]);
        }
        assert.deepEqual(got, Array.from({ length: count }, (_, i) => i));
        assert.ok(aborted > 0, "no recvfrom() was aborted");
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

Deno.test("close() of a worker or process PCO while recv() and accept() wait on its sockets rejects them at once with EBADF naming it, as a close here does", async () => {
  for (const kind of ["worker", "process"] as const) {
    const pco = await openPco(kind, `closing ${kind}`);
    try {
      using pair = await within(
        WAIT_MS,
        streamConnection({
          srvrAddr: { hostname: "127.0.0.1", port: 0 },
          srvr: pco,
        }),
        "streamConnection()",
      );
      using listener = await pco.socket({ domain: "inet" });
      await listener.bind({ hostname: "127.0.0.1", port: 0 });
      await listener.listen();
      const receiving = errorOf(() => pair.srvrS.recv());
      const accepting = errorOf(() => listener.accept());
      await pco.close();
      const [recvError, acceptError] = await within(
        1000,
        Promise.all([receiving, accepting]),
        "the calls waiting as the PCO closed",
      );
      // The same as a close here of a socket whose recv() waits.
      using here = await streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
      });
      const waitingHere = errorOf(() => here.srvrS.recv());
      here.srvrS.close();
      sameError(recvError, await waitingHere, `recv(), ${kind}`);
      assertNames(recvError, pco.name);
      assertNames(acceptError, pco.name);
      assert.equal((acceptError as SocketError).code, "EBADF");
      // The peer here reads the end of the connection.
      const end = await within(WAIT_MS, pair.clntS.recv(), "the peer's recv");
      assert.equal(end.length, 0);
    } finally {
      await closeAll([pco]);
    }
  }
});

Deno.test("a worker's or process's socket carries 4 MiB each way whole, and a send() of a view sends only the view's bytes", async () => {
  const pcos = [
    await openPco("worker", "bulk worker"),
    await openPco("process", "bulk process"),
  ];
  const big = new Uint8Array(4 << 20).map((_, i) => (i * 7 + (i >> 12)) & 255);
  try {
    for (const pco of pcos) {
      for (const backend of BACKENDS) {
        using pair = await within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            srvr: pco,
            clnt: pco === pcos[0] ? pcos[1] : pcos[0],
            backend,
          }),
          "streamConnection()",
        );
        for (
          const [from, to] of [[pair.clntS, pair.srvrS], [
            pair.srvrS,
            pair.clntS,
          ]]
        ) {
          const sending = from.send(big);
          const got = new Uint8Array(big.length);
          let at = 0;
          while (at < big.length) {
            const n = await within(
              WAIT_MS,
              to.recvInto(got.subarray(at)),
              "recvInto()",
            );
            assert.notEqual(n, 0, `end of stream after ${at} bytes`);
            at += n;
          }
          assert.equal(await within(WAIT_MS, sending, "send()"), big.length);
          assert.ok(
            got.every((byte, i) => byte === big[i]),
            `${pco.name}, ${backend}: the bytes differ`,
          );
        }
        const view = big.subarray(1000, 1010);
        assert.equal(await pair.srvrS.send(view), 10);
        assert.deepEqual(await recvBytes(pair.clntS, 10), view);
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

/** Receives exactly `length` bytes. */
async function recvBytes(sock: Socket, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    got += await within(WAIT_MS, sock.recvInto(buffer.subarray(got)), "recv");
  }
  return buffer;
}

Deno.test("connect() from a worker's or process's socket to a port nothing listens on rejects ECONNREFUSED as here, naming the PCO; options set there read back as here", async () => {
  const pcos = [
    await openPco("worker", "refused worker"),
    await openPco("process", "refused process"),
  ];
  try {
    for (const backend of BACKENDS) {
      const addr = { hostname: "127.0.0.1", port: freePort("127.0.0.1") };
      using here = socket({ domain: "inet", backend });
      const local = await errorOf(() => here.connect(addr));
      assert.equal((local as SocketError).code, "ECONNREFUSED");
      await here.setsockopt("SO_RCVBUF", 10_000);
      await here.setsockopt("TCP_NODELAY", true);
      for (const pco of pcos) {
        using there = await pco.socket({ domain: "inet", backend });
        const remote = await errorOf(() => there.connect(addr));
        sameError(remote, local, `${backend}, ${pco.name}`);
        assertNames(remote, pco.name);
        assert.equal(there.state, here.state);
        await there.setsockopt("SO_RCVBUF", 10_000);
        await there.setsockopt("TCP_NODELAY", true);
        for (const name of ["SO_RCVBUF", "TCP_NODELAY", "SO_TYPE"] as const) {
          assert.deepEqual(
            await there.getsockopt(name),
            await here.getsockopt(name),
            `${name}, ${backend}, ${pco.name}`,
          );
        }
      }
    }
  } finally {
    await closeAll(pcos);
  }
});

// ------------------------------------------------ PCOs that cannot start

/** Runs the fake agent in `mode` as a process PCO; it must fail to start. */
async function failedStart(
  mode: FakeMode,
  startTimeout?: number,
): Promise<{ error: SocketError; pid: number; ms: number }> {
  const started = performance.now();
  const { pid, result } = await within(
    WAIT_MS + 5000,
    withFakeAgent(mode, () =>
      processPco({
        agent: FAKE_AGENT,
        permissions: FAKE_PERMISSIONS,
        name: `fake ${mode}`,
        startTimeout,
      })),
    `processPco() with the fake agent in mode ${mode}`,
  );
  const ms = performance.now() - started;
  if (result.status === "fulfilled") {
    await result.value.close();
    assert.fail(`the fake agent in mode ${mode} started`);
  }
  const error = result.reason;
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.ok(pid > 0, "the fake agent did not write its pid");
  assert.equal(running(pid), false, `the fake agent ${pid} is still running`);
  return { error, pid, ms };
}

Deno.test("processPco() whose agent speaks another protocol version is refused with EPROTONOSUPPORT naming both versions, and the agent is ended", async () => {
  const { error } = await failedStart("version");
  assert.equal(error.code, "EPROTONOSUPPORT", error.message);
  assert.equal(error.pco, "fake version");
  assert.ok(
    error.message.includes(`version ${PROTOCOL_VERSION + 1}`) &&
      error.message.includes(`version ${PROTOCOL_VERSION}`),
    `the message does not name both versions: ${error.message}`,
  );
  assert.match(error.message, /PCO "fake version"/);
  assert.match(error.message, /same sockfsm release/);
});

Deno.test("processPco() whose agent speaks another version and then ignores the end of its input is refused, and the agent killed", async () => {
  const { error } = await failedStart("stubborn");
  assert.equal(error.code, "EPROTONOSUPPORT", error.message);
});

Deno.test("processPco() whose agent exits at once rejects EIO, with its exit code and its standard error in the message", async () => {
  const { error } = await failedStart("exit");
  assert.equal(error.code, "EIO", error.message);
  assert.equal(error.pco, "fake exit");
  assert.match(error.message, /exited with code 3/);
  assert.match(
    error.message,
    /fake agent: cannot start here: no sockets for you/,
  );
});

Deno.test("processPco() whose agent never says hello rejects EIO once startTimeout has passed, and ends the agent promptly", async () => {
  const { error, ms } = await failedStart("silent", 300);
  assert.equal(error.code, "EIO", error.message);
  assert.equal(error.pco, "fake silent");
  assert.match(error.message, /did not say hello within 300 ms/);
  // Well under the 5 s an agent is given to answer a bye.
  assert.ok(ms < 4000, `it took ${Math.round(ms)} ms`);
});

Deno.test("processPco() with a command this process may not run rejects EACCES naming the --allow-run it needs, starting nothing", async () => {
  await assert.rejects(
    processPco({ command: ["false"] }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError, `${error}`);
      assert.equal(error.code, "EACCES", error.message);
      assert.match(error.message, /--allow-run=false/);
      return true;
    },
  );
  await assert.rejects(
    processPco({ command: "ip netns exec h1" as unknown as string[] }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError, `${error}`);
      assert.equal(error.code, "EINVAL", error.message);
      assert.match(error.message, /command must be an array of strings/);
      return true;
    },
  );
});

Deno.test("workerPco() whose agent does not start within startTimeout rejects EIO naming it, and ends the worker", async () => {
  await assert.rejects(
    workerPco({ name: "slow worker", startTimeout: 1 }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError, `${error}`);
      assert.equal(error.code, "EIO", error.message);
      assert.equal(error.pco, "slow worker");
      assert.match(error.message, /did not start its agent within 1 ms/);
      return true;
    },
  );
});
