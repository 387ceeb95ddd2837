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
import {
  LOOPBACK,
  settlesWithin,
  type TempDir,
  tempDir,
  within,
} from "./_net.ts";
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

/** A new PCO of `kind`, named `name`. */
async function openPco(kind: Kind, name: string): Promise<Pco> {
  switch (kind) {
    case "local":
      return localPco(name);
    case "worker":
      return await within(WAIT_MS, workerPco({ name }), `workerPco() ${name}`);
    case "process":
      return await within(
        WAIT_MS,
        processPco({ name }),
        `processPco() ${name}`,
      );
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
          assert.ok(performance.now() - started < 100, "the call waited");
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
