// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The agent of a `workerPco()`, as a Deno Worker's module: messages come
 * and go by `postMessage`, as they are.
 *
 * @module
 */
import { Agent } from "./pco_agent.ts";
import type { Request } from "./pco_protocol.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
};

const agent = new Agent((message) => scope.postMessage(message));
scope.onmessage = (event) => {
  agent.handle(event.data);
  if (agent.ended) scope.onmessage = null;
};
