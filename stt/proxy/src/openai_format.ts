import { languageName, type TranscriptMessage } from '@vtuber-stt/core';

export const RESPONSE_FORMATS = ['json', 'text', 'verbose_json', 'srt', 'vtt'] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

function clock(ms: number, separator: ',' | '.'): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(Math.round(ms % 1000), 3)}`;
}

/**
 * OpenAI's `languages` (json, `transcript.text.done`, the realtime `completed` event): the codes
 * detected, as `[{ code }]`; empty when none was. LiveKit's plugin reads the language from here.
 */
export function languagesOf(...codes: (string | undefined)[]): { code: string }[] {
  return [...new Set(codes.filter((c): c is string => !!c))].map((code) => ({ code }));
}

/**
 * A transcript in the shape OpenAI's /v1/audio/transcriptions (and /translations) returns for each
 * response_format. verbose_json carries `words` (OpenAI's top-level list) when word times were asked for.
 */
export function formatTranscript(t: TranscriptMessage, format: ResponseFormat, task: 'transcribe' | 'translate' = 'transcribe', words = false): { body: string | object; type: string } {
  switch (format) {
    case 'text':
      return { body: `${t.text}\n`, type: 'text/plain; charset=utf-8' };
    case 'srt':
      return {
        body: t.segments.map((s, i) => `${i + 1}\n${clock(s.start_ms, ',')} --> ${clock(s.end_ms, ',')}\n${s.text.trim()}\n`).join('\n'),
        type: 'application/x-subrip; charset=utf-8',
      };
    case 'vtt':
      return {
        body: `WEBVTT\n\n${t.segments.map((s) => `${clock(s.start_ms, '.')} --> ${clock(s.end_ms, '.')}\n${s.text.trim()}\n`).join('\n')}`,
        type: 'text/vtt; charset=utf-8',
      };
    case 'verbose_json':
      return {
        body: {
          task,
          // As OpenAI (and Whisper's tokenizer) names it: "english", not "en".
          language: languageName(t.language),
          duration: t.audio_ms / 1000,
          text: t.text,
          segments: t.segments.map((s, id) => ({
            id,
            start: s.start_ms / 1000,
            end: s.end_ms / 1000,
            text: s.text,
            ...(s.avg_logprob !== undefined ? { avg_logprob: s.avg_logprob } : {}),
            ...(s.no_speech_prob !== undefined ? { no_speech_prob: s.no_speech_prob } : {}),
          })),
          ...(words ? { words: t.segments.flatMap((s) => (s.words ?? []).map((w) => ({ word: w.word, start: w.start_ms / 1000, end: w.end_ms / 1000 }))) } : {}),
        },
        type: 'application/json; charset=utf-8',
      };
    default:
      // OpenAI's Translation is the text alone; its Transcription names the languages too.
      return { body: task === 'translate' ? { text: t.text } : { text: t.text, languages: languagesOf(t.language) }, type: 'application/json; charset=utf-8' };
  }
}
