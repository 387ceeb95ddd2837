// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What the connection procedures (`streamConnection()`, `dgramConnection()`)
 * share: their common options, checked before any socket exists; the run
 * of a procedure, which knows the step it is at, traces its sockets by role
 * (keeping a tracer's exception out of the socket machine), and closes them
 * in reverse order when a step fails, the signal aborts or the tracer threw;
 * the socket options they set right after `socket()`; and the error that
 * names the step.
 *
 * @module
 */
import {
  article,
  checkAddr,
  type Domain,
  type DomainOfAddr,
  formatAddr,
  isWildcard,
  type SocketAddr,
  wildcardAddr,
} from "../machine/address.ts";
import { type Errno, isErrno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import { SocketGraph } from "../machine/graph.ts";
import {
  checkOptionName,
  checkOptionValue,
  describe,
  type SettableOptionName,
  type SocketOptionRecord,
  unknownOption,
} from "../machine/options.ts";
import {
  socketMachine,
  type SocketState,
  type SocketType,
} from "../machine/socket_machine.ts";
import { type Backend, checkBackend } from "./backend.ts";
import { errnoOf } from "./os_error.ts";
import {
  checkSocketArgs,
  familyMismatch,
  type Socket,
  socket,
  type StateChange,
} from "./socket.ts";
import type { DgramConnectionStep } from "./dgram_connection.ts";
import type { StreamConnectionStep } from "./stream_connection.ts";
import { alive, deathOf, type Pco } from "./pco.ts";

/**
 * The steps of the connection procedures, as a failure names them
 * (`error.step`): those of `streamConnection()` and of `dgramConnection()`
 * (`genConnection()` runs one of the two).
 */
export type ProcedureStep = StreamConnectionStep | DgramConnectionStep;

/**
 * The options every connection procedure takes.
 *
 * @typeParam A The type of `srvrAddr`, which types the sockets' addresses.
 * @typeParam R The names the procedure gives its sockets, for tracing.
 */
export interface ConnectionProcedureOptions<
  A extends SocketAddr = SocketAddr,
  R extends string = string,
> {
  /**
   * The server's address: where it binds (unless `srvrWild`) and where the
   * client sends or connects. It must name a specific address; its port
   * may be 0, and then the returned `srvrAddr` carries the port the kernel
   * chose.
   */
  srvrAddr: A;
  /**
   * Bind the server to the wildcard address of the domain (`0.0.0.0` or
   * `::`) with the port of `srvrAddr`. Not for unix sockets.
   *
   * @default {false}
   */
  srvrWild?: boolean;
  /**
   * The domain of both sockets.
   *
   * @default {the domain of `srvrAddr`}
   */
  domain?: DomainOfAddr<A>;
  /**
   * The protocol of both sockets: 0, or for inet and inet6 the protocol of
   * the socket type, 6 (`IPPROTO_TCP`) for streams, 17 (`IPPROTO_UDP`) for
   * datagrams.
   *
   * @default {0}
   */
  proto?: number;
  /**
   * What performs the system calls of every socket the procedure makes:
   * `"deno"`, Deno's network API (needs only `--allow-net`), or `"posix"`,
   * each call the matching libc call through FFI (needs `--allow-ffi` and
   * Linux).
   *
   * @default {"deno"}
   */
  backend?: Backend;
  /**
   * Where the server's sockets live: a {@linkcode Pco} (`localPco()`,
   * `workerPco()`, `processPco()`), or `"local"`, this process, as when
   * left out. The procedure creates each socket in its PCO, and returns
   * them living there.
   *
   * @default {"local"}
   */
  srvr?: Pco | "local";
  /**
   * Where the client's socket lives, as for `srvr`.
   *
   * @default {"local"}
   */
  clnt?: Pco | "local";
  /**
   * Socket options to set on the server's socket right after `socket()`,
   * before `bind()`, in the record's order: `{ SO_REUSEADDR: true }`.
   * Names and values are checked before any socket exists, and so is
   * whether the option applies to the socket (as the machine answers
   * `setsockopt()` on a new socket of that domain and type).
   */
  srvrOptions?: SocketOptionRecord;
  /** As `srvrOptions`, for the client's socket. */
  clntOptions?: SocketOptionRecord;
  /**
   * Called after every change of state of the procedure's sockets, with the
   * role of the socket that changed.
   *
   * If it throws while the procedure runs, the exception does not reach the
   * socket machine: the procedure records the first one, lets the step in
   * progress complete, closes every socket it made (in reverse order), and
   * rejects with that exception, unchanged (not wrapped in a
   * {@linkcode SocketError}). Once the procedure has returned, the sockets
   * call it as `socket()`'s `onTransition`.
   */
  onTransition?: (role: R, change: StateChange) => void;
  /**
   * Stops the procedure when aborted, wherever it is (a `connect()` that
   * would wait minutes for the kernel to give up, an `accept()` that
   * waits): it closes every socket it made, in reverse order, and rejects
   * with a {@linkcode SocketError} naming the step it was at (`step`, and
   * `state`, the state of that step's socket), with code `ECANCELED`, or
   * `ETIMEDOUT` when the reason is a `DOMException` named `"TimeoutError"`
   * (`AbortSignal.timeout(ms)`), and the signal's reason as `cause`. An
   * already-aborted signal is refused before any socket exists, at step
   * `"check arguments"`. The procedure stops listening to the signal when
   * it ends, so one signal can serve any number of procedures.
   */
  signal?: AbortSignal;
}

/** The procedures, as a {@linkcode SocketError} names them. */
export type ProcedureOp = Extract<
  SocketOp,
  "streamConnection" | "dgramConnection" | "genConnection"
>;

/** Options to set, checked, in the order given. */
export type OptionList = readonly (readonly [SettableOptionName, unknown])[];

/** A procedure's options, checked and resolved. */
export interface ProcedurePlan {
  readonly domain: Domain;
  readonly type: SocketType;
  readonly proto: number;
  /** `srvrAddr` in canonical form. */
  readonly srvrAddr: SocketAddr;
  /** Where the server binds: `srvrAddr`, or the wildcard with its port. */
  readonly bindAddr: SocketAddr;
  readonly srvrWild: boolean;
  /** `clntAddr` in canonical form; `undefined` when absent or null. */
  readonly clntAddr: SocketAddr | undefined;
  readonly backend: Backend;
  readonly srvrOptions: OptionList;
  readonly clntOptions: OptionList;
  /** The caller's signal, if any (checked to be an `AbortSignal`). */
  readonly signal: AbortSignal | undefined;
  /** Where the server's sockets live; `undefined`: here, by `socket()`. */
  readonly srvr: Pco | undefined;
  /** Where the client's socket lives; `undefined`: here. */
  readonly clnt: Pco | undefined;
}

/** The options every procedure takes, in the order the message lists them. */
const COMMON_KEYS = [
  "srvrAddr",
  "srvrWild",
  "clntAddr",
  "domain",
  "proto",
  "backend",
  "srvrOptions",
  "clntOptions",
  "onTransition",
  "signal",
  "srvr",
  "clnt",
] as const;

/** A refusal of a procedure's arguments, before any socket exists. */
export function invalidArgument(
  op: ProcedureOp,
  why: string,
  code: Errno = "EINVAL",
  cause?: unknown,
): SocketError {
  return new SocketError(code, op, `Cannot create a connection: ${why}`, {
    step: "check arguments",
    cause,
  });
}

/** `fn()`, with a `SocketError` it throws restated as `op`'s refusal. */
function checking<T>(op: ProcedureOp, fn: () => T, what?: string): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof SocketError)) throw error;
    const message = what === undefined
      ? error.message
      : `In ${what}: ${error.message}`;
    throw new SocketError(error.code, op, message, {
      step: "check arguments",
      cause: error,
    });
  }
}

