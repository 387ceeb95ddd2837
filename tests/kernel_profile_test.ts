// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Kernel profiles: the data that says what each kernel build does where
 * builds differ, how the running kernel is matched to one, and how each
 * backend's sockets use them.
 */
import assert from "node:assert/strict";
import {
  detectKernel,
  type Domain,
  KERNEL_DIFFERENCES,
  type KernelName,
  kernelProfiles,
  predict,
  type Result,
  socket,
  type SocketAddr,
  SocketError,
} from "../mod.ts";
import { ANY_KERNEL, kernelProfile } from "../machine/kernel.ts";
import { matchKernel } from "../machine/kernel_match.ts";
import { forgetRunningKernel } from "../steps/detect_kernel.ts";
import { runScenario } from "../steps/harness.ts";
import { openLibc } from "../steps/libc.ts";
import { LOOPBACK } from "./_net.ts";

const IP_DOMAINS = ["inet", "inet6"] as const;

Deno.test("kernelProfiles() lists each profile with what distinguishes it and the releases it was measured on", () => {
  const profiles = kernelProfiles();
  assert.deepEqual(profiles.map((p) => p.name), ["classic", "sticky"]);
  for (const profile of profiles) {
    assert.ok(profile.description.length > 40, profile.name);
    assert.ok(profile.releases.length > 0, profile.name);
    assert.deepEqual(
      Object.keys(profile.behaviour).sort(),
      KERNEL_DIFFERENCES.map((d) => d.name).sort(),
    );
  }
  assert.deepEqual(kernelProfile("classic").releases, ["6.18.44-fc-v657"]);
  assert.deepEqual(kernelProfile("sticky").releases, ["6.18.44-fc-v1045"]);
});

Deno.test("every behaviour where profiles differ has a probe whose last answer tells the profiles apart", () => {
  for (const { name, probe } of KERNEL_DIFFERENCES) {
    const last = (kernel: KernelName) => predict(probe, { kernel }).at(-1);
    const doing = kernelProfiles().filter((p) => p.behaviour[name]);
    const notDoing = kernelProfiles().filter((p) => !p.behaviour[name]);
    assert.ok(doing.length > 0 && notDoing.length > 0, name);
    for (const yes of doing) {
      assert.equal(last(yes.name), "EINVAL", `${name} on ${yes.name}`);
      for (const no of notDoing) {
        assert.notEqual(last(no.name), last(yes.name), name);
      }
    }
  }
});

Deno.test("ANY_KERNEL keeps what every profile does alike and leaves the rest to the kernel", () => {
  for (const { name } of KERNEL_DIFFERENCES) {
    const values = new Set(kernelProfiles().map((p) => p.behaviour[name]));
    assert.equal(
      ANY_KERNEL[name],
      values.size === 1 ? [...values][0] : undefined,
    );
  }
});

Deno.test("matchKernel() finds each profile from its own answers", () => {
  for (const { name } of kernelProfiles()) {
    assert.equal(
      matchKernel((probe) => predict(probe, { kernel: name })),
      name,
    );
  }
});

Deno.test("matchKernel() names the first behaviour that fits no profile, with every answer", () => {
  // An answer no profile gives.
  assert.throws(
    () =>
      matchKernel(
        (probe) =>
          probe.includes("shut_rd")
            ? predict(probe)
            : ["ECONNREFUSED", "EADDRINUSE"],
        "Linux 9.9-test",
      ),
    (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EOPNOTSUPP");
      assert.match(error.message, /on Linux 9\.9-test/);
      assert.match(error.message, /"failedConnectForbidsListen"/);
      assert.match(error.message, /answered ECONNREFUSED EADDRINUSE/);
      assert.match(error.message, /"classic" answers ECONNREFUSED ok/);
      assert.match(error.message, /"sticky" answers ECONNREFUSED EINVAL/);
      return true;
    },
  );
  // Each answer is some profile's, but not both of one profile.
  const mixed = (probe: readonly string[]): Result[] =>
    probe.includes("shut_rd")
      ? predict(probe as never, { kernel: "sticky" })
      : predict(probe as never, { kernel: "classic" });
  assert.throws(() => matchKernel(mixed), (error: unknown) => {
    assert.ok(error instanceof SocketError);
    assert.match(error.message, /"stoppedListenForbidsConnect"/);
    assert.match(error.message, /where "classic" answers ok ok ECONNREFUSED;/);
    return true;
  });
});

Deno.test("detectKernel() resolves to the profile whose model answers the probes as this kernel does", async () => {
  const kernel = await detectKernel();
  using libc = openLibc();
  for (const { probe } of KERNEL_DIFFERENCES) {
    for (const domain of IP_DOMAINS) {
      assert.deepEqual(
        runScenario(libc, probe, { domain }),
        predict(probe, { domain, kernel }),
        `${domain} ${probe.join(" ")}`,
      );
    }
  }
});

