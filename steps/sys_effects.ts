// Copyright 2026 the sockfsm authors. MIT license.
import { fromPromise } from "xstate";
import type { SocketEffects } from "../machine/effects.ts";

/**
 * The socket machine's effects, for `socketMachine.provide({ actors })`: each
 * runs the call on the socket's `SysSocket`, whichever backend made it.
 */
export const sysEffects: SocketEffects = {
  bind: fromPromise(({ input }) => input.sys.bind(input.addr)),
  listen: fromPromise(({ input }) => input.sys.listen(input.backlog)),
  connect: fromPromise(({ input, signal }) =>
    input.sys.connect(input.addr, signal)
  ),
  shutdown: fromPromise(({ input }) =>
    input.sys.shutdown(input.how, input.keepAddress)
  ),
};
