// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The protocol between a PCO's caller and its agent: typed requests, each
 * on one system socket of the agent, and the answers to them, by request
 * id. The agent speaks first, with a `Hello` that names the
 * protocol version; a caller refuses an agent of another version.
 *
 * A worker carries the messages as they are (structured clone); a process
 * carries them over its stdin and stdout as frames (`encodeFrame`,
 * `FrameReader`): a little-endian `u32` length of the JSON text, a
 * `u32` length of the bytes, the JSON text, then the bytes of the message's
 * `data`, if it has any.
 *
 * The socket machine runs in the caller: the agent only performs the
 * system calls the caller's machine allowed, as a `SysSocket` does.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";
import type { Errno } from "../machine/errno.ts";
import type {
  Readiness,
  ShutdownHow,
  SysSocketKind,
} from "../machine/effects.ts";
import type { SocketOp } from "../machine/errors.ts";
import type { SocketState } from "../machine/socket_machine.ts";
import type {
  SettableOptionName,
  SocketOptionName,
} from "../machine/options.ts";
import type { KernelName } from "../machine/kernel.ts";
import type { Backend } from "./backend.ts";

/**
 * The version of the protocol this module speaks. An agent of another
 * version is refused: a caller and its agent must come from the same
 * sockfsm release. Version 2 added the `sendtoRefusal` request and the
 * `disconnect` of a `cancel`.
 */
export const PROTOCOL_VERSION = 2;

/** What an agent says first, before any request. */
export interface Hello {
  readonly hello: "sockfsm-agent";
  /** The protocol version the agent speaks. */
  readonly version: number;
  /** The agent's process id. */
  readonly pid: number;
  /**
   * The kernel profile the agent detected where it runs (`null`: it could
   * not tell), which its Deno-backend sockets follow.
   */
  readonly kernel: KernelName | null;
}

/** A request on one of the agent's sockets, by the caller's id for it. */
export type Request =
  & { readonly id: number; readonly sock: number }
  & (
    | {
      readonly op: "create";
      readonly backend: Backend;
      readonly kind: SysSocketKind;
    }
    | {
      readonly op: "bind";
      readonly addr: SocketAddr;
      readonly connectionOver: boolean;
    }
    | { readonly op: "listen"; readonly backlog: number | null }
    | { readonly op: "connect"; readonly addr: SocketAddr }
    /** `into`: the caller's id for the accepted socket. */
    | { readonly op: "accept"; readonly into: number }
    /** `from`: `recvfrom(2)`, which answers with the sender. */
    | { readonly op: "read"; readonly max: number; readonly from: boolean }
    | {
      readonly op: "write";
      readonly data: Uint8Array;
      readonly to: SocketAddr | null;
    }
    | { readonly op: "disconnect" }
    | {
      readonly op: "setOption";
      readonly name: SettableOptionName;
      readonly value: unknown;
    }
    | { readonly op: "getOption"; readonly name: SocketOptionName }
    | { readonly op: "ready"; readonly what: Readiness }
    | {
      readonly op: "shutdown";
      readonly how: ShutdownHow;
      readonly keepAddress: boolean;
    }
    | { readonly op: "connectRefusal"; readonly addr: SocketAddr }
    | { readonly op: "sendtoRefusal"; readonly addr: SocketAddr }
    /** No answer: the socket is closed and forgotten. */
    | { readonly op: "close" }
    /**
     * No answer: aborts the call `call`, which then answers as aborted; with
     * `disconnect`, a connect whose attempt that call disconnects.
     */
    | {
      readonly op: "cancel";
      readonly call: number;
      readonly disconnect?: "shutdown" | "disconnect";
    }
    /** Answered at once: the agent is alive. */
    | { readonly op: "ping" }
    /** Closes every socket; answered, and then the agent ends. */
    | { readonly op: "bye" }
  );

/** The name of a request. */
export type RequestOp = Request["op"];

/** The socket call each request is, as its errors name it. */
export const SOCKET_OP: Readonly<Record<RequestOp, SocketOp>> = {
  create: "socket",
  bind: "bind",
  listen: "listen",
  connect: "connect",
  accept: "accept",
  read: "recv",
  write: "send",
  disconnect: "disconnect",
  setOption: "setsockopt",
  getOption: "getsockopt",
  ready: "wait",
  shutdown: "shutdown",
  connectRefusal: "connect",
  sendtoRefusal: "sendto",
  close: "close",
  cancel: "close",
  ping: "socket",
  bye: "close",
};

