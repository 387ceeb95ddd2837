// Copyright 2026 the sockfsm authors. MIT license.
import { SocketError } from "../machine/errors.ts";
import { AgentPco, type Pco, within } from "./pco.ts";
import { PcoLink } from "./pco_link.ts";
import type { Message } from "./pco_protocol.ts";

/** Options for {@linkcode workerPco}. */
export interface WorkerPcoOptions {
  /**
   * The PCO's name, as its errors give it.
   *
   * @default {"worker <n>"}
   */
  name?: string;
  /**
   * How long the worker may take to start its agent, in milliseconds.
   *
   * @default {30000}
   */
  startTimeout?: number;
}

let workers = 0;

/**
 * A PCO in a new Deno Worker: its sockets are the worker's, and their
 * system calls run on the worker's thread, while the socket machine runs
 * in the caller. The worker has the caller's permissions.
 *
 * @example A server in a worker, a client here
 * ```ts
 * import { localPco, streamConnection, workerPco } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * await using srvr = await workerPco();
 * using pair = await streamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   srvr,
 *   clnt: localPco(),
 * });
 * await pair.clntS.send(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "hi");
 * ```
 *
 * @param options Its name, and how long it may take to start.
 * @returns The PCO, once its agent has said hello.
 * @throws {SocketError} `EACCES` when Deno's permissions do not let a
 * Worker read sockfsm's modules (from files, it needs `--allow-read` for
 * them); `EIO` when the worker cannot start; `EPROTONOSUPPORT` when its
 * agent speaks another protocol version.
 */
export async function workerPco(options: WorkerPcoOptions = {}): Promise<Pco> {
  const name = options.name ?? `worker ${++workers}`;
  checkReadable(name);
  const worker = new Worker(new URL("./pco_worker.ts", import.meta.url), {
    type: "module",
    name,
  });
  const link = new PcoLink(name, (request) => {
    // A view is cloned with its whole buffer: post only its bytes.
    if (request.op === "write" && isPartial(request.data)) {
      worker.postMessage({ ...request, data: request.data.slice() });
    } else {
      worker.postMessage(request);
    }
  });
  worker.onmessage = (event: MessageEvent<Message>) => link.receive(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    link.end(`its worker threw: ${event.message}`, true);
    worker.terminate();
  };
  const stop = async () => {
    if (!link.ended) {
      await within(link.call({ op: "bye", sock: 0 }).catch(() => {}), 5000);
    }
    worker.terminate();
  };
  const pco = new AgentPco("worker", link, { stop });
  const started = await within(
    link.hello.then(() => true as const, (error: SocketError) => error),
    options.startTimeout ?? 30_000,
  );
  if (started === true) return pco;
  const failure = started ?? new SocketError(
    "EIO",
    "socket",
    `Cannot start PCO "${name}": EIO, its worker did not start its agent within ${
      options.startTimeout ?? 30_000
    } ms`,
    { pco: name },
  );
  // An agent that has not said hello is not asked to say bye: it would
  // not answer, and close() would wait for it.
  link.end("it did not say hello in time", false);
  await pco.close();
  throw failure;
}

/** Whether `view` is part of a larger buffer. */
function isPartial(view: Uint8Array): boolean {
  return view.byteOffset !== 0 || view.byteLength !== view.buffer.byteLength;
}

/**
 * Refuses a worker that could not load its modules: a Worker needs read
 * access to the files of its module graph (sockfsm's own, from a clone or
 * a vendored copy; modules fetched from a registry need none).
 */
function checkReadable(name: string): void {
  const root = new URL("..", import.meta.url);
  if (root.protocol !== "file:") return;
  const granted = ["steps", "machine"].every((dir) =>
    Deno.permissions.querySync({
      name: "read",
      path: decodeURIComponent(new URL(dir, root).pathname),
    }).state === "granted"
  );
  if (granted) return;
  const path = decodeURIComponent(root.pathname).replace(/\/$/, "");
  throw new SocketError(
    "EACCES",
    "socket",
    `Cannot start PCO "${name}": EACCES, a Worker needs read access to sockfsm's modules; grant --allow-read=${path}`,
    { pco: name },
  );
}