/** Checks that `value`, when given, is true or false. */
export function checkFlag(
  op: ProcedureOp,
  name: string,
  value: unknown,
): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw invalidArgument(
      op,
      `${name} must be true or false, got ${describe(value)}`,
    );
  }
}

/**
 * Checks the options every procedure takes, for sockets of `type`, before
 * any socket exists: no key but those and the procedure's own (`keys`), and
 * the value of each.
 *
 * @throws {SocketError} With `step: "check arguments"`, the errno the first
 * call that would see the mistake gives, and what to do.
 */
export function checkProcedureOptions<R extends string>(
  options: ConnectionProcedureOptions<SocketAddr, R> & {
    clntAddr?: SocketAddr | null;
  },
  op: ProcedureOp,
  type: SocketType,
  keys: readonly string[],
): ProcedurePlan {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(op, "pass an options object with at least srvrAddr");
  }
  checkKeys(op, options, keys);
  const { signal, onTransition } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument(
      op,
      `signal must be an AbortSignal, such as AbortSignal.timeout(5000), got ${
        describe(signal)
      }`,
    );
  }
  if (onTransition !== undefined && typeof onTransition !== "function") {
    throw invalidArgument(
      op,
      `onTransition must be a function (role, change) => void, got ${
        describe(onTransition)
      }`,
    );
  }
  if (options.srvrAddr === undefined || options.srvrAddr === null) {
    throw invalidArgument(
      op,
      'srvrAddr is required: the server\'s address, such as { hostname: "127.0.0.1", port: 0 }',
    );
  }
  const srvr = checking(op, () => checkAddr(options.srvrAddr, op, "srvrAddr"));
  if (isWildcard(srvr.addr)) {
    throw invalidArgument(
      op,
      `srvrAddr ${
        formatAddr(srvr.addr)
      } is a wildcard address, which a client cannot reach; give a specific address and srvrWild: true`,
    );
  }
  const domain = options.domain ?? srvr.domain;
  const proto = options.proto ?? 0;
  checking(op, () => checkSocketArgs(domain, type, proto));
  const checkFamily = (what: string, of: Domain) => {
    const errno = familyMismatch(domain, of);
    if (errno === undefined) return;
    throw invalidArgument(
      op,
      `${what} is ${
        article(of)
      } address but the domain is ${domain}; make them agree`,
      errno,
    );
  };
  checkFamily("srvrAddr", srvr.domain);
  let clntAddr: SocketAddr | undefined;
  if (options.clntAddr !== undefined && options.clntAddr !== null) {
    const clnt = checking(
      op,
      () => checkAddr(options.clntAddr, op, "clntAddr"),
    );
    checkFamily("clntAddr", clnt.domain);
    clntAddr = clnt.addr;
  }
  checkFlag(op, "srvrWild", options.srvrWild);
  const srvrWild = options.srvrWild ?? false;
  if (srvrWild && domain === "unix") {
    throw invalidArgument(
      op,
      "srvrWild applies to inet and inet6; unix sockets have no wildcard address",
    );
  }
  const backend = checking(op, () => checkBackend(options.backend, op));
  const srvrAddr = srvr.addr;
  const bindAddr = srvrWild && "port" in srvrAddr
    ? wildcardAddr(domain === "inet6" ? "inet6" : "inet", srvrAddr.port)
    : srvrAddr;
  const kind = { op, domain, type };
  return {
    domain,
    type,
    proto,
    srvrAddr,
    bindAddr,
    srvrWild,
    clntAddr,
    backend,
    srvrOptions: checkOptionRecord(options.srvrOptions, "srvrOptions", kind),
    clntOptions: checkOptionRecord(options.clntOptions, "clntOptions", kind),
    signal,
    srvr: checkPco(op, "srvr", options.srvr),
    clnt: checkPco(op, "clnt", options.clnt),
  };
}

