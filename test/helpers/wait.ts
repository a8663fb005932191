/** Waits for `condition`; a timeout says what was seen (`trail`), so a rare failure explains itself. */
export async function until(condition: () => boolean, ms = 20_000, trail?: () => unknown): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms${trail ? `; seen: ${JSON.stringify(trail())}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `until` for a condition that has to ask something (an HTTP endpoint, a file), every `everyMs`. */
export async function untilAsync(condition: () => Promise<boolean>, ms = 20_000, everyMs = 200): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Whether a process with this pid still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
