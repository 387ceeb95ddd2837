// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A tracer (`onTransition`) that throws never leaves a socket between
 * states or open: the call completes in full, then rejects (or, for
 * `close()`, throws) with the tracer's error, unchanged, its first one if it
 * threw several times. Both backends, inet and unix.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  socket,
  type SocketAddr,
  type StateChange,
} from "../mod.ts";
import { type TempDir, tempDir, within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const DOMAINS = ["inet", "unix"] as const;
type Domain = (typeof DOMAINS)[number];

/** A tracer that throws a new error on each change, and keeps them all. */
function throwing(): {
  readonly errors: Error[];
  readonly changes: StateChange[];
  readonly trace: (change: StateChange) => void;
} {
  const errors: Error[] = [];
  const changes: StateChange[] = [];
  return {
    errors,
    changes,
    trace(change) {
      changes.push(change);
      const error = new Error(`tracer ${change.from} -> ${change.to}`);
      errors.push(error);
      throw error;
    },
  };
}

function addr(domain: Domain, dir: TempDir): SocketAddr {
  return domain === "unix"
    ? { path: `${dir.path}/s${crypto.randomUUID().slice(0, 8)}` }
    : { hostname: "127.0.0.1", port: 0 };
}

/** Whether something accepts connections at `target`. */
async function accepts(domain: Domain, target: SocketAddr): Promise<boolean> {
  using probe = socket({ domain });
  try {
    await within(1000, probe.connect(target), "a probe connect()");
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "ECONNREFUSED") return false;
    if ((error as { code?: string }).code === "ENOENT") return false;
    throw error;
  }
}

for (const backend of BACKENDS) {
  for (const domain of DOMAINS) {
    const kind = `a ${backend} ${domain} socket`;

    Deno.test(`bind() and listen() on ${kind} whose tracer throws complete, then reject with the tracer's error`, async () => {
      await using dir = await tempDir();
      const tracer = throwing();
      const sock = socket({ domain, backend, onTransition: tracer.trace });
      await assert.rejects(sock.bind(addr(domain, dir)), (error) => {
        // created -> binding -> bound: the first error, unchanged.
        assert.equal(error, tracer.errors[0]);
        return true;
      });
      assert.equal(sock.state, "bound");
      assert.deepEqual(tracer.changes.map((c) => c.to), ["binding", "bound"]);
      const before = tracer.errors.length;
      await assert.rejects(sock.listen(), (error) => {
        assert.equal(error, tracer.errors[before]);
        return true;
      });
      assert.equal(sock.state, "listening");
      assert.equal(await accepts(domain, sock.getsockname()), true);
      // Disposing closes: the tracer's error again, once closed.
      assert.throws(() => sock[Symbol.dispose](), /listening -> closed/);
      assert.equal(sock.state, "closed");
    });

    Deno.test(`connect(), accept() and shutdown() on ${kind} whose tracer throws leave consistent sockets that close() frees`, async () => {
      await using dir = await tempDir();
      using listener = socket({ domain, backend });
      await listener.bind(addr(domain, dir));
      await listener.listen();
      const tracer = throwing();
      using client = socket({ domain, backend, onTransition: tracer.trace });
      const accepting = listener.accept();
      await assert.rejects(client.connect(listener.getsockname()), (error) => {
        assert.equal(error, tracer.errors[0]);
        return true;
      });
      assert.equal(client.state, "connected");
      using server = await within(1000, accepting, "accept()");
      await client.send(new Uint8Array([1, 2]));
      assert.deepEqual(
        await within(1000, server.recv(), "recv()"),
        new Uint8Array([1, 2]),
      );
      const before = tracer.errors.length;
      await assert.rejects(client.shutdown("write"), (error) => {
        assert.equal(error, tracer.errors[before]);
        return true;
      });
      assert.equal(client.state, "shutWr");
      assert.equal((await within(1000, server.recv(), "recv()")).length, 0);
      const closing = tracer.errors.length;
      assert.throws(() => client.close(), (error) => {
        assert.equal(error, tracer.errors[closing]);
        return true;
      });
      assert.equal(client.state, "closed");
    });

    Deno.test(`accept() on ${kind} whose tracer throws for the new socket closes it, then rejects with the tracer's error`, async () => {
      await using dir = await tempDir();
      using listener = socket({ domain, backend });
      await listener.bind(addr(domain, dir));
      await listener.listen();
      using client = socket({ domain, backend });
      const tracer = throwing();
      const accepting = listener.accept({ onTransition: tracer.trace });
      await client.connect(listener.getsockname());
      await within(
        1000,
        assert.rejects(accepting, (error) => {
          assert.equal(error, tracer.errors[0]);
          return true;
        }),
        "accept()",
      );
      assert.deepEqual(tracer.changes, [
        { from: "created", to: "connected", op: "accept" },
      ]);
      // The accepted socket was closed: the client reads end of stream.
      const got = await within(1000, client.recv(), "the client's recv()");
      assert.equal(got.length, 0);
      assert.equal(listener.state, "listening");
    });

    Deno.test(`close() on ${kind} listener whose tracer throws closes the OS socket, then throws the tracer's error`, async () => {
      await using dir = await tempDir();
      const tracer = throwing();
      const listener = socket({ domain, backend, onTransition: tracer.trace });
      await assert.rejects(listener.bind(addr(domain, dir)));
      await assert.rejects(listener.listen());
      const at = listener.getsockname();
      const before = tracer.errors.length;
      assert.throws(() => listener.close(), (error) => {
        assert.equal(error, tracer.errors[before]);
        return true;
      });
      assert.equal(listener.state, "closed");
      assert.equal(await accepts(domain, at), false);
    });
  }
}
