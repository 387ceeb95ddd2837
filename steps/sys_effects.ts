// Copyright 2026 the sockfsm authors. MIT license.
import { fromPromise } from "xstate";
import type { SocketEffects, SysSocket } from "../machine/effects.ts";

/** For each socket, the end of the effect started last. */
const running = new WeakMap<SysSocket, Promise<void>>();

/** Remembers `call` as the effect running on `sys`, and returns it. */
function track<T>(sys: SysSocket, call: Promise<T>): Promise<T> {
  running.set(sys, call.then(() => {}, () => {}));
  return call;
}

/**
 * Resolves once the effect started last on `sys` has settled, even when its
 * actor was stopped: `close()` stops an effect in flight, and the backend
 * may still be finishing it (such as a `poll(2)` that close() woke up).
 */
export function effectSettled(sys: SysSocket): Promise<void> {
  return running.get(sys) ?? Promise.resolve();
}

/**
 * The socket machine's effects, for `socketMachine.provide({ actors })`: each
 * runs the call on the socket's `SysSocket`, whichever backend made it.
 */
export const sysEffects: SocketEffects = {
  bind: fromPromise(({ input }) =>
    track(input.sys, input.sys.bind(input.addr, input.connectionOver === true))
  ),
  listen: fromPromise(({ input }) =>
    track(input.sys, input.sys.listen(input.backlog))
  ),
  connect: fromPromise(({ input, signal }) =>
    track(input.sys, input.sys.connect(input.addr, signal))
  ),
  shutdown: fromPromise(({ input }) =>
    track(input.sys, input.sys.shutdown(input.how, input.keepAddress))
  ),
};
