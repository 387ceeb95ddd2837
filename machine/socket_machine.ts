// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The socket machine: the one definition of which socket call is legal in
 * which state, what it leads to, and which errno Linux gives when it is not.
 *
 * It is pure. Its context holds only finite facts (bound or not, who chose
 * the port, the shutdown bits, whether there is a peer...), never addresses
 * or OS handles, so its snapshots form a small finite graph that `graph.ts`
 * walks and memoises. The data a call needs (the socket's
 * `SysSocket`, the address) travels in the event's `io` field, which
 * only effects read, never a rule.
 *
 * A transition's `meta` says what a call gives:
 * - `errno`: the call is refused before any system call (a forbidden
 *   transition: no target, no actions, so `snapshot.can(event)` is false);
 * - `outcome`: the call is made, and the kernel answers this (an errno whose
 *   side effects stay, or end of stream), as far as the facts tell;
 * - `waits`: the call waits for the call in flight, and the state that call
 *   leaves answers it (the kernel's socket lock orders them).
 *
 * The kernel holds a socket's lock only for the instant of each system call.
 * So while `bind()`, `listen()` or `shutdown()` is in flight, a call that
 * reads or changes what it changes waits for it, and `getsockname()` and
 * `getpeername()` answer as the state before; while a blocking `connect()`
 * is in flight, `send()`, `recv()` and `shutdown()` wait for it, and the
 * other calls get Linux's answer (`EALREADY`, `EINVAL`). Nothing is refused
 * only because another call is in flight.
 *
 * What the kernel does where kernel builds differ is data: a profile's
 * behaviour in the context (`kernel`), read by the `kernel` guard (see
 * `kernel.ts`).
 *
 * Two events are the environment's, not the socket's: `PEER_CONNECT` (a new
 * peer connects to the socket's address) and `PEER_CLOSE` (its peers close).
 * `predict()` sends them; the runtime never does, so the facts they feed
 * (queued connections, the state of the link, a pending error) stay at rest
 * there and never refuse a call the kernel would allow.
 *
 * Effects are named actors whose placeholders reject until `steps/` provides
 * them with `provide({ actors })`. Every state handles every event, so
 * nothing is ever ignored silently (tests/socket_machine_test.ts walks them
 * all).
 *
 * @module
 */
import {
  and,
  assign,
  fromPromise,
  not,
  or,
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
import {
  OPTION_LEVELS,
  type OptionLevel,
  type SocketOptionName,
} from "./options.ts";
import {
  DEFAULT_KERNEL,
  type KernelBehaviour,
  type KernelBehaviourName,
  kernelProfile,
} from "./kernel.ts";

/**
 * The socket types: connection-oriented streams (`SOCK_STREAM`), and
 * datagrams (`SOCK_DGRAM`).
 */
export type SocketType = "stream" | "dgram";

/**
 * The states of a socket. `binding`, `opening` and `shuttingDown` are the
 * moments a `bind()`, `listen()` or `shutdown()` effect is in flight;
 * `connecting` is a connection attempt in flight, as in the kernel;
 * `connectRefused` is a non-blocking TCP attempt that the peer refused, which
 * the next `connect()` reports.
 */
export type SocketState =
  | "created"
  | "binding"
  | "bound"
  | "opening"
  | "listening"
  | "connecting"
  | "connectRefused"
  | "connected"
  | "shuttingDown"
  | "shutRd"
  | "shutWr"
  | "shutRdWr"
  | "closed";

/**
 * How a bound socket's address is chosen: port 0 (the kernel picks), a port
 * the caller gives, a unix path, or a unix abstract name (autobind).
 */
export type PortChoice = "kernel" | "caller" | "path" | "abstract";

/**
 * The events of the machine: one per socket call, and two of the
 * environment. The rules read only the fields beside `type` and `io`
 * (`family` is the domain of the call's address; `nonblocking` asks for the
 * answer of a call that must not wait); `io` carries what the call's effect
 * needs and is absent when the machine runs as a pure model.
 */
export type SocketEvent =
  | { type: "BIND"; family: Domain; port: PortChoice; io?: BindInput }
  | { type: "LISTEN"; io?: ListenInput }
  | {
    type: "CONNECT";
    family: Domain;
    /**
     * What is known of the target: it refuses (a port with nothing behind
     * it, a stale file: the harness knows), or it is live (a backend looked).
     */
    target?: "refused" | "live";
    /** The socket is `O_NONBLOCK`: a TCP connect answers `EINPROGRESS`. */
    nonblocking?: boolean;
    io?: ConnectInput;
  }
  | { type: "ACCEPT"; nonblocking?: boolean }
  | { type: "SEND" }
  | { type: "RECV"; nonblocking?: boolean }
  | {
    type: "SHUTDOWN";
    how: ShutdownHow;
    io?: Omit<ShutdownInput, "how" | "keepAddress">;
  }
  | { type: "CLOSE" }
  | { type: "GETSOCKNAME" }
  | { type: "GETPEERNAME" }
  /**
   * `setsockopt(2)`: the rules read the option's name (and so its level),
   * and whether a boolean option is turned on.
   */
  | {
    type: "SETSOCKOPT";
    option: SocketOptionName;
    on?: boolean;
    /** `SO_LINGER` with `onoff` and `linger: 0`: close() will reset. */
    resets?: boolean;
  }
  /** `getsockopt(2)`; `SO_ERROR` takes the pending error. */
  | { type: "GETSOCKOPT"; option: SocketOptionName }
  /** `sendto(2)`: data to an address of `family`. */
  | { type: "SENDTO"; family: Domain }
  /** `connect(2)` with `AF_UNSPEC`: dissolve the association. */
  | { type: "DISCONNECT" }
  /**
   * `poll(2)` for readiness: any open socket, whatever its state (the call
   * takes no lock, so it never waits for a call in flight).
   */
  | { type: "POLL" }
  | { type: "PEER_CONNECT" }
  | { type: "PEER_CLOSE" }
  | { type: "PEER_RESET" }
  /**
   * What the socket's own calls saw of the connection, sent by the runtime
   * (which sends no environment events): a read returned end of stream, or
   * a read or write failed with a reset (`ECONNRESET`, `EPIPE`).
   */
  | { type: "SEEN_END" }
  | { type: "SEEN_RESET" }
  /**
   * What the kernel answered the runtime's non-blocking TCP connect(), which
   * the machine cannot know (how far the handshake is): the attempt goes on
   * (`EINPROGRESS`), it is connected, or it failed.
   */
  | { type: "SEEN_CONNECTING" }
  | { type: "SEEN_CONNECTED" }
  | { type: "SEEN_CONNECT_FAILED" }
  /**
   * A signal interrupted the socket's blocking call in flight, as one
   * interrupts a `connect(2)` that waits (`EINTR`): the runtime sends it when
   * a call's `AbortSignal` aborts. Whether the attempt stops (`meta.stops`)
   * or goes on is the kernel's rule, and so the machine's.
   */
  | { type: "INTERRUPT" };

/** The type of a socket call's event, such as `"BIND"`. */
export type SocketEventType = SocketEvent["type"];

/** The shutdown bits of a socket (`RCV_SHUTDOWN`, `SEND_SHUTDOWN`). */
export interface ShutBits {
  /** `RCV_SHUTDOWN`: the read side was shut. */
  readonly read: boolean;
  /** `SEND_SHUTDOWN`: the write side was shut. */
  readonly write: boolean;
}

/**
 * A connection as the kernel sees it: established; our FIN sent
 * (`FIN_WAIT`); the peer's FIN received (`CLOSE_WAIT`; for unix: the peer
 * closed); reset by the peer, before or after its FIN; or over (both FINs:
 * `TIME_WAIT`, then closed).
 */
export type Link = "up" | "finSent" | "fin" | "reset" | "finReset" | "over";

/**
 * The facts about a socket that are not worth a state of their own. All are
 * finite: addresses and handles are data, kept by the backend that runs the
 * socket's calls, not facts.
 */
export interface SocketContext {
  /** The address family. */
  readonly domain: Domain;
  /** The socket type. */
  readonly type: SocketType;
  /**
   * Whether the socket holds an address of its own: `bind()` succeeded (and,
   * for TCP, the kernel still holds the port), or `accept()` made it.
   */
  readonly bound: boolean;
  /** How the current address was chosen, if there is one. */
  readonly portChosenBy: PortChoice | undefined;
  /**
   * What `getsockname()` shows: no name, a port (Linux keeps showing a TCP
   * port even after it gave the port back), a unix path or abstract name.
   */
  readonly name: "none" | "port" | "path" | "abstract";
  /** The shutdown bits set so far. */
  readonly shut: ShutBits;
  /** Whether the socket has a peer (it connected, or accept() made it). */
  readonly peer: boolean;
  /** Environment: connections queued on a listener, not yet accepted. */
  readonly backlog: number;
  /** Environment: the TCP connection, or for unix whether the peer closed. */
  readonly link: Link;
  /** Environment: the peer has data from us it did not read. */
  readonly unread: boolean;
  /** Environment: the socket has open peers (the other ends). */
  readonly peers: boolean;
  /** Environment: the pending error (`SO_ERROR`), if any. */
  readonly error: Errno | undefined;
  /** Environment: datagrams waiting to be received. */
  readonly datagrams: number;
  /** Environment: the datagram socket's target has nothing behind it. */
  readonly targetGone: boolean;
  /**
   * A non-blocking TCP connect that the socket layer still calls in progress
   * (`SS_CONNECTING`), though the connection is up: the next connect says 0.
   */
  readonly inProgress: boolean;
  /** A shutdown() of a refused non-blocking connect (`SS_DISCONNECTING`). */
  readonly disconnecting: boolean;
  /**
   * A TCP connect() of this socket failed, at some time. Kept only where the
   * kernel's behaviour can depend on it (`failedConnectForbidsListen` is not
   * `false`), so that other kernels' snapshots stay as few as before.
   */
  readonly connectFailed: boolean;
  /**
   * shutdown(SHUT_RD) stopped this TCP socket's listening, and it has not
   * listened since. Kept only where `stoppedListenForbidsConnect` is not
   * `false`.
   */
  readonly listenStopped: boolean;
  /**
   * What the kernel does where kernel builds differ (a kernel profile's
   * behaviour); rules consult it with the `kernel` guard.
   */
  readonly kernel: KernelBehaviour;
  /**
   * Whether the environment's facts are known: `"modelled"` when its events
   * are sent (as `predict()` does), `"unseen"` at runtime, where what the
   * peer did is not sent and a rule whose answer depends on it lets the call
   * through to the kernel.
   */
  readonly environment: Environment;
  /**
   * Runtime: what the socket's own reads and writes saw of the connection's
   * end (`SEEN_END`, `SEEN_RESET`); always `"none"` in the model.
   */
  readonly seen: "none" | "end" | "reset";
  /**
   * `SO_LINGER` is on with a linger of 0, on a TCP socket: `close()` resets
   * the connection (the peer reads `ECONNRESET`) instead of sending FIN.
   */
  readonly lingerReset: boolean;
}

/** Whether the machine is told what the socket's environment does. */
export type Environment = "modelled" | "unseen";

/** What a socket machine starts from. */
export interface SocketInput {
  readonly domain: Domain;
  readonly type: SocketType;
  /** A socket born by `accept()`: it starts connected. */
  readonly accepted?: boolean;
  /**
   * What the kernel does where builds differ: a profile's behaviour, or
   * `ANY_KERNEL` to let the kernel answer wherever profiles differ.
   *
   * @default {the behaviour of the default profile, `"classic"`}
   */
  readonly kernel?: KernelBehaviour;
  /**
   * Whether the environment's events will be sent.
   *
   * @default {"modelled"}
   */
  readonly environment?: Environment;
}

/** What the kernel answers a call that the machine lets through. */
export type Outcome = "ok:eof" | "ok:data" | "noop" | "ok" | Errno;

/** What a transition may say about a call, read by `verdict()`. */
export interface CallMeta {
  /** The call is refused with this errno, and nothing reaches the kernel. */
  readonly errno?: Errno;
  /**
   * The call waits for the call in flight, and the state after that one
   * answers it: the kernel's socket lock serialises the two, in call order.
   */
  readonly waits?: true;
  /**
   * With `waits`: the call joins the call in flight and shares its outcome,
   * rather than being answered by the state it leaves (a TCP `connect()`
   * during another's attempt).
   */
  readonly joins?: true;
  /**
   * The call is made, and the kernel's answer, which depends on what the
   * machine does not see, stands; the state stays.
   */
  readonly asks?: true;
  /** Why it is refused, or why the kernel answers `outcome`. */
  readonly why?: string;
  /** The call is made, and the kernel answers this. */
  readonly outcome?: Outcome;
  /**
   * The call in flight stops, and fails with this errno: the socket settles
   * as after its failure (`INTERRUPT` of a unix `connect()`; `shutdown()`
   * or `connect(AF_UNSPEC)` during a TCP one, which disconnect it).
   */
  readonly stops?: Errno;
}

/** A refused call: a forbidden transition that carries the errno. */
function reject(errno: Errno, why: string): { meta: CallMeta } {
  return { meta: { errno, why } };
}

/**
 * A call whose answer depends on what the machine is not told (the peer, the
 * file system): it is made, the kernel answers, and the state stays.
 */
function asksKernel(why: string): { meta: CallMeta } {
  return { meta: { asks: true, why } };
}

/**
 * A call that stops the call in flight, which fails with `errno`: the
 * effect's `onError` says where the socket goes.
 */
function stopsCall(errno: Errno, why: string): { meta: CallMeta } {
  return { meta: { stops: errno, why } };
}

/** A call whose answer the facts tell. */
function answer(outcome: Outcome, why?: string): { meta: CallMeta } {
  return { meta: why === undefined ? { outcome } : { outcome, why } };
}

const NOT_CONNECTED = "the socket is not connected; call connect() first";
const WRITE_SHUT = reject(
  "EPIPE",
  "the write side was shut down with shutdown(); nothing more can be sent",
);
const NOT_LISTENING = "the socket is not listening; call listen() first";
const CLOSED = "the socket is closed; create a new one with socket()";

/** Calls that need a connection, on a socket that has none. */
const unconnectedDataCalls = (self: "created" | "bound" | "listening") =>
  ({
    SEND: [
      ...dgramUnconnected(self).SEND,
      { guard: "isUnix", ...reject("ENOTCONN", NOT_CONNECTED) },
      // TCP's disconnect may leave an error pending.
      ...pendingError(self, "tcp"),
      reject(
        "EPIPE",
        `${NOT_CONNECTED} (Linux returns EPIPE for TCP where POSIX specifies ENOTCONN)`,
      ),
    ],
    RECV: [
      ...dgramUnconnected(self).RECV,
      {
        guard: "isUnix",
        ...reject(
          "EINVAL",
          `${NOT_CONNECTED} (Linux returns EINVAL for unix stream sockets where POSIX specifies ENOTCONN)`,
        ),
      },
      // TCP reads a pending error, then the shutdown bits, then the state.
      ...pendingError(self, "tcp"),
      {
        guard: "shutRead",
        target: self,
        ...answer("ok:eof", "the read side was shut down (the bit is set)"),
      },
      reject("ENOTCONN", NOT_CONNECTED),
    ],
    GETPEERNAME: reject(
      "ENOTCONN",
      "the socket has no peer; it is not connected",
    ),
  }) as const;

/** shutdown() on a socket that is not connected. */
function unconnectedShutdown(self: "created" | "bound") {
  return [
    // Linux sets the bits of an unconnected unix socket and returns 0.
    { guard: "isUnix", target: self, actions: "markShut" },
    // TCP answers ENOTCONN, but sets the bits all the same.
    {
      target: self,
      actions: "markShut",
      ...answer("ENOTCONN", NOT_CONNECTED),
    },
  ] as const;
}

/** A guard on the level of the option that a call names. */
function optionAt(level: OptionLevel) {
  return { type: "optionAt", params: { level } } as const;
}

/** A guard on the option that a call names. */
function optionIs(option: SocketOptionName) {
  return { type: "optionIs", params: { option } } as const;
}

/**
 * setsockopt() and getsockopt() of an option of a protocol the socket does
 * not speak: a unix socket has no protocol level of its own (`EOPNOTSUPP`),
 * and Linux's IPv4 and UDP layers know no TCP or IPv6 option
 * (`ENOPROTOOPT`).
 */
const OPTION_LEVEL_CHECKS = [
  {
    guard: and([optionAt("tcp"), "isUnix"]),
    ...reject(
      "EOPNOTSUPP",
      "TCP options such as TCP_NODELAY apply to TCP sockets; a unix socket has none",
    ),
  },
  {
    guard: and([optionAt("tcp"), "isDgram"]),
    ...reject(
      "ENOPROTOOPT",
      "TCP options such as TCP_NODELAY apply to TCP sockets, not to UDP ones",
    ),
  },
  {
    guard: and([optionAt("ipv6"), "isUnix"]),
    ...reject(
      "EOPNOTSUPP",
      "IPv6 options such as IPV6_V6ONLY apply to inet6 sockets; a unix socket has none",
    ),
  },
  {
    guard: and([optionAt("ipv6"), not("isInet6")]),
    ...reject(
      "ENOPROTOOPT",
      "IPv6 options such as IPV6_V6ONLY apply to inet6 sockets; this one is inet",
    ),
  },
] as const;

/**
 * getsockopt() of an option of a protocol the socket does not speak: as for
 * setsockopt(), but Linux's IPv4 layer answers `EOPNOTSUPP` (its
 * getsockopt knows no other level), where its setsockopt says
 * `ENOPROTOOPT`.
 */
const OPTION_GET_LEVEL_CHECKS = [
  {
    guard: and([or([optionAt("tcp"), optionAt("ipv6")]), "isUnix"]),
    ...reject(
      "EOPNOTSUPP",
      "TCP and IPv6 options apply to TCP and inet6 sockets; a unix socket has none",
    ),
  },
  {
    guard: and([optionAt("tcp"), "isDgram", "isInet6"]),
    ...reject(
      "ENOPROTOOPT",
      "TCP options such as TCP_NODELAY apply to TCP sockets, not to UDP ones",
    ),
  },
  {
    guard: and([
      or([optionAt("tcp"), optionAt("ipv6")]),
      not("isInet6"),
      or([
        "isDgram",
        optionAt("ipv6"),
      ]),
    ]),
    ...reject(
      "EOPNOTSUPP",
      "the option is not one of this inet socket's protocols (Linux's IPv4 layer answers EOPNOTSUPP to getsockopt)",
    ),
  },
] as const;

/** SO_REUSEPORT is for inet sockets: Linux refuses to turn it on elsewhere. */
const REUSEPORT_UNIX = {
  guard: and([optionIs("SO_REUSEPORT"), "isUnix", "turnsOn"]),
  ...reject(
    "EOPNOTSUPP",
    "SO_REUSEPORT shares a port between inet sockets; a unix socket has no port",
  ),
} as const;

/**
 * The option calls of a socket that is open and has no call in flight;
 * `v6only` are the IPV6_V6ONLY rules of a state that may hold a port.
 */
function optionCalls<
  S extends SocketState,
  const T extends readonly object[],
>(self: S, ...v6only: T) {
  return {
    SETSOCKOPT: [
      ...OPTION_LEVEL_CHECKS,
      REUSEPORT_UNIX,
      ...v6only,
      { target: self, actions: "noteLinger", ...answer("ok") },
    ],
    // What getsockopt() reads is the caller's to see: no outcome of its own.
    GETSOCKOPT: [
      ...OPTION_GET_LEVEL_CHECKS,
      // Reading SO_ERROR takes the pending error, as the kernel does.
      { guard: optionIs("SO_ERROR"), target: self, actions: "takeError" },
      { target: self },
    ],
  } as const;
}

const V6ONLY_HELD =
  "IPV6_V6ONLY can be set only while the socket has no port (Linux answers EINVAL once it is bound); set it right after socket()";

/**
 * IPV6_V6ONLY on an inet6 socket that may hold a port: one the kernel bound
 * (listen() refused after a failed connect, on some kernels), or the caller.
 */
const v6onlyIfBound = [
  {
    guard: and([optionIs("IPV6_V6ONLY"), "isInet6", "bound"]),
    ...reject("EINVAL", V6ONLY_HELD),
  },
] as const;

/** IPV6_V6ONLY on an inet6 socket that holds a port. */
const v6onlyHeld = [
  {
    guard: and([optionIs("IPV6_V6ONLY"), "isInet6"]),
    ...reject("EINVAL", V6ONLY_HELD),
  },
] as const;

/**
 * IPV6_V6ONLY on a connection: its port is held while the connection lasts
 * (a port the caller bound, and a connected UDP socket's, for good).
 */
function v6onlyOnConnection<S extends SocketState>(self: S) {
  return [
    {
      guard: and([
        optionIs("IPV6_V6ONLY"),
        "isInet6",
        or(["bound", "isDgram"]),
      ]),
      ...reject("EINVAL", V6ONLY_HELD),
    },
    // Unseen, the TCP connection may be over and its port given back.
    {
      guard: and([optionIs("IPV6_V6ONLY"), "isInet6", "envUnseen"]),
      target: self,
      ...asksKernel(
        "the connection may be over, and then its port is given back and Linux lets IPV6_V6ONLY be set",
      ),
    },
    {
      guard: and([optionIs("IPV6_V6ONLY"), "isInet6", not("linkGone")]),
      ...reject("EINVAL", V6ONLY_HELD),
    },
  ] as const;
}

const SENDTO_UNIX_STREAM =
  "a unix stream socket sends only to its peer; use send(), or a datagram socket for sendto()";

/**
 * sendto() on a socket that has no connection: a datagram goes to the
 * address; a unix stream socket refuses an address (`EOPNOTSUPP`); TCP
 * ignores the address and answers as `send()` (`tcpSend`).
 */
function unconnectedSendto<const T extends readonly object[]>(
  self: "created" | "bound" | "listening",
  ...tcpSend: T
) {
  // UDP binds an ephemeral port first (inet_sendmsg), then sends.
  const autobinds = self === "created";
  return addressed(
    ...(autobinds
      ? [
        ...pendingError("bound", "udp", "autobindPort"),
        {
          guard: and(["isDgram", not("isUnix"), "shutWrite"]),
          target: "bound",
          actions: "autobindPort",
          ...answer("EPIPE", WRITE_SHUT.meta.why),
        },
        {
          guard: and(["isDgram", not("isUnix")]),
          target: "bound",
          actions: "autobindPort",
          ...answer("ok"),
        },
      ] as const
      : []),
    ...dgramSendto(self),
    {
      guard: "isUnix",
      ...reject("EOPNOTSUPP", `${SENDTO_UNIX_STREAM} (it is not connected)`),
    },
    ...tcpSend,
  );
}

/** sendto() on a datagram socket that has a port: the pending error first. */
function dgramSendto<T extends SocketState>(self: T) {
  return [
    ...pendingError(self, "dgram"),
    { guard: and(["isDgram", "shutWrite"]), ...WRITE_SHUT },
    { guard: "isDgram", target: self, ...answer("ok") },
  ] as const;
}

/**
 * connect(AF_UNSPEC) on a socket with no connection: a unix stream socket
 * takes only a unix address (`EINVAL`); UDP gives back a port the kernel
 * chose; TCP clears the shutdown bits.
 */
function unconnectedDisconnect(self: "created" | "bound") {
  return [
    UNIX_STREAM_DISCONNECT,
    {
      guard: and(["isDgram", not("isUnix"), not("callerPort")]),
      target: "created",
      actions: "releaseDgramPort",
    },
    { guard: "isDgram", target: self },
    { target: self, actions: "clearShut" },
  ] as const;
}

const UNIX_STREAM_DISCONNECT = {
  guard: and(["isUnix", not("isDgram")]),
  ...reject(
    "EINVAL",
    "a unix stream socket takes only a unix address in connect(); it cannot dissolve its connection (close it)",
  ),
} as const;

/** connect(AF_UNSPEC) on a connection. */
const disconnectConnection = [
  UNIX_STREAM_DISCONNECT,
  // A datagram socket forgets its peer; UDP gives back a port it chose.
  {
    guard: and(["isDgram", "isUnix", "named"]),
    target: "bound",
    actions: "dropPeer",
  },
  { guard: and(["isDgram", "isUnix"]), target: "created", actions: "dropPeer" },
  {
    guard: and(["isDgram", "callerPort"]),
    target: "bound",
    actions: "dropPeer",
  },
  {
    guard: "isDgram",
    target: "created",
    actions: ["dropPeer", "releaseDgramPort"],
  },
  // TCP resets a live connection (the peer reads ECONNRESET, and so does
  // this socket's next call) and is a fresh socket again.
  {
    guard: and(["bound", "callerPort"]),
    target: "bound",
    actions: ["resetLiveConnection", "disconnect"],
  },
  { target: "created", actions: ["resetLiveConnection", "disconnect"] },
] as const;

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
    SETSOCKOPT: answer,
    GETSOCKOPT: answer,
    SENDTO: answer,
    DISCONNECT: answer,
    POLL: answer,
    PEER_CONNECT: answer,
    PEER_CLOSE: answer,
    PEER_RESET: answer,
    SEEN_END: answer,
    SEEN_RESET: answer,
    SEEN_CONNECTING: answer,
    SEEN_CONNECTED: answer,
    SEEN_CONNECT_FAILED: answer,
    INTERRUPT: answer,
  };
}

/**
 * A call that waits for the call in flight: the kernel holds the socket's
 * lock only for the instant of each system call, so the second call sees the
 * socket as the first left it.
 */
function waitFor(call: string): { meta: CallMeta } {
  return {
    meta: {
      waits: true,
      why:
        `${call}() on this socket is in flight; the call waits for it and is answered by the state it leaves, as the kernel's socket lock orders them`,
    },
  };
}

/**
 * A TCP `connect()` while another's attempt is in flight: Linux's blocking
 * `connect(2)` waits for the same attempt and answers as it ends (0 once
 * connected; when it fails, the attempt's error to one waiter, `EPIPE` to
 * each other one).
 */
function joinsAttempt(): { meta: CallMeta } {
  return {
    meta: {
      waits: true,
      joins: true,
      why:
        "a connect() on this socket is in flight; this one waits for the same attempt and answers as it ends, as Linux's blocking connect(2) does",
    },
  };
}

/**
 * A state in which an instant call's effect (`bind`, `listen`, `shutdown`)
 * is in flight. In the kernel the call holds the socket's lock for an
 * instant: a call that reads or changes what it changes waits for it and is
 * answered by the state after; `getsockname()` and `getpeername()`, which
 * cannot wait, answer as the state before; `close()` closes.
 */
function inFlight<T extends "binding" | "opening" | "shuttingDown">(
  self: T,
  call: string,
) {
  const wait = waitFor(call);
  const {
    PEER_CONNECT: _,
    PEER_CLOSE: __,
    PEER_RESET: ___,
    SEEN_END: ____,
    SEEN_RESET: _____,
    SEEN_CONNECTING: ______,
    SEEN_CONNECTED: _______,
    SEEN_CONNECT_FAILED: ________,
    // Their calls are instant: nothing waits to be interrupted.
    INTERRUPT: _________,
    ...calls
  } = everyCall(wait);
  return {
    ...calls,
    BIND: addressed(wait),
    CONNECT: addressed(wait),
    SENDTO: addressed(wait),
    CLOSE: "closed",
    GETSOCKNAME: self,
    GETPEERNAME: peerName(self),
    POLL: self,
  } as const;
}

/** getpeername(): the peer, while there is one and its connection lasts. */
function peerName<T extends SocketState>(self: T) {
  return [
    {
      guard: not("hasPeer"),
      ...reject("ENOTCONN", "the socket has no peer; it is not connected"),
    },
    {
      guard: and([not("isUnix"), "linkGone"]),
      target: self,
      ...answer("ENOTCONN", "the connection is over"),
    },
    {
      guard: "seenOver",
      target: self,
      ...answer(
        "ENOTCONN",
        "the connection is over (this socket saw both FINs, or a reset)",
      ),
    },
    // Unseen, the TCP connection may be over (ENOTCONN): the kernel answers.
    {
      guard: and([not("isUnix"), not("isDgram"), "envUnseen"]),
      target: self,
      ...asksKernel("the connection may be over, and then Linux says ENOTCONN"),
    },
    { target: self },
  ] as const;
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

/**
 * bind(): autobind (an abstract name) on a unix socket that has a name
 * already succeeds and does nothing; then `rules`.
 */
function bindRules<const T extends readonly object[]>(
  self: SocketState,
  ...rules: T
) {
  return addressed(
    { guard: and(["isUnix", "autobindAsked", "named"]), target: self },
    ...rules,
  );
}

/**
 * connect() on a unix socket that cannot connect now: Linux looks the target
 * up first, so a refusing target answers ECONNREFUSED; then `rules`.
 */
function connectRules<const T extends readonly object[]>(
  self: SocketState,
  ...rules: T
) {
  return addressed(
    {
      guard: and(["isUnix", "targetRefuses"]),
      target: self,
      ...answer("ECONNREFUSED", "nothing listens at the target"),
    },
    // Unseen, the target may refuse (a stale file) or be missing.
    {
      guard: and(["isUnix", not("isDgram"), "envUnseen", not("targetLive")]),
      target: self,
      ...asksKernel(
        "Linux looks the target up before it looks at the socket: a stale socket file gives ECONNREFUSED, a missing path ENOENT, a live listener the socket's own answer",
      ),
    },
    ...rules,
  );
}

const NO_STREAM =
  "a datagram socket has no connections to listen for or accept";

const DGRAM_NO_STREAM = [
  { guard: "isDgram", ...reject("EOPNOTSUPP", NO_STREAM) },
] as const;

/** A unix datagram socket looks its target up at once. */
function unixDgramTargetRefuses<T extends SocketState>(self: T) {
  return {
    guard: and(["isDgram", "isUnix", "targetRefuses"]),
    target: self,
    ...answer("ECONNREFUSED", "nothing is bound at the target"),
  } as const;
}

const DGRAM_NEEDS_PEER = "a datagram socket needs a peer: call connect() first";

/**
 * What an unconnected datagram socket does differently from a stream: first
 * in each list of its state (`self`).
 */
function dgramUnconnected(self: "created" | "bound" | "listening") {
  return {
    LISTEN: DGRAM_NO_STREAM,
    ACCEPT: DGRAM_NO_STREAM,
    CONNECT: [unixDgramTargetRefuses(self)],
    SEND: [
      // UDP binds an ephemeral port before it finds there is no peer.
      {
        guard: and(["isDgram", not("isUnix")]),
        target: "bound",
        actions: "autobindPort",
        ...answer("EDESTADDRREQ", DGRAM_NEEDS_PEER),
      },
      // A unix datagram socket checks the shutdown bits before the peer.
      { guard: and(["isDgram", "shutWrite"]), ...WRITE_SHUT },
      { guard: "isDgram", ...reject("ENOTCONN", DGRAM_NEEDS_PEER) },
    ],
    RECV: dgramRecv(self),
    PEER_CONNECT: [
      {
        guard: and(["isDgram", "isUnix", "named", "shutRead"]),
        ...answer("EPIPE", "the socket was shut for reading"),
      },
      {
        guard: and(["isDgram", "named"]),
        actions: ["queueDatagram", "markPeers"],
        ...answer("ok"),
      },
    ],
  } as const;
}

/** A datagram socket's recv: a pending error, a datagram, or nothing yet. */
function dgramRecv<T extends SocketState>(self: T) {
  return [
    ...pendingError(self, "dgram"),
    {
      guard: and(["isDgram", "hasDatagram"]),
      target: self,
      actions: "takeDatagram",
      ...answer("ok:data"),
    },
    {
      // Unseen, whether a datagram waits only the kernel knows.
      guard: and(["isDgram", "nonblocking", not("envUnseen")]),
      target: self,
      ...answer("EAGAIN", "no datagram is waiting"),
    },
    { guard: "isDgram", target: self },
  ] as const;
}

/**
 * What a connected datagram socket does differently from a stream: first in
 * each list of its state (`self`).
 */
function dgramConnected(self: "connected" | "shutRd" | "shutWr" | "shutRdWr") {
  return {
    LISTEN: DGRAM_NO_STREAM,
    ACCEPT: DGRAM_NO_STREAM,
    CONNECT: [
      unixDgramTargetRefuses(self),
      // connect() only records the peer, and may change it.
      { guard: "isDgram", target: "connecting", actions: "noteTarget" },
    ],
    SEND: [
      ...pendingError(self, "udp"),
      { guard: and(["isDgram", "shutWrite"]), ...WRITE_SHUT },
      // A dead unix peer refuses, and the socket is disconnected.
      {
        guard: and(["isDgram", "isUnix", "linkDown", "named"]),
        target: "bound",
        actions: "dropPeer",
        ...answer("ECONNREFUSED", "the peer has closed"),
      },
      {
        guard: and(["isDgram", "isUnix", "linkDown"]),
        target: "created",
        actions: "dropPeer",
        ...answer("ECONNREFUSED", "the peer has closed"),
      },
      // UDP sends; the ICMP that answers comes back as a pending error.
      {
        guard: and(["isDgram", "linkDown"]),
        target: self,
        actions: "refusedLater",
        ...answer("ok"),
      },
      { guard: "isDgram", target: self, ...answer("ok") },
    ],
    RECV: dgramRecv(self),
    PEER_CONNECT: [
      // A connected UDP socket drops datagrams from others.
      {
        guard: and(["isDgram", not("isUnix")]),
        actions: "markPeers",
        ...answer("ok"),
      },
      {
        guard: and(["isDgram", "named"]),
        ...answer("EPERM", "the socket is connected to another peer"),
      },
      { guard: "isDgram", ...answer("noop", "the socket has no address") },
    ],
    PEER_CLOSE: [
      { guard: and(["isDgram", not("hasPeers")]), ...answer("noop") },
      { guard: "isDgram", actions: ["peerGone", "linkFin"], ...answer("ok") },
    ],
  } as const;
}

/**
 * Whether a TCP connection is over as far as the socket's own calls saw: a
 * reset, or the peer's end of stream after our own FIN (both FINs).
 */
function seenOver({ context }: { context: SocketContext }): boolean {
  return context.domain !== "unix" && context.type === "stream" &&
    (context.seen === "reset" ||
      (context.seen === "end" && context.shut.write));
}

/** Whether the kernel's behaviour may depend on a failed connect(). */
function keepsFailedConnect({ context }: { context: SocketContext }): boolean {
  return context.kernel.failedConnectForbidsListen !== false;
}

/** Whether the kernel's behaviour may depend on a stopped listen(). */
function keepsStoppedListen({ context }: { context: SocketContext }): boolean {
  return context.kernel.stoppedListenForbidsConnect !== false;
}

/** A guard that holds where the kernel's profile says it does `behaviour`. */
function kernelDoes(behaviour: KernelBehaviourName) {
  return { type: "kernel", params: { behaviour } } as const;
}

/**
 * listen() on a TCP socket whose connect() failed, on kernels where such a
 * socket never listens: the kernel binds an ephemeral port first (as for any
 * listen() of an unbound socket), then answers EINVAL.
 */
function listenAfterFailedConnect(self: "created" | "bound") {
  return {
    guard: and([kernelDoes("failedConnectForbidsListen"), "connectFailed"]),
    target: self,
    actions: "autobindPort",
    ...answer(
      "EINVAL",
      'a connect() of this TCP socket failed, and on this kernel such a socket never listens (kernel behaviour "failedConnectForbidsListen"); create a new socket with socket()',
    ),
  } as const;
}

/**
 * connect() on a TCP socket whose listening shutdown() stopped, on kernels
 * where it connects only after it listens again: EINVAL, and as for a failed
 * connect, the kernel gives back a port it chose (a bound socket whose port
 * the kernel chose is unbound again).
 */
function connectAfterStoppedListen(self: "created" | "bound") {
  const stopped = and([
    kernelDoes("stoppedListenForbidsConnect"),
    "listenStopped",
  ]);
  const why =
    'shutdown() stopped this TCP socket\'s listening, and on this kernel it connects only after it listens again (kernel behaviour "stoppedListenForbidsConnect"); call listen() first, or create a new socket with socket()';
  return [
    {
      guard: and([stopped, "callerPort"]),
      target: self,
      ...answer("EINVAL", why),
    },
    {
      guard: stopped,
      target: "created",
      actions: "releasePort",
      ...answer("EINVAL", why),
    },
  ] as const;
}

/**
 * A non-blocking TCP connect answers EINPROGRESS. On loopback the handshake
 * is over before the next call: refused (the socket waits in
 * `connectRefused`), or up (connected, the socket layer not told yet).
 */
const nonblockingConnect = [
  {
    guard: and(["nonblockingTcpConnect", "targetRefuses"]),
    target: "connectRefused",
    actions: ["showPort", "releasePort", "refusedLater", "markConnectFailed"],
    ...answer("EINPROGRESS", "the connection is being established"),
  },
  {
    guard: "nonblockingTcpConnect",
    target: "connected",
    actions: ["connectToPeer", "autobind", "startedConnect", "clearTcpError"],
    ...answer("EINPROGRESS", "the connection is being established"),
  },
] as const;

const CONNECT_FAILED =
  "the non-blocking connect failed; the next connect() reports it";

/**
 * Unseen (the runtime), a non-blocking TCP connect() is made, and what the
 * kernel answers moves the socket (`SEEN_CONNECTING`, `SEEN_CONNECTED`,
 * `SEEN_CONNECT_FAILED`): how far the handshake is, only the kernel knows.
 */
function nonblockingConnectUnseen(self: "created" | "bound") {
  return [
    {
      guard: and(["nonblockingTcpConnect", "envUnseen"]),
      target: self,
      ...asksKernel(
        "a non-blocking connect() answers at once, and how the attempt stands only the kernel knows",
      ),
    },
  ] as const;
}

/**
 * What a runtime's non-blocking connect() saw, on a socket with no
 * connection: the attempt goes on, or is done (as `nonblockingConnect`), or
 * failed (as a blocking connect's failure).
 */
function seenConnectFrom() {
  return {
    SEEN_CONNECTING: {
      guard: "envUnseen",
      target: "connected",
      actions: ["connectToPeer", "autobind", "startedConnect", "clearTcpError"],
    },
    SEEN_CONNECTED: {
      guard: "envUnseen",
      target: "connected",
      actions: ["connectToPeer", "autobind", "clearTcpError"],
    },
    SEEN_CONNECT_FAILED: [
      {
        guard: and(["envUnseen", "bound", "callerPort"]),
        target: "bound",
        actions: ["showPort", "clearShut", "markConnectFailed"],
      },
      {
        guard: "envUnseen",
        target: "created",
        actions: ["showPort", "releasePort", "clearShut", "markConnectFailed"],
      },
    ],
  } as const;
}

/** A peer connects to a socket that does not listen. */
const peerConnect = [
  { guard: not("named"), ...answer("noop", "the socket has no address") },
  answer("ECONNREFUSED", "nothing listens at the socket's address"),
] as const;

/** The rules a connected socket shares with its half-closed states. */
function connectedCalls(self: "connected" | "shutRd" | "shutWr" | "shutRdWr") {
  /** send() on a stream connection (and TCP's sendto(), which is the same). */
  const streamSend = [
    // TCP answers a pending error first, then the shutdown bits.
    ...pendingError(self, "tcp"),
    { guard: "shutWrite", ...WRITE_SHUT },
    {
      guard: and(["isUnix", "linkDown"]),
      target: self,
      ...answer("EPIPE", "the peer has closed"),
    },
    // TCP: the peer answers data after its close with a reset.
    {
      guard: "linkFin",
      target: self,
      actions: "resetByPeer",
      ...answer("ok"),
    },
    {
      guard: "linkDown",
      target: self,
      ...answer("EPIPE", "the connection is over"),
    },
    { target: self, actions: "markUnread" },
  ] as const;
  return {
    BIND: bindRules(
      self,
      // A TCP connection that is over gave back a port the kernel chose.
      {
        guard: and([not("isUnix"), "linkGone", not("bound")]),
        target: "binding",
        actions: "notePort",
      },
      // Unseen, the connection may be over: the kernel answers.
      {
        guard: and([
          not("isUnix"),
          not("isDgram"),
          "envUnseen",
          not("callerPort"),
        ]),
        target: "binding",
        actions: "notePort",
      },
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
    LISTEN: [
      ...dgramConnected(self).LISTEN,
      reject(
        "EINVAL",
        "the socket is connected; only a socket that is not connected can listen",
      ),
    ],
    CONNECT: connectRules(
      self,
      ...dgramConnected(self).CONNECT,
      // Unseen, the attempt may still be in progress (EALREADY), done (0)
      // or failed: the kernel answers, and what it says moves the socket.
      {
        guard: and(["inProgress", "envUnseen"]),
        target: self,
        ...asksKernel(
          "the non-blocking attempt may still be in progress (EALREADY), be done (0) or have failed",
        ),
      },
      // The socket layer learns now how the non-blocking connect ended: a
      // connection that died since reports its error and is reset.
      ...pendingError("created", "tcp", "disconnect").map((t) => ({
        ...t,
        guard: and(["inProgress", "linkGone", t.guard]),
      })),
      {
        guard: and(["inProgress", "linkGone"]),
        target: "created",
        actions: "disconnect",
        ...answer("ECONNABORTED", "the connection was reset"),
      },
      {
        guard: "inProgress",
        target: self,
        actions: "connectDone",
        ...answer("ok"),
      },
      reject("EISCONN", "the socket is already connected"),
    ),
    ACCEPT: [
      ...dgramConnected(self).ACCEPT,
      reject("EINVAL", `${NOT_LISTENING} (it is connected)`),
    ],
    PEER_CONNECT: [...dgramConnected(self).PEER_CONNECT, ...peerConnect],
    SEND: [...dgramConnected(self).SEND, ...streamSend],
    // A unix stream socket refuses an address; TCP ignores it.
    SENDTO: addressed(
      ...dgramSendto(self),
      {
        guard: "isUnix",
        ...reject("EISCONN", `${SENDTO_UNIX_STREAM} (it is connected)`),
      },
      ...streamSend,
    ),
    DISCONNECT: disconnectConnection,
    ...optionCalls(self, ...v6onlyOnConnection(self)),
    // What the runtime's non-blocking connect() saw of its attempt.
    SEEN_CONNECTED: {
      guard: and(["inProgress", "envUnseen"]),
      target: self,
      actions: "connectDone",
    },
    SEEN_CONNECT_FAILED: [
      {
        guard: and(["inProgress", "envUnseen", "bound", "callerPort"]),
        target: "bound",
        actions: ["disconnect", "markConnectFailed"],
      },
      {
        guard: and(["inProgress", "envUnseen"]),
        target: "created",
        actions: ["disconnect", "markConnectFailed"],
      },
    ],
    RECV: [
      ...dgramConnected(self).RECV,
      // TCP: a FIN received means end of stream, before a pending error.
      {
        guard: and([not("isUnix"), "finSeen"]),
        target: self,
        ...answer("ok:eof"),
      },
      ...pendingError(self),
      {
        guard: or(["shutRead", "linkDown"]),
        target: self,
        ...answer("ok:eof"),
      },
      // Unseen, whether data waits only the kernel knows.
      {
        guard: and(["nonblocking", not("envUnseen")]),
        target: self,
        ...answer("EAGAIN", "no data is waiting"),
      },
      { target: self },
    ],
    SHUTDOWN: [
      // A TCP socket whose connection is over is closed in the kernel.
      {
        guard: and([not("isUnix"), or(["linkGone", "seenOver"])]),
        target: self,
        actions: "markShut",
        ...answer("ENOTCONN", "the connection is over"),
      },
      ...shutdownFrom(self),
    ],
    CLOSE: "closed",
    GETSOCKNAME: self,
    POLL: self,
    GETPEERNAME: peerName(self),
    PEER_CLOSE: [
      ...dgramConnected(self).PEER_CLOSE,
      { guard: not("hasPeers"), target: self, ...answer("noop") },
      // A unix peer that closes with our data unread leaves ECONNRESET.
      {
        guard: and(["isUnix", "unread"]),
        target: self,
        actions: ["peerGone", "linkFin", "resetPending"],
        ...answer("ok"),
      },
      {
        guard: "isUnix",
        target: self,
        actions: ["peerGone", "linkFin"],
        ...answer("ok"),
      },
      {
        guard: "unread",
        target: self,
        actions: ["peerGone", "resetByPeer"],
        ...answer("ok"),
      },
      {
        guard: "linkFinSent",
        target: self,
        actions: ["peerGone", "linkOver"],
        ...answer("ok"),
      },
      { target: self, actions: ["peerGone", "linkFin"], ...answer("ok") },
    ],
    // The peer's end was torn down (a listener closed with the connection
    // still queued): a reset for TCP, a dead peer with ECONNRESET for unix.
    PEER_RESET: [
      // A datagram socket has no connection to reset.
      { guard: "isDgram", target: self, ...answer("noop") },
      {
        guard: "isUnix",
        target: self,
        actions: ["peerGone", "linkFin", "resetPending"],
        ...answer("ok"),
      },
      {
        target: self,
        actions: ["peerGone", "resetByPeer"],
        ...answer("ok"),
      },
    ],
  } as const;
}

/** The errnos a socket can have pending. */
const PENDING_ERRORS = ["ECONNRESET", "EPIPE", "ECONNREFUSED"] as const;

/**
 * A pending error is the answer to the next call that reads it, once; only a
 * call on a socket of the kinds `readers` names reads it.
 */
function pendingError<T extends string>(
  self: T,
  readers: "any" | "tcp" | "udp" | "dgram" = "any",
  also?: "clearShut" | "disconnect" | "autobindPort",
) {
  return PENDING_ERRORS.map((errno) => {
    const pending = { type: "errorIs", params: { errno } } as const;
    const guard = readers === "any"
      ? and([pending])
      : readers === "tcp"
      ? and([pending, not("isUnix"), not("isDgram")])
      : readers === "udp"
      ? and([pending, "isDgram", not("isUnix")])
      : and([pending, "isDgram"]);
    return {
      guard,
      target: self,
      actions: also ? ["takeError", also] as const : "takeError",
      ...answer(errno, "the socket had this error pending (SO_ERROR)"),
    } as const;
  });
}

/** shutdown() on a connection: a no-op for bits already set. */
function shutdownFrom(self: "connected" | "shutRd" | "shutWr" | "shutRdWr") {
  const start = {
    target: "shuttingDown",
    actions: ["markShut", "sendFin", "connectDone"],
  } as const;
  switch (self) {
    case "shutRd":
      return [{ guard: "howRead", target: self }, start] as const;
    case "shutWr":
      return [{ guard: "howWrite", target: self }, start] as const;
    case "shutRdWr":
      return [{ target: self }] as const;
    case "connected":
      return [start] as const;
  }
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

/** The most queued connections the facts count. */
const BACKLOG_CAP = 4;

/**
 * The socket machine. Internal: the public API is `socket()` and
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
    isInet6: ({ context }) => context.domain === "inet6",
    isDgram: ({ context }) => context.type === "dgram",
    /** The option a call names lives at `level`. */
    optionAt: ({ event }, { level }: { level: OptionLevel }) =>
      (event.type === "SETSOCKOPT" || event.type === "GETSOCKOPT") &&
      OPTION_LEVELS[event.option] === level,
    /** A setsockopt() turns a boolean option on. */
    turnsOn: ({ event }) => event.type === "SETSOCKOPT" && event.on === true,
    /** The call names `option`. */
    optionIs: ({ event }, { option }: { option: SocketOptionName }) =>
      (event.type === "SETSOCKOPT" || event.type === "GETSOCKOPT") &&
      event.option === option,
    nonblockingTcpConnect: ({ context, event }) =>
      event.type === "CONNECT" && event.nonblocking === true &&
      context.domain !== "unix" && context.type === "stream",
    inProgress: ({ context }) => context.inProgress,
    connectFailed: ({ context }) => context.connectFailed,
    envUnseen: ({ context }) => context.environment === "unseen",
    seenOver,
    listenStopped: ({ context }) => context.listenStopped,
    /** The kernel's profile says it does `behaviour`. */
    kernel: (
      { context },
      { behaviour }: { behaviour: KernelBehaviourName },
    ) => context.kernel[behaviour] === true,
    disconnecting: ({ context }) => context.disconnecting,
    hasDatagram: ({ context }) => context.datagrams > 0,
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
    hasPeers: ({ context }) => context.peers,
    named: ({ context }) => context.name !== "none",
    queued: ({ context }) => context.backlog > 0,
    errorIs: (
      { context },
      { errno }: { errno: (typeof PENDING_ERRORS)[number] },
    ) => context.error === errno,
    unread: ({ context }) => context.unread,
    linkFin: ({ context }) => context.link === "fin",
    linkDown: ({ context }) =>
      context.link !== "up" && context.link !== "finSent",
    linkFinSent: ({ context }) => context.link === "finSent",
    linkGone: ({ context }) =>
      context.link === "reset" || context.link === "finReset" ||
      context.link === "over",
    finSeen: ({ context }) =>
      context.link === "fin" || context.link === "finReset" ||
      context.link === "over",
    shutRead: ({ context }) => context.shut.read,
    shutWrite: ({ context }) => context.shut.write,
    howRead: ({ event }) => event.type === "SHUTDOWN" && event.how === "read",
    howWrite: ({ event }) => event.type === "SHUTDOWN" && event.how === "write",
    autobindAsked: ({ event }) =>
      event.type === "BIND" && event.port === "abstract",
    targetRefuses: ({ event }) =>
      event.type === "CONNECT" && event.target === "refused",
    targetLive: ({ event }) =>
      event.type === "CONNECT" && event.target === "live",
    nonblocking: ({ event }) =>
      (event.type === "ACCEPT" || event.type === "RECV") &&
      event.nonblocking === true,
  },
  actions: {
    markBound: assign({
      bound: true,
      name: ({ context }) =>
        context.portChosenBy === "path" || context.portChosenBy === "abstract"
          ? context.portChosenBy
          : "port",
    }),
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
      portChosenBy: ({ event }) =>
        event.type === "BIND" ? event.port : undefined,
    }),
    /** The kernel gave the socket a port of its own choosing. */
    autobind: assign({
      portChosenBy: ({ context }) =>
        context.domain === "unix" ? context.portChosenBy : (
          context.portChosenBy ?? "kernel"
        ),
      name: ({ context }) => context.domain === "unix" ? context.name : "port",
    }),
    /** A failed connect: Linux gives back a port it chose, keeps showing it. */
    releasePort: assign({
      bound: ({ context }) =>
        context.domain === "unix" ? context.bound : (
          context.portChosenBy === "caller" && context.bound
        ),
      portChosenBy: ({ context }) =>
        context.domain === "unix" || context.portChosenBy === "caller"
          ? context.portChosenBy
          : undefined,
    }),
    connectToPeer: assign({
      peer: true,
      // A datagram socket's target may have nothing behind it.
      peers: ({ context }) => context.peers || !context.targetGone,
      link: ({ context }) => context.targetGone ? "fin" : "up",
      unread: false,
    }),
    /** A datagram connect: whether the harness says the target refuses. */
    noteTarget: assign({
      targetGone: ({ context, event }) =>
        context.type === "dgram" && event.type === "CONNECT" &&
        event.target === "refused",
    }),
    dropPeer: assign({ peer: false, link: "up", targetGone: false }),
    /** UDP's disconnect gives back a port the kernel chose, name and all. */
    releaseDgramPort: assign({
      bound: false,
      portChosenBy: undefined,
      name: "none",
    }),
    /** TCP's disconnect resets a connection that is not over yet. */
    resetLiveConnection: assign({
      error: ({ context }) =>
        context.link === "up" || context.link === "finSent" ||
          context.link === "fin"
          ? "ECONNRESET"
          : context.error,
    }),
    /**
     * A listener stops listening (SHUT_RD, or disconnect): its queue goes,
     * and a port the kernel chose goes back.
     */
    stopListen: assign({
      backlog: 0,
      bound: ({ context }) =>
        context.portChosenBy === "caller" && context.bound,
      portChosenBy: ({ context }) =>
        context.portChosenBy === "caller" ? "caller" : undefined,
      shut: { read: false, write: false },
      listenStopped: keepsStoppedListen,
    }),
    markPeers: assign({ peers: true }),
    startedConnect: assign({ inProgress: true }),
    connectDone: assign({ inProgress: false }),
    markDisconnecting: assign({ disconnecting: true }),
    markConnectFailed: assign({ connectFailed: keepsFailedConnect }),
    /** The socket layer resets a TCP socket whose connection died. */
    disconnect: assign({
      connectFailed: keepsFailedConnect,
      peer: false,
      link: "up",
      unread: false,
      inProgress: false,
      shut: { read: false, write: false },
      bound: ({ context }) =>
        context.portChosenBy === "caller" && context.bound,
      portChosenBy: ({ context }) =>
        context.portChosenBy === "caller" ? "caller" : undefined,
    }),
    /**
     * The kernel binds an ephemeral port: for UDP sending without a peer,
     * and for a listen() that a kernel refuses after a failed connect().
     */
    autobindPort: assign({
      bound: true,
      name: "port",
      portChosenBy: ({ context }) => context.portChosenBy ?? "kernel",
    }),
    refusedLater: assign({ error: "ECONNREFUSED" }),
    queueDatagram: assign({
      datagrams: ({ context }) => Math.min(context.datagrams + 1, BACKLOG_CAP),
    }),
    takeDatagram: assign({
      datagrams: ({ context }) => Math.max(context.datagrams - 1, 0),
    }),
    queuePeer: assign({
      backlog: ({ context }) => Math.min(context.backlog + 1, BACKLOG_CAP),
      peers: true,
    }),
    takeQueued: assign({
      backlog: ({ context }) => Math.max(context.backlog - 1, 0),
    }),
    clearQueue: assign({ backlog: 0 }),
    markUnread: assign({ unread: true }),
    takeError: assign({ error: undefined }),
    /** SO_LINGER { onoff: true, linger: 0 } makes a TCP close() reset. */
    noteLinger: assign({
      lingerReset: ({ context, event }) =>
        event.type === "SETSOCKOPT" && event.option === "SO_LINGER"
          ? event.resets === true && context.domain !== "unix" &&
            context.type === "stream"
          : context.lingerReset,
    }),
    /** A TCP connect() starts afresh, with no error pending. */
    clearTcpError: assign({
      error: ({ context }) =>
        context.domain !== "unix" && context.type === "stream"
          ? undefined
          : context.error,
    }),
    clearShut: assign({ shut: { read: false, write: false } }),
    showPort: assign({
      name: ({ context }) => context.domain === "unix" ? context.name : "port",
    }),
    peerGone: assign({ peers: false }),
    linkFin: assign({ link: "fin" }),
    /** Both FINs: the connection is over; a port the kernel chose goes back. */
    linkOver: assign({
      link: "over",
      bound: ({ context }) =>
        context.portChosenBy === "caller" ? context.bound : false,
    }),
    /** The peer reset the connection: the kernel closes it. */
    resetByPeer: assign({
      link: ({ context }) => context.link === "fin" ? "finReset" : "reset",
      error: ({ context }) => context.link === "fin" ? "EPIPE" : "ECONNRESET",
      // TCP closes the socket: a port the kernel chose goes back.
      bound: ({ context }) =>
        context.domain === "unix" || context.portChosenBy === "caller"
          ? context.bound
          : false,
    }),
    resetPending: assign({ error: "ECONNRESET" }),
    /**
     * SHUT_WR on a TCP connection sends our FIN; after the peer's, the
     * connection is over, and a port the kernel chose goes back.
     */
    sendFin: assign(({ context, event }) => {
      if (
        context.domain === "unix" || context.type === "dgram" ||
        event.type !== "SHUTDOWN" || event.how === "read"
      ) {
        return {};
      }
      if (context.link === "up") return { link: "finSent" as const };
      if (context.link !== "fin") return {};
      return {
        link: "over" as const,
        bound: context.portChosenBy === "caller" ? context.bound : false,
      };
    }),
  },
}).createMachine({
  id: "socket",
  context: ({ input }) => ({
    domain: input.domain,
    type: input.type,
    bound: input.accepted === true,
    portChosenBy: undefined,
    name: input.accepted === true
      ? (input.domain === "unix" ? "path" : "port")
      : "none",
    shut: { read: false, write: false },
    peer: input.accepted === true,
    backlog: 0,
    link: "up",
    unread: false,
    peers: input.accepted === true,
    error: undefined,
    datagrams: 0,
    targetGone: false,
    inProgress: false,
    disconnecting: false,
    connectFailed: false,
    listenStopped: false,
    kernel: input.kernel ?? kernelProfile(DEFAULT_KERNEL).behaviour,
    environment: input.environment ?? "modelled",
    seen: "none",
    lingerReset: false,
  }),
  initial: "created",
  // The environment's events, where a state says nothing more specific.
  on: {
    PEER_CONNECT: peerConnect,
    SEEN_END: {
      // Once the read side is shut, a read that ends may have been ended by
      // that shutdown (Linux wakes a waiting recv() with 0), not by the
      // peer: it says nothing of the connection.
      actions: assign({
        seen: ({ context }) =>
          context.seen === "reset" || context.shut.read ? context.seen : "end",
      }),
    },
    SEEN_RESET: { actions: assign({ seen: "reset" }) },
    // Where no state says more, what a connect saw changes nothing.
    SEEN_CONNECTING: answer("noop"),
    SEEN_CONNECTED: answer("noop"),
    SEEN_CONNECT_FAILED: answer("noop"),
    INTERRUPT: answer("noop", "no call of the socket waits to be interrupted"),
    PEER_RESET: answer("noop", "the socket has no connection to reset"),
    PEER_CLOSE: [
      { guard: not("hasPeers"), ...answer("noop", "the socket has no peers") },
      { actions: "peerGone", ...answer("ok") },
    ],
  },
  states: {
    created: {
      // A socket born by accept() starts connected.
      always: { guard: "hasPeer", target: "connected" },
      on: {
        BIND: addressed(
          {
            guard: and([not("isUnix"), "named", "bound"]),
            ...reject("EINVAL", "the socket is already bound"),
          },
          { target: "binding", actions: "notePort" },
        ),
        LISTEN: [
          ...dgramUnconnected("created").LISTEN,
          {
            guard: "isUnix",
            ...reject(
              "EINVAL",
              "a unix socket must be bound before it can listen; call bind() first",
            ),
          },
          listenAfterFailedConnect("created"),
          // An unbound TCP socket listens on an ephemeral port (autobind).
          { target: "opening" },
        ],
        CONNECT: addressed(
          ...dgramUnconnected("created").CONNECT,
          ...connectAfterStoppedListen("created"),
          ...nonblockingConnectUnseen("created"),
          ...nonblockingConnect,
          // TCP starts afresh: a pending error goes (tcp_connect_init).
          { target: "connecting", actions: ["noteTarget", "clearTcpError"] },
        ),
        ACCEPT: [
          ...dgramUnconnected("created").ACCEPT,
          reject("EINVAL", NOT_LISTENING),
        ],
        ...unconnectedDataCalls("created"),
        SENDTO: unconnectedSendto(
          "created",
          ...unconnectedDataCalls("created").SEND,
        ),
        DISCONNECT: unconnectedDisconnect("created"),
        ...seenConnectFrom(),
        ...optionCalls("created", ...v6onlyIfBound),
        SHUTDOWN: unconnectedShutdown("created"),
        CLOSE: "closed",
        GETSOCKNAME: "created",
        POLL: "created",
      },
    },
    binding: {
      invoke: {
        src: "bind",
        input: ({ context, event }) => {
          const io = ioOf(event, "BIND");
          return io && { ...io, connectionOver: seenOver({ context }) };
        },
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
      on: inFlight("binding", "bind"),
    },
    bound: {
      on: {
        BIND: bindRules(
          "bound",
          reject("EINVAL", "the socket is already bound"),
        ),
        LISTEN: [
          ...dgramUnconnected("bound").LISTEN,
          listenAfterFailedConnect("bound"),
          { target: "opening" },
        ],
        CONNECT: addressed(
          ...dgramUnconnected("bound").CONNECT,
          ...connectAfterStoppedListen("bound"),
          ...nonblockingConnectUnseen("bound"),
          ...nonblockingConnect,
          // TCP starts afresh: a pending error goes (tcp_connect_init).
          { target: "connecting", actions: ["noteTarget", "clearTcpError"] },
        ),
        ACCEPT: [
          ...dgramUnconnected("bound").ACCEPT,
          reject("EINVAL", NOT_LISTENING),
        ],
        PEER_CONNECT: [
          ...dgramUnconnected("bound").PEER_CONNECT,
          ...peerConnect,
        ],
        ...unconnectedDataCalls("bound"),
        SENDTO: unconnectedSendto(
          "bound",
          ...unconnectedDataCalls("bound").SEND,
        ),
        DISCONNECT: unconnectedDisconnect("bound"),
        ...seenConnectFrom(),
        ...optionCalls("bound", ...v6onlyHeld),
        SHUTDOWN: unconnectedShutdown("bound"),
        CLOSE: "closed",
        GETSOCKNAME: "bound",
        POLL: "bound",
      },
    },
    opening: {
      invoke: {
        src: "listen",
        input: ({ event }) => ioOf(event, "LISTEN"),
        onDone: {
          target: "listening",
          actions: ["autobind", assign({ listenStopped: false })],
        },
        onError: [
          { guard: "bound", target: "bound" },
          { target: "created", actions: assign({ portChosenBy: undefined }) },
        ],
      },
      on: inFlight("opening", "listen"),
    },
    listening: {
      on: {
        BIND: bindRules(
          "listening",
          reject("EINVAL", "the socket is already bound"),
        ),
        // Linux accepts listen() again and applies the new backlog.
        LISTEN: "opening",
        CONNECT: connectRules(
          "listening",
          {
            guard: "isUnix",
            ...reject("EINVAL", "a listening unix socket cannot connect"),
          },
          reject(
            "EISCONN",
            "a listening socket cannot connect (Linux returns EISCONN for TCP)",
          ),
        ),
        ACCEPT: [
          { guard: "queued", target: "listening", actions: "takeQueued" },
          {
            // Unseen, whether a connection is queued only the kernel knows.
            guard: and(["nonblocking", not("envUnseen")]),
            target: "listening",
            ...answer("EAGAIN", "no connection is queued"),
          },
          { target: "listening" },
        ],
        ...unconnectedDataCalls("listening"),
        // A listener refuses to read before it looks at the shutdown bits.
        RECV: [
          { guard: "isUnix", ...reject("EINVAL", NOT_CONNECTED) },
          reject("ENOTCONN", "a listening socket has no connection to read"),
        ],
        SHUTDOWN: [
          // Linux sets the bits of a unix listener; it goes on listening.
          { guard: "isUnix", target: "listening", actions: "markShut" },
          // SHUT_WR has no effect on a TCP listener and returns 0.
          { guard: "howWrite", target: "listening" },
          // SHUT_RD and SHUT_RDWR stop a TCP listener.
          { target: "shuttingDown", actions: "markShut" },
        ],
        SENDTO: unconnectedSendto(
          "listening",
          ...unconnectedDataCalls("listening").SEND,
        ),
        // TCP's disconnect stops a listener, as SHUT_RD does.
        DISCONNECT: [
          UNIX_STREAM_DISCONNECT,
          { guard: "callerPort", target: "bound", actions: "stopListen" },
          { target: "created", actions: "stopListen" },
        ],
        ...optionCalls("listening", ...v6onlyHeld),
        CLOSE: "closed",
        GETSOCKNAME: "listening",
        POLL: "listening",
        PEER_CONNECT: [
          // A unix listener shut for reading refuses new connections.
          {
            guard: and(["isUnix", "shutRead"]),
            ...answer("ECONNREFUSED", "the listener was shut for reading"),
          },
          { actions: "queuePeer", ...answer("ok") },
        ],
      },
    },
    connecting: {
      invoke: {
        src: "connect",
        input: ({ event }) => ioOf(event, "CONNECT"),
        onDone: {
          target: "connected",
          actions: ["connectToPeer", "autobind"],
        },
        // A failed TCP connect gives back a port the kernel chose, but
        // getsockname() goes on showing it.
        onError: [
          { guard: and(["isUnix", "bound"]), target: "bound" },
          { guard: "isUnix", target: "created" },
          {
            guard: and(["bound", "callerPort"]),
            target: "bound",
            actions: ["showPort", "clearShut", "markConnectFailed"],
          },
          {
            target: "created",
            actions: [
              "showPort",
              "releasePort",
              "clearShut",
              "markConnectFailed",
            ],
          },
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
        // A second connect() waits, as Linux's blocking connect(2) does
        // (EALREADY is the answer of one that cannot wait): a TCP one for
        // the attempt, whose outcome it shares; a datagram or unix one for
        // the call, and the state it leaves answers.
        CONNECT: addressed(
          { guard: or(["isDgram", "isUnix"]), ...waitFor("connect") },
          joinsAttempt(),
        ),
        ACCEPT: reject("EINVAL", `${NOT_LISTENING} (it is connecting)`),
        // A blocking send or recv waits for the connection, as in the
        // kernel.
        SEND: waitFor("connect"),
        SENDTO: addressed(waitFor("connect")),
        RECV: waitFor("connect"),
        // shutdown() and connect(AF_UNSPEC) of a TCP socket whose attempt is
        // in flight disconnect it at once (tcp_disconnect() of SYN_SENT) and
        // answer 0; the waiting connect() fails (ECONNRESET after shutdown,
        // EPIPE after the disconnect, which leaves ECONNRESET pending), and
        // the socket settles as after a failed connect. A unix stream
        // socket's shutdown() and a datagram socket's calls wait for the
        // connect; connect(AF_UNSPEC) of a unix stream socket is EINVAL at
        // once, as anywhere.
        SHUTDOWN: [
          {
            guard: and([not("isUnix"), not("isDgram")]),
            target: "connecting",
            ...stopsCall(
              "ECONNRESET",
              "shutdown() of a TCP socket whose connect() is in flight disconnects it, as Linux does: the attempt fails with ECONNRESET",
            ),
          },
          waitFor("connect"),
        ],
        DISCONNECT: [
          // Linux checks a unix stream socket's address family first.
          UNIX_STREAM_DISCONNECT,
          {
            guard: and([not("isUnix"), not("isDgram")]),
            target: "connecting",
            actions: "resetPending",
            ...stopsCall(
              "EPIPE",
              "connect(AF_UNSPEC) of a TCP socket whose connect() is in flight disconnects it, as Linux does: the attempt fails with EPIPE, and ECONNRESET is left pending (SO_ERROR)",
            ),
          },
          waitFor("connect"),
        ],
        ...optionCalls("connecting", ...v6onlyHeld),
        CLOSE: "closed",
        GETSOCKNAME: "connecting",
        POLL: "connecting",
        GETPEERNAME: reject(
          "ENOTCONN",
          "the socket has no peer yet; await connect() first",
        ),
        // A signal interrupts the connect() that waits (EINTR): a unix one
        // (waiting on a full backlog) gives up, and the socket is
        // unconnected (unix_stream_connect()); a TCP attempt goes on
        // (inet_stream_connect() leaves SYN_SENT), as a non-blocking one.
        INTERRUPT: [
          {
            guard: "isUnix",
            ...stopsCall(
              "EINTR",
              "the attempt stopped, and the socket is unconnected, as Linux leaves it after an interrupted unix connect(); connect() again",
            ),
          },
          answer(
            "noop",
            'the attempt goes on, as after an interrupted connect(2): the socket stays "connecting" until it ends; connect() again to wait for it, or close() the socket to end it',
          ),
        ],
      },
    },
    connectRefused: {
      on: {
        BIND: addressed(
          {
            guard: "bound",
            ...reject("EINVAL", "the socket is already bound"),
          },
          // The refusal gave the port back; the attempt is still in progress.
          {
            target: "connectRefused",
            actions: ["notePort", "markBound"],
            ...answer("ok"),
          },
        ),
        LISTEN: reject("EINVAL", CONNECT_FAILED),
        CONNECT: addressed(
          {
            guard: "disconnecting",
            ...reject("EINVAL", "shutdown() ended the connection attempt"),
          },
          // connect() reports the failure and resets the socket.
          ...pendingError("created", "any", "clearShut"),
          {
            target: "created",
            actions: "clearShut",
            ...answer("ECONNABORTED", "the connection attempt was aborted"),
          },
        ),
        ACCEPT: reject("EINVAL", NOT_LISTENING),
        SEND: [
          ...pendingError("connectRefused"),
          reject("EPIPE", CONNECT_FAILED),
        ],
        SENDTO: addressed(
          ...pendingError("connectRefused"),
          reject("EPIPE", CONNECT_FAILED),
        ),
        DISCONNECT: [
          {
            guard: "bound",
            target: "bound",
            actions: ["clearShut", assign({ disconnecting: false })],
          },
          {
            target: "created",
            actions: ["clearShut", assign({ disconnecting: false })],
          },
        ],
        ...optionCalls("connectRefused", ...v6onlyIfBound),
        RECV: [
          ...pendingError("connectRefused"),
          { target: "connectRefused", ...answer("ok:eof") },
        ],
        SHUTDOWN: {
          target: "connectRefused",
          actions: ["markShut", "markDisconnecting"],
          ...answer("ENOTCONN", CONNECT_FAILED),
        },
        CLOSE: "closed",
        GETSOCKNAME: "connectRefused",
        POLL: "connectRefused",
        GETPEERNAME: reject("ENOTCONN", CONNECT_FAILED),
      },
    },
    connected: { on: connectedCalls("connected") },
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
            actions: [
              "clearQueue",
              assign({
                shut: { read: false, write: false },
                listenStopped: keepsStoppedListen,
              }),
            ],
          },
          {
            guard: not("hasPeer"),
            target: "created",
            actions: [
              "clearQueue",
              assign({
                bound: false,
                portChosenBy: undefined,
                shut: { read: false, write: false },
                listenStopped: keepsStoppedListen,
              }),
            ],
          },
          ...backToConnection(),
        ],
        onError: [
          { guard: not("hasPeer"), target: "listening" },
          ...backToConnection(),
        ],
      },
      on: inFlight("shuttingDown", "shutdown"),
    },
    shutRd: { on: connectedCalls("shutRd") },
    shutWr: { on: connectedCalls("shutWr") },
    shutRdWr: { on: connectedCalls("shutRdWr") },
    closed: {
      on: {
        ...everyCall(reject("EBADF", CLOSED)),
        // The descriptor is gone, and with it its address and its peers.
        PEER_CONNECT: answer("noop", "the socket is closed: it has no address"),
        PEER_RESET: answer("noop", "the socket is closed"),
        PEER_CLOSE: answer("noop", "the socket is closed: it has no peers"),
        SEEN_END: answer("noop", "the socket is closed"),
        SEEN_RESET: answer("noop", "the socket is closed"),
        SEEN_CONNECTING: answer("noop", "the socket is closed"),
        SEEN_CONNECTED: answer("noop", "the socket is closed"),
        SEEN_CONNECT_FAILED: answer("noop", "the socket is closed"),
        INTERRUPT: answer("noop", "the socket is closed"),
      },
    },
  },
});

/** The socket machine's type. */
export type SocketMachine = typeof socketMachine;

/** A snapshot of the socket machine. */
export type SocketSnapshot = SnapshotFrom<SocketMachine>;
