// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A test file of its own, run by `posix_reactor_test.ts` as
 * `deno test --allow-net --allow-ffi tests/_posix_sanitized_child.ts` in a
 * fresh process: its first test is the process's first use of libc and of
 * the reactor, so Deno's resource and op sanitizers (on by default) judge
 * both lifetimes.
 */
import assert from "node:assert/strict";
import { socket, streamConnection } from "../mod.ts";

Deno.test("the first posix sockets of a process, one recv() that waits and one aborted, leave no resource and no op behind", async () => {
  using pair = await streamConnection({
    srvrAddr: { hostname: "127.0.0.1", port: 0 },
    backend: "posix",
  });
  const receiving = pair.srvrS.recv();
  await pair.clntS.send(new TextEncoder().encode("x"));
  assert.equal((await receiving).length, 1);
  const abort = new AbortController();
  const aborted = pair.clntS.recv(undefined, { signal: abort.signal });
  abort.abort();
  await assert.rejects(aborted, { code: "ECANCELED" });
});

Deno.test("a posix recv() that waits until its socket closes leaves no op behind", async () => {
  using listener = socket({ domain: "inet", backend: "posix" });
  await listener.bind({ hostname: "127.0.0.1", port: 0 });
  await listener.listen();
  const accepting = listener.accept();
  listener.close();
  await assert.rejects(accepting, { code: "EBADF" });
});
