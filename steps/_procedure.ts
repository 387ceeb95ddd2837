// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What the connection procedures (`streamConnection()`, `dgramConnection()`)
 * share: their common options, checked before any socket exists; the
 * sockets they make, traced by role and closed in reverse order on failure;
 * the socket options they set right after `socket()`; and the error that
 * names the step that failed.
 *
 * @module
 */
import {
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
} from "../machine/options.ts";
import { socketMachine, type SocketType } from "../machine/socket_machine.ts";
import { type Backend, checkBackend } from "./backend.ts";
import { errnoOf } from "./os_error.ts";
import {
  article,
  checkSocketArgs,
  familyMismatch,
  type Socket,
  socket,
  type StateChange,
} from "./socket.ts";

/** The steps of the connection procedures, as a failure names them. */
export type ProcedureStep =
  | import("./stream_connection.ts").StreamConnectionStep
  | import("./dgram_connection.ts").DgramConnectionStep;

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
   * Socket options to set on the server's socket right after `socket()`,
   * before `bind()`, in the record's order: `{ SO_REUSEADDR: true }`.
   * Names and values are checked before any socket exists, and so is
   * whether the option applies to the socket (as the machine answers
   * `setsockopt()` on a new socket of that domain and type).
   */
  srvrOptions?: SocketOptionRecord;
  /** As `srvrOptions`, for the client's socket. */
  clntOptions?: SocketOptionRecord;
  /** Called after every change of state of the procedure's sockets. */
  onTransition?: (role: R, change: StateChange) => void;
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
}

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
 * any socket exists.
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
): ProcedurePlan {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(op, "pass an options object with at least srvrAddr");
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
  };
}

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
 * The sockets a procedure has made, in order: each traced under its role,
 * all closed in reverse order when a step fails.
 */
export class ProcedureSockets<R extends string> {
  readonly #plan: ProcedurePlan;
  readonly #onTransition: ((role: R, change: StateChange) => void) | undefined;
  readonly #made: Socket[] = [];

  constructor(
    plan: ProcedurePlan,
    onTransition: ((role: R, change: StateChange) => void) | undefined,
  ) {
    this.#plan = plan;
    this.#onTransition = onTransition;
  }

  /** What traces the socket of `role`, if anything does. */
  trace(role: R): ((change: StateChange) => void) | undefined {
    const onTransition = this.#onTransition;
    return onTransition && ((change) => onTransition(role, change));
  }

  /** Creates a socket of the plan's kind (`socket(2)`) for `role`. */
  create(role: R): Socket {
    const sock = socket({
      domain: this.#plan.domain,
      type: this.#plan.type,
      protocol: this.#plan.proto,
      backend: this.#plan.backend,
      onTransition: this.trace(role),
    });
    this.#made.push(sock);
    return sock;
  }

  /** Counts a socket made otherwise (an accepted one) as the procedure's. */
  adopt(sock: Socket): void {
    this.#made.push(sock);
  }

  /** Closes every socket made so far, the last made first. */
  closeAll(): void {
    for (const sock of this.#made.reverse()) sock[Symbol.dispose]();
    this.#made.length = 0;
  }
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

/** The error of a procedure that failed at `step`, with the errno of why. */
export function stepFailed(
  op: ProcedureOp,
  step: ProcedureStep,
  error: unknown,
): SocketError {
  const why = error instanceof Error ? error.message : String(error);
  return new SocketError(
    errnoOf(error),
    op,
    `${op}() failed at step "${step}": ${why}`,
    {
      state: error instanceof SocketError ? error.state : undefined,
      step,
      cause: error,
    },
  );
}
