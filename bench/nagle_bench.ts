// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What `TCP_NODELAY` saves on a request of two small writes and its
 * response, over loopback with the posix backend: `deno bench --allow-net
 * --allow-ffi bench/nagle_bench.ts`. With Nagle's algorithm the second write
 * waits for the ACK of the first, which the server delays (it has nothing to
 * send yet), so a round trip takes about Linux's delayed-ACK time (40 ms);
 * with `TCP_NODELAY` on both ends it takes microseconds. The two cases are
 * one group, so `deno bench` shows their ratio. Without `--allow-ffi` the
 * benchmarks are skipped.
 *
 * @module
 */
import type { SysSocket } from "../machine/effects.ts";
import { posixSocket } from "../steps/posix_backend.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const NEVER = new AbortController().signal;
const HEAD = new TextEncoder().encode("GET ");
const BODY = new TextEncoder().encode("/ok\n");
const RESPONSE = new TextEncoder().encode("ok\n");
/** Few iterations: each one without TCP_NODELAY costs ~40 ms. */
const ITERATIONS = { n: 50, warmup: 5 };

const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
const open: SysSocket[] = [];

function tcp(): SysSocket {
  const sock = posixSocket({
    domain: "inet",
    type: "stream",
    nonblocking: false,
  });
  open.push(sock);
  return sock;
}

/** A connected pair on loopback, with `TCP_NODELAY` on both ends or not. */
async function pair(nodelay: boolean): Promise<[SysSocket, SysSocket]> {
  const listener = tcp();
  await listener.bind(LOOPBACK, false);
  await listener.listen(undefined);
  const client = tcp();
  const accepting = listener.accept();
  await client.connect(listener.local!, NEVER);
  const server = await accepting;
  open.push(server);
  listener.close();
  for (const sock of [client, server]) sock.setOption("TCP_NODELAY", nodelay);
  return [client, server];
}

/** Reads exactly `buffer.length` bytes. */
async function readFull(sock: SysSocket, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < buffer.length;) {
    const n = await sock.read(buffer.subarray(got));
    if (n === null) throw new Error("The connection ended early");
    got += n;
  }
}

/** One request (two small writes) and its response. */
async function roundTrip(client: SysSocket, server: SysSocket): Promise<void> {
  await client.write(HEAD);
  await client.write(BODY);
  await readFull(server, new Uint8Array(HEAD.length + BODY.length));
  await server.write(RESPONSE);
  await readFull(client, new Uint8Array(RESPONSE.length));
}

const [fastClient, fastServer] = ffi ? await pair(true) : [];
const [slowClient, slowServer] = ffi ? await pair(false) : [];

Deno.bench({
  name: "two writes + read, TCP_NODELAY on both ends",
  group: "request/response",
  baseline: true,
  ignore: !ffi,
  ...ITERATIONS,
  async fn() {
    await roundTrip(fastClient!, fastServer!);
  },
});

Deno.bench({
  name: "two writes + read, Nagle (no TCP_NODELAY)",
  group: "request/response",
  ignore: !ffi,
  ...ITERATIONS,
  async fn() {
    await roundTrip(slowClient!, slowServer!);
  },
});

globalThis.addEventListener("unload", () => {
  for (const sock of open) sock.close();
});
