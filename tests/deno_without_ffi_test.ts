// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The deno backend without `--allow-ffi`: what needs libc is refused with
 * `EOPNOTSUPP` and a message naming both ways out (`--allow-ffi`,
 * `backend: "posix"`), and what Deno and Node do natively still works.
 *
 * Its tests run without FFI: with `--allow-ffi` (as `deno task test`
 * grants) they are ignored, and the last test runs this file again in a
 * `deno test` of its own without it.
 */
import assert from "node:assert/strict";
import type { SysSocket } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import { denoSocket } from "../steps/deno_backend.ts";
import { LOOPBACK, within } from "./_net.ts";
import { canRunDeno, runDenoTest } from "./_child.ts";

const withFfi = Deno.permissions.querySync({ name: "ffi" }).state ===
  "granted";

/** Asserts a refusal that names `--allow-ffi` and the posix backend. */
function refusedWithoutFfi(error: unknown): boolean {
  assert.ok(error instanceof SocketError, String(error));
  assert.equal(error.code, "EOPNOTSUPP");
  assert.match(error.message, /--allow-ffi/);
  assert.match(error.message, /backend: "posix"/);
  return true;
}

Deno.test({
  name:
    "denoSocket() without --allow-ffi refuses a unix datagram socket, naming --allow-ffi and the posix backend",
  ignore: withFfi,
  fn() {
    assert.throws(
      () => denoSocket({ domain: "unix", type: "dgram", nonblocking: false }),
      refusedWithoutFfi,
    );
  },
});

Deno.test({
  name:
    "denoSocket() without --allow-ffi refuses the options Deno cannot reach, and sets the ones it can",
  ignore: withFfi,
  async fn() {
    const sockets: SysSocket[] = [];
    const make = (type: "stream" | "dgram") => {
      const sock = denoSocket({ domain: "inet", type, nonblocking: false });
      sockets.push(sock);
      return sock;
    };
    try {
      const udp = make("dgram");
      // Before bind(): refused at once, as it could not be applied later.
      assert.throws(() => udp.setOption("SO_RCVBUF", 4096), refusedWithoutFfi);
      udp.setOption("SO_BROADCAST", true);
      await udp.bind({ hostname: LOOPBACK.inet, port: 0 }, false);
      assert.equal(udp.getOption("SO_BROADCAST"), true);
      assert.throws(() => udp.getOption("SO_RCVBUF"), refusedWithoutFfi);

      const listener = make("stream");
      await listener.bind({ hostname: LOOPBACK.inet, port: 0 }, false);
      await listener.listen(undefined);
      const client = make("stream");
      const accepting = listener.accept();
      await client.connect(listener.local!, AbortSignal.timeout(1000));
      sockets.push(await within(1000, accepting, "accept()"));
      client.setOption("TCP_NODELAY", true);
      assert.equal(client.getOption("TCP_NODELAY"), true);
      client.setOption("SO_KEEPALIVE", true);
      assert.equal(client.getOption("SO_KEEPALIVE"), true);
      assert.throws(
        () => client.setOption("SO_LINGER", { onoff: true, linger: 0 }),
        refusedWithoutFfi,
      );
      assert.throws(() => client.getOption("SO_SNDBUF"), refusedWithoutFfi);
    } finally {
      for (const sock of sockets) sock.close();
    }
  },
});

Deno.test({
  name: "the tests above pass in a deno test of their own without --allow-ffi",
  ignore: !withFfi || !canRunDeno,
  async fn() {
    const { code, out } = await runDenoTest([
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      new URL(import.meta.url).pathname,
    ]);
    assert.equal(code, 0, out);
    // This test is ignored there; the two above run.
    assert.match(out, /ok \| 2 passed \| 0 failed \| 1 ignored/, out);
  },
});
