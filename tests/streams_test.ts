// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of a socket's Web Streams, `readable` and `writable`: they carry
 * real traffic through the Web platform's transforms and to plain Deno
 * peers, on both backends; they end and error as the socket does, with the
 * machine's own `SocketError`; `cancel()` and `abort()` shut down one side
 * and never reject; closing the socket settles a pending read or write.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type CreatedSocket,
  type Socket,
  socket,
  SocketError,
  type StreamConnection,
  streamConnection,
  typedStreamConnection,
} from "../mod.ts";
import { recvAll, settlesWithin, within } from "./_net.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const LOOPBACK_PORT_0 = { hostname: "127.0.0.1", port: 0 };
/** How long anything here may take, but the 10 MiB transfers. */
const PROMPT = 5000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connected pair on IPv4 loopback. */
function pairOf(backend: Backend): Promise<StreamConnection> {
  return streamConnection({ srvrAddr: LOOPBACK_PORT_0, backend });
}

/** All the bytes of a stream, until it closes. */
async function bytesOf(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `size` bytes: random in the first half, text in the second. */
function payload(size: number): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(size);
  const half = size >> 1;
  for (let at = 0; at < half; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(at + 65536, half)));
  }
  const text = encoder.encode("sockfsm streams through gzip. ");
  for (let at = half; at < size; at += text.length) {
    data.set(text.subarray(0, size - at), at);
  }
  return data;
}

/** `data` in chunks of at most `size` bytes. */
function chunked(
  data: Uint8Array<ArrayBuffer>,
  size: number,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(data.subarray(at, at += size));
    },
  });
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The error `promise` rejects with; fails if it fulfils. */
function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  return within(
    PROMPT,
    promise.then(() => assert.fail(`${what} did not reject`), (e) => e),
    what,
  );
}

/** Asserts that `error` is the machine's `SocketError` `code` for `op`. */
function assertSocketError(
  error: unknown,
  code: string,
  op: string,
): asserts error is SocketError {
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.code, code);
  assert.equal(error.op, op);
}

/** Writes all of `data` to a Deno connection. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) {
    at += await conn.write(data.subarray(at));
  }
}

/**
 * Reads a Deno connection until end of stream, with `read()`: its
 * `readable` would close the connection at the end.
 */
