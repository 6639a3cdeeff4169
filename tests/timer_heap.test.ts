// The one-timer-per-clock heap that keepalive and idle checks share, driven
// by a clock moved by hand: no sockets, no waiting on the wall clock.
import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import type { Clock } from "../src/connection/clock.ts";
import { Liveness } from "../src/connection/liveness.ts";
import { type HeapEntry, TimerHeap } from "../src/connection/timer_heap.ts";

/** A clock whose time moves only in `advance`, counting the runtime timers armed on it. */
function manualClock() {
  let now = 0;
  let next = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => (timers.set(next, { at: now + ms, fn }), next++),
    clearTimeout: (id) => void timers.delete(id as number),
  };
  return {
    clock,
    pending: () => timers.size,
    advance(ms: number) {
      const end = now + ms;
      for (let guard = 0; guard < 10_000; guard++) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
    },
  };
}

function entry(log: string[], name: string): HeapEntry {
  return { deadline: Infinity, heapIndex: -1, due: (now) => log.push(`${name}@${now}`) };
}

describe("TimerHeap", () => {
  test("fires entries in deadline order with one runtime timer, and none once empty", () => {
    const c = manualClock();
    const heap = TimerHeap.of(c.clock);
    const log: string[] = [];
    const entries = [30, 10, 50, 20, 40].map((at) => {
      const e = entry(log, `e${at}`);
      heap.schedule(e, at);
      return e;
    });
    assert.equal(c.pending(), 1, "one timer for five deadlines");
    heap.cancel(entries[2]); // e50
    c.advance(100);
    assert.deepEqual(log, ["e10@10", "e20@20", "e30@30", "e40@40"]);
    assert.equal(heap.size, 0);
    assert.equal(c.pending(), 0, "no timer armed for an empty heap");
    assert.equal(TimerHeap.of(c.clock), heap, "one heap per clock");
  });

  test("rescheduling and cancelling keep the heap ordered (1,000 entries)", () => {
    const c = manualClock();
    const heap = TimerHeap.of(c.clock);
    const fired: number[] = [];
    const all = Array.from({ length: 1000 }, (_, i) => {
      const e: HeapEntry = { deadline: Infinity, heapIndex: -1, due: (now) => fired.push(now) };
      heap.schedule(e, 1 + ((i * 7919) % 1000));
      return e;
    });
    for (let i = 0; i < 1000; i += 3) heap.cancel(all[i]);
    for (let i = 1; i < 1000; i += 3) heap.schedule(all[i], 2000 + i);
    c.advance(5000);
    assert.equal(fired.length, 1000 - 334);
    for (let i = 1; i < fired.length; i++) assert.ok(fired[i - 1] <= fired[i], `out of order at ${i}`);
    assert.equal(c.pending(), 0);
  });
});

describe("Liveness on the heap", () => {
  test("pings after pingInterval of silence, declares the peer dead after pingTimeout, and stops", () => {
    const c = manualClock();
    const events: string[] = [];
    let active = true;
    const liveness = new Liveness(c.clock, { pingInterval: 100, pingTimeout: 50, idleTimeout: 0 }, {
      active: () => active,
      ping: () => events.push(`ping@${c.clock.now()}`),
      dead: () => {
        events.push(`dead@${c.clock.now()}`);
        active = false;
        liveness.stop();
      },
      idle: () => events.push("idle"),
    });
    c.advance(60);
    liveness.received(); // something arrived at 60: the ping waits for 160
    c.advance(400);
    assert.deepEqual(events, ["ping@160", "dead@210"]);
    assert.equal(c.pending(), 0);
  });

  test("an answered ping keeps it open; idleTimeout fires once, counted from the last data frame", () => {
    const c = manualClock();
    const events: string[] = [];
    const liveness = new Liveness(c.clock, { pingInterval: 100, pingTimeout: 50, idleTimeout: 300 }, {
      active: () => true,
      ping: () => {
        events.push(`ping@${c.clock.now()}`);
        liveness.received(); // the pong, at once
      },
      dead: () => events.push("dead"),
      idle: () => events.push(`idle@${c.clock.now()}`),
    });
    c.advance(50);
    liveness.dataReceived();
    c.advance(400);
    assert.ok(!events.includes("dead"), events.join());
    assert.equal(events.filter((e) => e.startsWith("idle")).join(), "idle@350");
    assert.ok(events.includes("ping@100"), events.join());
    liveness.stop();
    assert.equal(c.pending(), 0);
  });
});
