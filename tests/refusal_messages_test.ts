// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Every reason the machine gives for an errno is listed here with its text,
 * so that a change to any of them is deliberate. The reasons are the `why`
 * of each `reject(errno, why)` (a refused call) and of each errno the
 * machine answers from the facts (`answer(errno, why)`); a `SocketError`'s
 * message ends with it.
 *
 * Two lists: the reasons a walk of the machine meets the way `explore()`
 * walks it (every snapshot `predict()`'s ops reach, for every socket kind,
 * mode and kernel profile), and the reasons the machine defines that the
 * walk does not meet (payloads `predict()`'s ops never carry, such as an
 * address of another family). When either list is stale, the failure
 * prints what changed and the list to paste.
 */
import assert from "node:assert/strict";
import { isErrno, kernelProfiles, OPS } from "../mod.ts";
import type { SocketNode } from "../machine/graph.ts";
import {
  eventOf,
  modelGraph,
  modelStart,
  predictStep,
} from "../machine/predict.ts";
import { socketMachine } from "../machine/socket_machine.ts";
import { DOMAINS, TYPES } from "./_net.ts";

/** The reasons a walk of every snapshot `predict()`'s ops reach meets. */
const REACHED: readonly string[] = [
  "EAGAIN: no connection is queued",
  "EAGAIN: no data is waiting",
  "EAGAIN: no datagram is waiting",
  "EBADF: the socket is closed; create a new one with socket()",
  "ECONNABORTED: the connection attempt was aborted",
  "ECONNABORTED: the connection was reset",
  "ECONNREFUSED: nothing is bound at the target",
  "ECONNREFUSED: nothing listens at the socket's address",
  "ECONNREFUSED: nothing listens at the target",
  "ECONNREFUSED: the listener was shut for reading",
  "ECONNREFUSED: the peer has closed",
  "ECONNREFUSED: the socket had this error pending (SO_ERROR)",
  "ECONNRESET: the socket had this error pending (SO_ERROR)",
  "EDESTADDRREQ: a datagram socket needs a peer: call connect() first",
  "EINPROGRESS: the connection is being established",
  "EINVAL: IPV6_V6ONLY can be set only while the socket has no port (Linux answers EINVAL once it is bound); set it right after socket()",
  'EINVAL: a connect() of this TCP socket failed, and on this kernel such a socket never listens (kernel behaviour "failedConnectForbidsListen"); create a new socket with socket()',
  "EINVAL: a listening unix socket cannot connect",
  "EINVAL: a unix socket must be bound before it can listen; call bind() first",
  "EINVAL: a unix stream socket takes only a unix address in connect(); it cannot dissolve its connection (close it)",
  "EINVAL: shutdown() ended the connection attempt",
  'EINVAL: shutdown() stopped this TCP socket\'s listening, and on this kernel it connects only after it listens again (kernel behaviour "stoppedListenForbidsConnect"); call listen() first, or create a new socket with socket()',
  "EINVAL: the non-blocking connect failed; the next connect() reports it",
  "EINVAL: the socket already has an address",
  "EINVAL: the socket is already bound",
  "EINVAL: the socket is already bound (connect() bound it)",
  "EINVAL: the socket is connected; only a socket that is not connected can listen",
  "EINVAL: the socket is not connected; call connect() first",
  "EINVAL: the socket is not connected; call connect() first (Linux returns EINVAL for unix stream sockets where POSIX specifies ENOTCONN)",
  "EINVAL: the socket is not listening; call listen() first",
  "EINVAL: the socket is not listening; call listen() first (it is connected)",
  "EISCONN: a listening socket cannot connect (Linux returns EISCONN for TCP)",
  "EISCONN: a unix stream socket sends only to its peer; use send(), or a datagram socket for sendto() (it is connected)",
  "EISCONN: the socket is already connected",
  "ENOPROTOOPT: IPv6 options such as IPV6_V6ONLY apply to inet6 sockets; this one is inet",
  "ENOPROTOOPT: TCP options such as TCP_NODELAY apply to TCP sockets, not to UDP ones",
  "ENOTCONN: a datagram socket needs a peer: call connect() first",
  "ENOTCONN: a listening socket has no connection to read",
  "ENOTCONN: the connection is over",
  "ENOTCONN: the non-blocking connect failed; the next connect() reports it",
  "ENOTCONN: the socket has no peer; it is not connected",
  "ENOTCONN: the socket is not connected; call connect() first",
  "EOPNOTSUPP: IPv6 options such as IPV6_V6ONLY apply to inet6 sockets; a unix socket has none",
  "EOPNOTSUPP: TCP options such as TCP_NODELAY apply to TCP sockets; a unix socket has none",
  "EOPNOTSUPP: a datagram socket has no connections to listen for or accept",
  "EOPNOTSUPP: a unix stream socket sends only to its peer; use send(), or a datagram socket for sendto() (it is not connected)",
  "EPERM: the socket is connected to another peer",
  "EPIPE: the connection is over",
  "EPIPE: the non-blocking connect failed; the next connect() reports it",
  "EPIPE: the peer has closed",
  "EPIPE: the socket had this error pending (SO_ERROR)",
  "EPIPE: the socket is not connected; call connect() first (Linux returns EPIPE for TCP where POSIX specifies ENOTCONN)",
  "EPIPE: the socket was shut for reading",
  "EPIPE: the write side was shut down with shutdown(); nothing more can be sent",
];