/**
 * Checks a `srvr` or `clnt` option: a PCO, or `"local"` (or nothing) for
 * this process, which the procedure reaches by `socket()` directly.
 */
function checkPco(
  op: ProcedureOp,
  name: "srvr" | "clnt",
  pco: unknown,
): Pco | undefined {
  if (pco === undefined || pco === "local") return undefined;
  if (
    typeof pco === "object" && pco !== null &&
    typeof (pco as Pco).socket === "function" &&
    typeof (pco as Pco).name === "string"
  ) {
    if ((pco as Pco).ended) {
      throw invalidArgument(
        op,
        `${name} is PCO "${
          (pco as Pco).name
        }", which has ended; open a new one`,
        "EIO",
      );
    }
    return pco as Pco;
  }
  throw invalidArgument(
    op,
    `${name} must be a PCO (localPco(), await workerPco(), await processPco()) or "local", got ${
      describe(pco)
    }`,
  );
}

/**
 * Refuses an own key of `options` that is neither an option every
 * procedure takes nor one of `keys`, the procedure's own.
 */
export function checkKeys(
  op: ProcedureOp,
  options: object,
  keys: readonly string[],
): void {
  let known = KNOWN_KEYS.get(keys);
  if (known === undefined) {
    known = [...COMMON_KEYS, ...keys];
    KNOWN_KEYS.set(keys, known);
  }
  const why = unknownOption(options, known);
  if (why !== undefined) throw invalidArgument(op, why);
}

