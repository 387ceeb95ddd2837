// Copyright 2026 the sockfsm authors. MIT license.
import type { Errno } from "./errno.ts";
import type {
  CallMeta,
  Outcome,
  SocketEvent,
  SocketSnapshot,
} from "./socket_machine.ts";

/** The machine's answer to a call: let through, or refused with an errno. */
export type Verdict =
  | {
    readonly allowed: true;
    /** What the kernel answers, when the facts tell; else unknown. */
    readonly outcome: Outcome | undefined;
    /** Why the kernel answers so. */
    readonly why: string | undefined;
    /**
     * The kernel's answer depends on what the machine is not told: the call
     * is made, its answer stands, and the state stays.
     */
    readonly asks?: boolean;
    /**
     * The call in flight stops and fails with this errno (an `INTERRUPT`
     * that ends it, a `shutdown()` that disconnects it); the state it
     * leaves is its failure's.
     */
    readonly stops?: Errno;
  }
  | {
    readonly allowed: false;
    readonly waits?: false;
    /** The errno Linux gives for this call in this state. */
    readonly errno: Errno;
    /** Why, and what to do instead. */
    readonly why: string;
  }
  | {
    readonly allowed: false;
    /**
     * The call waits for the call in flight; the state after that one
     * answers it.
     */
    readonly waits: true;
    /**
     * It joins the call in flight, and answers as that call ends (a TCP
     * `connect()` during another's attempt), rather than as the state it
     * leaves.
     */
    readonly joins?: boolean;
    /** Which call it waits for. */
    readonly why: string;
  };

/**
 * Returns the machine's verdict on `event` in `snapshot`, without running any
 * transition: the first enabled transition either carries `meta.errno` (a
 * refusal), or `meta.waits` (the call waits for the call in flight), or lets
 * the call through, maybe with the kernel's `outcome`.
 *
 * @throws {Error} When no transition handles the event: a defect of the
 * machine, which must handle every event in every state.
 */
export function verdict(snapshot: SocketSnapshot, event: SocketEvent): Verdict {
  return verdictOf(
    snapshot.machine.getTransitionData(snapshot, event)[0],
    snapshot,
    event,
  );
}

/**
 * `verdict()` from the transition the machine selected for `event`
 * in `snapshot` (`getTransitionData()`'s first), for a caller that goes on
 * to take it.
 *
 * @throws {Error} When no transition was selected.
 */
export function verdictOf(
  transition: { readonly meta?: CallMeta } | undefined,
  snapshot: Pick<SocketSnapshot, "value">,
  event: SocketEvent,
): Verdict {
  if (transition === undefined) {
    throw new Error(
      `The socket machine does not handle "${event.type}" in state "${
        String(snapshot.value)
      }"; every state must handle every event`,
    );
  }
  const meta = transition.meta;
  if (meta?.waits === true) {
    const why = meta.why ?? "";
    return meta.joins === true
      ? { allowed: false, waits: true, joins: true, why }
      : { allowed: false, waits: true, why };
  }
  if (meta?.errno !== undefined) {
    return { allowed: false, errno: meta.errno, why: meta.why ?? "" };
  }
  if (meta?.asks === true) {
    return { allowed: true, outcome: undefined, why: meta.why, asks: true };
  }
  if (meta?.stops !== undefined) {
    const { stops, why } = meta;
    return { allowed: true, outcome: undefined, why, stops };
  }
  return { allowed: true, outcome: meta?.outcome, why: meta?.why };
}
