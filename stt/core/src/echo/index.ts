/**
 * Acoustic echo cancellation of the VTuber's own voice (issue 20 item 4): the microphone hears
 * the VTuber's TTS through the streamer's speakers; given what the speakers played (the
 * reference), speexdsp subtracts its echo so Silero hears the streamer and not the VTuber.
 */
export interface EchoOptions {
  /** Samples per speexdsp frame at 16 kHz (default 160 = 10 ms, what speexdsp is tuned for). */
  frameSamples?: number;
  /** Length of the echo path the adaptive filter models, in ms (default 200: room reverb plus playback delay). */
  filterMs?: number;
  /** Residual echo attenuation in dB while no near-end speech is present (negative; default -60). */
  echoSuppressDb?: number;
  /** Residual echo attenuation in dB while the streamer talks over the echo (negative; default -15). */
  echoSuppressActiveDb?: number;
  /** Noise attenuation in dB (negative; default -3): speexdsp's residual echo suppression only runs with its denoiser on, kept light here. */
  noiseSuppressDb?: number;
  /** Gate what speexdsp leaves of the echo by level, predicted from the reference (default true; see residual_gate.ts). */
  gate?: boolean;
  /** How long after a reference frame its echo may still arrive (delay plus reverb), in ms (default 300). */
  gateTailMs?: number;
  /** Output this many dB above the predicted residual echo counts as the streamer (default 6). */
  gateMarginDb?: number;
  /** ...and no more than this many dB below the echo as the microphone hears it (default 3; see residual_gate.ts). */
  gateEchoMarginDb?: number;
  /** Attenuation of frames judged echo, in dB (negative; default -40). */
  gateFloorDb?: number;
  /** Reference audio that may be queued ahead of the microphone, in ms (default 20000); more throws a RangeError. */
  maxReferenceAheadMs?: number;
  /** Path or name of the speexdsp shared library (default libspeexdsp.so.1). */
  library?: string;
}

export interface EchoCanceller {
  /** What the VTuber's speaker plays, 16 kHz mono float, placed at the microphone's current position (the mic sample clock). */
  reference(pcm: Float32Array): void;
  /** Microphone audio, 16 kHz mono float, in order. Returns the cleaned audio ready so far (whole frames; it holds less than one frame). */
  process(mic: Float32Array): Float32Array;
  /** What it still holds (a flush, the end of the stream), so the output's length equals the input's. */
  drain(): Float32Array;
  close(): void;
}

export { echoCancellerAvailable, createEchoCanceller, DEFAULT_ECHO_OPTIONS } from './speex_canceller.js';