/** A `SocketError` as it crosses: what the caller rebuilds. */
export interface WireError {
  readonly code: Errno;
  readonly op: SocketOp;
  readonly message: string;
  readonly state?: SocketState | undefined;
}

/**
 * What the agent knows of a socket after a call that may change it: its
 * addresses, and what `getpeername(2)` answers now.
 */
export interface SocketReport {
  readonly local: SocketAddr | null;
  readonly remote: SocketAddr | null;
  /** `null` while the socket has no peer. */
  readonly peer: SocketAddr | WireError | null;
  /** For `create`: whether an aborted write has sent none of its data. */
  readonly stopsWrites?: boolean;
}

/** The answer to request `id`. */
export type Response =
  & {
    readonly id: number;
    /** The socket after the call, where it may have changed. */
    readonly report?: SocketReport | undefined;
  }
  & (
    | {
      readonly ok: true;
      /** A count, an option's value, an error (`connectRefusal`, `sendtoRefusal`). */
      readonly value?: unknown;
      /** Bytes read. */
      readonly data?: Uint8Array | undefined;
      /** The sender, for `read` with `from`. */
      readonly from?: SocketAddr | null;
    }
    | { readonly ok: false; readonly error: WireError }
  );

/** Whether `message` is an agent's `Hello`. */
export function isHello(message: unknown): message is Hello {
  return typeof message === "object" && message !== null &&
    (message as { hello?: unknown }).hello === "sockfsm-agent";
}

/** Any message either side sends. */
export type Message = Hello | Request | Response;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `message` as one frame, for a byte stream. */
export function encodeFrame(message: Message): Uint8Array {
  const data = "data" in message && message.data instanceof Uint8Array
    ? message.data
    : undefined;
  const json = encoder.encode(
    JSON.stringify(data === undefined ? message : { ...message, data: true }),
  );
  const frame = new Uint8Array(8 + json.length + (data?.length ?? 0));
  const view = new DataView(frame.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, data?.length ?? 0, true);
  frame.set(json, 8);
  if (data !== undefined) frame.set(data, 8 + json.length);
  return frame;
}

/**
 * Splits a byte stream into messages: `push()` each chunk as it comes,
 * and take the messages it completes. A frame that comes in many chunks
 * is joined once, when its last byte has come.
 */
export class FrameReader {
  /** Chunks of frames not yet whole, in order. */
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** The messages that `chunk` completes, in order. */
  push(chunk: Uint8Array): Message[] {
    if (chunk.length === 0) return [];
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const messages: Message[] = [];
    while (this.#length >= 8) {
      const head = this.#take(8, false);
      const view = new DataView(head.buffer, head.byteOffset, 8);
      const jsonLength = view.getUint32(0, true);
      const dataLength = view.getUint32(4, true);
      const end = 8 + jsonLength + dataLength;
      if (this.#length < end) break;
      const frame = this.#take(end, true);
      const message = JSON.parse(
        decoder.decode(frame.subarray(8, 8 + jsonLength)),
      );
      if (message.data === true) {
        // A view, not a copy: nothing writes a chunk once it has come.
        message.data = frame.subarray(8 + jsonLength, end);
      }
      messages.push(message);
    }
    return messages;
  }

  /** Bytes of a frame that has not come whole yet. */
  get pending(): number {
    return this.#length;
  }

  /**
   * The first `n` bytes of what has come, joined into one array if they
   * span chunks; `consume`: and drops them.
   */
  #take(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[0];
    let bytes: Uint8Array;
    if (first.length >= n) {
      bytes = first.subarray(0, n);
    } else {
      bytes = new Uint8Array(n);
      let at = 0;
      for (const chunk of this.#chunks) {
        const part = chunk.subarray(0, n - at);
        bytes.set(part, at);
        at += part.length;
        if (at === n) break;
      }
      // Keep the joined bytes as one chunk, so they are not joined again.
      let dropped = 0;
      while (dropped + this.#chunks[0].length <= n) {
        dropped += this.#chunks.shift()!.length;
        if (this.#chunks.length === 0) break;
      }
      if (dropped < n) this.#chunks[0] = this.#chunks[0].subarray(n - dropped);
      this.#chunks.unshift(bytes);
    }
    if (consume) {
      const head = this.#chunks[0];
      if (head.length === n) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
      this.#length -= n;
    }
    return bytes;
  }
}
