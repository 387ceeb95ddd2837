// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What the machine costs, as ratios against raw Deno in the same run:
 * `deno task bench`. The connect group opens and closes one loopback TCP
 * connection per iteration; the data group moves 64 KiB per iteration over
 * one open connection, and the streams group does so through each side's
 * `writable` and `readable`.
 *
 * @module
 */
import { type Socket, socket } from "../mod.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const CHUNK = 64 * 1024;
const ITERATIONS = { n: 2000, warmup: 200 };

// Connection rate ----------------------------------------------------------

const rawListener = Deno.listen(LOOPBACK);
const rawPort = (rawListener.addr as Deno.NetAddr).port;

Deno.bench({
  name: "raw Deno.connect + accept + close",
  group: "connect",
  baseline: true,
  ...ITERATIONS,
  async fn() {
    const accepting = rawListener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: rawPort });
    const server = await accepting;
    server.close();
    client.close();
  },
});

const listener = socket({ domain: "inet" });
await listener.bind(LOOPBACK);
await listener.listen();
const { port } = listener.getsockname();

Deno.bench({
  name: "sockfsm socket() + connect + accept + close",
  group: "connect",
  ...ITERATIONS,
  async fn() {
    const accepting = listener.accept();
    const client = socket({ domain: "inet" });
    await client.connect({ hostname: "127.0.0.1", port });
    const server = await accepting;
    server.close();
    client.close();
  },
});

// Data rate ----------------------------------------------------------------

const payload = new Uint8Array(CHUNK).fill(7);

async function rawPair(): Promise<[Deno.Conn, Deno.Conn]> {
  const accepting = rawListener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: rawPort });
  return [client, await accepting];
}

async function sockfsmPair(): Promise<[Socket, Socket]> {
  const accepting = listener.accept();
  const client = socket({ domain: "inet" });
  await client.connect({ hostname: "127.0.0.1", port });
  return [client, await accepting];
}

async function drain(
  read: (buffer: Uint8Array) => Promise<number | null>,
  buffer: Uint8Array,
): Promise<void> {
  let left = CHUNK;
  while (left > 0) {
    const n = await read(buffer);
    if (!n) throw new Error("The connection ended early");
    left -= n;
  }
}

const [rawClient, rawServer] = await rawPair();
const rawBuffer = new Uint8Array(CHUNK);
Deno.bench({
  name: "raw conn.write + read, 64 KiB",
  group: "data",
  baseline: true,
  ...ITERATIONS,
  async fn() {
    const writing = rawClient.write(payload).then(async (n) => {
      for (let sent = n; sent < CHUNK;) {
        sent += await rawClient.write(payload.subarray(sent));
      }
    });
    await drain((b) => rawServer.read(b), rawBuffer);
    await writing;
  },
});

const [client, server] = await sockfsmPair();
const buffer = new Uint8Array(CHUNK);
Deno.bench({
  name: "sockfsm send + recvInto, 64 KiB",
  group: "data",
  ...ITERATIONS,
  async fn() {
    const sending = client.send(payload);
    await drain((b) => server.recvInto(b), buffer);
    await sending;
  },
});

// Streams ------------------------------------------------------------------

/** Writes 64 KiB with `writer` while `reader` reads it. */
async function streamChunk(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<void> {
  const writing = writer.write(payload);
  let left = CHUNK;
  while (left > 0) {
    const { value } = await reader.read();
    if (value === undefined) throw new Error("The stream ended early");
    left -= value.length;
  }
  await writing;
}

const [rawStreamClient, rawStreamServer] = await rawPair();
const rawWriter = rawStreamClient.writable.getWriter();
const rawReader = rawStreamServer.readable.getReader();
Deno.bench({
  name: "raw Deno.Conn writable + readable, 64 KiB",
  group: "streams",
  baseline: true,
  ...ITERATIONS,
  async fn() {
    await streamChunk(rawWriter, rawReader);
  },
});

const [streamClient, streamServer] = await sockfsmPair();
const writer = streamClient.writable.getWriter();
const reader = streamServer.readable.getReader();
Deno.bench({
  name: "sockfsm writable + readable, 64 KiB",
  group: "streams",
  ...ITERATIONS,
  async fn() {
    await streamChunk(writer, reader);
  },
});

globalThis.addEventListener("unload", () => {
  for (const s of [client, server, streamClient, streamServer, listener]) {
    s.close();
  }
  for (const c of [rawClient, rawServer, rawListener]) c.close();
  for (const c of [rawStreamClient, rawStreamServer]) c.close();
});
