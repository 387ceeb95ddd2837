// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The data path over one open loopback connection per case, in paired
 * interleaved rounds: 64 KiB `send()` + `recvInto()` against raw
 * `Deno.Conn` `write()`/`read()`; a 1 KiB request/response ping-pong
 * against the same with raw `Deno.Conn` (per-call overhead shows there);
 * and 64 KiB through `writable`/`readable` against `Deno.Conn`'s streams.
 * (What `TCP_NODELAY` saves is `bench/nagle_bench.ts`, under `deno bench`.)
 *
 * @module
 */
import {
  type Backend,
  type Socket,
  type StreamConnection,
  streamConnection,
} from "../mod.ts";
import {
  type Case,
  type Context,
  type Figure,
  opCase,
  pairedRounds,
  rateFigure,
} from "./_report.ts";

const GROUP = "data";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
const CHUNK = 64 * 1024;
const SMALL = 1024;

/** What a case reads and writes with, raw or sockfsm. */
interface Ends {
  write(data: Uint8Array): Promise<void>;
  read(buffer: Uint8Array): Promise<number | null>;
}

function rawEnds(conn: Deno.Conn): Ends {
  return {
    async write(data) {
      for (let sent = 0; sent < data.length;) {
        sent += await conn.write(data.subarray(sent));
      }
    },
    read: (buffer) => conn.read(buffer),
  };
}

function sockfsmEnds(sock: Socket): Ends {
  return {
    async write(data) {
      await sock.send(data);
    },
    read: (buffer) => sock.recvInto(buffer),
  };
}

/** Reads exactly `buffer.length` bytes. */
async function readFull(ends: Ends, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < buffer.length;) {
    const n = await ends.read(buffer.subarray(got));
    if (!n) throw new Error("The connection ended early");
    got += n;
  }
}

/** 64 KiB from `from` to `to`, written while it is read. */
function bulk(from: Ends, to: Ends): () => Promise<void> {
  const payload = new Uint8Array(CHUNK).fill(7);
  const buffer = new Uint8Array(CHUNK);
  return async () => {
    const writing = from.write(payload);
    await readFull(to, buffer);
    await writing;
  };
}

/** 1 KiB request from `client`, 1 KiB response from `server`. */
function pingPong(client: Ends, server: Ends): () => Promise<void> {
  const request = new Uint8Array(SMALL).fill(1);
  const response = new Uint8Array(SMALL).fill(2);
  const atServer = new Uint8Array(SMALL);
  const atClient = new Uint8Array(SMALL);
  return async () => {
    await client.write(request);
    await readFull(server, atServer);
    await server.write(response);
    await readFull(client, atClient);
  };
}

/** 64 KiB through a writable and a readable. */
function streamed(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): () => Promise<void> {
  const payload = new Uint8Array(CHUNK).fill(7);
  return async () => {
    const writing = writer.write(payload);
    for (let left = CHUNK; left > 0;) {
      const { value } = await reader.read();
      if (value === undefined) throw new Error("The stream ended early");
      left -= value.length;
    }
    await writing;
  };
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const conns: Deno.Conn[] = [];
  const pairs: StreamConnection[] = [];
  const listener = Deno.listen(LOOPBACK);
  async function rawPair(): Promise<[Ends, Ends, Deno.Conn, Deno.Conn]> {
    const accepting = listener.accept();
    const client = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    const server = await accepting;
    conns.push(client, server);
    return [rawEnds(client), rawEnds(server), client, server];
  }
  async function pair(backend: Backend): Promise<StreamConnection> {
    const made = await streamConnection({ srvrAddr: LOOPBACK, backend });
    pairs.push(made);
    return made;
  }
  try {
    const cases: Case[] = [];
    const [rc, rs] = await rawPair();
    cases.push(opCase("raw 64 KiB", bulk(rc, rs)));
    const [pc, ps] = await rawPair();
    cases.push(opCase("raw ping-pong", pingPong(pc, ps)));
    const [, , sc, ss] = await rawPair();
    cases.push(
      opCase(
        "raw streams",
        streamed(sc.writable.getWriter(), ss.readable.getReader()),
      ),
    );
    for (const backend of ["deno", "posix"] as const) {
      const a = await pair(backend);
      cases.push(
        opCase(
          `${backend} 64 KiB`,
          bulk(sockfsmEnds(a.clntS), sockfsmEnds(a.srvrS)),
        ),
      );
      const b = await pair(backend);
      cases.push(
        opCase(
          `${backend} ping-pong`,
          pingPong(sockfsmEnds(b.clntS), sockfsmEnds(b.srvrS)),
        ),
      );
      const c = await pair(backend);
      cases.push(
        opCase(
          `${backend} streams`,
          streamed(c.clntS.writable.getWriter(), c.srvrS.readable.getReader()),
        ),
      );
    }
    const outcomes = await pairedRounds(context, GROUP, cases);
    const figures: Figure[] = [];
    for (const backend of ["deno", "posix"] as const) {
      figures.push(
        rateFigure(
          GROUP,
          `64 KiB \`send()\` + \`recvInto()\`, ${backend}`,
          outcomes,
          `${backend} 64 KiB`,
          "raw 64 KiB",
          { atLeast: 0.95 },
        ),
        rateFigure(
          GROUP,
          `1 KiB request/response ping-pong, ${backend}`,
          outcomes,
          `${backend} ping-pong`,
          "raw ping-pong",
          { atLeast: 0.9 },
        ),
        rateFigure(
          GROUP,
          `64 KiB through \`writable\`/\`readable\`, ${backend}`,
          outcomes,
          `${backend} streams`,
          "raw streams",
        ),
      );
    }
    return figures;
  } finally {
    for (const made of pairs) made[Symbol.dispose]();
    for (const conn of conns) conn.close();
    listener.close();
  }
}
