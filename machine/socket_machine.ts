// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The socket machine: the one definition of which socket call is legal in
 * which state, what it leads to, and which errno Linux gives when it is not.
 *
 * It is pure. Effects are named actors whose placeholders reject until a
 * backend in `steps/` provides them with `provide({ actors })`. A call that a
 * state does not accept is a forbidden transition (XState's own notion: no
 * target, no actions, so `snapshot.can(event)` is false) that carries
 * `meta: { errno, why }`; {@linkcode verdict} reads it without running
 * anything. Every state handles every event, so nothing is ever ignored
 * silently (tests/socket_machine_test.ts walks them all).
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
import type { Domain, SocketAddr } from "./address.ts";
import type {
  BindInput,
  BindOutput,
  ConnectInput,
  ConnectionHandle,
  ConnectOutput,
  Endpoint,
  ListenInput,
  ListenOutput,
  ShutdownHow,
  ShutdownInput,
  ShutdownOutput,
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

/** The events of the machine: one per socket call. */
export type SocketEvent =
  | { type: "BIND"; addr: SocketAddr }
  | { type: "LISTEN"; backlog?: number }
  | { type: "CONNECT"; addr: SocketAddr }
  | { type: "ACCEPT" }
  | { type: "SEND" }
  | { type: "RECV" }
  | { type: "SHUTDOWN"; how: ShutdownHow }
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

/** The facts about a socket that are not worth a state of their own. */
export interface SocketContext {
  readonly domain: Domain;
  readonly type: SocketType;
  /** The local address, once bound (by `bind()` or by the kernel). */
  readonly local: SocketAddr | undefined;
  /** The peer's address, while connected. */
  readonly remote: SocketAddr | undefined;
  /** Whether `bind()` succeeded on this socket (not an automatic bind). */
  readonly bound: boolean;
  /** Who chose the local port: the caller (`bind` with a port) or the kernel. */
  readonly portChosenBy: "caller" | "kernel" | undefined;
  /** The shutdown bits set so far. */
  readonly shut: ShutBits;
  /** What the backend holds open for this socket. */
  readonly handle: Endpoint | undefined;
  /** Why the last effect failed, until the next call. */
  readonly failure: unknown;
}

/** What a socket machine starts from. */
export interface SocketInput {
  readonly domain: Domain;
  readonly type: SocketType;
  /** For a socket born by `accept()`: its connection. */
  readonly accepted?: ConnectionHandle;
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

/** A state in which an effect is in flight: only `close()` is accepted. */
function inFlight(call: string) {
  const busy = reject(
    "EALREADY",
    `${call}() on this socket is still in progress; await it before the next call (sockfsm runs one state-changing call at a time, as the kernel's socket lock does)`,
  );
  return {
    BIND: busy,
    LISTEN: busy,
    CONNECT: busy,
    ACCEPT: busy,
    SEND: busy,
    RECV: busy,
    SHUTDOWN: busy,
    GETSOCKNAME: busy,
    GETPEERNAME: busy,
    CLOSE: "closed",
  } as const;
}

/** The rules a connected socket shares with its half-closed states. */
function connectedCalls(self: "connected" | "shutRd" | "shutWr" | "shutRdWr") {
  return {
    BIND: reject("EINVAL", "the socket is already bound (connect() bound it)"),
    LISTEN: reject(
      "EINVAL",
      "the socket is connected; only a socket that is not connected can listen",
    ),
    CONNECT: reject("EISCONN", "the socket is already connected"),
    ACCEPT: reject("EINVAL", `${NOT_LISTENING} (it is connected)`),
    CLOSE: "closed",
    GETSOCKNAME: self,
    GETPEERNAME: self,
  } as const;
}

const startShutdown = {
  target: "shuttingDown",
  actions: "markShut",
} as const;

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
    bind: fromPromise<BindOutput, BindInput>(() => notProvided("bind")),
    listen: fromPromise<ListenOutput, ListenInput>(() => notProvided("listen")),
    connect: fromPromise<ConnectOutput, ConnectInput>(() =>
      notProvided("connect")
    ),
    shutdown: fromPromise<ShutdownOutput, ShutdownInput>(() =>
      notProvided("shutdown")
    ),
  },
  guards: {
    isUnix: ({ context }) => context.domain === "unix",
    bound: ({ context }) => context.bound,
    callerPort: ({ context }) => context.portChosenBy === "caller",
    hasPeer: ({ context }) => context.remote !== undefined,
    shutRead: ({ context }) => context.shut.read,
    shutWrite: ({ context }) => context.shut.write,
    howRead: ({ event }) => event.type === "SHUTDOWN" && event.how === "read",
    howWrite: ({ event }) => event.type === "SHUTDOWN" && event.how === "write",
  },
  actions: {
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
        if (event.type !== "BIND" || !("port" in event.addr)) return undefined;
        return event.addr.port === 0 ? "kernel" : "caller";
      },
    }),
    forget: assign({ failure: undefined }),
    release: ({ context }) => context.handle?.close(),
  },
}).createMachine({
  id: "socket",
  context: ({ input }) => ({
    domain: input.domain,
    type: input.type,
    local: input.accepted?.local,
    remote: input.accepted?.remote,
    bound: false,
    portChosenBy: undefined,
    shut: { read: false, write: false },
    handle: input.accepted,
    failure: undefined,
  }),
  initial: "created",
  states: {
    created: {
      // A socket born by accept() starts connected.
      always: { guard: "hasPeer", target: "connected" },
      on: {
        BIND: { target: "binding", actions: "notePort" },
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
        CONNECT: "connecting",
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
      entry: "forget",
      invoke: {
        src: "bind",
        input: ({ context, event }) => ({
          domain: context.domain,
          addr: (event as Extract<SocketEvent, { type: "BIND" }>).addr,
        }),
        onDone: {
          target: "bound",
          actions: assign({
            handle: ({ event }) => event.output.handle,
            local: ({ event }) => event.output.handle.local,
            bound: true,
          }),
        },
        onError: {
          target: "created",
          actions: assign({
            failure: ({ event }) => event.error,
            portChosenBy: undefined,
          }),
        },
      },
      on: inFlight("bind"),
    },
    bound: {
      on: {
        BIND: reject("EINVAL", "the socket is already bound"),
        LISTEN: "opening",
        CONNECT: "connecting",
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
      entry: "forget",
      invoke: {
        src: "listen",
        input: ({ context, event }) => ({
          domain: context.domain,
          local: context.local,
          handle: context.handle,
          backlog: (event as Extract<SocketEvent, { type: "LISTEN" }>).backlog,
        }),
        onDone: {
          target: "listening",
          actions: assign({
            handle: ({ event }) => event.output.handle,
            local: ({ event }) => event.output.handle.local,
            portChosenBy: ({ context }) => context.portChosenBy ?? "kernel",
          }),
        },
        // A failed listen() has released what the socket held.
        onError: [
          {
            guard: "bound",
            target: "bound",
            actions: assign({
              failure: ({ event }) => event.error,
              handle: undefined,
            }),
          },
          {
            target: "created",
            actions: assign({
              failure: ({ event }) => event.error,
              handle: undefined,
              local: undefined,
              portChosenBy: undefined,
            }),
          },
        ],
      },
      on: inFlight("listen"),
    },
    listening: {
      on: {
        BIND: reject("EINVAL", "the socket is already bound"),
        // Linux accepts listen() again and applies the new backlog.
        LISTEN: "opening",
        CONNECT: [
          {
            guard: "isUnix",
            ...reject("EINVAL", "a listening unix socket cannot connect"),
          },
          reject(
            "EISCONN",
            "a listening socket cannot connect (Linux returns EISCONN for TCP)",
          ),
        ],
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
      entry: "forget",
      invoke: {
        src: "connect",
        input: ({ context, event }) => ({
          domain: context.domain,
          remote: (event as Extract<SocketEvent, { type: "CONNECT" }>).addr,
          local: context.bound ? context.local : undefined,
          handle: context.handle,
        }),
        onDone: {
          target: "connected",
          actions: assign({
            handle: ({ event }) => event.output.handle,
            local: ({ event }) => event.output.handle.local,
            remote: ({ event }) => event.output.handle.remote,
          }),
        },
        // A failed connect() has released what the socket held.
        onError: [
          {
            guard: "bound",
            target: "bound",
            actions: assign({
              failure: ({ event }) => event.error,
              handle: undefined,
            }),
          },
          {
            target: "created",
            actions: assign({
              failure: ({ event }) => event.error,
              handle: undefined,
              local: undefined,
            }),
          },
        ],
      },
      on: {
        BIND: reject("EINVAL", "the socket is connecting, so it is bound"),
        LISTEN: reject(
          "EINVAL",
          "the socket is connecting; only a socket that is not connected can listen",
        ),
        CONNECT: reject(
          "EALREADY",
          "a connect() on this socket is still in progress; await it",
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
        input: ({ context, event }) => ({
          domain: context.domain,
          how: (event as Extract<SocketEvent, { type: "SHUTDOWN" }>).how,
          handle: context.handle,
          keepAddress: context.portChosenBy === "caller",
        }),
        onDone: [
          // A TCP listener stopped by SHUT_RD: back to bound if the caller
          // chose its port, else the kernel gives the port back.
          {
            guard: and([not("hasPeer"), "callerPort"]),
            target: "bound",
            actions: assign({
              handle: ({ event }) => event.output.handle,
              shut: { read: false, write: false },
            }),
          },
          {
            guard: not("hasPeer"),
            target: "created",
            actions: assign({
              handle: ({ event }) => event.output.handle,
              local: undefined,
              bound: false,
              portChosenBy: undefined,
              shut: { read: false, write: false },
            }),
          },
          { guard: and(["shutRead", "shutWrite"]), target: "shutRdWr" },
          { guard: "shutRead", target: "shutRd" },
          { target: "shutWr" },
        ],
        onError: [
          {
            guard: not("hasPeer"),
            target: "listening",
            actions: assign({ failure: ({ event }) => event.error }),
          },
          {
            guard: and(["shutRead", "shutWrite"]),
            target: "shutRdWr",
            actions: assign({ failure: ({ event }) => event.error }),
          },
          {
            guard: "shutRead",
            target: "shutRd",
            actions: assign({ failure: ({ event }) => event.error }),
          },
          {
            target: "shutWr",
            actions: assign({ failure: ({ event }) => event.error }),
          },
        ],
      },
      entry: "forget",
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
        SEND: reject(
          "EPIPE",
          "the write side was shut down with shutdown(); nothing more can be sent",
        ),
        RECV: "shutWr",
        SHUTDOWN: [{ guard: "howWrite", target: "shutWr" }, startShutdown],
      },
    },
    shutRdWr: {
      on: {
        ...connectedCalls("shutRdWr"),
        SEND: reject(
          "EPIPE",
          "the write side was shut down with shutdown(); nothing more can be sent",
        ),
        RECV: { target: "shutRdWr", meta: { eof: true } },
        SHUTDOWN: "shutRdWr",
      },
    },
    closed: {
      entry: "release",
      on: {
        BIND: reject("EBADF", CLOSED),
        LISTEN: reject("EBADF", CLOSED),
        CONNECT: reject("EBADF", CLOSED),
        ACCEPT: reject("EBADF", CLOSED),
        SEND: reject("EBADF", CLOSED),
        RECV: reject("EBADF", CLOSED),
        SHUTDOWN: reject("EBADF", CLOSED),
        CLOSE: reject("EBADF", CLOSED),
        GETSOCKNAME: reject("EBADF", CLOSED),
        GETPEERNAME: reject("EBADF", CLOSED),
      },
    },
  },
});

/** The socket machine's type. */
export type SocketMachine = typeof socketMachine;

/** A snapshot of the socket machine. */
export type SocketSnapshot = SnapshotFrom<SocketMachine>;
