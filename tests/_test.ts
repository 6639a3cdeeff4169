// node:test, with a time bound on every test. Test files import describe,
// test, before and after from here rather than from "node:test": a test
// without its own `timeout` gets DEFAULT_TEST_TIMEOUT, so a regression that
// hangs fails in a minute at most with an error naming the test, on every
// runner (Node, `deno test` and `bun test` all honour node:test's per-test
// `timeout`, and run `t.after` hooks after a pass, a failure and a timeout
// alike). Also the one timeout helper for promises inside tests
// (withTimeout), the one for conditions (eventually), and the one comparison
// for large payloads (assertBytesEqual).
//
// A test releases what it opens however it ends: whatever opens a socket, a
// server, a child process or a timer registers its release with
// `t.after(...)` as soon as it exists. The test helpers that open things
// (tcpPair, RawPeer, start, Wire.dial, ...) take the test context (an
// `Owner`) first and do it themselves. A failed assertion or a timeout then
// cannot leave a handle behind that keeps the test file's process alive.
// `t.after` here is not node:test's: Deno's node:test never runs the
// `t.after` hooks of a test inside a `describe` (and `deno test` runs every
// file in one process, so a server or an environment variable left behind
// reaches the files after it). `test` runs the releases itself when the
// body ends, passed, failed or timed out, latest first, on every runtime.
// `scripts/failing_test_exit.ts` checks every file the way this failed.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type AddressInfo, connect as netConnect, createServer as createNetServer } from "node:net";
import * as nodeTest from "node:test";

export const { after, before, describe } = nodeTest;

/** The context each test body receives: `t.after(fn)` releases what the test opened. */
export type TestContext = nodeTest.TestContext;

/**
 * What the helpers that open something register its release with: a test's
 * context, or, for what a describe block's `before` hook opens, a
 * {@link Releases} that its `after` hook runs.
 */
export interface Owner {
  after(release: () => unknown): void;
}

/**
 * Releases registered with `after`, run by `release()` (latest first): what
 * a test opened, or what outlives one test (a describe block's `before`).
 */
export class Releases implements Owner {
  #releases: (() => unknown)[] = [];

  after(release: () => unknown): void {
    this.#releases.push(release);
  }

