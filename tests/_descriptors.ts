// Counting the process's open file descriptors: what a leaked socket costs,
// seen the same way on Deno, Bun and Node (their own resource lists see
// only some of it: Node's getActiveResourcesInfo lists libuv handles, and
// Deno's and Bun's return nothing).
import { existsSync, readdirSync } from "node:fs";

/** Whether this system lists a process's descriptors in /proc/self/fd (Linux). */
export const CAN_COUNT_DESCRIPTORS: boolean = existsSync("/proc/self/fd");

/** Why descriptor tests are skipped where they are, said loudly once. */
export const NO_DESCRIPTOR_COUNT = "no /proc/self/fd on this system: open descriptors cannot be counted";

if (!CAN_COUNT_DESCRIPTORS) console.warn(`!!! ${NO_DESCRIPTOR_COUNT}; the descriptor-leak tests are SKIPPED`);

/** The number of descriptors this process has open. */
export function openDescriptors(): number {
  return readdirSync("/proc/self/fd").length;
}
