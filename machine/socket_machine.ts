// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The socket machine: the one definition of which socket call is legal in
 * which state, what it leads to, and which errno Linux gives when it is not.
 *
 * It is pure. Its context holds only finite facts (domain, bound or not, who
 * chose the port, the shutdown bits, whether there is a peer), never
 * addresses or OS handles, so its snapshots form a small finite graph that
 * `graph.ts` walks and memoises. The data a call needs (the socket's
 * {@linkcode SysSocket}, the address) travels in the event's `io` field, which
 * only effects read, never a rule.
 *
 * Effects are named actors whose placeholders reject until `steps/` provides
 * them with `provide({ actors })`. A call that a state does not accept is a
 * forbidden transition (XState's own notion: no target, no actions, so
 * `snapshot.can(event)` is false) that carries `meta: { errno, why }`;
 * {@linkcode verdict} reads it without running anything. Every state handles
 * every event, so nothing is ever ignored silently
 * (tests/socket_machine_test.ts walks them all).
 *
 * @module
 */
import {
  and,
  assign,
  fromPromise,
  not,
  setup,
  type SnapshotFrom,
} from "xstate";
import type { Domain } from "./address.ts";
import type {
  BindInput,
  ConnectInput,
  ListenInput,
  ShutdownHow,
  ShutdownInput,
} from "./effects.ts";
import type { Errno } from "./errno.ts";

/** The socket types sockfsm models today: connection-oriented streams. */
export type SocketType = "stream";

/**
 * The states of a socket. `binding`, `opening` and `shuttingDown` are the
 * moments a `bind()`, `listen()` or `shutdown()` effect is in flight;
 * `connecting` is a connection attempt in flight, as in the kernel.
 */
export type SocketState =
  | "created"
  | "binding"
  | "bound"
  | "opening"
  | "listening"
  | "connecting"
  | "connected"
  | "shuttingDown"
  | "shutRd"
  | "shutWr"
  | "shutRdWr"
  | "closed";

/**
 * Who chooses a bound socket's port: the kernel (port 0), the caller (any
 * other port), or nobody (a unix path).
 */
export type PortChoice = "kernel" | "caller" | "path";

/**
 * The events of the machine: one per socket call. The rules read only the
 * fields beside `type` and `io` (`family` is the domain of the call's
 * address); `io` carries what the call's effect needs and is absent when the
 * machine runs as a pure model.
 */
export type SocketEvent =
  | { type: "BIND"; family: Domain; port: PortChoice; io?: BindInput }
  | { type: "LISTEN"; io?: ListenInput }
  | { type: "CONNECT"; family: Domain; io?: ConnectInput }
  | { type: "ACCEPT" }
  | { type: "SEND" }
  | { type: "RECV" }
  | {
    type: "SHUTDOWN";
    how: ShutdownHow;
    io?: Omit<ShutdownInput, "how" | "keepAddress">;
  }
  | { type: "CLOSE" }
  | { type: "GETSOCKNAME" }
  | { type: "GETPEERNAME" };

/** The type of a socket call's event, such as `"BIND"`. */
export type SocketEventType = SocketEvent["type"];

