import { ServiceError } from '@vtuber-stt/core';

/** A body the REST routes cannot turn into audio (its HTTP status comes from the error table). */
export class AudioDecodeError extends ServiceError {
  constructor(message: string, code: 'bad_audio' | 'unsupported_format' | 'unsupported_media_type' | 'decode_timeout' | 'audio_too_long' | 'decoder_missing') {
    super(code, message);
  }
}
