// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the tests of the posix backend's `SysSocket` share. */
import assert from "node:assert/strict";
import type { Domain, SocketAddr } from "../machine/address.ts";
import type { SysSocket, SysSocketKind } from "../machine/effects.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError } from "../machine/errors.ts";
import { posixSocket } from "../steps/posix_backend.ts";
import { LOOPBACK } from "./_net.ts";

/** Every domain, and the two of TCP and UDP. */
export const DOMAINS = [
  "inet",
  "inet6",
  "unix",
] as const satisfies readonly Domain[];
export const IP_DOMAINS = [
  "inet",
  "inet6",
] as const satisfies readonly Domain[];

/** How long a test waits for something loopback does at once, before failing. */
export const PROMPT_MS = 2000;

/** A signal that never aborts, for a `connect` that is not to be stopped. */
export const NEVER: AbortSignal = new AbortController().signal;

export const encoder: TextEncoder = new TextEncoder();
export const decoder: TextDecoder = new TextDecoder();

/** The bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Posix `SysSocket`s and a temp dir (for unix paths) that a test owns; all
 * closed and removed on dispose.
 */
export class SysArena implements AsyncDisposable {
  readonly domain: Domain;
  #sockets: SysSocket[] = [];
  #dir: string | undefined;
  #names = 0;

  private constructor(domain: Domain, dir: string | undefined) {
    this.domain = domain;
    this.#dir = dir;
  }

  /** An arena for sockets of `domain`. */
  static async open(domain: Domain): Promise<SysArena> {
    const dir = domain === "unix"
      ? await Deno.makeTempDir({ prefix: "sockfsm-posix-" })
      : undefined;
    return new SysArena(domain, dir);
  }

  /** A new posix socket of the arena's domain, closed on dispose. */
  socket(
    type: SysSocketKind["type"] = "stream",
    nonblocking = false,
  ): SysSocket {
    return this.own(posixSocket({ domain: this.domain, type, nonblocking }));
  }

  /** Closes `sock` on dispose. */
  own(sock: SysSocket): SysSocket {
    this.#sockets.push(sock);
    return sock;
  }

  /** A fresh local address: loopback port 0, or a new path in the temp dir. */
  addr(): SocketAddr {
    if (this.#dir !== undefined) {
      return { path: `${this.#dir}/s${this.#names++}.sock` };
    }
    return { hostname: LOOPBACK[this.domain as "inet" | "inet6"], port: 0 };
  }

  /** A socket of `type` bound to a fresh address. */
  async bound(
    type: SysSocketKind["type"] = "stream",
    nonblocking = false,
  ): Promise<SysSocket> {
    const sock = this.socket(type, nonblocking);
    await sock.bind(this.addr(), false);
    return sock;
  }

  /** A bound, listening stream socket. */
  async listener(
    backlog?: number,
    nonblocking = false,
  ): Promise<SysSocket> {
    const server = await this.bound("stream", nonblocking);
    await server.listen(backlog);
    return server;
  }

  /**
   * A connected pair of blocking stream sockets: the client and the socket
   * `server` (a blocking listener) accepted.
   */
  async pair(server: SysSocket): Promise<{
    client: SysSocket;
    peer: SysSocket;
  }> {
    const client = this.socket();
    const accepting = server.accept();
    await client.connect(server.local!, NEVER);
    const peer = this.own(await accepting);
    return { client, peer };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const sock of this.#sockets.reverse()) sock.close();
    this.#sockets = [];
    if (this.#dir !== undefined) {
      await Deno.remove(this.#dir, { recursive: true });
    }
  }
}

/**
 * An `assert.rejects`/`assert.throws` check: a `SocketError` with `code`
 * (and `op`, if given) whose message names the errno.
 */
export function socketError(
  code: Errno,
  op?: string,
): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, code, error.message);
    if (op !== undefined) assert.equal(error.op, op);
    assert.match(error.message, new RegExp(code));
    return true;
  };
}

/** A rejection by close(): EBADF, "closed while ... in progress". */
export function closedMeanwhile(op: string): (error: unknown) => true {
  return (error) => {
    socketError("EBADF", op)(error);
    assert.match(
      (error as Error).message,
      /closed while the call was in progress/,
    );
    return true;
  };
}