/**
 * Every option a procedure takes, by the list of its own (each procedure
 * passes one constant list).
 */
const KNOWN_KEYS = new WeakMap<readonly string[], readonly string[]>();

let graph: SocketGraph | undefined;

/**
 * Checks a record of socket options: each name (`ENOPROTOOPT` for one
 * sockfsm does not know or cannot set), each value (`EINVAL`), and whether
 * the option applies to a new socket of the kind, as the machine answers
 * `setsockopt()` there (`ENOPROTOOPT` for `TCP_NODELAY` on UDP,
 * `EOPNOTSUPP` on a unix socket). An `undefined` value is left out.
 */
function checkOptionRecord(
  record: unknown,
  what: "srvrOptions" | "clntOptions",
  kind: { op: ProcedureOp; domain: Domain; type: SocketType },
): OptionList {
  const { op, domain, type } = kind;
  if (record === undefined) return [];
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw invalidArgument(
      op,
      `${what} must be a record of option names and values, such as { SO_RCVBUF: 65536 }, got ${
        describe(record)
      }`,
    );
  }
  graph ??= new SocketGraph(socketMachine);
  const created = graph.start({ domain, type, environment: "unseen" });
  const list: (readonly [SettableOptionName, unknown])[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const option = checking(
      op,
      () => checkOptionName(name, "setsockopt", "created"),
      what,
    ) as SettableOptionName;
    const checked = checking(
      op,
      () => checkOptionValue(option, value, "created", op),
      what,
    );
    const step = graph.step(created, { type: "SETSOCKOPT", option });
    const errno = step.allowed
      ? step.outcome !== undefined && isErrno(step.outcome)
        ? step.outcome
        : undefined
      : step.waits
      ? undefined
      : step.errno;
    if (errno !== undefined) {
      throw new SocketError(
        errno,
        op,
        `In ${what}: Cannot set ${option} on ${
          article(domain)
        } ${type} socket: ${errno}, ${step.why}; leave it out`,
        { step: "check arguments" },
      );
    }
    list.push([option, checked]);
  }
  return list;
}

/**
 * One run of a procedure: the step it is at and that step's socket, the
 * sockets it has made, in order, each traced under its role, and why it
 * must stop, if anything says so (the caller's tracer threw, or the signal
 * aborted). The procedure calls `at()` at each step, which throws once the
 * run must stop, `fail()` when a step throws, and `done()` before it
 * returns.
 *
 * Without a signal a run adds no listener and no promise; without a tracer
 * it wraps nothing.
 */
