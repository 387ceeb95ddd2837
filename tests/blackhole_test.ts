// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A `connect()` towards an address that never answers, bounded by a
 * signal: inside a network namespace the test makes (see `_netns.ts`), the
 * SYNs go into a dummy device and are never answered; the kernel alone
 * would wait minutes. With `AbortSignal.timeout(300)` the call rejects
 * `ETIMEDOUT` at once, the socket stays `"connecting"` (the attempt goes on,
 * as after an interrupted `connect(2)`; a `connect()` again waits for it),
 * and `close()` frees it: the
 * script's process exits on its own, with nothing left pending.
 */
import assert from "node:assert/strict";
import {
  BLACKHOLE_ADDRESS,
  netnsUnavailable,
  withBlackholeNamespace,
} from "./_netns.ts";

const unavailable = await netnsUnavailable();
const BACKENDS = ["deno", "posix"] as const;

/** The script run in the namespace: one connect(), reported as JSON. */
const SCRIPT = `
import { socket } from ${
  JSON.stringify(new URL("../mod.ts", import.meta.url).href)
};
const backend = Deno.args[0];
const sock = socket({ domain: "inet", backend });
const started = performance.now();
let error;
try {
  await sock.connect(
    { hostname: ${JSON.stringify(BLACKHOLE_ADDRESS)}, port: 9 },
    { signal: AbortSignal.timeout(300) },
  );
} catch (caught) {
  error = caught;
}
const elapsed = performance.now() - started;
const state = sock.state;
let again;
const againStarted = performance.now();
try {
  await sock.connect(
    { hostname: ${JSON.stringify(BLACKHOLE_ADDRESS)}, port: 9 },
    { signal: AbortSignal.timeout(300) },
  );
} catch (caught) {
  again = caught.code;
}
const againElapsed = performance.now() - againStarted;
const againState = sock.state;
sock.close();
console.log(JSON.stringify({
  code: error?.code,
  cause: error?.cause?.name,
  errorState: error?.state,
  elapsed,
  state,
  again,
  againElapsed,
  againState,
  closed: sock.state,
}));
`;

for (const backend of BACKENDS) {
  Deno.test({
    name: unavailable === undefined
      ? `connect() of a ${backend} TCP socket to a blackhole with AbortSignal.timeout(300) rejects ETIMEDOUT within 1 s, stays "connecting", a connect() again waits for the attempt until its own timeout, and close() frees it`
      : `connect() of a ${backend} TCP socket to a blackhole (ignored: ${unavailable})`,
    ignore: unavailable !== undefined,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "sockfsm_blackhole_" });
      try {
        const script = `${dir}/connect.ts`;
        await Deno.writeTextFile(script, SCRIPT);
        const out = await withBlackholeNamespace((ns) =>
          ns.runDeno(
            script,
            [
              `--config=${new URL("../deno.json", import.meta.url).pathname}`,
              "--allow-net",
              "--allow-ffi",
              "--allow-read",
            ],
            [backend],
            // The process must end by itself once close() freed the socket.
            15000,
          )
        );
        assert.equal(out.code, 0, `the script failed: ${out.stderr}`);
        const got = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
        assert.equal(got.code, "ETIMEDOUT", out.stdout);
        assert.equal(got.cause, "TimeoutError");
        assert.equal(got.errorState, "created");
        assert.ok(
          got.elapsed >= 250 && got.elapsed < 1000,
          `${got.elapsed} ms`,
        );
        assert.equal(got.state, "connecting");
        // A connect() again waits for the same attempt (as Linux's blocking
        // connect(2) does), until its own signal times out; it goes on.
        assert.equal(got.again, "ETIMEDOUT");
        assert.ok(
          got.againElapsed >= 250 && got.againElapsed < 1000,
          `${got.againElapsed} ms`,
        );
        assert.equal(got.againState, "connecting");
        assert.equal(got.closed, "closed");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
