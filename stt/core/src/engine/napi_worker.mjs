// Worker-thread side of the @napi-rs/whisper backend. whisper_full() is synchronous in this
// binding, so it runs here and never on the thread that serves WebSockets. Plain JavaScript so
// the same file runs under tsx, vitest and a production `node` alike. Messages: napi_worker_protocol.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { Whisper, WhisperFullParams, WhisperSamplingStrategy } from '@napi-rs/whisper';
import { sentencesOf } from '../text/sentences.mjs';

const port = parentPort;
const init = workerData;

// whisper.cpp's own log lines go to stderr. The binding's setupLogger() cannot be used to
// filter them: called here it deadlocks during model load, called on the main thread it crashes.
const whisper = new Whisper(init.modelPath, { useGpu: init.useGpu });
const multilingual = whisper.isMultilingual !== 0;
port.postMessage({ type: 'ready', multilingual });

// Segment callbacks are thread-safe functions queued during full(); let the loop deliver them.
const drainCallbacks = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

/**
 * whisper.cpp identifies the language (language `auto`, or detectOnly) with the encoder context
 * of the previous transcription: it applies a call's audio_ctx only after detection, and a
 * detection alone never applies it. After a full 30 s window, detecting on 3 s of speech ran a
 * whole 30 s encoder pass (base, one thread: 5.9 s instead of 0.9 s). This is the context the
 * next detection will use (0: the full window, as at load).
 */
let detectionCtx = 0;
/** Samples of the priming call: past whisper.cpp's 1 s minimum, which it skips without a pass. */
const PRIME_SAMPLES = 17_600;

function baseParams(options) {
  const params = new WhisperFullParams(WhisperSamplingStrategy.Greedy);
  params.nThreads = options.threads;
  params.audioCtx = options.audioCtx;
  params.printProgress = false;
  params.printRealtime = false;
  params.printTimestamps = false;
  params.suppressNonSpeechTokens = true;
  // Each flush is a new utterance: earlier text must not steer it (a common source of loops).
  params.noContext = true;
  return params;
}

/**
 * Before a detection, a stale context much wider than this call's is set to this call's by a
 * one-token transcription in a fixed language (an encoder pass at the small context; 0.26 s in
 * the case above). The priming pass costs about what a detection at that context does, so it
 * pays only where the stale context is several times wider: after a long window, not between
 * the short and longer turns of a conversation (priming at twice: felt p50 593 ms, decode/floor
 * 1.09; at four times: 567 ms, 0.97; one `npm run bench:felt` each, same sitting).
 */
const PRIME_WHEN_WIDER = 4;

function primeDetection(pcm, options) {
  const wanted = options.audioCtx;
  if (wanted === 0 || (detectionCtx !== 0 && detectionCtx <= PRIME_WHEN_WIDER * wanted) || pcm.length < PRIME_SAMPLES) return;
  const params = baseParams(options);
  params.language = 'en';
  params.maxTokens = 1;
  whisper.full(params, pcm.subarray(0, PRIME_SAMPLES));
  detectionCtx = wanted;
}

async function run({ pcm, options }) {
  const detects = options.detectOnly || options.language === 'auto';
  if (detects) primeDetection(pcm, options);
  const params = baseParams(options);
  params.language = options.language;
  params.translate = options.translate;
  if (options.prompt) params.initialPrompt = options.prompt;
  if (options.temperature) params.temperature = options.temperature;
  if (options.maxTokens) params.maxTokens = options.maxTokens;
  if (options.detectOnly) {
    // whisper.cpp identifies the language and returns before transcribing.
    params.detectLanguage = true;
    params.language = 'auto';
    whisper.full(params, pcm);
    return { text: '', language: Whisper.lang(whisper.fullLangId) ?? 'auto', segments: [] };
  }
  if (options.words) {
    // whisper.cpp's word-level mode: token timestamps, and every segment cut to one word.
    params.tokenTimestamps = true;
    params.maxLen = 1;
    params.splitOnWord = true;
  }
  const pieces = [];
  params.onNewSegment = (s) => {
    // whisper.cpp reports segment times in 10 ms units.
    pieces.push({ start_ms: s.start * 10, end_ms: s.end * 10, text: s.text });
  };
  const text = whisper.full(params, pcm);
  // Every transcription of 1 s or more leaves its context for the next detection.
  if (pcm.length >= PRIME_SAMPLES) detectionCtx = options.audioCtx;
  await drainCallbacks();
  // English-only models ignore the language setting: say what they actually did.
  const language = !multilingual ? 'en' : options.language === 'auto' ? (Whisper.lang(whisper.fullLangId) ?? 'auto') : options.language;
  return { text: text.trim(), language, segments: options.words ? sentencesOf(pieces) : pieces };
}

port.on('message', (request) => {
  run(request).then(
    (output) => port.postMessage({ type: 'result', id: request.id, output }),
    (error) => port.postMessage({ type: 'failed', id: request.id, message: error instanceof Error ? error.message : String(error) }),
  );
});
