// Copyright 2026 the sockfsm authors. MIT license.
/**
 * One readiness reactor for all of a process's posix sockets: the calls
 * that have to wait (a `recv(2)` that answered `EAGAIN`, an `accept(2)`, a
 * `connect(2)` in progress) wait together on one `epoll(7)` set, with one
 * `epoll_wait(2)` on one thread of Deno's pool. A thousand idle connections
 * with a `recv()` pending each take one thread, not a thousand, and Deno's
 * own calls that need the pool (`Deno.readTextFile()`, `Deno.stat()`) go on.
 *
 * - A socket's descriptor joins the set the first time one of its calls
 *   waits (`EPOLL_CTL_ADD`, once), edge-triggered for reading and writing,
 *   and leaves it when the socket closes (`close(2)` removes it). A call
 *   that waits costs no system call of its own: every change of readiness
 *   is reported once; one that comes while no call of that socket waits for
 *   it is kept, and the next call to wait for it returns at once and tries
 *   its system call again (it may answer `EAGAIN` and wait then).
 * - The wait on the pool runs only while a call waits. Before it starts
 *   (for the first waiting call, or again after it returned and woke some),
 *   the microtasks queued so far run, and `epoll_wait(2)` with timeout 0
 *   here takes what is ready already: a process talking to itself (a
 *   request, then its reply) is served without a trip to another thread.
 *   After 16 such rounds in a row the pool is used anyway, so that the
 *   event loop's other work gets its turn. When the last waiting call leaves otherwise (its socket closed,
 *   its signal aborted), an `eventfd` in the set ends the wait, and that
 *   call resolves only once the wait has returned: after a test's last call
 *   ends, Deno's op sanitizer sees nothing pending.
 * - The epoll descriptor and the `eventfd` exist while some socket is in
 *   the set: once every such socket has closed, they are closed too, and
 *   the process holds no descriptor of the reactor's.
 *
 * A wait resolves with `undefined` (ready, woken by close, or aborted: the
 * caller looks at which) or the errno of a system call that failed (such as
 * `EMFILE` when no descriptor is left for the epoll set). A sleep (a unix
 * `connect()` that retries a full backlog) is a timer that close and abort
 * end the same way.
 *
 * @module
 */
import type { Errno } from "../machine/errno.ts";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLLERR,
  EPOLLET,
  epollEventBits,
  epollEvents,
  epollEventToken,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  type Libc,
  sysClose,
  sysEpollCreate1,
  sysEpollCtl,
  sysEpollWait,
  sysEventfd,
  sysWrite,
} from "./libc.ts";
import { type ProcessLibc, processLibc } from "./libc_lease.ts";

/** What a wait ends with: `undefined`, or the errno of a call that failed. */
export type WaitOutcome = Errno | number | undefined;

/** A socket's place in the reactor; see `watch()`. */
export interface Watch {
  /**
   * Waits until the descriptor may be ready for `events` (`EPOLLIN`,
   * `EPOLLOUT`), the socket closes, or `signal` aborts.
   */
  wait(events: number, signal?: AbortSignal): Promise<WaitOutcome>;
  /** Waits `ms` milliseconds, or until the socket closes or `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<WaitOutcome>;
  /**
   * Ends every wait of the socket, at once, and takes its descriptor out of
   * the reactor. Call it before `close(2)`, which frees the number.
   */
  close(): void;
}

/** How many turns of the microtask queue a kick lets run first. */
const KICK_TICKS = 8;
/** How many kicks in a row may serve calls without the pool. */
const HARVESTS_IN_A_ROW = 16;
/** How many events one `epoll_wait(2)` takes at most. */
const MAX_EVENTS = 256;
/** The token of the `eventfd` that ends a wait. */
const WAKE = 0;
/** What every descriptor in the set is watched for. */
const INTEREST = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
/** What wakes a call waiting to read, and one waiting to write. */
const READ_READY = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
const WRITE_READY = EPOLLOUT | EPOLLHUP | EPOLLERR;

const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);
const AT_ONCE: Promise<WaitOutcome> = Promise.resolve(undefined);

