/** A body the REST routes cannot turn into audio: carries the HTTP status and a code that fit REST. */
export class AudioDecodeError extends Error {
  constructor(
    message: string,
    readonly code: 'bad_audio' | 'unsupported_format' | 'decode_timeout' | 'audio_too_long' | 'decoder_missing',
    readonly status: number,
  ) {
    super(message);
  }
}