async function readAll(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(65536);
  let text = "";
  for (let n; (n = await conn.read(buffer)) !== null;) {
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

// ----------------------------------------------------- real traffic

for (const backend of BACKENDS) {
  Deno.test(`readable and writable of a ${backend} pair carry 10 MiB through CompressionStream and DecompressionStream unchanged`, async () => {
    using pair = await pairOf(backend);
    const sent = payload(10 << 20);
    const sending = chunked(sent, 65536)
      .pipeThrough(new CompressionStream("gzip"))
      .pipeTo(pair.clntS.writable);
    const receiving = bytesOf(
      pair.srvrS.readable.pipeThrough(new DecompressionStream("gzip")),
    );
    const [, received] = await within(
      60_000,
      Promise.all([sending, receiving]),
      "10 MiB through gzip",
    );
    assert.equal(received.length, sent.length);
    assert.equal(await sha256(received), await sha256(sent));
    // pipeTo() closed the writable: shutdown("write").
    assert.equal(pair.clntS.state, "shutWr");
  });
}

/** A sockfsm socket connected to a plain Deno connection. */
interface DenoPeer extends Disposable {
  readonly sock: Socket;
  readonly conn: Deno.Conn;
}

const DENO_PEERS: Record<string, () => Promise<DenoPeer>> = {
  async "a Deno.connect() client"() {
    using listener = socket({ domain: "inet" });
    await listener.bind(LOOPBACK_PORT_0);
    await listener.listen();
    const { port } = listener.getsockname() as { port: number };
    const accepting = listener.accept();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return owned(await accepting, conn);
  },
  async "a Deno.listen() server"() {
    using listener = Deno.listen(LOOPBACK_PORT_0);
    const accepting = listener.accept();
    const sock = socket({ domain: "inet" });
    try {
      await sock.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    } catch (error) {
      sock.close();
      throw error;
    }
    return owned(sock, await accepting);
  },
};

function owned(sock: Socket, conn: Deno.Conn): DenoPeer {
  return {
    sock,
    conn,
    [Symbol.dispose]() {
      conn.close();
      sock[Symbol.dispose]();
    },
  };
}

for (const [peerName, connectPeer] of Object.entries(DENO_PEERS)) {
  Deno.test(`readable and writable talk both ways with ${peerName}, each side reading to end of stream`, async () => {
    using peer = await connectPeer();
    const toPeer = "from sockfsm; ".repeat(20_000);
    const toSock = "from Deno; ".repeat(20_000);
    const sockSide = (async () => {
      const sending = ReadableStream.from([toPeer])
        .pipeThrough(new TextEncoderStream())
        .pipeTo(peer.sock.writable);
      const got = await bytesOf(peer.sock.readable);
      await sending;
      return decoder.decode(got);
    })();
    const denoSide = (async () => {
      await writeAll(peer.conn, encoder.encode(toSock));
      await peer.conn.closeWrite();
      return await readAll(peer.conn);
    })();
    const [atSock, atPeer] = await within(
      PROMPT,
      Promise.all([sockSide, denoSide]),
      "the exchange",
    );
    assert.equal(atSock, toSock);
    assert.equal(atPeer, toPeer);
  });
}

// ------------------------------------------------------ the readable

for (const backend of BACKENDS) {
  Deno.test(`readable of a ${backend} socket ends at once after shutdown("read")`, async () => {
    using pair = await pairOf(backend);
    await pair.srvrS.shutdown("read");
    const reader = pair.srvrS.readable.getReader();
    const read = await within(PROMPT, reader.read(), "the read");
    assert.deepEqual(read, { done: true, value: undefined });
    await reader.closed;
  });

  Deno.test(`readable of a ${backend} socket with a BYOB reader fills the caller's buffer`, async () => {
    using pair = await pairOf(backend);
    await pair.clntS.send(encoder.encode("abcdefgh"));
    const reader = pair.srvrS.readable.getReader({ mode: "byob" });
    const { value, done } = await within(
      PROMPT,
      reader.read(new Uint8Array(new ArrayBuffer(16)), { min: 8 }),
      "the read",
    );
    assert.equal(done, false);
    // The caller's 16 bytes of memory (transferred), not a buffer of the
    // stream's own.
    assert.equal(value!.buffer.byteLength, 16);
    assert.equal(value!.byteOffset, 0);
    assert.equal(decoder.decode(value), "abcdefgh");
    reader.releaseLock();
  });

  Deno.test(`readable of a ${backend} socket with a default reader reads into buffers of 64 KiB`, async () => {
    using pair = await pairOf(backend);
    await pair.clntS.send(encoder.encode("hi"));
    const reader = pair.srvrS.readable.getReader();
    const { value } = await within(PROMPT, reader.read(), "the read");
    assert.equal(decoder.decode(value), "hi");
    assert.equal(value!.buffer.byteLength, 65536);
    reader.releaseLock();
  });

  Deno.test(`readable of a ${backend} socket errors with EBADF when the socket is closed during a read`, async () => {
    using pair = await pairOf(backend);
    const reader = pair.srvrS.readable.getReader();
    const reading = reader.read();
    assert.equal(await settlesWithin(reading, 20), false, "the read ended");
    pair.srvrS.close();
    const error = await rejection(reading, "the read");
    assertSocketError(error, "EBADF", "recv");
    assert.match(error.message, /closed while the call was in progress/);
    // The stream is errored with that same object.
    assert.equal(await rejection(reader.closed, "reader.closed"), error);
  });

  Deno.test(`readable of an unconnected ${backend} socket errors with the machine's ENOTCONN`, async () => {
    using sock = socket({ domain: "inet", backend });
    const reader = sock.readable.getReader();
    const error = await rejection(reader.read(), "the read");
    assertSocketError(error, "ENOTCONN", "recv");
    assert.equal(error.state, "created");
    assert.equal(await rejection(reader.closed, "reader.closed"), error);
  });

  Deno.test(`readable.cancel() on a connected ${backend} socket is shutdown("read"): reads end, the write side still works`, async () => {
    using pair = await pairOf(backend);
    await within(PROMPT, pair.srvrS.readable.cancel(), "cancel()");
    assert.equal(pair.srvrS.state, "shutRd");
    assert.equal((await pair.srvrS.recv()).length, 0);
    await pair.srvrS.send(encoder.encode("still here"));
    assert.equal(decoder.decode(await pair.clntS.recv()), "still here");
  });

  Deno.test(`readable.cancel() while a read waits on a ${backend} socket ends the read and shuts down the read side`, async () => {
    using pair = await pairOf(backend);
    const reader = pair.srvrS.readable.getReader();
    const reading = reader.read();
    assert.equal(await settlesWithin(reading, 20), false, "the read ended");
    await within(PROMPT, reader.cancel(), "cancel()");
    assert.deepEqual(await reading, { done: true, value: undefined });
    assert.equal(pair.srvrS.state, "shutRd");
    assert.equal((await pair.srvrS.recv()).length, 0);
    // The end a cancelled read may have seen was the shutdown's, not the
    // peer's: with our FIN too, the connection is not taken to be over.
    await pair.srvrS.shutdown("write");
    assert.deepEqual(pair.srvrS.getpeername(), pair.clntS.getsockname());
  });

  Deno.test(`writable.abort() on a connected ${backend} socket is shutdown("write"): the peer reads end of stream, reading still works`, async () => {
    using pair = await pairOf(backend);
    const writer = pair.clntS.writable.getWriter();
    await writer.write(encoder.encode("partial"));
    await within(PROMPT, writer.abort(new Error("given up")), "abort()");
    assert.equal(pair.clntS.state, "shutWr");
    assert.equal(
      decoder.decode(await within(PROMPT, recvAll(pair.srvrS), "recvAll")),
      "partial",
    );
    await pair.srvrS.send(encoder.encode("reply"));
    assert.equal(decoder.decode(await pair.clntS.recv()), "reply");
  });
}

Deno.test("readable.cancel() and writable.abort() on a closed socket resolve and do nothing", async () => {
  using pair = await pairOf("deno");
  pair.srvrS.close();
  await within(PROMPT, pair.srvrS.readable.cancel(), "cancel()");
  await within(PROMPT, pair.srvrS.writable.abort(), "abort()");
  assert.equal(pair.srvrS.state, "closed");
});

Deno.test("readable.cancel() and writable.abort() on a listening socket leave it listening", async () => {
  using listener = socket({ domain: "inet" });
  await listener.bind(LOOPBACK_PORT_0);
  await listener.listen();
  await within(PROMPT, listener.readable.cancel(), "cancel()");
  await within(PROMPT, listener.writable.abort(), "abort()");
  assert.equal(listener.state, "listening");
  using client = socket({ domain: "inet" });
  const accepting = listener.accept();
  await client.connect(listener.getsockname());
  using _accepted = await within(PROMPT, accepting, "accept()");
});

Deno.test("readable.cancel() on a socket whose writable is closing waits for that shutdown, then shuts the read side too", async () => {
  using pair = await pairOf("deno");
  await within(
    PROMPT,
    Promise.all([pair.clntS.writable.close(), pair.clntS.readable.cancel()]),
    "close() and cancel()",
  );
  assert.equal(pair.clntS.state, "shutRdWr");
});

// ------------------------------------------------------ the writable

for (const backend of BACKENDS) {
  Deno.test(`writable.close() on a ${backend} socket is shutdown("write"): the peer's recv() returns end of stream`, async () => {
    using pair = await pairOf(backend);
    const writer = pair.clntS.writable.getWriter();
    await writer.write(encoder.encode("last words"));
    await within(PROMPT, writer.close(), "close()");
    assert.equal(pair.clntS.state, "shutWr");
    const got = await within(PROMPT, recvAll(pair.srvrS), "recvAll");
    assert.equal(decoder.decode(got), "last words");
    assert.equal((await pair.srvrS.recv()).length, 0);
  });

  Deno.test(`writable of a ${backend} socket errors with the machine's EPIPE after shutdown("write")`, async () => {
    using pair = await pairOf(backend);
    await pair.clntS.shutdown("write");
    const writer = pair.clntS.writable.getWriter();
    const error = await rejection(writer.write(encoder.encode("x")), "write");
    assertSocketError(error, "EPIPE", "send");
    assert.equal(error.state, "shutWr");
    assert.equal(await rejection(writer.closed, "writer.closed"), error);
  });

  Deno.test(`writable of a ${backend} socket errors with EBADF when the socket is closed during a write`, async () => {
    using pair = await pairOf(backend);
    const writer = pair.clntS.writable.getWriter();
    // More than the kernel buffers hold: the write waits for the peer,
    // which does not read.
    const writing = writer.write(new Uint8Array(16 << 20));
    assert.equal(await settlesWithin(writing, 50), false, "the write ended");
    pair.clntS.close();
    const error = await rejection(writing, "the write");
    assertSocketError(error, "EBADF", "send");
    assert.equal(await rejection(writer.closed, "writer.closed"), error);
  });

  Deno.test(`writable of an unconnected ${backend} socket errors with the machine's EPIPE`, async () => {
    using sock = socket({ domain: "inet", backend });
    const writer = sock.writable.getWriter();
    const error = await rejection(writer.write(encoder.encode("x")), "write");
    assertSocketError(error, "EPIPE", "send");
    assert.equal(error.state, "created");
  });
}

Deno.test("writable errors with EINVAL for a chunk that is not a Uint8Array, and says what to write", async () => {
  using pair = await pairOf("deno");
  const writer = pair.clntS.writable.getWriter();
  const error = await rejection(
    writer.write("text" as unknown as Uint8Array),
    "write",
  );
  assertSocketError(error, "EINVAL", "send");
  assert.match(error.message, /chunk of type string/);
  assert.match(error.message, /write Uint8Array chunks/);
  assert.equal(await rejection(writer.closed, "writer.closed"), error);
  // The socket is untouched.
  assert.equal(pair.clntS.state, "connected");
});

Deno.test("writable writes each chunk whole with send(), never interleaved with the socket's other sends", async () => {
  using pair = await pairOf("deno");
  const size = 1 << 20;
  const writer = pair.clntS.writable.getWriter();
  const sending = Promise.all([
    writer.write(new Uint8Array(size).fill(0x61)),
    pair.clntS.send(new Uint8Array(size).fill(0x62)),
    writer.write(new Uint8Array(size).fill(0x63)),
  ]);
  let got = "";
  while (got.length < 3 * size) {
    got += decoder.decode(await within(PROMPT, pair.srvrS.recv(), "recv"));
  }
  await sending;
  const runs = got.match(/(.)\1*/g)!.map((run) => `${run[0]}${run.length}`);
  assert.deepEqual(runs.toSorted(), [`a${size}`, `b${size}`, `c${size}`]);
});

// ------------------------------------------------------ both

Deno.test("readable and writable are made on first use, then the same objects", async () => {
  using pair = await pairOf("deno");
  assert.equal(pair.srvrS.readable, pair.srvrS.readable);
  assert.equal(pair.srvrS.writable, pair.srvrS.writable);
  assert.notEqual(pair.srvrS.readable, pair.clntS.readable);
});

Deno.test("typedStreamConnection() ends have their runtime sockets' readable and writable; a created socket has none", async () => {
  using pair = await typedStreamConnection({ srvrAddr: LOOPBACK_PORT_0 });
  assert.equal(pair.srvrS.readable, pair.srvrS.socket.readable);
  assert.equal(pair.clntS.writable, pair.clntS.socket.writable);
  await ReadableStream.from([encoder.encode("typed")]).pipeTo(
    pair.clntS.writable,
  );
  assert.equal(decoder.decode(await bytesOf(pair.srvrS.readable)), "typed");
  if (false as boolean) {
    const created = null as unknown as CreatedSocket;
    // @ts-expect-error A socket that is not connected has no readable.
    created.readable;
  }
});