  /** Runs every release registered so far, even after one failed, then throws the first failure. */
  async release(): Promise<void> {
    const releases = this.#releases.reverse();
    this.#releases = [];
    const failures: unknown[] = [];
    for (const release of releases) {
      try {
        await release();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

/** The bound on a test that names none: generous for a loaded 2-core machine, far below a hang. */
export const DEFAULT_TEST_TIMEOUT = 60_000;

/** How much later than our own bound the runner's is: a backstop that should never fire. */
const RUNNER_GRACE = 5_000;

type TestFn = (t: TestContext) => void | Promise<void>;
type TestOptions = nodeTest.TestOptions;

/**
 * node:test's `test`, bounded by its `timeout` (default
 * {@link DEFAULT_TEST_TIMEOUT}): a test still running then fails with an
 * error that names it. What the body registered with `t.after` runs when
 * it ends, however it ends, latest first; the body's failure is the one
 * reported, a release's only when the body passed.
 */
export function test(name: string, optionsOrFn: TestOptions | TestFn, fn?: TestFn): void {
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn;
  const body = typeof optionsOrFn === "function" ? optionsOrFn : fn!;
  const bound = options.timeout ?? DEFAULT_TEST_TIMEOUT;
  nodeTest.test(name, { ...options, timeout: bound + RUNNER_GRACE }, async (t) => {
    const releases = new Releases();
    let ended = false;
    let failure: { error: unknown } | null = null;
    try {
      const context = releasingInto(t, releases, () => ended);
      await withTimeout(Promise.resolve().then(() => body(context)), bound, `The test "${name}"`);
    } catch (error) {
      failure = { error };
    }
    ended = true;
    try {
      await releases.release();
    } catch (error) {
      if (failure === null) throw error;
      console.warn(`The test "${name}" failed, and so did a release after it: ${error}`);
    }
    if (failure !== null) throw failure.error;
  });
}

/**
 * `t` with its `after` registering into `releases` until the test has ended
 * (a release registered by a body still running past its bound runs at
 * once); everything else is `t`'s own, bound to it.
 */
function releasingInto(t: TestContext, releases: Releases, ended: () => boolean): TestContext {
  const after = (release: () => unknown) => {
    if (ended()) void Promise.resolve().then(release).catch(() => {});
    else releases.after(release);
  };
  return new Proxy(t, {
    get(target, property) {
      if (property === "after") return after;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Rejects with an error naming `what` when `promise` takes over `ms` milliseconds. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ]);
}

/**
 * Polls `condition` every 10 ms until it holds; rejects with an error naming
 * `what` after `ms`. The one polling loop of the tests: for a condition no
 * event announces (an asynchronous one, such as "the port accepts", too).
 */
export async function eventually(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: still false after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Resolves once the event loop has polled its sockets `rounds` times since
 * the call (each time a connection to a TCP server of our own that answers
 * and closes): bytes that were readable on any socket before have been
 * read, and what the code under test wrote in answer to them has reached
 * its peer. What a test of absence waits for instead of a sleep: whatever
 * should not happen would have happened first.
 */
export async function socketsPolled(rounds = 2): Promise<void> {
  const server = createNetServer((socket) => {
    socket.on("error", () => {});
    socket.end("x");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    for (let round = 0; round < rounds; round++) {
      const socket = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
      socket.on("error", () => {});
      socket.resume();
      // The server's byte and end, then ours (not half-open): closed.
      await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Asserts that a payload equals the expected bytes or text, with a short
 * message: lengths, SHA-256 digests and the first difference, never a dump of
 * both (`deepEqual` on two multi-MiB arrays prints a diff that can exhaust
 * the heap). A byte payload must also have the expected's prototype, as
 * `deepEqual` requires (a Buffer is not a Uint8Array).
 */
export function assertBytesEqual(actual: unknown, expected: Uint8Array | string, what = "the payload"): void {
  if (typeof expected === "string") {
    if (typeof actual !== "string") assert.fail(`${what}: expected text of ${expected.length} characters, got ${describeValue(actual)}`);
    if (actual === expected) return;
    const at = firstDifference(actual, expected);
    assert.fail(
      `${what}: ${actual.length} characters differ from the expected ${expected.length} first at index ${at}: ` +
        `got ${JSON.stringify(actual.slice(at, at + 16))}, expected ${JSON.stringify(expected.slice(at, at + 16))}`,
    );
  }
  if (!(actual instanceof Uint8Array)) assert.fail(`${what}: expected ${expected.length} bytes, got ${describeValue(actual)}`);
  if (Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)) {
    assert.fail(`${what}: got a ${actual.constructor.name}, expected a ${expected.constructor.name}`);
  }
  const at = firstDifference(actual, expected);
  if (at === -1) return;
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  if (actual.length <= SHORT && expected.length <= SHORT) {
    assert.fail(`${what}: got [${hex(actual)}], expected [${hex(expected)}]; first difference at byte ${at}`);
  }
  assert.fail(
    `${what}: ${actual.length} bytes (sha256 ${digest(actual)}) differ from the expected ${expected.length} ` +
      `(sha256 ${digest(expected)}) first at byte ${at}: ` +
      `got [${hex(actual.subarray(at, at + 8))}], expected [${hex(expected.subarray(at, at + 8))}]`,
  );
}

/** Payloads up to this many bytes are printed whole when they differ. */
const SHORT = 32;

/** The first index where `a` and `b` differ (one ending counts), or -1. */
function firstDifference(a: ArrayLike<unknown>, b: ArrayLike<unknown>): number {
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : shorter;
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}

function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === "string") return `text of ${value.length} characters`;
  return value === null ? "null" : typeof value;
}