Deno.test({
  name: "detectKernel() without --allow-ffi rejects with EACCES and says so",
  permissions: { ffi: false },
  async fn() {
    await assert.rejects(detectKernel(), (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EACCES");
      assert.match(error.message, /--allow-ffi/);
      return true;
    });
  },
});

// ------------------------------------------------ the runtime and profiles

/** A TCP address that refuses: a socket bound there that does not listen. */
async function refusing(domain: Domain): Promise<Disposable & SocketAddr> {
  const holder = socket({ domain, backend: "posix" });
  await holder.bind({ hostname: LOOPBACK[domain as "inet"], port: 0 });
  return Object.assign(holder.getsockname(), {
    [Symbol.dispose]: () => holder.close(),
  });
}

/** What `promise` settled to: `"ok"` or the errno of a SocketError. */
async function outcome(promise: Promise<unknown>): Promise<Result> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    assert.ok(error instanceof SocketError, String(error));
    return error.code;
  }
}

/** The kernel the runtime's Deno backend answers for here. */
async function denoKernel(): Promise<KernelName> {
  return Deno.permissions.querySync({ name: "ffi" }).state === "granted"
    ? await detectKernel()
    : "classic";
}

for (const domain of IP_DOMAINS) {
  Deno.test(`the posix backend lets the kernel answer listen() after a refused connect(), where profiles differ (${domain})`, async () => {
    using target = await refusing(domain);
    using sock = socket({ domain, backend: "posix" });
    assert.equal(await outcome(sock.connect(target)), "ECONNREFUSED");
    const listened = sock.listen();
    const expected = predict(["connect_refused", "listen"], {
      domain,
      kernel: await detectKernel(),
    })[1];
    assert.equal(await outcome(listened), expected);
    if (expected === "EINVAL") {
      // The kernel's answer, not the machine's refusal.
      await assert.rejects(
        listened,
        (e: SocketError) => !/kernel behaviour/.test(e.message),
      );
    }
  });

  Deno.test(`the posix backend lets the kernel answer connect() after shutdown(SHUT_RD) stopped listening, where profiles differ (${domain})`, async () => {
    using target = await refusing(domain);
    using sock = socket({ domain, backend: "posix" });
    await sock.listen();
    await sock.shutdown("read");
    assert.equal(sock.state, "created");
    const expected = predict(["listen", "shut_rd", "connect_refused"], {
      domain,
      kernel: await detectKernel(),
    })[2];
    assert.equal(await outcome(sock.connect(target)), expected);
  });

  Deno.test(`the deno backend answers listen() after a refused connect() as the detected profile (${domain})`, async () => {
    using target = await refusing(domain);
    using sock = socket({ domain });
    assert.equal(await outcome(sock.connect(target)), "ECONNREFUSED");
    const kernel = await denoKernel();
    const expected = predict(["connect_refused", "listen"], { domain, kernel });
    const listened = sock.listen();
    assert.equal(await outcome(listened), expected[1]);
    if (expected[1] === "EINVAL") {
      await assert.rejects(listened, /failedConnectForbidsListen/);
      assert.equal(sock.state, "created");
    } else {
      assert.equal(sock.state, "listening");
    }
  });

  Deno.test(`the deno backend answers connect() after shutdown(SHUT_RD) stopped listening as the detected profile (${domain})`, async () => {
    using target = await refusing(domain);
    using sock = socket({ domain });
    await sock.listen();
    await sock.shutdown("read");
    const kernel = await denoKernel();
    const expected = predict(["listen", "shut_rd", "connect_refused"], {
      domain,
      kernel,
    })[2];
    const connected = sock.connect(target);
    assert.equal(await outcome(connected), expected);
    if (expected === "EINVAL") {
      await assert.rejects(connected, /stoppedListenForbidsConnect/);
    }
  });

  Deno.test({
    name:
      `the deno backend without --allow-ffi answers as the default profile, classic (${domain})`,
    permissions: { net: true, ffi: false },
    async fn() {
      forgetRunningKernel(); // as in a process run without --allow-ffi
      try {
        const listener = Deno.listen({ hostname: LOOPBACK[domain], port: 0 });
        const port = listener.addr.port;
        listener.close();
        using sock = socket({ domain });
        const refused = sock.connect({ hostname: LOOPBACK[domain], port });
        assert.equal(await outcome(refused), "ECONNREFUSED");
        assert.equal(await outcome(sock.listen()), "ok");
        assert.equal(sock.state, "listening");
      } finally {
        forgetRunningKernel(); // the next socket detects with --allow-ffi
      }
    },
  });
}
