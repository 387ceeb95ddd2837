// Copyright 2026 the sockfsm authors. MIT license.
import { fromPromise } from "xstate";
import type {
  BindInput,
  ConnectInput,
  ListenInput,
  ShutdownInput,
  SocketEffects,
} from "../machine/effects.ts";

/**
 * One effect of the socket machine as a plain call on the socket's
 * `SysSocket`. `stoppable`: the call takes a signal, which aborts when the
 * effect is stopped (`close()` during a `connect()`); the others are not
 * given one, so they cost no `AbortController`.
 */
export interface SysCall<I> {
  readonly run: (input: I, signal: AbortSignal | undefined) => Promise<void>;
  readonly stoppable: boolean;
}

/**
 * The socket machine's effects as plain calls, by the name the machine's
 * states invoke them with. A runtime socket runs them directly (an XState
 * actor per call costs more than a loopback `bind(2)`); `sysEffects` wraps
 * the same calls as actors, for the machine's `provide()`.
 */
export const sysCalls: {
  readonly [K in keyof SocketEffects]: SysCall<EffectInput<K>>;
} = {
  bind: {
    run: (input: BindInput) =>
      input.sys.bind(input.addr, input.connectionOver === true),
    stoppable: false,
  },
  listen: {
    run: (input: ListenInput) => input.sys.listen(input.backlog),
    stoppable: false,
  },
  connect: {
    // A connect that is never stopped is never given an aborted signal.
    run: (input: ConnectInput, signal) =>
      input.sys.connect(input.addr, signal ?? NEVER_ABORTED),
    stoppable: true,
  },
  shutdown: {
    run: (input: ShutdownInput) =>
      input.sys.shutdown(input.how, input.keepAddress),
    stoppable: false,
  },
};

/** The input of the effect `K`. */
type EffectInput<K extends keyof SocketEffects> = {
  bind: BindInput;
  listen: ListenInput;
  connect: ConnectInput;
  shutdown: ShutdownInput;
}[K];

const NEVER_ABORTED = new AbortController().signal;

/**
 * The socket machine's effects, for `socketMachine.provide({ actors })`: each
 * runs the call on the socket's `SysSocket`, whichever backend made it.
 */
export const sysEffects: SocketEffects = {
  bind: fromPromise(({ input }) => sysCalls.bind.run(input, undefined)),
  listen: fromPromise(({ input }) => sysCalls.listen.run(input, undefined)),
  connect: fromPromise(({ input, signal }) =>
    sysCalls.connect.run(input, signal)
  ),
  shutdown: fromPromise(({ input }) => sysCalls.shutdown.run(input, undefined)),
};
