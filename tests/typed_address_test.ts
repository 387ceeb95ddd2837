// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A socket's domain types its addresses: no cast is needed to read the port
 * of an inet socket or the path of a unix one, and reading the other kind
 * does not compile. The runtime checks stay for JavaScript callers.
 */
import assert from "node:assert/strict";
import {
  type AddrOf,
  type Domain,
  socket,
  SocketError,
  streamConnection,
  typed,
  typedStreamConnection,
} from "../mod.ts";
import { tempDir } from "./_net.ts";

Deno.test("getsockname() of an inet or inet6 socket is typed { hostname, port }, without a cast", async () => {
  for (
    const [domain, hostname] of [["inet", "127.0.0.1"], [
      "inet6",
      "::1",
    ]] as const
  ) {
    using sock = socket({ domain });
    await sock.bind({ hostname, port: 0 });
    const { hostname: bound, port } = sock.getsockname();
    assert.equal(bound, hostname);
    assert.ok(port > 0);
    if (false as boolean) {
      // @ts-expect-error An inet socket's address has no path.
      sock.getsockname().path;
    }
  }
});

Deno.test("getsockname() and getpeername() of a unix pair are typed { path }, without a cast", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/s.sock`;
  using pair = await streamConnection({ srvrAddr: { path } });
  assert.equal(pair.srvrAddr.path, path);
  assert.equal(pair.srvrS.getsockname().path, path);
  assert.equal(pair.clntS.getpeername().path, path);
  assert.equal(pair.clntS.getsockname().path, "");
  if (false as boolean) {
    // @ts-expect-error A unix socket's address has no port.
    pair.srvrS.getsockname().port;
  }
});

Deno.test("streamConnection() with an inet srvrAddr types both ends and srvrAddr as inet addresses", async () => {
  using pair = await streamConnection({
    srvrAddr: { hostname: "127.0.0.1", port: 0 },
  });
  assert.ok(pair.srvrAddr.port > 0);
  assert.equal(pair.clntS.getpeername().port, pair.srvrAddr.port);
  assert.equal(pair.srvrS.getsockname().port, pair.srvrAddr.port);
  assert.equal(pair.srvrS.getpeername().port, pair.clntS.getsockname().port);
  const accepted: AddrOf<"inet" | "inet6"> = pair.srvrS.getpeername();
  assert.equal(accepted.hostname, "127.0.0.1");
});

Deno.test("an accepted socket has its listener's address type", async () => {
  using server = socket({ domain: "inet" });
  await server.listen();
  using client = socket({ domain: "inet" });
  const accepting = server.accept();
  await client.connect({
    hostname: "127.0.0.1",
    port: server.getsockname().port,
  });
  using peer = await accepting;
  assert.equal(peer.domain, "inet");
  assert.equal(peer.getpeername().port, client.getsockname().port);
});

Deno.test("the typed API keeps the domain's address type through every state", async () => {
  using server = typed(socket({ domain: "inet6" }));
  const listening = await (await server.bind({ hostname: "::1", port: 0 }))
    .listen();
  using client = typed(socket({ domain: "inet6" }));
  const accepting = listening.accept();
  const connected = await client.connect(listening.getsockname());
  using peer = await accepting;
  assert.equal(peer.getpeername().port, connected.getsockname().port);
  using pair = await typedStreamConnection({
    srvrAddr: { hostname: "::1", port: 0 },
  });
  assert.equal(pair.clntS.getpeername().port, pair.srvrAddr.port);
});

Deno.test("a socket of a domain known only at runtime has either address, and the runtime checks stay", async () => {
  const domain = (Math.random() < 2 ? "unix" : "inet") as Domain;
  using sock = socket({ domain });
  const name = sock.getsockname();
  // Either kind: the caller narrows it.
  assert.ok("path" in name);
  assert.equal(name.path, "");
  // A JavaScript caller that passes an address of another family gets
  // Linux's errno (unix_bind(): EINVAL), before any system call.
  await assert.rejects(
    sock.bind({ hostname: "127.0.0.1", port: 0 }),
    (error: unknown) =>
      error instanceof SocketError && error.code === "EINVAL" &&
      error.state === "created",
  );
});
