/**
 * Band-limited resampling with a Hann-windowed sinc. Whole-utterance, not streaming:
 * the transcriber converts at flush time, so there are no chunk seams to carry state across.
 * The cutoff sits at the lower Nyquist so 48 kHz input does not alias into speech bands.
 */
export function resample(input: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return input;
  if (input.length === 0) return new Float32Array(0);
  const ratio = toRate / fromRate;
  const outLength = Math.floor(input.length * ratio);
  const out = new Float32Array(outLength);
  const cutoff = Math.min(1, ratio); // relative to the input Nyquist
  const halfWidth = 16; // taps on each side, at the output's scale
  const radius = Math.ceil(halfWidth / cutoff);
  for (let i = 0; i < outLength; i++) {
    const center = i / ratio;
    const first = Math.max(0, Math.ceil(center - radius));
    const last = Math.min(input.length - 1, Math.floor(center + radius));
    let acc = 0;
    let norm = 0;
    for (let j = first; j <= last; j++) {
      const x = (j - center) * cutoff;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.5 + 0.5 * Math.cos((Math.PI * (j - center)) / (radius + 1));
      const k = sinc * w;
      acc += input[j]! * k;
      norm += k;
    }
    out[i] = norm > 0 ? acc / norm : 0;
  }
  return out;
}
