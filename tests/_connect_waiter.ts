// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The child of `second_connect_test.ts`: takes a socket of its parent's
 * (`pidfd_getfd(2)`: the same open socket, as a second thread of the parent
 * would use it), says `{"ready":true}`, makes one blocking `connect(2)` on
 * it, and prints what the kernel answered: `{"answer":"0"}` or the errno.
 * Its calls are synchronous, so errno is this thread's.
 *
 * `deno run --allow-ffi tests/_connect_waiter.ts <pid> <fd> <host> <port>`
 */
import { openLibc, sysConnect } from "../steps/libc.ts";

const SYS_PIDFD_OPEN = 434n;
const SYS_PIDFD_GETFD = 438n;

const [pid, fd, hostname, port] = Deno.args;
using libc = openLibc();
const raw = Deno.dlopen("libc.so.6", {
  syscall: { parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
});
try {
  const errno = () =>
    new Deno.UnsafePointerView(libc.symbols.__errno_location()!).getInt32();
  const pidfd = raw.symbols.syscall(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n);
  if (pidfd < 0n) {
    console.log(
      JSON.stringify({ unavailable: `pidfd_open: errno ${errno()}` }),
    );
    Deno.exit(0);
  }
  const sock = raw.symbols.syscall(SYS_PIDFD_GETFD, pidfd, BigInt(fd), 0n);
  if (sock < 0n) {
    console.log(
      JSON.stringify({ unavailable: `pidfd_getfd: errno ${errno()}` }),
    );
    Deno.exit(0);
  }
  console.log(JSON.stringify({ ready: true }));
  const answer = sysConnect(libc, Number(sock), {
    hostname,
    port: Number(port),
  });
  console.log(JSON.stringify({ answer: answer.ok ? "0" : answer.errno }));
} finally {
  raw.close();
}
