// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The frames a process PCO's messages travel in: `encodeFrame()` and
 * `FrameReader`, which must give back every message whole and in order
 * however the byte stream is cut (a pipe delivers any number of bytes at a
 * time), with the bytes of a message's `data` intact.
 */
import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameReader,
  isHello,
  type Message,
  PROTOCOL_VERSION,
} from "../steps/pco_protocol.ts";

/** Messages of every shape a frame carries: with data, with empty data, without. */
const MESSAGES: readonly Message[] = [
  {
    hello: "sockfsm-agent",
    version: PROTOCOL_VERSION,
    pid: 4242,
    kernel: "sticky",
  },
  {
    id: 7,
    sock: 3,
    op: "write",
    data: new Uint8Array([0, 1, 2, 253, 254, 255, 10, 13]),
    to: null,
  },
  { id: 8, sock: 3, op: "read", max: 65536, from: true },
  {
    id: 8,
    ok: true,
    value: 5,
    data: new TextEncoder().encode("héllo"),
    from: { hostname: "::1", port: 9 },
  },
  { id: 9, ok: true, value: 0, data: new Uint8Array(0) },
  {
    id: 10,
    ok: false,
    error: {
      code: "EADDRINUSE",
      op: "bind",
      message: "Cannot bind(): EADDRINUSE — “quoted” text, \u{1F600}",
      state: "created",
    },
  },
  { id: 0, sock: 1, op: "close" },
];

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

Deno.test("FrameReader gives back a message with data bytes whole from a frame split at every byte boundary", () => {
  for (const message of MESSAGES) {
    const frame = encodeFrame(message);
    for (let cut = 0; cut <= frame.length; cut++) {
      const reader = new FrameReader();
      const first = reader.push(frame.slice(0, cut));
      const second = reader.push(frame.slice(cut));
      assert.deepEqual(
        [...first, ...second],
        [message],
        `cut at ${cut} of ${frame.length}`,
      );
      // Nothing is complete before the frame's last byte.
      assert.equal(first.length, cut === frame.length ? 1 : 0);
      assert.equal(reader.pending, 0);
    }
  }
});

Deno.test("FrameReader reassembles a frame fed one byte at a time, telling how many bytes it holds meanwhile", () => {
  for (const message of MESSAGES) {
    const frame = encodeFrame(message);
    const reader = new FrameReader();
    const got: Message[] = [];
    for (let i = 0; i < frame.length; i++) {
      got.push(...reader.push(frame.subarray(i, i + 1)));
      assert.equal(reader.pending, i + 1 === frame.length ? 0 : i + 1);
    }
    assert.deepEqual(got, [message]);
  }
});

Deno.test("FrameReader gives back several frames in one chunk, in order, and those cut at every boundary of the whole stream", () => {
  const frames = MESSAGES.map(encodeFrame);
  const stream = concat(frames);
  // All in one chunk.
  assert.deepEqual(new FrameReader().push(stream), [...MESSAGES]);
  // Two chunks, cut anywhere.
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new FrameReader();
    const got = [
      ...reader.push(stream.slice(0, cut)),
      ...reader.push(stream.slice(cut)),
    ];
    assert.deepEqual(got, [...MESSAGES], `cut at ${cut} of ${stream.length}`);
    assert.equal(reader.pending, 0);
  }
  // Three chunks, one cut inside a frame's header and one inside its data.
  const reader = new FrameReader();
  const a = frames[0].length + 3;
  const b = frames[0].length + frames[1].length - 2;
  assert.deepEqual(reader.push(stream.slice(0, a)), [MESSAGES[0]]);
  assert.deepEqual(reader.push(stream.slice(a, b)), []);
  assert.deepEqual(reader.push(stream.slice(b)), MESSAGES.slice(1));
});

Deno.test("encodeFrame() writes the JSON length, the data length, the JSON, then the data", () => {
  const data = new Uint8Array([9, 8, 7]);
  const frame = encodeFrame({ id: 1, ok: true, value: 3, data });
  const view = new DataView(frame.buffer);
  const jsonLength = view.getUint32(0, true);
  assert.equal(view.getUint32(4, true), 3);
  assert.equal(frame.length, 8 + jsonLength + 3);
  const json = JSON.parse(
    new TextDecoder().decode(frame.subarray(8, 8 + jsonLength)),
  );
  assert.deepEqual(json, { id: 1, ok: true, value: 3, data: true });
  assert.deepEqual(frame.subarray(8 + jsonLength), data);
  // Without data, the data length is 0 and nothing follows the JSON.
  const bare = encodeFrame({ id: 2, ok: true });
  const bareView = new DataView(bare.buffer);
  assert.equal(bareView.getUint32(4, true), 0);
  assert.equal(bare.length, 8 + bareView.getUint32(0, true));
});

Deno.test("isHello() tells an agent's hello from requests and answers", () => {
  assert.equal(isHello(MESSAGES[0]), true);
  for (const message of MESSAGES.slice(1)) {
    assert.equal(isHello(message), false);
  }
  assert.equal(isHello(null), false);
  assert.equal(isHello({ hello: "someone else", version: 1 }), false);
});