export class ProcedureRun<R extends string, S extends ProcedureStep> {
  readonly #op: ProcedureOp;
  readonly #plan: ProcedurePlan;
  readonly #onTransition: ((role: R, change: StateChange) => void) | undefined;
  readonly #made: Socket[] = [];
  #step: S;
  /** The socket the step works on, once there is one. */
  #sock: Socket | undefined;
  /** The first reason to stop: what the procedure rejects with. */
  #stop: { readonly error: unknown } | undefined;
  /** Set once the procedure has returned: the sockets are the caller's. */
  #returned = false;
  /** Set once the procedure has failed: a socket made late is closed. */
  #failed = false;
  /** The listener on the caller's signal, while the run listens. */
  #onAbort: (() => void) | undefined;

  constructor(
    op: ProcedureOp,
    plan: ProcedurePlan,
    onTransition: ((role: R, change: StateChange) => void) | undefined,
    first: S,
  ) {
    this.#op = op;
    this.#plan = plan;
    this.#onTransition = onTransition;
    this.#step = first;
    const { signal } = plan;
    if (signal === undefined) return;
    if (signal.aborted) {
      throw cancelled(op, "check arguments", undefined, signal.reason);
    }
    this.#onAbort = () => this.#abort(signal.reason);
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Enters `step`, whose socket is `sock`; throws why the run must stop, if
   * something said so during the step before.
   */
  at(step: S, sock?: Socket): void {
    if (this.#stop !== undefined) throw this.#stop.error;
    this.#step = step;
    this.#sock = sock;
  }

  /**
   * What traces the socket of `role`, if the caller gave a tracer: the
   * caller's, called with the role. While the procedure runs, an exception
   * it throws is recorded (the first one), never thrown into the socket
   * machine.
   */
  trace(role: R): ((change: StateChange) => void) | undefined {
    const onTransition = this.#onTransition;
    if (onTransition === undefined) return undefined;
    return (change) => {
      if (this.#returned) return onTransition(role, change);
      try {
        onTransition(role, change);
      } catch (error) {
        this.#stop ??= { error };
      }
    };
  }

  /**
   * Creates a socket of the plan's kind (`socket(2)`) for `role`, in `pco`
   * (here, at once, without one). One made after the run failed is closed,
   * and the run's failure thrown.
   */
  create(role: R, pco: Pco | undefined): Socket | Promise<Socket> {
    const options = {
      domain: this.#plan.domain,
      type: this.#plan.type,
      protocol: this.#plan.proto,
      backend: this.#plan.backend,
      onTransition: this.trace(role),
    };
    if (pco === undefined) return this.#made1(socket(options));
    return pco.socket(options).then((sock) => {
      if (this.#failed) {
        sock.close();
        throw this.#stop?.error;
      }
      return this.#made1(sock);
    });
  }

  #made1(sock: Socket): Socket {
    this.#made.push(sock);
    this.#sock = sock;
    return sock;
  }

  /**
   * Counts a socket made otherwise (an accepted one) as the procedure's,
   * or closes it at once if the procedure has failed or must stop.
   */
  adopt(sock: Socket): void {
    if (this.#failed) sock.close();
    else this.#made.push(sock);
  }

  /**
   * Ends a run that succeeded: throws why it must stop instead, if
   * anything said so; else stops listening to the signal and hands the
   * sockets to the caller.
   */
  done(): void {
    if (this.#stop !== undefined) throw this.#stop.error;
    this.#unlisten();
    this.#returned = true;
  }

  /**
   * Ends a run whose step threw `error`: closes every socket made so far,
   * the last made first, and returns what the procedure rejects with: the
   * tracer's exception, unchanged, or the cancellation, if either came
   * first; else the step's failure.
   */
  async fail(error: unknown): Promise<unknown> {
    this.#failed = true;
    this.#unlisten();
    const step = this.#step;
    const stop = this.#stop;
    // A tracer that throws while the sockets close changes nothing now.
    this.#stop ??= { error };
    this.#closeAll();
    if (stop !== undefined) return stop.error;
    return stepFailed(this.#op, step, error, await this.#died());
  }

  /**
   * The PCO of the run that died, if one did: the cause to name, whichever
   * side saw the failure first (a client refused because the server's
   * process died). A PCO that is not known to have died is asked.
   */
  async #died(): Promise<{ pco: string; why: string } | undefined> {
    for (const pco of [this.#plan.srvr, this.#plan.clnt]) {
      if (pco === undefined) continue;
      await alive(pco);
      const why = deathOf(pco);
      if (why !== undefined) return { pco: pco.name, why };
    }
    return undefined;
  }

  /**
   * The signal aborted: the run must stop at the step it is at. The
   * sockets are closed a microtask later, so that no socket is closed in
   * the middle of one of its own calls (an abort from a tracer comes from
   * inside one); a call that waits then rejects with `EBADF`, and the
   * procedure rejects with the cancellation.
   */
  #abort(reason: unknown): void {
    this.#onAbort = undefined;
    // After a tracer's exception the procedure still rejects with that,
    // but a step that waits is stopped now rather than left to complete.
    this.#stop ??= {
      error: cancelled(this.#op, this.#step, this.#sock?.state, reason),
    };
    this.#failed = true;
    queueMicrotask(() => this.#closeAll());
  }

  #unlisten(): void {
    if (this.#onAbort === undefined) return;
    this.#plan.signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = undefined;
  }

  /** Closes every socket made so far, the last made first. */
  #closeAll(): void {
    for (const sock of this.#made.reverse()) sock[Symbol.dispose]();
    this.#made.length = 0;
  }
}

/**
 * The error of a procedure stopped by its signal at `step`: `ETIMEDOUT`
 * for the reason `AbortSignal.timeout()` gives, else `ECANCELED`.
 */
function cancelled(
  op: ProcedureOp,
  step: ProcedureStep,
  state: SocketState | undefined,
  reason: unknown,
): SocketError {
  const timedOut = reason instanceof DOMException &&
    reason.name === "TimeoutError";
  const message = timedOut
    ? `${op}() failed at step "${step}": ETIMEDOUT, its signal timed out; every socket it made is closed; allow more time, or check that the server can be reached`
    : `${op}() failed at step "${step}": ECANCELED, its signal was aborted; every socket it made is closed`;
  return new SocketError(timedOut ? "ETIMEDOUT" : "ECANCELED", op, message, {
    state,
    step,
    cause: reason,
  });
}

/**
 * Disposes every socket of a pair, even if one throws (a tracer may), and
 * then throws the first exception.
 */
export function disposeAll(sockets: readonly Socket[]): void {
  let first: { error: unknown } | undefined;
  for (const sock of sockets) {
    try {
      sock[Symbol.dispose]();
    } catch (error) {
      first ??= { error };
    }
  }
  if (first !== undefined) throw first.error;
}

/** Sets checked options on a socket (`setsockopt(2)`), in order. */
export async function setOptions(
  sock: Socket,
  options: OptionList,
): Promise<void> {
  for (const [name, value] of options) {
    await sock.setsockopt(name, value as never);
  }
}

/**
 * The error of a procedure that failed at `step`, with the errno of why,
 * and the state the step's call found its socket in.
 */
export function stepFailed(
  op: ProcedureOp,
  step: ProcedureStep,
  error: unknown,
  died?: { readonly pco: string; readonly why: string },
): SocketError {
  const why = error instanceof Error ? error.message : String(error);
  const death = died === undefined
    ? ""
    : ` PCO "${died.pco}" died (${died.why}):`;
  return new SocketError(
    errnoOf(error),
    op,
    `${op}() failed at step "${step}":${death} ${why}`,
    {
      state: error instanceof SocketError ? error.state : undefined,
      step,
      cause: error,
      pco: died?.pco ?? (error instanceof SocketError ? error.pco : undefined),
    },
  );
}