/** The shutdown bits of a socket (`RCV_SHUTDOWN`, `SEND_SHUTDOWN`). */
export interface ShutBits {
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * The facts about a socket that are not worth a state of their own. All are
 * finite: addresses and handles are data, kept by the socket's
 * {@linkcode SysSocket}, not facts.
 */
export interface SocketContext {
  readonly domain: Domain;
  readonly type: SocketType;
  /**
   * Whether the socket has an address of its own: `bind()` succeeded, or
   * `accept()` made it with the listener's. An automatic bind does not count.
   */
  readonly bound: boolean;
  /** Who chose the local port: the caller (`bind` with a port) or the kernel. */
  readonly portChosenBy: "caller" | "kernel" | undefined;
  /** The shutdown bits set so far. */
  readonly shut: ShutBits;
  /** Whether the socket has a peer (it connected, or accept() made it). */
  readonly peer: boolean;
}

/** What a socket machine starts from. */
export interface SocketInput {
  readonly domain: Domain;
  readonly type: SocketType;
  /** A socket born by `accept()`: it starts connected. */
  readonly accepted?: boolean;
}

/** What a transition may say about a call, read by {@linkcode verdict}. */
export interface CallMeta {
  /** The call is refused with this errno, and nothing reaches the kernel. */
  readonly errno?: Errno;
  /** Why it is refused, and what to do instead. */
  readonly why?: string;
  /** The call succeeds at once with end of stream, without any I/O. */
  readonly eof?: true;
}

/** A refused call: a forbidden transition that carries the errno. */
function reject(errno: Errno, why: string): { meta: CallMeta } {
  return { meta: { errno, why } };
}

const NOT_CONNECTED = "the socket is not connected; call connect() first";
const WRITE_SHUT = reject(
  "EPIPE",
  "the write side was shut down with shutdown(); nothing more can be sent",
);
const NOT_LISTENING = "the socket is not listening; call listen() first";
const CLOSED = "the socket is closed; create a new one with socket()";

/** Calls that need a connection, on a socket that has none. */
const unconnectedDataCalls = {
  SEND: [
    { guard: "isUnix", ...reject("ENOTCONN", NOT_CONNECTED) },
    reject(
      "EPIPE",
      `${NOT_CONNECTED} (Linux returns EPIPE for TCP where POSIX specifies ENOTCONN)`,
    ),
  ],
  RECV: [
    {
      guard: "isUnix",
      ...reject(
        "EINVAL",
        `${NOT_CONNECTED} (Linux returns EINVAL for unix stream sockets where POSIX specifies ENOTCONN)`,
      ),
    },
    reject("ENOTCONN", NOT_CONNECTED),
  ],
  GETPEERNAME: reject(
    "ENOTCONN",
    "the socket has no peer; it is not connected",
  ),
} as const;

/** The same answer to every call. */
function everyCall<T>(answer: T): Record<SocketEventType, T> {
  return {
    BIND: answer,
    LISTEN: answer,
    CONNECT: answer,
    ACCEPT: answer,
    SEND: answer,
    RECV: answer,
    SHUTDOWN: answer,
    CLOSE: answer,
    GETSOCKNAME: answer,
    GETPEERNAME: answer,
  };
}

/** A state in which an effect is in flight: only `close()` is accepted. */
function inFlight(call: string) {
  const busy = reject(
    "EALREADY",
    `${call}() on this socket is still in progress; await it before the next call (sockfsm runs one state-changing call at a time, as the kernel's socket lock does)`,
  );
  return {
    ...everyCall(busy),
    BIND: addressed(busy),
    CONNECT: addressed(busy),
    CLOSE: "closed",
  } as const;
}

/**
 * Refusals of an address of another family than the socket. Linux checks the
 * address before the socket's state (but after the descriptor: a closed
 * socket gives EBADF).
 */
const familyChecks = [
  {
    guard: "unixGivenIp",
    ...reject("EINVAL", "a unix socket takes a { path } address"),
  },
  {
    guard: "inet6GivenIpv4",
    ...reject(
      "EINVAL",
      "an inet6 socket takes an IPv6 address (Linux finds an IPv4 address too short for it)",
    ),
  },
  {
    guard: "otherFamily",
    ...reject(
      "EAFNOSUPPORT",
      "the address is of another family than the socket; use an address of the socket's domain",
    ),
  },
] as const;

/** A call with an address: the family checks first, then `rules`. */
function addressed<const T extends readonly object[]>(...rules: T) {
  return [...familyChecks, ...rules] as const;
}

/** The rules a connected socket shares with its half-closed states. */
function connectedCalls(self: "connected" | "shutRd" | "shutWr" | "shutRdWr") {
  return {
    BIND: addressed(
      // Connecting gives a unix socket no address: Linux lets it bind later.
      {
        guard: and(["isUnix", not("bound")]),
        target: "binding",
        actions: "notePort",
      },
      {
        guard: "isUnix",
        ...reject("EINVAL", "the socket already has an address"),
      },
      reject("EINVAL", "the socket is already bound (connect() bound it)"),
    ),
    LISTEN: reject(
      "EINVAL",
      "the socket is connected; only a socket that is not connected can listen",
    ),
    CONNECT: addressed(reject("EISCONN", "the socket is already connected")),
    ACCEPT: reject("EINVAL", `${NOT_LISTENING} (it is connected)`),
    CLOSE: "closed",
    GETSOCKNAME: self,
    GETPEERNAME: self,
  } as const;
}

/** Back to the connection, in the state its shutdown bits say. */
function backToConnection(actions: readonly "markBound"[] = []) {
  return [
    { guard: and(["shutRead", "shutWrite"]), target: "shutRdWr", actions },
    { guard: "shutRead", target: "shutRd", actions },
    { guard: "shutWrite", target: "shutWr", actions },
    { target: "connected", actions },
  ] as const;
}

const startShutdown = {
  target: "shuttingDown",
  actions: "markShut",
} as const;

/** The domain of a call's address; a call without one matches any socket. */
function familyOf(event: SocketEvent): Domain | undefined {
  return "family" in event ? event.family : undefined;
}

/** What each effect-starting call carries in `io`. */
interface CallIo {
  BIND: BindInput;
  LISTEN: ListenInput;
  CONNECT: ConnectInput;
}

/**
 * The `io` of the event that entered an in-flight state. It is undefined only
 * when the machine runs as a pure model, and then no effect is started.
 */
function ioOf<T extends keyof CallIo>(event: SocketEvent, _type: T): CallIo[T] {
  return (event as { io?: CallIo[T] }).io as CallIo[T];
}

function notProvided(step: string): Promise<never> {
  return Promise.reject(
    new Error(
      `Cannot run step "${step}": no implementation provided; run the machine through socket() or provide({ actors })`,
    ),
  );
}

/**
 * The socket machine. Internal: the public API is `socket()`, and later
 * `predict()`, which read this one definition.
 */
export const socketMachine = setup({
  types: {
    context: {} as SocketContext,
    events: {} as SocketEvent,
    input: {} as SocketInput,
    transitionMeta: {} as CallMeta,
  },
  actors: {
    bind: fromPromise<void, BindInput>(() => notProvided("bind")),
    listen: fromPromise<void, ListenInput>(() => notProvided("listen")),
    connect: fromPromise<void, ConnectInput>(() => notProvided("connect")),
    shutdown: fromPromise<void, ShutdownInput>(() => notProvided("shutdown")),
  },
  guards: {
    isUnix: ({ context }) => context.domain === "unix",
    unixGivenIp: ({ context, event }) => {
      const family = familyOf(event);
      return context.domain === "unix" && family !== undefined &&
        family !== "unix";
    },
    inet6GivenIpv4: ({ context, event }) =>
      context.domain === "inet6" && familyOf(event) === "inet",
    otherFamily: ({ context, event }) => {
      const family = familyOf(event);
      return family !== undefined && family !== context.domain;
    },
    bound: ({ context }) => context.bound,
    callerPort: ({ context }) => context.portChosenBy === "caller",
    hasPeer: ({ context }) => context.peer,
    shutRead: ({ context }) => context.shut.read,
    shutWrite: ({ context }) => context.shut.write,
    howRead: ({ event }) => event.type === "SHUTDOWN" && event.how === "read",
    howWrite: ({ event }) => event.type === "SHUTDOWN" && event.how === "write",
  },
  actions: {
    markBound: assign({ bound: true }),
    markShut: assign({
      shut: ({ context, event }) => {
        if (event.type !== "SHUTDOWN") return context.shut;
        return {
          read: context.shut.read || event.how !== "write",
          write: context.shut.write || event.how !== "read",
        };
      },
    }),
    notePort: assign({
      portChosenBy: ({ event }) => {
        if (event.type !== "BIND" || event.port === "path") return undefined;
        return event.port;
      },
    }),
  },
}).createMachine({
  id: "socket",
  context: ({ input }) => ({
    domain: input.domain,
    type: input.type,
    bound: input.accepted === true,
    portChosenBy: undefined,
    shut: { read: false, write: false },
    peer: input.accepted === true,
  }),
  initial: "created",
  states: {
    created: {
      // A socket born by accept() starts connected.
      always: { guard: "hasPeer", target: "connected" },
      on: {
        BIND: addressed({ target: "binding", actions: "notePort" }),
        LISTEN: [
          {
            guard: "isUnix",
            ...reject(
              "EINVAL",
              "a unix socket must be bound before it can listen; call bind() first",
            ),
          },
          // An unbound TCP socket listens on an ephemeral port (autobind).
          { target: "opening" },
        ],
        CONNECT: addressed({ target: "connecting" }),
        ACCEPT: reject("EINVAL", NOT_LISTENING),
        ...unconnectedDataCalls,
        SHUTDOWN: [
          // Linux sets the bits of an unconnected unix socket and returns 0.
          { guard: "isUnix", target: "created", actions: "markShut" },
          reject("ENOTCONN", NOT_CONNECTED),
        ],
        CLOSE: "closed",
        GETSOCKNAME: "created",
      },
    },
    binding: {
      invoke: {
        src: "bind",
        input: ({ event }) => ioOf(event, "BIND"),
        onDone: [
          { guard: not("hasPeer"), target: "bound", actions: "markBound" },
          ...backToConnection(["markBound"]),
        ],
        onError: [
          {
            guard: not("hasPeer"),
            target: "created",
            actions: assign({ portChosenBy: undefined }),
          },
          ...backToConnection(),
        ],
      },
      on: inFlight("bind"),
    },
    bound: {
      on: {
        BIND: addressed(reject("EINVAL", "the socket is already bound")),
        LISTEN: "opening",
        CONNECT: addressed({ target: "connecting" }),
        ACCEPT: reject("EINVAL", NOT_LISTENING),
        ...unconnectedDataCalls,
        SHUTDOWN: [
          { guard: "isUnix", target: "bound", actions: "markShut" },
          reject("ENOTCONN", NOT_CONNECTED),
        ],
        CLOSE: "closed",
        GETSOCKNAME: "bound",
      },
    },
    opening: {
      invoke: {
        src: "listen",
        input: ({ event }) => ioOf(event, "LISTEN"),
        onDone: {
          target: "listening",
          // An unbound socket was bound to an ephemeral port (autobind).
          actions: assign({
            portChosenBy: ({ context }) => context.portChosenBy ?? "kernel",
          }),
        },
        onError: [
          { guard: "bound", target: "bound" },
          { target: "created", actions: assign({ portChosenBy: undefined }) },
        ],
      },
      on: inFlight("listen"),
    },
    listening: {
      on: {
        BIND: addressed(reject("EINVAL", "the socket is already bound")),
        // Linux accepts listen() again and applies the new backlog.
        LISTEN: "opening",
        CONNECT: addressed(
          {
            guard: "isUnix",
            ...reject("EINVAL", "a listening unix socket cannot connect"),
          },
          reject(
            "EISCONN",
            "a listening socket cannot connect (Linux returns EISCONN for TCP)",
          ),
        ),
        ACCEPT: "listening",
        ...unconnectedDataCalls,
        SHUTDOWN: [
          // Linux sets the bits of a unix listener; it goes on listening.
          { guard: "isUnix", target: "listening", actions: "markShut" },
          // SHUT_WR has no effect on a TCP listener and returns 0.
          { guard: "howWrite", target: "listening" },
          // SHUT_RD and SHUT_RDWR stop a TCP listener.
          startShutdown,
        ],
        CLOSE: "closed",
        GETSOCKNAME: "listening",
      },
    },
    connecting: {
      invoke: {
        src: "connect",
        input: ({ event }) => ioOf(event, "CONNECT"),
        onDone: {
          target: "connected",
          actions: assign({
            peer: true,
            portChosenBy: ({ context }) => context.portChosenBy ?? "kernel",
          }),
        },
        // A failed connect() gives back a port the kernel chose (Linux).
        onError: [
          { guard: "bound", target: "bound" },
          { target: "created", actions: assign({ portChosenBy: undefined }) },
        ],
      },
      on: {
        BIND: addressed(
          reject("EINVAL", "the socket is connecting, so it is bound"),
        ),
        LISTEN: reject(
          "EINVAL",
          "the socket is connecting; only a socket that is not connected can listen",
        ),
        CONNECT: addressed(
          reject(
            "EALREADY",
            "a connect() on this socket is still in progress; await it",
          ),
        ),
        ACCEPT: reject("EINVAL", `${NOT_LISTENING} (it is connecting)`),
        SEND: reject(
          "EAGAIN",
          "the connection is not established yet; await connect() first",
        ),
        RECV: reject(
          "EAGAIN",
          "the connection is not established yet; await connect() first",
        ),
        SHUTDOWN: reject(
          "EALREADY",
          "a connect() on this socket is still in progress; await it (sockfsm refuses this where the kernel would abort the attempt)",
        ),
        CLOSE: "closed",
        GETSOCKNAME: "connecting",
        GETPEERNAME: reject(
          "ENOTCONN",
          "the socket has no peer yet; await connect() first",
        ),
      },
    },
    connected: {
      on: {
        ...connectedCalls("connected"),
        SEND: "connected",
        RECV: "connected",
        SHUTDOWN: startShutdown,
      },
    },
    shuttingDown: {
      invoke: {
        src: "shutdown",
        input: ({ context, event }) => {
          const { how, io } = event as Extract<
            SocketEvent,
            { type: "SHUTDOWN" }
          >;
          const keepAddress = context.portChosenBy === "caller";
          return { ...io, how, keepAddress } as ShutdownInput;
        },
        onDone: [
          // A TCP listener stopped by SHUT_RD: back to bound if the caller
          // chose its port, else the kernel gives the port back.
          {
            guard: and([not("hasPeer"), "callerPort"]),
            target: "bound",
            actions: assign({ shut: { read: false, write: false } }),
          },
          {
            guard: not("hasPeer"),
            target: "created",
            actions: assign({
              bound: false,
              portChosenBy: undefined,
              shut: { read: false, write: false },
            }),
          },
          ...backToConnection(),
        ],
        onError: [
          { guard: not("hasPeer"), target: "listening" },
          ...backToConnection(),
        ],
      },
      on: inFlight("shutdown"),
    },
    shutRd: {
      on: {
        ...connectedCalls("shutRd"),
        SEND: "shutRd",
        RECV: { target: "shutRd", meta: { eof: true } },
        SHUTDOWN: [{ guard: "howRead", target: "shutRd" }, startShutdown],
      },
    },
    shutWr: {
      on: {
        ...connectedCalls("shutWr"),
        SEND: WRITE_SHUT,
        RECV: "shutWr",
        SHUTDOWN: [{ guard: "howWrite", target: "shutWr" }, startShutdown],
      },
    },
    shutRdWr: {
      on: {
        ...connectedCalls("shutRdWr"),
        SEND: WRITE_SHUT,
        RECV: { target: "shutRdWr", meta: { eof: true } },
        SHUTDOWN: "shutRdWr",
      },
    },
    // The socket's SysSocket is closed by the close() call itself.
    closed: {
      on: everyCall(reject("EBADF", CLOSED)),
    },
  },
});

/** The socket machine's type. */
export type SocketMachine = typeof socketMachine;

/** A snapshot of the socket machine. */
export type SocketSnapshot = SnapshotFrom<SocketMachine>;
