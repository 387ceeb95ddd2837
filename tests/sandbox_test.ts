// Copyright 2026 the sockfsm authors. MIT license.
/**
 * `--allow-ffi` does not widen Deno's sandbox: the posix backend asks Deno's
 * permissions before each `bind`, `connect`, `sendto` and `listen`, and
 * refuses as the Deno backend does. Each test runs a child process with
 * fewer permissions (`_sandbox_child.ts`); the servers here, with every
 * permission, check that nothing reached them.
 */
import assert from "node:assert/strict";
import { type Socket, socket } from "../mod.ts";
import { answerOf, canRunDeno, NO_RUN, runChild } from "./_child.ts";
import type { SandboxArgs } from "./_sandbox_child.ts";
import { tempDir, within } from "./_net.ts";

if (!canRunDeno) console.warn(`sandbox_test.ts is skipped: it ${NO_RUN}`);

/** A non-blocking posix listener on `hostname`, port 0. */
async function listener(
  hostname: string,
): Promise<Socket<"inet" | "inet6">> {
  const domain = hostname.includes(":") ? "inet6" : "inet";
  const sock = socket<"inet" | "inet6">({
    domain,
    backend: "posix",
    nonblocking: true,
  });
  await sock.bind({ hostname, port: 0 });
  await sock.listen();
  return sock;
}

/** Asserts that nothing connected to `sock` (a non-blocking listener). */
async function nothingCame(
  sock: Socket<"inet" | "inet6">,
  what: string,
): Promise<void> {
  await assert.rejects(sock.accept(), { code: "EAGAIN" }, what);
}

Deno.test({
  name:
    "posix backend with --allow-ffi --allow-net=127.0.0.1:PORT refuses every other address with the deno backend's EACCES, before any system call",
  ignore: !canRunDeno,
  async fn() {
    using allowed = await listener("127.0.0.1");
    using other = await listener("127.0.0.1");
    using v6 = await listener("::1");
    using udp = socket({
      domain: "inet6",
      type: "dgram",
      backend: "posix",
      nonblocking: true,
    });
    await udp.bind({ hostname: "::1", port: 0 });
    await using denied = await tempDir();
    await using mine = await tempDir();
    const own = `${mine.path}/own.sock`;
    const args: SandboxArgs = {
      allowed: allowed.getsockname().port,
      other: other.getsockname().port,
      v6: v6.getsockname().port,
      v6udp: udp.getsockname().port,
      dir: denied.path,
      own,
    };
    const answers = await runChild(
      [
        "--allow-ffi",
        `--allow-net=127.0.0.1:${args.allowed},unix:${own}`,
        `--allow-read=${own}`,
        `--allow-write=${own}`,
      ],
      "sandbox",
      args,
    );
    const refused = [
      "connect other port",
      "connect ::1",
      "bind port 0",
      "bind ::1",
      "listen unbound",
      "bind unix",
      "connect unix",
    ];
    const listening = answerOf(
      answers,
      "posix",
      "connect unix from a listener",
    );
    assert.equal(listening.code, "EACCES", listening.message);
    assert.equal(listening.state, "listening");
    assert.equal(
      answerOf(answers, "deno", "connect unix from a listener").message,
      listening.message,
    );
    for (const call of refused) {
      const posix = answerOf(answers, "posix", call);
      const deno = answerOf(answers, "deno", call);
      assert.equal(posix.code, "EACCES", `posix ${call}: ${posix.message}`);
      assert.equal(posix.state, "created", call);
      assert.match(posix.message!, /Deno's permissions do not grant/);
      assert.equal(posix.message, deno.message, `${call}: one message`);
    }
    assert.match(
      answerOf(answers, "posix", "connect ::1").message!,
      /net access to "\[::1\]:\d+"; run with --allow-net=\[::1\]:\d+/,
    );
    assert.match(
      answerOf(answers, "posix", "bind unix").message!,
      /--allow-read=(\S+s\.sock) --allow-write=\1 --allow-net=unix:\1 /,
    );
    for (const call of ["sendto ::1", "connect udp ::1"]) {
      const posix = answerOf(answers, "posix", call);
      assert.equal(posix.code, "EACCES", `posix ${call}: ${posix.message}`);
      assert.match(posix.message!, new RegExp(`"\\[::1\\]:${args.v6udp}"`));
      // node:dgram binds [::]:0 first, which the sandbox refuses too.
      const deno = answerOf(answers, "deno", call);
      assert.equal(deno.code, "EACCES", call);
      assert.match(deno.message!, /bind to \[::\]:0/);
      // Refused before the kernel, the call bound nothing (a UDP sendto()
      // or connect() that reached it would have bound a port).
      for (const answer of [posix, deno]) {
        assert.deepEqual(
          [answer.state, answer.after],
          ["created", { state: "created", port: 0 }],
          `${answer.backend} ${call}`,
        );
      }
    }
    // A bound socket's later sendto() is refused as plainly, on both.
    const later = (["deno", "posix"] as const).map((backend) =>
      answerOf(answers, backend, "sendto another port from a bound socket")
    );
    for (const answer of later) {
      assert.equal(answer.code, "EACCES", answer.message);
      assert.equal(answer.state, "bound");
      assert.match(
        answer.message!,
        new RegExp(`net access to "127\\.0\\.0\\.1:${args.other}"`),
      );
    }
    assert.equal(later[0].message, later[1].message, "one message");
    // The permitted address works, on both backends.
    for (const backend of ["deno", "posix"]) {
      assert.equal(answerOf(answers, backend, "connect allowed").code, "ok");
      using _peer = await within(2000, allowed.accept(), "accept()");
    }
    // Nothing reached the servers the child may not use.
    await nothingCame(other, "another port of 127.0.0.1");
    await nothingCame(v6, "::1");
    await assert.rejects(udp.recvfrom(), { code: "EAGAIN" }, "the UDP peer");
    assert.deepEqual([...Deno.readDirSync(denied.path)], [], "no socket file");
  },
});

Deno.test({
  name:
    "a bound unix client without --allow-ffi is refused with EACCES naming only --allow-ffi",
  ignore: !canRunDeno,
  async fn() {
    await using dir = await tempDir();
    const server = `${dir.path}/server.sock`;
    using srv = socket({ domain: "unix", backend: "posix", nonblocking: true });
    await srv.bind({ path: server });
    await srv.listen();
    const answers = await runChild(
      [
        "--allow-net",
        `--allow-read=${dir.path}`,
        `--allow-write=${dir.path}`,
      ],
      "noffi",
      { dir: dir.path, server },
    );
    const { code, message, state } = answerOf(
      answers,
      "deno",
      "bound unix client",
    );
    assert.equal(code, "EACCES", message);
    assert.equal(state, "bound");
    assert.match(message!, /run with --allow-ffi/);
    assert.doesNotMatch(message!, /--allow-net|--allow-read|--allow-write/);
    await assert.rejects(srv.accept(), { code: "EAGAIN" }, "nothing came");
  },
});
