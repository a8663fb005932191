import { ServiceError } from '@vtuber-stt/core';

/** A body the REST routes cannot turn into audio (its HTTP status comes from the error table). */
export class AudioDecodeError extends ServiceError {
  constructor(message: string, code: 'bad_audio' | 'unsupported_format' | 'unsupported_media_type' | 'decode_timeout' | 'audio_too_long' | 'decoder_missing') {
    super(code, message);
  }
}

/**
 * The one answer for a file the decoder cannot read, whatever ffmpeg said: its messages can depend
 * on the server's own files (a path that exists or not), so they are logged, never sent.
 */
export const UNDECODABLE_MESSAGE = 'the audio could not be decoded: the file is damaged or truncated, or is not the audio type its first bytes say';

export const undecodable = () => new AudioDecodeError(UNDECODABLE_MESSAGE, 'bad_audio');