/** The reasons the machine defines that the walk does not meet. */
const UNREACHED: readonly string[] = [
  "EAFNOSUPPORT: the address is of another family than the socket; use an address of the socket's domain",
  "EINVAL: a unix socket takes a { path } address",
  "EINVAL: an inet6 socket takes an IPv6 address (Linux finds an IPv4 address too short for it)",
  "EINVAL: the socket is connecting, so it is bound",
  "EINVAL: the socket is connecting; only a socket that is not connected can listen",
  "EINVAL: the socket is not listening; call listen() first (it is connecting)",
  "ENOTCONN: the connection is over (this socket saw both FINs, or a reset)",
  "ENOTCONN: the socket has no peer yet; await connect() first",
  "EOPNOTSUPP: SO_REUSEPORT shares a port between inet sockets; a unix socket has no port",
  "EOPNOTSUPP: TCP and IPv6 options apply to TCP and inet6 sockets; a unix socket has none",
  "EOPNOTSUPP: the option is not one of this inet socket's protocols (Linux's IPv4 layer answers EOPNOTSUPP to getsockopt)",
];

/** One reason as the lists write it. */
function line(errno: string, why: string | undefined): string {
  return `${errno}: ${why ?? "(no reason given)"}`;
}

/**
 * Every reason met on the way, walking every snapshot `predict()`'s ops
 * reach from a fresh socket, as `explore()` does, with no depth bound.
 */
function reachedReasons(): ReadonlySet<string> {
  return reached ??= walkReasons();
}

let reached: ReadonlySet<string> | undefined;

function walkReasons(): Set<string> {
  const graph = modelGraph();
  const found = new Set<string>();
  for (const { name: kernel } of kernelProfiles()) {
    for (const domain of DOMAINS) {
      for (const type of TYPES) {
        for (const nonblocking of [false, true]) {
          const start = modelStart(domain, type, kernel);
          const seen = new Set<SocketNode>([start]);
          const queue = [start];
          for (let i = 0; i < queue.length; i++) {
            const node = queue[i];
            for (const op of OPS) {
              const step = graph.step(node, eventOf(op, domain, nonblocking));
              if (!step.allowed && !step.waits) {
                found.add(line(step.errno, step.why));
              } else if (
                step.allowed && step.outcome !== undefined &&
                isErrno(step.outcome)
              ) {
                found.add(line(step.outcome, step.why));
              }
              const { node: next } = predictStep(node, op, nonblocking);
              if (!seen.has(next)) {
                seen.add(next);
                queue.push(next);
              }
            }
          }
        }
      }
    }
  }
  return found;
}

/** Every reason the machine's transitions carry, reached or not. */
function definedReasons(): Set<string> {
  const found = new Set<string>();
  for (const state of Object.values(socketMachine.root.states)) {
    for (const transitions of state.transitions.values()) {
      for (const { meta } of transitions) {
        if (meta?.errno !== undefined) found.add(line(meta.errno, meta.why));
        if (meta?.outcome !== undefined && isErrno(meta.outcome)) {
          found.add(line(meta.outcome, meta.why));
        }
      }
    }
  }
  return found;
}

/** Fails with the difference and the list to paste when they differ. */
function assertList(
  name: string,
  found: ReadonlySet<string>,
  listed: readonly string[],
): void {
  const actual = [...found].sort();
  const added = actual.filter((reason) => !listed.includes(reason));
  const gone = listed.filter((reason) => !found.has(reason));
  if (added.length === 0 && gone.length === 0) {
    assert.deepEqual(listed, actual, `${name} is not sorted`);
    return;
  }
  assert.fail(
    [
      `${name} is stale: ${added.length} reason(s) new in the machine, ${gone.length} gone.`,
      ...added.map((reason) => `  + ${reason}`),
      ...gone.map((reason) => `  - ${reason}`),
      `If the change is deliberate, make ${name} in tests/refusal_messages_test.ts:`,
      `const ${name}: readonly string[] = ${JSON.stringify(actual, null, 2)};`,
    ].join("\n"),
  );
}

Deno.test("every reason the machine gives for an errno on the way explore() walks is listed with its text", () => {
  const reached = reachedReasons();
  assertList("REACHED", reached, REACHED);
  for (const reason of reached) {
    // Each says what is wrong, in words: no empty or missing reason.
    assert.match(reason, /^E[A-Z]+: [A-Za-z].{8,}[^.]$/, reason);
  }
});

Deno.test("every reason the machine defines for an errno is listed, the ones explore() never meets apart", () => {
  const defined = definedReasons();
  const reached = reachedReasons();
  for (const reason of reached) assert.ok(defined.has(reason), reason);
  assertList(
    "UNREACHED",
    new Set([...defined].filter((reason) => !reached.has(reason))),
    UNREACHED,
  );
});