/** A call waiting: for readiness (`events`), or a sleep (`events` 0). */
interface Waiter {
  readonly entry: Entry;
  readonly events: number;
  readonly resolve: (outcome: WaitOutcome) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One socket's watch: its descriptor, waiters and unclaimed readiness. */
class Entry implements Watch {
  readonly reactor: Reactor;
  readonly fd: number;
  /** Its token in the epoll set; 0 while it is not in the set. */
  token = 0;
  /** Readiness reported while no call waited for it. */
  pending = 0;
  waiters: Waiter[] = [];

  constructor(reactor: Reactor, fd: number) {
    this.reactor = reactor;
    this.fd = fd;
  }

  wait(events: number, signal?: AbortSignal): Promise<WaitOutcome> {
    return this.reactor.wait(this, events, signal);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
    return this.reactor.sleep(this, ms, signal);
  }

  close(): void {
    this.reactor.forget(this);
  }
}

/** The process's reactor. */
class Reactor {
  readonly #libc: Libc;
  readonly #waitAsync: ProcessLibc["epollWaitAsync"];
  #epfd = -1;
  #wakeFd = -1;
  /** The entries in the epoll set, by token. */
  readonly #entries = new Map<number, Entry>();
  #lastToken = WAKE;
  /** Waiters for readiness (sleeps are not counted: they need no thread). */
  #waiting = 0;
  /** Whether `epoll_wait(2)` runs on the pool now. */
  #running = false;
  /** Whether the `eventfd` was signalled since the wait began. */
  #woken = false;
  /** Waiters that left while the wait ran: resolved once it returns. */
  #parked: Waiter[] = [];
  /** The array `epoll_wait(2)` fills, on the pool or here. */
  readonly #events = epollEvents(MAX_EVENTS);

  constructor(libc: ProcessLibc) {
    this.#libc = libc.libc;
    this.#waitAsync = libc.epollWaitAsync;
  }

  state() {
    return {
      open: this.#epfd >= 0,
      watched: this.#entries.size,
      waiting: this.#waiting,
      running: this.#running,
    };
  }

  wait(
    entry: Entry,
    events: number,
    signal: AbortSignal | undefined,
  ): Promise<WaitOutcome> {
    if ((entry.pending & events) !== 0) {
      entry.pending &= ~events;
      return AT_ONCE;
    }
    if (entry.token === 0) {
      const failed = this.#add(entry);
      if (failed !== undefined) return Promise.resolve(failed);
    }
    const { promise, resolve } = Promise.withResolvers<WaitOutcome>();
    const waiter: Waiter = {
      entry,
      events,
      resolve,
      signal,
      onAbort: undefined,
      timer: undefined,
    };
    this.#enter(waiter);
    this.#waiting++;
    this.#kick();
    return promise;
  }

  sleep(
    entry: Entry,
    ms: number,
    signal: AbortSignal | undefined,
  ): Promise<WaitOutcome> {
    const { promise, resolve } = Promise.withResolvers<WaitOutcome>();
    const waiter: Waiter = {
      entry,
      events: 0,
      resolve,
      signal,
      onAbort: undefined,
      timer: undefined,
    };
    waiter.timer = setTimeout(() => {
      waiter.timer = undefined;
      this.#remove(waiter);
      this.#finish(waiter, undefined);
    }, ms);
    this.#enter(waiter);
    return promise;
  }

  forget(entry: Entry): void {
    if (entry.token !== 0) {
      // close(2) takes the descriptor out of the set.
      this.#entries.delete(entry.token);
      entry.token = 0;
    }
    entry.pending = 0;
    const leaving = entry.waiters;
    entry.waiters = [];
    for (const waiter of leaving) {
      if (waiter.events !== 0) this.#waiting--;
    }
    this.#leave(leaving);
  }

  /** Adds `waiter` to its entry's, and listens for its signal. */
  #enter(waiter: Waiter): void {
    waiter.entry.waiters.push(waiter);
    const { signal } = waiter;
    if (signal === undefined) return;
    waiter.onAbort = () => {
      waiter.onAbort = undefined;
      this.#remove(waiter);
      if (waiter.events !== 0) this.#waiting--;
      this.#leave([waiter]);
    };
    signal.addEventListener("abort", waiter.onAbort, { once: true });
  }

