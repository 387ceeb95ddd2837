// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The procedures across two hosts: `srvr` and `clnt` are `processPco()`s
 * run by `ip netns exec` in two network namespaces the test makes, joined
 * by a veth link and nothing else (see `_hosts.ts`). Each socket is made in
 * its namespace, the addresses each side sees are the link's, data crosses
 * the link both ways, and the kernel's socket tables show the sockets in
 * the namespaces and none in the test's own. One agent per namespace
 * serves every case; the agents are closed and the namespaces deleted
 * whatever happens.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  dgramConnection,
  type InetAddr,
  type ProcessPco,
  processPco,
  type Socket,
  SocketError,
  streamConnection,
} from "../mod.ts";
import {
  ESTABLISHED,
  type Host,
  hostsUnavailable,
  LINK_DEVICE,
  links,
  netnsNames,
  routes,
  runsIn,
  type SocketTable,
  socketTable,
  type TableEntry,
  twoHosts,
} from "./_hosts.ts";
import { within } from "./_net.ts";

const unavailable = await hostsUnavailable();
const BACKENDS: readonly Backend[] = ["deno", "posix"];
const FAMILIES = ["inet", "inet6"] as const;
type Family = typeof FAMILIES[number];
const NAMES: Readonly<Record<Family, string>> = { inet: "IPv4", inet6: "IPv6" };
/** Addresses of no link of the hosts (private, and never reached). */
const OFF_LINK: Readonly<Record<Family, string>> = {
  inet: "10.253.0.1",
  inet6: "fd00:5e::1",
};

/** How long an agent may take to start (it compiles sockfsm first). */
const START_MS = 60_000;
/** How long a procedure, or a transfer, may take across the link. */
const STEP_MS = 10_000;
/** How many bytes go each way on a stream. */
const STREAM_BYTES = 6 * 1024;

/** Starts the agent of `host` in its namespace; `name` names it in errors. */
function agentIn(host: Host, name: string): Promise<ProcessPco> {
  return processPco({
    command: ["ip", "netns", "exec", host.netns],
    name,
    startTimeout: START_MS,
  });
}

/**
 * Starts an agent in each host at once (a start may take seconds)
 * and hands both to `stack`, so that both are closed even when only one
 * started.
 */
async function agents(
  stack: AsyncDisposableStack,
  h1: Host,
  h2: Host,
): Promise<[ProcessPco, ProcessPco]> {
  const started = await Promise.allSettled([
    agentIn(h1, "h1"),
    agentIn(h2, "h2"),
  ]);
  for (const one of started) {
    if (one.status === "fulfilled") stack.use(one.value);
  }
  const [srvr, clnt] = started;
  if (srvr.status === "rejected") throw srvr.reason;
  if (clnt.status === "rejected") throw clnt.reason;
  return [srvr.value, clnt.value];
}

/** `count` random bytes. */
function randomBytes(count: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(count));
}

