/** Small sample-level helpers for building the conversation: deterministic noise and levels. */

export const dbToGain = (db: number) => 10 ** (db / 20);

/** mulberry32: a tiny seeded PRNG, so the conversation is byte-identical on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Gaussian noise at `dbfs` RMS (full scale = 1.0). A real microphone never sends digital zero, and
 * detectors can behave differently on exact silence, so the gaps carry a faint noise floor.
 */
export function noise(length: number, dbfs: number, seed: number): Float32Array {
  const rand = prng(seed);
  const sigma = dbToGain(dbfs);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    // Box-Muller: two independent normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * sigma;
    const phi = 2 * Math.PI * rand();
    out[i] = r * Math.cos(phi);
    if (i + 1 < length) out[i + 1] = r * Math.sin(phi);
  }
  return out;
}

/** Adds `src × gain` into `dst` at `offset` (samples). */
export function mixInto(dst: Float32Array, src: Float32Array, offset: number, gain = 1): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] = dst[offset + i]! + src[i]! * gain;
}