  /** Takes `waiter` out of its entry's waiters. */
  #remove(waiter: Waiter): void {
    const { waiters } = waiter.entry;
    const at = waiters.indexOf(waiter);
    if (at >= 0) waiters.splice(at, 1);
  }

  /**
   * Resolves waiters that left before readiness: at once, unless they were
   * the last and the wait still runs; then once it has returned.
   */
  #leave(waiters: Waiter[]): void {
    if (this.#running && this.#waiting === 0) {
      for (const waiter of waiters) this.#park(waiter);
      this.#wake();
      return;
    }
    for (const waiter of waiters) this.#finish(waiter, undefined);
    if (!this.#running && this.#entries.size === 0) this.#shutDown();
  }

  #park(waiter: Waiter): void {
    this.#detach(waiter);
    this.#parked.push(waiter);
  }

  #finish(waiter: Waiter, outcome: WaitOutcome): void {
    this.#detach(waiter);
    waiter.resolve(outcome);
  }

  #detach(waiter: Waiter): void {
    if (waiter.onAbort !== undefined) {
      waiter.signal!.removeEventListener("abort", waiter.onAbort);
      waiter.onAbort = undefined;
    }
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
  }

  /** Puts `entry`'s descriptor in the set (making the set if need be). */
  #add(entry: Entry): WaitOutcome {
    if (this.#epfd < 0) {
      const failed = this.#open();
      if (failed !== undefined) return failed;
    }
    const token = this.#newToken();
    const added = sysEpollCtl(
      this.#libc,
      this.#epfd,
      EPOLL_CTL_ADD,
      entry.fd,
      INTEREST,
      token,
    );
    if (!added.ok) {
      if (this.#entries.size === 0) this.#shutDown();
      return added.errno;
    }
    entry.token = token;
    this.#entries.set(token, entry);
    return undefined;
  }

  #newToken(): number {
    do {
      this.#lastToken = this.#lastToken === 0xffffffff
        ? WAKE + 1
        : this.#lastToken + 1;
    } while (this.#entries.has(this.#lastToken));
    return this.#lastToken;
  }

  /** Makes the epoll set and its `eventfd`. */
  #open(): WaitOutcome {
    const libc = this.#libc;
    const epfd = sysEpollCreate1(libc, EPOLL_CLOEXEC);
    if (!epfd.ok) return epfd.errno;
    const wake = sysEventfd(libc, 0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!wake.ok) {
      sysClose(libc, epfd.value);
      return wake.errno;
    }
    // Edge-triggered: each write reports once; nothing needs to read it.
    const added = sysEpollCtl(
      libc,
      epfd.value,
      EPOLL_CTL_ADD,
      wake.value,
      EPOLLIN | EPOLLET,
      WAKE,
    );
    if (!added.ok) {
      sysClose(libc, wake.value);
      sysClose(libc, epfd.value);
      return added.errno;
    }
    this.#epfd = epfd.value;
    this.#wakeFd = wake.value;
    return undefined;
  }

  #shutDown(): void {
    if (this.#epfd < 0) return;
    sysClose(this.#libc, this.#wakeFd);
    sysClose(this.#libc, this.#epfd);
    this.#epfd = this.#wakeFd = -1;
  }

  /** Ends the wait that runs on the pool. */
  #wake(): void {
    if (this.#woken) return;
    this.#woken = true;
    sysWrite(this.#libc, this.#wakeFd, ONE);
  }

  /**
   * Gets waiting calls served: once the microtasks queued so far have run
   * (the calls just woken may make other descriptors of this process ready:
   * data sent to its own socket), `epoll_wait(2)` here with timeout 0 takes
   * what is ready without a trip to the pool; then, if calls still wait,
   * the wait on the pool starts. After a few such rounds in a row, the pool
   * is used anyway, so that the event loop gets its turn.
   */
  #kick(): void {
    if (this.#running || this.#kicking) return;
    this.#kicking = true;
    queueMicrotask(this.#kicked);
  }

  #kicking = false;
  #ticks = 0;
  #harvests = 0;

  readonly #kicked = (): void => {
    if (++this.#ticks < KICK_TICKS) {
      queueMicrotask(this.#kicked);
      return;
    }
    this.#ticks = 0;
    this.#kicking = false;
    if (this.#running || this.#waiting === 0 || this.#epfd < 0) return;
    if (this.#harvests < HARVESTS_IN_A_ROW) {
      const ready = sysEpollWait(this.#libc, this.#epfd, this.#events, 0);
      if (ready.ok && ready.value > 0) {
        this.#harvests++;
        this.#dispatch(ready.value);
        if (this.#waiting > 0) this.#kick();
        return;
      }
    }
    this.#harvests = 0;
    this.#start();
  };

  /** Starts `epoll_wait(2)` on the pool. */
  #start(): void {
    let waited: Promise<number>;
    try {
      waited = this.#waitAsync(this.#epfd, this.#events, MAX_EVENTS, -1);
    } catch {
      // Deno checks --allow-ffi before each such call.
      this.#failAll("EACCES");
      return;
    }
    this.#running = true;
    waited.then(
      (count) => this.#returned(count),
      () => this.#returned(-1),
    );
  }

  #returned(count: number): void {
    this.#running = false;
    this.#woken = false;
    if (count < 0) {
      // The errno is the pool thread's: look again here, at once. An
      // interruption (EINTR) does not fail twice.
      const again = sysEpollWait(this.#libc, this.#epfd, this.#events, 0);
      if (!again.ok) {
        this.#failAll(again.errno);
        return;
      }
      count = again.value;
    }
    this.#dispatch(count);
    if (this.#waiting > 0) this.#kick();
    else if (this.#entries.size === 0) this.#shutDown();
    const parked = this.#parked;
    this.#parked = [];
    for (const waiter of parked) waiter.resolve(undefined);
  }

  /** Wakes the waiters of the first `count` events. */
  #dispatch(count: number): void {
    for (let i = 0; i < count; i++) {
      const token = epollEventToken(this.#events, i);
      const entry = this.#entries.get(token);
      if (entry !== undefined) {
        this.#ready(entry, epollEventBits(this.#events, i));
      }
    }
  }

  /** Wakes `entry`'s waiters for what `bits` reports; keeps the rest. */
  #ready(entry: Entry, bits: number): void {
    let ready = 0;
    if ((bits & READ_READY) !== 0) ready |= EPOLLIN;
    if ((bits & WRITE_READY) !== 0) ready |= EPOLLOUT;
    let claimed = 0;
    const { waiters } = entry;
    if (waiters.length > 0) {
      const staying: Waiter[] = [];
      for (const waiter of waiters) {
        if ((waiter.events & ready) === 0) {
          staying.push(waiter);
          continue;
        }
        claimed |= waiter.events & ready;
        this.#waiting--;
        this.#finish(waiter, undefined);
      }
      entry.waiters = staying;
    }
    entry.pending |= ready & ~claimed;
  }

  /** Ends every wait with `errno`: the set itself failed. */
  #failAll(errno: Errno | number): void {
    for (const entry of this.#entries.values()) {
      const waiters = entry.waiters;
      entry.waiters = waiters.filter((waiter) => waiter.events === 0);
      for (const waiter of waiters) {
        if (waiter.events !== 0) this.#finish(waiter, errno);
      }
    }
    this.#waiting = 0;
    const parked = this.#parked;
    this.#parked = [];
    for (const waiter of parked) waiter.resolve(undefined);
  }
}

let reactor: Reactor | undefined;

/**
 * A watch of descriptor `fd` in the process's reactor (made on first use),
 * for the waits of one socket. Nothing happens until a call waits.
 *
 * @throws {Error} What `processLibc()` throws (not Linux, no `--allow-ffi`).
 */
export function watch(fd: number): Watch {
  reactor ??= new Reactor(processLibc());
  return new Entry(reactor, fd);
}

/** What the reactor holds now, for tests: descriptors and waiting calls. */
export function reactorState(): {
  readonly open: boolean;
  readonly watched: number;
  readonly waiting: number;
  readonly running: boolean;
} {
  return reactor?.state() ?? {
    open: false,
    watched: 0,
    waiting: 0,
    running: false,
  };
}