/** Receives exactly `count` bytes; fails at end of stream before them. */
async function recvExactly(sock: Socket, count: number): Promise<Uint8Array> {
  const all = new Uint8Array(count);
  let at = 0;
  while (at < count) {
    const chunk = await sock.recv(count - at);
    assert.notEqual(chunk.length, 0, `end of stream after ${at} of ${count}`);
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

/** The table of `family` for `type`. */
function tableOf(type: "stream" | "dgram", family: Family): SocketTable {
  return `${type === "stream" ? "tcp" : "udp"}${family === "inet6" ? "6" : ""}`;
}

/** Whether `entry` is the socket at `local`, connected to `remote` if given. */
function isSocket(
  entry: TableEntry,
  local: InetAddr,
  remote?: InetAddr,
): boolean {
  return sameAddr(entry.local, local) &&
    (remote === undefined ||
      (sameAddr(entry.remote, remote) && entry.state === ESTABLISHED));
}

function sameAddr(a: InetAddr, b: InetAddr): boolean {
  return a.hostname === b.hostname && a.port === b.port;
}

/**
 * Asserts where the sockets of a pair are: the client's socket at `clnt`
 * (connected to `srvr` if `clntConnected`) in the namespace of the client's
 * agent, the server's socket at `srvr` (connected to `clnt` if
 * `srvrConnected`) in the server's, and no
 * socket with an address of the link (`link`) in the test's own namespace.
 * The tables are read from namespace `via`.
 */
async function assertWhere(
  table: SocketTable,
  via: string,
  agents: { srvr: ProcessPco; clnt: ProcessPco },
  addrs: {
    srvr: InetAddr;
    clnt: InetAddr;
    srvrConnected: boolean;
    clntConnected: boolean;
  },
  link: readonly string[],
): Promise<void> {
  const [inSrvr, inClnt, here] = await Promise.all([
    socketTable(via, table, agents.srvr.pid),
    socketTable(via, table, agents.clnt.pid),
    socketTable(via, table, Deno.pid),
  ]);
  assert.ok(
    inClnt.some((entry) =>
      isSocket(entry, addrs.clnt, addrs.clntConnected ? addrs.srvr : undefined)
    ),
    `no ${table} socket ${
      JSON.stringify(addrs.clnt)
    } in the client's namespace: ${JSON.stringify(inClnt)}`,
  );
  assert.ok(
    inSrvr.some((entry) =>
      isSocket(entry, addrs.srvr, addrs.srvrConnected ? addrs.clnt : undefined)
    ),
    `no ${table} socket ${
      JSON.stringify(addrs.srvr)
    } in the server's namespace: ${JSON.stringify(inSrvr)}`,
  );
  const leaked = here.filter((entry) =>
    link.includes(entry.local.hostname) || link.includes(entry.remote.hostname)
  );
  assert.deepEqual(
    leaked,
    [],
    `${table} sockets of the link in this namespace`,
  );
}

Deno.test({
  name: unavailable === undefined
    ? "streamConnection() and dgramConnection() with srvr and clnt as processPco()s in two network namespaces joined by a veth link see the link's addresses, carry data both ways, keep every socket in the namespaces, and leave nothing behind"
    : `streamConnection() and dgramConnection() across two network namespaces (ignored: ${unavailable})`,
  ignore: unavailable !== undefined,
  async fn(t) {
    let made: string[] = [];
    {
      // Disposed in reverse: the agents first, then the namespaces.
      await using hosts = await twoHosts();
      const { h1, h2 } = hosts;
      made = [h1.netns, h2.netns];
      await using stack = new AsyncDisposableStack();
      const [srvr, clnt] = await agents(stack, h1, h2);
      const agentsOf = { srvr, clnt };
      const link = [h1.addr.inet, h1.addr.inet6, h2.addr.inet, h2.addr.inet6];

      await t.step(
        "each agent runs in its namespace, which has lo and the link only, and no route but the link's",
        async () => {
          assert.equal(
            await runsIn(srvr.pid, h1.netns),
            true,
            "srvr not in h1",
          );
          assert.equal(
            await runsIn(clnt.pid, h2.netns),
            true,
            "clnt not in h2",
          );
          for (const host of [h1, h2]) {
            assert.deepEqual(await links(host.netns), [LINK_DEVICE, "lo"]);
            const v4 = await routes(host.netns, "inet");
            assert.deepEqual(
              v4.map(({ dst, dev, gateway }) => ({ dst, dev, gateway })),
              [{
                dst: hosts.subnet.inet,
                dev: LINK_DEVICE,
                gateway: undefined,
              }],
              `${host.netns}: ${JSON.stringify(v4)}`,
            );
            const v6 = await routes(host.netns, "inet6");
            // The link's ULA subnet, and its link-local one: on the link too.
            assert.deepEqual(
              v6.map(({ dst, dev, gateway }) => ({ dst, dev, gateway })).sort(
                (a, b) => a.dst.localeCompare(b.dst),
              ),
              [
                { dst: hosts.subnet.inet6, dev: LINK_DEVICE },
                { dst: "fe80::/64", dev: LINK_DEVICE },
              ].map((route) => ({ ...route, gateway: undefined })),
              `${host.netns}: ${JSON.stringify(v6)}`,
            );
          }
        },
      );

      for (const family of FAMILIES) {
        for (const backend of BACKENDS) {
          await t.step(
            `streamConnection() over ${
              NAMES[family]
            } (${backend}): the accepted socket is at the server's link address, its peer is the client's, and ${STREAM_BYTES} bytes cross each way intact`,
            async () => {
              using pair = await within(
                STEP_MS,
                streamConnection({
                  srvrAddr: { hostname: h1.addr[family], port: 0 },
                  srvr,
                  clnt,
                  backend,
                }),
                "streamConnection()",
              );
              const { srvrS, clntS } = pair;
              assert.equal(srvrS.domain, family);
              assert.equal(srvrS.backend, backend);
              assert.equal(clntS.backend, backend);
              assert.ok(pair.srvrAddr.port > 0);
              assert.deepEqual(srvrS.getsockname(), pair.srvrAddr);
              assert.equal(srvrS.getsockname().hostname, h1.addr[family]);
              assert.equal(srvrS.getpeername().hostname, h2.addr[family]);
              assert.deepEqual(srvrS.getpeername(), clntS.getsockname());
              assert.deepEqual(clntS.getpeername(), srvrS.getsockname());

              const up = randomBytes(STREAM_BYTES);
              const down = randomBytes(STREAM_BYTES);
              const [sentUp, sentDown, atSrvr, atClnt] = await within(
                STEP_MS,
                Promise.all([
                  clntS.send(up),
                  srvrS.send(down),
                  recvExactly(srvrS, up.length),
                  recvExactly(clntS, down.length),
                ]),
                "the transfer both ways",
              );
              assert.equal(sentUp, up.length);
              assert.equal(sentDown, down.length);
              assert.deepEqual(atSrvr, up);
              assert.deepEqual(atClnt, down);

              await assertWhere(
                tableOf("stream", family),
                h1.netns,
                agentsOf,
                {
                  srvr: srvrS.getsockname(),
                  clnt: clntS.getsockname(),
                  srvrConnected: true,
                  clntConnected: true,
                },
                link,
              );
            },
          );
        }
      }

      for (const family of FAMILIES) {
        for (const backend of BACKENDS) {
          await t.step(
            `dgramConnection() over ${
              NAMES[family]
            } (${backend}): recvfrom() on each side gives the other's link address, and the datagrams cross intact`,
            async () => {
              using pair = await within(
                STEP_MS,
                dgramConnection({
                  srvrAddr: { hostname: h1.addr[family], port: 0 },
                  clntAddr: { hostname: h2.addr[family], port: 0 },
                  // The server answers whoever sent, at the address it saw.
                  srvrConnect: false,
                  srvr,
                  clnt,
                  backend,
                }),
                "dgramConnection()",
              );
              const { srvrS, clntS, srvrAddr, clntAddr } = pair;
              assert.equal(srvrS.backend, backend);
              assert.equal(srvrAddr.hostname, h1.addr[family]);
              assert.ok(srvrAddr.port > 0);
              assert.equal(clntAddr.hostname, h2.addr[family]);
              assert.ok(clntAddr.port > 0);
              assert.deepEqual(srvrS.getsockname(), srvrAddr);
              assert.deepEqual(clntS.getsockname(), clntAddr);
              assert.deepEqual(clntS.getpeername(), srvrAddr);

              const ping = randomBytes(1200);
              await within(STEP_MS, clntS.send(ping), "the client's send()");
              const got = await within(
                STEP_MS,
                srvrS.recvfrom(),
                "the server's recvfrom()",
              );
              assert.deepEqual(got.data, ping);
              assert.deepEqual(got.addr, clntAddr);

              const pong = randomBytes(1200);
              await within(
                STEP_MS,
                srvrS.sendto(pong, got.addr!),
                "the server's sendto()",
              );
              const back = await within(
                STEP_MS,
                clntS.recvfrom(),
                "the client's recvfrom()",
              );
              assert.deepEqual(back.data, pong);
              assert.deepEqual(back.addr, srvrAddr);

              await assertWhere(
                tableOf("dgram", family),
                h1.netns,
                agentsOf,
                {
                  srvr: srvrAddr,
                  clnt: clntAddr,
                  srvrConnected: false,
                  // The deno backend's UDP connect() records the peer and
                  // leaves the kernel's socket unconnected (see README).
                  clntConnected: backend === "posix",
                },
                link,
              );
            },
          );
        }
      }

      for (const family of FAMILIES) {
        for (const backend of BACKENDS) {
          await t.step(
            `connect() from h2 over ${
              NAMES[family]
            } (${backend}) to an address off the link rejects ENETUNREACH naming the PCO: there is no route out`,
            async () => {
              const sock = await within(
                STEP_MS,
                clnt.socket({ domain: family, backend }),
                "socket() in h2",
              );
              try {
                // Refused by the routing table: no packet is ever sent.
                await within(
                  STEP_MS,
                  assert.rejects(
                    sock.connect({ hostname: OFF_LINK[family], port: 9 }),
                    (error) =>
                      error instanceof SocketError &&
                      error.code === "ENETUNREACH" && error.op === "connect" &&
                      error.pco === "h2",
                  ),
                  "a connect() without a route",
                );
              } finally {
                sock.close();
              }
            },
          );
        }
      }
    }
    const left = (await netnsNames()).filter((name) => made.includes(name));
    assert.deepEqual(left, [], "namespaces left behind");
  },
});
