// node:test, with a time bound on every test. Test files import describe,
// test, before and after from here rather than from "node:test": a test
// without its own `timeout` gets DEFAULT_TEST_TIMEOUT, so a regression that
// hangs fails in a minute at most and names the test, on every runner (Node,
// `deno test` and `bun test` all honour node:test's per-test `timeout`).
// Also the one timeout helper for promises inside tests (withTimeout) and the
// one for conditions (eventually).
import * as nodeTest from "node:test";

export const { after, before, describe } = nodeTest;

/** The bound on a test that names none: generous for a loaded 2-core machine, far below a hang. */
export const DEFAULT_TEST_TIMEOUT = 60_000;

type TestFn = (t: nodeTest.TestContext) => void | Promise<void>;
type TestOptions = nodeTest.TestOptions;

/** node:test's `test`, with `timeout` defaulting to {@link DEFAULT_TEST_TIMEOUT}. */
export function test(name: string, optionsOrFn: TestOptions | TestFn, fn?: TestFn): void {
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn;
  const body = typeof optionsOrFn === "function" ? optionsOrFn : fn!;
  nodeTest.test(name, { timeout: DEFAULT_TEST_TIMEOUT, ...options }, body);
}

/** Rejects with an error naming `what` when `promise` takes over `ms` milliseconds. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ]);
}

/** Polls `condition` every 10 ms until it holds; rejects with an error naming `what` after `ms`. */
export async function eventually(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: still false after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
