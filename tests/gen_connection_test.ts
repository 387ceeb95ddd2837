// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import {
  type Backend,
  type GenConnection,
  genConnection,
  type GenConnectionOptions,
  type InetAddr,
  SocketError,
  type SocketType,
  type StateChange,
} from "../mod.ts";
import { tempDir, within } from "./_net.ts";
import { assertRefusedUpFront } from "./_procedure.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const TYPES = ["stream", "dgram"] as const satisfies readonly SocketType[];

/** How long any one wait of these tests may take. */
const WAIT_MS = 5000;

const INET: InetAddr = { hostname: "127.0.0.1", port: 0 };

/** Sends a message each way over the pair and checks it arrives whole. */
async function roundTrip(pair: GenConnection): Promise<void> {
  const ping = "ping from the client";
  await within(WAIT_MS, pair.clntS.send(encoder.encode(ping)), "client send");
  const got = await within(WAIT_MS, pair.srvrS.recv(), "server recv");
  assert.equal(decoder.decode(got), ping);
  const pong = "pong from the server";
  await within(WAIT_MS, pair.srvrS.send(encoder.encode(pong)), "server send");
  const back = await within(WAIT_MS, pair.clntS.recv(), "client recv");
  assert.equal(decoder.decode(back), pong);
}

for (const backend of BACKENDS) {
  for (const type of TYPES) {
    Deno.test(`genConnection() with the ${backend} backend and type "${type}" makes a connected ${type} pair that carries data both ways`, async () => {
      const roles = new Set<string>();
      const states: StateChange[] = [];
      {
        using pair = await within(
          WAIT_MS,
          genConnection({
            type,
            srvrAddr: INET,
            backend,
            onTransition: (role, change) => {
              roles.add(role);
              states.push(change);
            },
          }),
          "genConnection()",
        );
        assert.equal(pair.type, type);
        assert.equal(pair.srvrS.type, type);
        assert.equal(pair.clntS.type, type);
        assert.equal(pair.srvrS.state, "connected");
        assert.equal(pair.clntS.state, "connected");
        assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
        if (pair.type === "dgram") {
          // Only a datagram pair reports the client's address.
          assert.deepEqual(pair.clntAddr, pair.clntS.getsockname());
        } else {
          assert.equal(pair.clntAddr, undefined);
        }
        assert.deepEqual(pair.srvrS.getpeername(), pair.clntS.getsockname());
        await roundTrip(pair);
      }
      // The procedure picked: its roles, every socket closed by dispose.
      assert.deepEqual(
        roles,
        new Set(
          type === "stream"
            ? ["listener", "client", "accepted"]
            : ["server", "client"],
        ),
      );
      assert.ok(states.some(({ to }) => to === "closed"));
    });
  }

  Deno.test(`genConnection() with the ${backend} backend passes the datagram options on: srvrWild leaves the server unconnected, clntConnect false the client`, async () => {
    using pair = await within(
      WAIT_MS,
      genConnection({
        type: "dgram",
        srvrAddr: INET,
        srvrWild: true,
        clntConnect: false,
        backend,
      }),
      "genConnection()",
    );
    assert.equal(pair.srvrS.state, "bound");
    assert.equal(pair.clntS.state, "bound");
    assert.deepEqual(pair.srvrS.getsockname(), {
      hostname: "0.0.0.0",
      port: pair.srvrAddr.port,
    });
    await pair.clntS.sendto(encoder.encode("ping"), pair.srvrAddr);
    const got = await within(WAIT_MS, pair.srvrS.recvfrom(), "recvfrom");
    assert.equal(decoder.decode(got.data), "ping");
    assert.deepEqual(got.addr, pair.clntAddr);
  });

  Deno.test(`genConnection() with the ${backend} backend passes the stream options on: clntOptions reach the client over unix`, async () => {
    await using dir = await tempDir();
    using pair = await within(
      WAIT_MS,
      genConnection({
        type: "stream",
        srvrAddr: { path: `${dir.path}/srvr.sock` },
        clntOptions: { SO_SNDBUF: 65536 },
        backend,
      }),
      "genConnection()",
    );
    assert.equal(pair.type, "stream");
    assert.equal(await pair.clntS.getsockopt("SO_SNDBUF"), 2 * 65536);
    assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
    await roundTrip(pair);
  });
}

// ------------------------------------------------------------- bad input

for (const backend of BACKENDS) {
  for (const option of ["srvrConnect", "clntConnect"] as const) {
    for (const value of [true, false]) {
      Deno.test(`genConnection() with the ${backend} backend refuses ${option}: ${value} for type "stream" with EINVAL before any socket exists`, async () => {
        // A type known only at run time, as in a test over both types.
        const type = "stream" as SocketType;
        await assertRefusedUpFront(
          (onTransition) =>
            genConnection({
              type,
              srvrAddr: INET,
              [option]: value,
              backend,
              onTransition,
            }),
          {
            op: "genConnection",
            code: "EINVAL",
            message: new RegExp(
              `${option} applies to datagram sockets.*type "stream".*use type "dgram"`,
            ),
          },
        );
      });
    }
  }
}

Deno.test('genConnection() refuses a type other than "stream" and "dgram" with ESOCKTNOSUPPORT before any socket exists', async () => {
  await assertRefusedUpFront(
    () => genConnection({ type: "seqpacket" as SocketType, srvrAddr: INET }),
    {
      op: "genConnection",
      code: "ESOCKTNOSUPPORT",
      message: /type "seqpacket": use "stream" or "dgram"/,
    },
  );
});

Deno.test("genConnection() refuses a missing options object", async () => {
  await assertRefusedUpFront(
    () => genConnection(undefined as unknown as GenConnectionOptions),
    { op: "genConnection", code: "EINVAL", message: /pass an options object/ },
  );
});

for (const type of TYPES) {
  Deno.test(`genConnection() with type "${type}" reports a refusal of the procedure it picked under that procedure's name`, async () => {
    await assert.rejects(
      genConnection({ type, srvrAddr: { hostname: "0.0.0.0", port: 0 } }),
      (error: unknown) => {
        assert.ok(error instanceof SocketError, `not: ${error}`);
        assert.equal(error.op, `${type}Connection`);
        assert.equal(error.step, "check arguments");
        assert.match(error.message, /is a wildcard address/);
        return true;
      },
    );
  });
}

Deno.test("genConnection() types say which pair: a stream type refuses the datagram-only options, and only a datagram pair has clntAddr", () => {
  // Type-level checks only: nothing runs.
  const check = async () => {
    // @ts-expect-error srvrConnect is for datagram sockets.
    await genConnection({ type: "stream", srvrAddr: INET, srvrConnect: true });
    const dgram = await genConnection({ type: "dgram", srvrAddr: INET });
    const clntAddr: InetAddr = dgram.clntAddr; // no cast, not optional
    const stream = await genConnection({ type: "stream", srvrAddr: INET });
    const none: undefined = stream.clntAddr;
    const either = await genConnection({
      type: "dgram" as SocketType,
      srvrAddr: INET,
    });
    // @ts-expect-error Either type: clntAddr may be missing.
    const maybe: InetAddr = either.clntAddr;
    return [clntAddr, none, maybe];
  };
  assert.equal(typeof check, "function");
});
