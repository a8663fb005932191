import koffi from 'koffi';

/**
 * The few speexdsp entry points the echo canceller needs, bound through koffi (an FFI: no
 * native build step, so a Debian runtime package is all a host needs). Loaded once per process,
 * on first use, so a service without libspeexdsp still starts and only echo cancellation is off.
 */
export interface SpeexDsp {
  echoInit(frameSize: number, filterLength: number): bigint;
  echoDestroy(state: bigint): void;
  /** speex_echo_ctl with an int argument (in and out). */
  echoCtl(state: bigint, request: number, value: Int32Array): number;
  echoCancellation(state: bigint, rec: Int16Array, play: Int16Array, out: Int16Array): void;
  preprocessInit(frameSize: number, samplingRate: number): bigint;
  preprocessDestroy(state: bigint): void;
  /** speex_preprocess_ctl with an int argument (in and out). */
  preprocessCtl(state: bigint, request: number, value: Int32Array): number;
  /** speex_preprocess_ctl with a pointer argument (SPEEX_PREPROCESS_SET_ECHO_STATE). */
  preprocessCtlPointer(state: bigint, request: number, pointer: bigint): number;
  preprocessRun(state: bigint, frame: Int16Array): number;
}

/** speex_echo.h / speex_preprocess.h request numbers (stable ABI since speexdsp 1.2). */
export const SPEEX_ECHO_SET_SAMPLING_RATE = 24;
export const SPEEX_PREPROCESS_SET_DENOISE = 0;
export const SPEEX_PREPROCESS_SET_AGC = 2;
export const SPEEX_PREPROCESS_SET_DEREVERB = 8;
export const SPEEX_PREPROCESS_SET_NOISE_SUPPRESS = 18;
export const SPEEX_PREPROCESS_SET_ECHO_SUPPRESS = 20;
export const SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 22;
export const SPEEX_PREPROCESS_SET_ECHO_STATE = 24;

export const DEFAULT_SPEEXDSP_LIBRARY = 'libspeexdsp.so.1';

const loaded = new Map<string, SpeexDsp | Error>();

/** The bound library, or the reason it cannot load (cached: dlopen is tried once per name). */
export function loadSpeexDsp(library = DEFAULT_SPEEXDSP_LIBRARY): SpeexDsp | Error {
  let result = loaded.get(library);
  if (!result) {
    try {
      result = bind(library);
    } catch (err) {
      result = new Error(
        `echo cancellation needs speexdsp (${library}), which did not load: ${(err as Error).message}. ` +
          'Install the Debian package libspeexdsp1 (apt-get install libspeexdsp1).',
      );
    }
    loaded.set(library, result);
  }
  return result;
}

function bind(library: string): SpeexDsp {
  const lib = koffi.load(library);
  const echoInit = lib.func('void *speex_echo_state_init(int frame_size, int filter_length)');
  const echoDestroy = lib.func('void speex_echo_state_destroy(void *st)');
  const echoCtl = lib.func('int speex_echo_ctl(void *st, int request, _Inout_ int32_t *ptr)');
  const echoCancellation = lib.func('void speex_echo_cancellation(void *st, const int16_t *rec, const int16_t *play, _Out_ int16_t *out)');
  const preprocessInit = lib.func('void *speex_preprocess_state_init(int frame_size, int sampling_rate)');
  const preprocessDestroy = lib.func('void speex_preprocess_state_destroy(void *st)');
  const preprocessCtl = lib.func('int speex_preprocess_ctl(void *st, int request, _Inout_ int32_t *ptr)');
  // The same C function declared again: SET_ECHO_STATE takes the echo state itself, not an int.
  const preprocessCtlPointer = lib.func('speex_preprocess_ctl', 'int', ['void *', 'int', 'void *']);
  const preprocessRun = lib.func('int speex_preprocess_run(void *st, _Inout_ int16_t *x)');
  return {
    echoInit: (frameSize, filterLength) => echoInit(frameSize, filterLength) as bigint,
    echoDestroy: (state) => echoDestroy(state),
    echoCtl: (state, request, value) => echoCtl(state, request, value) as number,
    echoCancellation: (state, rec, play, out) => echoCancellation(state, rec, play, out),
    preprocessInit: (frameSize, samplingRate) => preprocessInit(frameSize, samplingRate) as bigint,
    preprocessDestroy: (state) => preprocessDestroy(state),
    preprocessCtl: (state, request, value) => preprocessCtl(state, request, value) as number,
    preprocessCtlPointer: (state, request, pointer) => preprocessCtlPointer(state, request, pointer) as number,
    preprocessRun: (state, frame) => preprocessRun(state, frame) as number,
  };
}
