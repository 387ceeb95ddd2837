// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What `TCP_NODELAY` saves on a request of two small writes and its
 * response, over loopback, through the public API on both backends
 * (`deno bench --allow-net --allow-ffi bench/nagle_bench.ts`: not a figure
 * of `deno task bench`; the posix cases need `--allow-ffi` and are skipped
 * without it). With Nagle's algorithm the second write waits for the ACK of
 * the first, which the server delays (it has nothing to send yet), so a
 * round trip takes about Linux's delayed-ACK time (40 ms); with
 * `TCP_NODELAY` on both ends it takes microseconds. Each backend's two cases
 * are one group, so `deno bench` shows their ratio.
 *
 * @module
 */
import {
  type Backend,
  type Socket,
  type StreamConnection,
  streamConnection,
} from "../mod.ts";

const HEAD = new TextEncoder().encode("GET ");
const BODY = new TextEncoder().encode("/ok\n");
const RESPONSE = new TextEncoder().encode("ok\n");
/** Few iterations: each one without TCP_NODELAY costs ~40 ms. */
const ITERATIONS = { n: 50, warmup: 5 };

const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
const pairs: StreamConnection[] = [];

/** A connected pair on loopback, with `TCP_NODELAY` on both ends or not. */
async function pair(backend: Backend, nodelay: boolean) {
  const options = { TCP_NODELAY: nodelay };
  const made = await streamConnection({
    srvrAddr: { hostname: "127.0.0.1", port: 0 },
    backend,
    srvrOptions: options,
    clntOptions: options,
  });
  pairs.push(made);
  return made;
}

/** Reads exactly `buffer.length` bytes. */
async function recvFull(sock: Socket, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < buffer.length;) {
    const n = await sock.recvInto(buffer.subarray(got));
    if (n === 0) throw new Error("The connection ended early");
    got += n;
  }
}

/** One request (two small writes) and its response. */
async function roundTrip({ clntS, srvrS }: StreamConnection): Promise<void> {
  await clntS.send(HEAD);
  await clntS.send(BODY);
  await recvFull(srvrS, new Uint8Array(HEAD.length + BODY.length));
  await srvrS.send(RESPONSE);
  await recvFull(clntS, new Uint8Array(RESPONSE.length));
}

for (const backend of ["deno", "posix"] as const) {
  const skip = backend === "posix" && !ffi;
  const fast = skip ? undefined : await pair(backend, true);
  const slow = skip ? undefined : await pair(backend, false);
  Deno.bench({
    name: `two writes + read, TCP_NODELAY on both ends (${backend})`,
    group: `request/response (${backend})`,
    baseline: true,
    ignore: skip,
    ...ITERATIONS,
    async fn() {
      await roundTrip(fast!);
    },
  });
  Deno.bench({
    name: `two writes + read, Nagle, no TCP_NODELAY (${backend})`,
    group: `request/response (${backend})`,
    ignore: skip,
    ...ITERATIONS,
    async fn() {
      await roundTrip(slow!);
    },
  });
}

globalThis.addEventListener("unload", () => {
  for (const made of pairs) made[Symbol.dispose]();
});
